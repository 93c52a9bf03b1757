"""Domain services: keyword-only functions over a session (Netflix dispatch style)."""
