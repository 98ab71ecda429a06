"""The storage handle services receive: metadata sessions plus the artifact store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from modelyard.domain.audit import audit_key
from modelyard.security.secret import load_secret
from modelyard.settings import Settings
from modelyard.store.artifacts import ArtifactStore, open_artifact_store
from modelyard.store.db import create_db_engine, create_session_factory
from modelyard.store.migrate import upgrade
from modelyard.store.repositories.audit import AUDIT_KEY_INFO


class Store:
    """One engine, one session factory and one artifact store, built once at the edge."""

    def __init__(self, engine: Engine, artifacts: ArtifactStore, secret: bytes) -> None:
        self.engine = engine
        self.artifacts = artifacts
        self.secret = secret
        self._sessions: sessionmaker[Session] = create_session_factory(engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any error.

        The session carries the audit key (derived from the current secret) for
        ``AuditRepository``.
        """
        session = self._sessions(info={AUDIT_KEY_INFO: audit_key(self.secret)})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def close(self) -> None:
        self.engine.dispose()


def open_store(settings: Settings, *, migrate: bool = True) -> Store:
    """Open (and by default migrate) the store the settings describe."""
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.resolved_database_url)
    if migrate:
        upgrade(engine)
    return Store(
        engine, open_artifact_store(settings.resolved_artifacts_url), load_secret(settings)
    )
