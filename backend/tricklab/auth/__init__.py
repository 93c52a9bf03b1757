"""Authentication and authorization: password and token hashing, request principals, role checks."""
