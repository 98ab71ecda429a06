"""What ``datasets show`` prints: a version's header, schema and stored profile.

The profile is the one stored with the version (its per-column statistics, see
:mod:`modelyard.data.profile`): nothing is recomputed except for versions stored before
profiles existed. Duplicate rows and leakage hints are facts about the whole table
that ``datasets add`` reports but does not store, so they are shown only when present
and otherwise point to ``datasets check``, which computes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from modelyard.cli.context import console
from modelyard.data.summary import leakage_line, nulls_line, profile_summary

if TYPE_CHECKING:
    from modelyard.domain.entities import DatasetVersion

#: At most this many of a column's most frequent values are shown.
TOP_VALUES_SHOWN = 5
_SPARK = "▁▂▃▄▅▆▇█"
_NUMERIC = ("integer", "float")


def show_dict(dv: DatasetVersion, profile: Mapping[str, Any], *, stored: bool) -> dict[str, Any]:
    """The JSON ``datasets show --json`` prints: the stored record (whose ``columns``
    hold each column's ``profile``), plus ``ref`` and the table-level ``profile``."""
    return {
        **dv.__dict__,
        "ref": dv.ref,
        "profile": dict(profile),
        "profile_stored": stored,
    }


def print_shown(dv: DatasetVersion, profile: Mapping[str, Any], *, stored: bool) -> None:
    """The version header, its schema, then the profile by column kind and warnings."""
    columns: Mapping[str, Mapping[str, Any]] = profile.get("columns") or {}
    console.print(
        f"dataset [bold]{escape(dv.dataset)}[/] version [bold]{dv.version}[/]: "
        f"{dv.row_count} rows, {len(dv.columns)} columns"
    )
    header = Table.grid(padding=(0, 2))
    header.add_row("sha256", dv.digest)
    header.add_row("source", f"{escape(dv.source_name)} ({escape(dv.format)}, {_size(dv)})")
    header.add_row("created", f"{dv.created_at:%Y-%m-%d %H:%M:%S %Z}".strip())
    console.print(header)
    console.print(schema_table(dv, columns))
    for table in (numeric_table(columns), category_table(columns), datetime_table(columns)):
        if table is not None:
            console.print(table)
    if not stored:
        console.print(
            "note: this version was stored before profiles were; its profile was computed "
            "from the data now"
        )
    console.print(escape(nulls_line(profile_summary(profile))))
    constant = list(profile.get("constant_columns") or [])
    console.print(
        f"[yellow]constant columns (one value or all null):[/] {escape(', '.join(constant))}"
        if constant
        else "constant columns: none"
    )
    _print_table_facts(dv, profile)


def schema_table(dv: DatasetVersion, columns: Mapping[str, Mapping[str, Any]]) -> Table:
    """One row per schema entry: type, dtype, nullable, nulls and distinct values."""
    table = Table("column", "type", "dtype", "nullable", "nulls", "distinct", title="schema")
    for entry in dv.columns:
        name = str(entry.get("name"))
        info = columns.get(name, {})
        nulls = info.get("null_count")
        rate = info.get("null_rate")
        table.add_row(
            escape(name),
            escape(str(entry.get("type"))),
            escape(str(info.get("dtype", "-"))),
            "yes" if entry.get("nullable") else "no",
            "-" if nulls is None else f"{nulls} ({float(rate or 0.0):.1%})",
            str(info.get("n_unique", "-")),
        )
    return table


def numeric_table(columns: Mapping[str, Mapping[str, Any]]) -> Table | None:
    """Min, quantiles, max, mean, std and a histogram sparkline of numeric columns."""
    numeric = {n: c for n, c in columns.items() if c.get("type") in _NUMERIC}
    if not numeric:
        return None
    keys = sorted(
        {k for c in numeric.values() for k in (c.get("quantiles") or {})}, key=_quantile_order
    )
    with_inf = any(c.get("inf_count") for c in numeric.values())
    head = ["column", "min", *(_quantile_label(k) for k in keys), "max", "mean", "std"]
    head += ["±inf"] if with_inf else []
    table = Table(*head, "histogram", title="numeric columns")
    for name, info in numeric.items():
        quantiles = info.get("quantiles") or {}
        row = [escape(name), _number(info.get("min"))]
        row += [_number(quantiles.get(k)) for k in keys]
        row += [_number(info.get("max")), _number(info.get("mean")), _number(info.get("std"))]
        row += [str(info.get("inf_count") or 0)] if with_inf else []
        histogram = info.get("histogram") or {}
        row.append(sparkline(histogram.get("counts") or []))
        table.add_row(*row)
    return table


def category_table(columns: Mapping[str, Mapping[str, Any]]) -> Table | None:
    """The most frequent values of string and boolean columns, with their shares."""
    categorical = {n: c for n, c in columns.items() if "top" in c}
    if not categorical:
        return None
    table = Table(
        "column", "distinct", f"top values (share of non-null rows, at most {TOP_VALUES_SHOWN})",
        "other rows", title="categorical columns",
    )  # fmt: skip
    for name, info in categorical.items():
        top = list(info.get("top") or [])
        shown = top[:TOP_VALUES_SHOWN]
        text = ", ".join(
            f"{t.get('value')} {float(t.get('frequency') or 0.0):.1%} ({t.get('count')})"
            for t in shown
        )
        other = sum(int(t.get("count") or 0) for t in top[TOP_VALUES_SHOWN:])
        other += int(info.get("other_count") or 0)
        table.add_row(escape(name), str(info.get("n_unique", "-")), escape(text or "-"), str(other))
    return table


def datetime_table(columns: Mapping[str, Mapping[str, Any]]) -> Table | None:
    """The range of datetime columns."""
    dates = {n: c for n, c in columns.items() if c.get("type") == "datetime"}
    if not dates:
        return None
    table = Table("column", "min", "max", title="datetime columns")
    for name, info in dates.items():
        table.add_row(escape(name), escape(str(info.get("min"))), escape(str(info.get("max"))))
    return table


def sparkline(counts: Sequence[Any]) -> str:
    """Histogram bin counts as block characters (empty bins as a space)."""
    values = [int(c) if isinstance(c, int | float) else 0 for c in counts]
    peak = max(values, default=0)
    if peak <= 0:
        return "-"
    top = len(_SPARK) - 1
    return "".join(" " if v <= 0 else _SPARK[max(0, round(v / peak * top))] for v in values)


def _print_table_facts(dv: DatasetVersion, profile: Mapping[str, Any]) -> None:
    """Duplicate rows and leakage hints when the profile holds them, else where to get them."""
    missing = []
    if "duplicate_rows" in profile:
        console.print(f"duplicate rows: {int(profile['duplicate_rows'] or 0)}")
    else:
        missing.append("duplicate rows")
    if "leakage" in profile:
        hints = list(profile["leakage"] or [])
        for hint in hints:
            line = escape(leakage_line(hint))
            console.print(line.replace("leakage hint:", "[yellow]leakage hint:[/]", 1))
        if not hints:
            console.print("leakage hints: none")
    else:
        missing.append("leakage hints")
    if missing:
        console.print(
            f"{' and '.join(missing)}: not stored with the version; `modelyard datasets check "
            f"{escape(dv.ref)}` computes them (and checks the spec's expectations)"
        )


def _size(dv: DatasetVersion) -> str:
    size = float(dv.size_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    return f"{value:.6g}"


def _quantile_order(key: str) -> float:
    try:
        return float(key)
    except ValueError:
        return float("inf")


def _quantile_label(key: str) -> str:
    """``"0.5"`` → ``"p50"``, ``"0.01"`` → ``"p1"``."""
    try:
        return f"p{float(key) * 100:g}"
    except ValueError:
        return key
