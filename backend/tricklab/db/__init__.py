"""The SQL store: models, engine/session factory and migrations."""
