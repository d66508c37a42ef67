"""Storage adapters: one SQLAlchemy implementation for SQLite (embedded) and PostgreSQL."""
