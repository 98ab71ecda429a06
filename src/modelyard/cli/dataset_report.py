"""What ``datasets add`` and ``datasets check`` print: profile, warnings, violations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.table import Table

from modelyard.cli.context import console
from modelyard.data.summary import leakage_line, nulls_line, schema_diff_lines, violation_lines
from modelyard.spec import SPEC_FILENAME

if TYPE_CHECKING:
    from modelyard.data.datasets import DatasetChecks, DatasetReport


def checks_for(
    dataset: str, spec: Path | None, *, target: str | None = None, required: bool = False
) -> DatasetChecks:
    """Target and expectations from ``spec`` (default: ``./modelyard.yaml`` if present).

    With ``required`` the spec file must exist; a spec that is not valid raises (the
    command stops before it stores anything).
    """
    from modelyard.data.datasets import DatasetChecks
    from modelyard.spec import load_spec

    path = spec if spec is not None else Path(SPEC_FILENAME)
    if not required and not path.exists():
        return DatasetChecks(target=target)
    return DatasetChecks.from_spec(load_spec(path), dataset, target=target, source=str(path))


def column_table(profile: dict[str, Any]) -> Table:
    """One row per column: type, null rate and a short summary of its values."""
    table = Table("column", "type", "nulls", "summary")
    for col, info in profile["columns"].items():
        summary = ""
        if "min" in info:
            summary = f"min {info['min']}, max {info['max']}"
        elif info.get("top"):
            summary = ", ".join(f"{t['value']}: {t['count']}" for t in info["top"][:3])
        table.add_row(
            escape(col),
            str(info.get("type")),
            f"{info.get('null_rate', 0):.1%}",
            escape(str(summary)),
        )
    return table


def print_added(report: DatasetReport) -> None:
    """The summary ``datasets add`` prints: the version, nulls, warnings, violations."""
    dv = report.version
    summary = report.summary()
    stored = "stored" if report.created else "already stored (same content)"
    console.print(
        f"dataset [bold]{escape(dv.dataset)}[/] version [bold]{dv.version}[/] {stored}: "
        f"{dv.row_count} rows, {len(dv.columns)} columns, sha256 {dv.digest[:12]}…"
    )
    console.print(column_table(report.profile))
    console.print(escape(nulls_line(summary)))
    if summary["warnings"]:
        console.print(f"[yellow]warnings ({len(summary['warnings'])}):[/]")
        for line in summary["warnings"]:
            console.print(f"  {escape(line)}")
    else:
        console.print("warnings: none")
    _print_expectations(report.expectations)
    if not report.passed:
        console.print(
            f"[red]{dv.ref} violates the declared expectations[/]; the version is stored "
            "(data is immutable) -- fix the data and add it again, or pin a good version "
            "in the spec (data.version)"
        )


def print_checked(report: DatasetReport) -> None:
    """What ``datasets check`` prints: the column table, hints, violations and drift."""
    dv, profile = report.version, report.profile
    console.print(f"[bold]{escape(dv.ref)}[/]: {dv.row_count} rows")
    console.print(column_table(profile))
    for hint in profile.get("leakage", []):
        line = escape(leakage_line(hint)).replace("leakage hint:", "[yellow]leakage hint:[/]", 1)
        console.print(line)
    _print_expectations(report.expectations)
    if profile.get("duplicate_rows"):
        console.print(f"duplicate rows: {profile['duplicate_rows']}")
    if profile.get("constant_columns"):
        console.print(f"constant columns: {escape(', '.join(profile['constant_columns']))}")
    for note in report.notes:
        console.print(f"note: {escape(note)}")
    drift = report.schema_drift
    if drift is not None and drift.get("changed"):
        console.print(f"schema drift from version {report.previous_version}:")
        for line in schema_diff_lines(drift):
            console.print(f"  {escape(line)}")


def check_dict(report: DatasetReport) -> dict[str, Any]:
    """The JSON ``datasets check --json`` prints."""
    return {
        "dataset": report.version.ref,
        "profile": report.profile,
        "expectations": report.expectations,
        "schema_drift_from_previous": report.schema_drift,
        "notes": list(report.notes),
    }


def _print_expectations(expectations: dict[str, Any] | None) -> None:
    if expectations is None:
        return
    ok = "[green]all expectations met[/]" if expectations["passed"] else "[red]violations[/]"
    console.print(ok)
    for line in violation_lines(expectations):
        console.print(f"  {escape(line)}")
