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


def test_0008_marks_an_existing_log_and_the_next_append_seals_it(
    backend_settings: Settings,
) -> None:
    """A log from before the keyed chain gets the legacy mark, then is adopted once."""
    from datetime import UTC, datetime

    from modelyard.domain.audit import GENESIS, LEGACY_SEAL_MAC, legacy_entry_hash
    from modelyard.store.orm import AuditRow, AuditSealRow
    from modelyard.store.repositories.audit import AuditRepository
    from modelyard.store.store import open_store

    backend_settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(backend_settings.resolved_database_url)
    try:
        upgrade(engine, "0007")
        prev = GENESIS
        with engine.begin() as conn:
            for i in range(1, 3):
                fields: dict[str, object] = {
                    "at": datetime(2026, 1, i, tzinfo=UTC),
                    "actor": "admin",
                    "action": "model.register",
                    "target": f"m:{i}",
                    "before": None,
                    "after": {"version": i},
                    "request_id": None,
                }
                digest = legacy_entry_hash(prev, **fields)  # type: ignore[arg-type]
                conn.execute(
                    sa.insert(AuditRow.__table__).values(prev_hash=prev, hash=digest, **fields)
                )
                prev = digest
        upgrade(engine)
        with engine.connect() as conn:
            mark = conn.execute(sa.select(AuditSealRow.__table__)).one()
        assert (mark.last_hash, mark.count, mark.mac) == (prev, 2, LEGACY_SEAL_MAC)
    finally:
        engine.dispose()
    store = open_store(backend_settings)
    try:
        with store.session() as session:
            assert AuditRepository(session).verify().legacy
        with store.session() as session:
            AuditRepository(session).append(actor="admin", action="test.event", target="x")
        with store.session() as session:
            report = AuditRepository(session).verify()
        assert report.intact and report.entries == 3
    finally:
        store.close()
