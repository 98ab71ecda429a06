"""Read tables (CSV, Parquet) into pandas frames and describe their schema."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pandas as pd
from pandas.api import types as ptypes

from modelyard.errors import InvalidInputError

CSV_SUFFIXES = (".csv",)
PARQUET_SUFFIXES = (".parquet", ".pq")
FORMATS = ("csv", "parquet")
SCHEMA_TYPES = ("integer", "float", "string", "boolean", "datetime")

# A full ISO-8601 date, optionally with a time and a UTC offset. Partial forms such as
# "2023" or "2023-05" are deliberately not accepted: they are more often codes than dates.
_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?$"
)
_TZ_SUFFIX = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")


def read_table(path: Path) -> pd.DataFrame:
    """Read a ``.csv``, ``.parquet`` or ``.pq`` file into a frame.

    CSV string columns holding only ISO-8601 timestamps become ``datetime64``.
    Raises :class:`InvalidInputError` (``field="path"``) for an unsupported suffix or a
    missing, unreadable or empty file (no bytes, no columns or no rows).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        fmt = "csv"
    elif suffix in PARQUET_SUFFIXES:
        fmt = "parquet"
    else:
        allowed = ", ".join(CSV_SUFFIXES + PARQUET_SUFFIXES)
        raise InvalidInputError(
            f"cannot read {path.name!r}: unsupported file type {suffix or '(no suffix)'!r}; "
            f"allowed: {allowed}",
            field="path",
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(
            f"cannot read {path.name!r}: file not found", field="path"
        ) from None
    except OSError as exc:
        raise InvalidInputError(
            f"cannot read {path.name!r}: {exc.strerror or exc}", field="path"
        ) from None
    return _read(data, fmt, path.name, field="path")


def read_table_bytes(data: bytes, fmt: str) -> pd.DataFrame:
    """Read a table from bytes; ``fmt`` is ``"csv"`` or ``"parquet"``.

    Behaves like :func:`read_table`; errors name ``field="format"`` for an unknown format
    and ``field="data"`` for unreadable content.
    """
    normalized = fmt.strip().lower().lstrip(".")
    if normalized == "pq":
        normalized = "parquet"
    if normalized not in FORMATS:
        raise InvalidInputError(
            f"unsupported table format {fmt!r}; allowed: {', '.join(FORMATS)}", field="format"
        )
    return _read(data, normalized, f"<{normalized} bytes>", field="data")


def infer_schema(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Describe each column as ``{"name", "type", "nullable"}``.

    ``type`` is one of ``integer``, ``float``, ``string``, ``boolean``, ``datetime``;
    anything else (object, category, timedelta, ...) is reported as ``string``.
    """
    return [
        {
            "name": str(name),
            "type": schema_type(frame[name]),
            "nullable": bool(frame[name].isna().any()),
        }
        for name in frame.columns
    ]


def schema_type(series: pd.Series) -> str:
    """Map a column's dtype to one of :data:`SCHEMA_TYPES`."""
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return "boolean"
    if ptypes.is_integer_dtype(dtype):
        return "integer"
    if ptypes.is_float_dtype(dtype):
        return "float"
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def _read(data: bytes, fmt: str, name: str, *, field: str) -> pd.DataFrame:
    if not data.strip():
        raise InvalidInputError(f"cannot read {name}: the file is empty", field=field)
    try:
        if fmt == "csv":
            frame = pd.read_csv(io.BytesIO(data), low_memory=False)
        else:
            frame = pd.read_parquet(io.BytesIO(data))
    except Exception as exc:  # parsers raise many unrelated types for bad input
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"cannot read {name} as {fmt}: {reason}", field=field) from None
    if len(frame.columns) == 0:
        raise InvalidInputError(f"cannot read {name}: the table has no columns", field=field)
    if len(frame) == 0:
        raise InvalidInputError(f"cannot read {name}: the table has no rows", field=field)
    if fmt == "csv":
        frame = parse_iso_datetime_columns(frame)
    return frame


def parse_iso_datetime_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with string columns of ISO-8601 timestamps converted to datetimes.

    A column converts only when every non-null value is a full ISO-8601 date or
    date-time and all or none of them carry a UTC offset (offsets convert to UTC).
    """
    out = frame.copy()
    for name in frame.columns:
        column = frame[name]
        if not (ptypes.is_string_dtype(column.dtype) or ptypes.is_object_dtype(column.dtype)):
            continue
        values = column.dropna()
        if values.empty or not _is_iso_datetime(values.iloc[0]):
            continue  # cheap rejection of ordinary text columns
        if not values.map(lambda v: isinstance(v, str)).all():
            continue
        stripped = values.str.strip()
        if not stripped.str.fullmatch(_ISO_DATETIME.pattern).all():
            continue
        with_tz = int(stripped.str.contains(_TZ_SUFFIX.pattern).sum())
        if with_tz not in (0, len(stripped)):
            continue
        try:
            parsed = pd.to_datetime(column.str.strip(), format="ISO8601", utc=with_tz > 0)
        except (ValueError, OverflowError):
            continue
        out[name] = parsed
    return out


def _is_iso_datetime(value: object) -> bool:
    return isinstance(value, str) and _ISO_DATETIME.fullmatch(value.strip()) is not None
