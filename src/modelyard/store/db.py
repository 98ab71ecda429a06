"""Engine and session factory for the metadata store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _json_text(value: Any) -> str:
    """JSON columns through orjson: the prediction shipper writes thousands per second."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _json_value(text: Any) -> Any:
    """orjson for JSON text. Anything else raises TypeError, as ``json.loads`` does, so
    SQLite's JSON type returns the numbers it stored with numeric affinity as they are."""
    if not isinstance(text, str | bytes | bytearray):
        raise TypeError(f"not JSON text: {type(text).__name__}")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN/Infinity literals written earlier by stdlib json
        return json.loads(text)


#: JSON (de)serialisers for every engine (stdlib json is several times slower).
JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": _json_value}


def create_db_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **JSON_CODEC
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Take the write lock at BEGIN so concurrent writers queue on busy_timeout
            # instead of failing on lock upgrade.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, **JSON_CODEC)


def create_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)
