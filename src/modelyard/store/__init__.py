"""Storage: SQLAlchemy metadata store with Alembic migrations, and the artifact store."""
