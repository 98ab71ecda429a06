from __future__ import annotations

import sqlalchemy as sa

from modelyard.settings import Settings
from modelyard.store.db import create_db_engine
from modelyard.store.migrate import current_revision, head_revision, upgrade
from modelyard.store.orm import Base


def test_upgrade_creates_every_table_and_is_idempotent(backend_settings: Settings) -> None:
    engine = create_db_engine(backend_settings.resolved_database_url)
    try:
        assert upgrade(engine) == head_revision()
        assert upgrade(engine) == head_revision()
        assert current_revision(engine) == head_revision()
        tables = set(sa.inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_sqlite_uses_wal(settings: Settings) -> None:
    engine = create_db_engine(settings.resolved_database_url)
    try:
        with engine.connect() as conn:
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        assert mode == "wal"
    finally:
        engine.dispose()


def test_models_match_migrations(backend_settings: Settings) -> None:
    """Autogenerate finds nothing to do: the ORM and the migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_db_engine(backend_settings.resolved_database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
    finally:
        engine.dispose()
