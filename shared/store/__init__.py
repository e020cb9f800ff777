"""The store: every SQL statement paywatch runs lives in this package (SQLAlchemy Core, async)."""
