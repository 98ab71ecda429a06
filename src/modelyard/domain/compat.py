"""Whether a new model version can take an endpoint's current callers (pure)."""

from __future__ import annotations

from typing import Any


def breaking_changes(current: dict[str, Any], candidate: dict[str, Any]) -> list[str]:
    """What callers of ``current`` would break on with ``candidate`` (signature dicts).

    Removed and added input columns both break callers (unexpected or missing column);
    so does a changed type, a column becoming non-nullable, or a changed output kind.
    """
    old = {c["name"]: c for c in current.get("inputs", [])}
    new = {c["name"]: c for c in candidate.get("inputs", [])}
    problems = [f"column {n!r} removed" for n in sorted(set(old) - set(new))]
    problems += [
        f"column {n!r} added (callers do not send it)" for n in sorted(set(new) - set(old))
    ]
    for name in sorted(set(old) & set(new)):
        if old[name]["type"] != new[name]["type"]:
            problems.append(f"column {name!r} retyped {old[name]['type']} → {new[name]['type']}")
        if old[name].get("nullable") and not new[name].get("nullable"):
            problems.append(f"column {name!r} no longer accepts nulls")
    old_out, new_out = current.get("output", {}), candidate.get("output", {})
    if old_out.get("kind") != new_out.get("kind"):
        problems.append(f"output changed from {old_out.get('kind')} to {new_out.get('kind')}")
    return problems
