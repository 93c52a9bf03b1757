"""Built-in tasks; the catalog (``tricklab.catalog.tasks``) points at these classes by name."""
