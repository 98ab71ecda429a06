"""Acceptance gates as code: parse expressions and evaluate them against metrics.

Two forms of expression::

    <metric path> <op> <number>                       roc_auc.ci_low >= 0.80
    beats: production by <metric path> <op> <number>  beats: production by roc_auc >= 0.005

``<op>`` is one of ``>=``, ``<=``, ``>``, ``<``, ``==`` (``==`` compares with a relative
tolerance of 1e-9). A metric path is dot-separated keys into the metrics dict; segments
are letters, digits, ``_`` and ``-`` (the first one starts with a letter or ``_``).
``beats`` compares ``candidate - production`` of the path with the number, so
``beats: production by log_loss <= -0.01`` asks for a log loss lower by at least 0.01.

The metrics dict (what :func:`evaluate_gates` reads, built e.g. by
:func:`build_gate_metrics`)::

    {
      "roc_auc": {"value": 0.91, "ci_low": 0.89, "ci_high": 0.93, "n": 1000},
      "ece":     {"value": 0.03, "ci_low": 0.02, "ci_high": 0.04, "n": 1000},
      "fairness": {"sex": {"dp_diff": 0.04, "eo_diff": 0.06, ...}},
      "latency":  {"p99_ms": 7.5, ...},
    }

A path ending at a dict with a ``"value"`` key means that value (``roc_auc`` is
``roc_auc.value``); otherwise it must end at a number. Outcomes:

* a path that is missing, ``None``, NaN or not a number → the gate **fails** with the
  message ``metric <path> not computed`` (no exception);
* ``beats`` with ``production=None`` (no production version yet) → the gate **passes**
  with the message ``no production version to beat``; a production dict that lacks the
  metric fails it;
* a malformed expression → :class:`~modelyard.errors.InvalidInputError` (``field="gates"``)
  naming the expression and the allowed forms.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast, get_args

from modelyard.errors import InvalidInputError

Operator = Literal[">=", "<=", ">", "<", "=="]
OPERATORS: tuple[Operator, ...] = get_args(Operator)
#: What ``beats:`` can compare against.
BEATS_REFERENCES: tuple[str, ...] = ("production",)
ALLOWED_FORMS = (
    "'<metric>[.<field>...] <op> <number>' (e.g. 'roc_auc.ci_low >= 0.8') or "
    "'beats: production by <metric> <op> <number>' (e.g. 'beats: production by roc_auc "
    ">= 0.005'), where <op> is one of >=, <=, >, <, =="
)

_OP_RE = re.compile(r"(>=|<=|==|!=|=>|=<|>|<|=)")
_PATH_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_BEATS_RE = re.compile(r"beats\s*:\s*(?P<ref>\S+)\s+by\s+(?P<rest>.+)", re.DOTALL)
_EQ_REL_TOL = 1e-9
_EQ_ABS_TOL = 1e-12


@dataclass(frozen=True)
class Gate:
    """A parsed gate: ``metric op threshold``, or ``beats: against by metric op threshold``."""

    expression: str
    metric: str
    op: Operator
    threshold: float
    against: str | None = None

    @property
    def path(self) -> tuple[str, ...]:
        """The metric path split on dots."""
        return tuple(self.metric.split("."))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "expression": self.expression,
            "metric": self.metric,
            "op": self.op,
            "threshold": self.threshold,
            "against": self.against,
        }


@dataclass(frozen=True)
class GateResult:
    """The outcome of one gate; ``actual`` is the compared number (``None`` if missing)."""

    expression: str
    passed: bool
    actual: float | None
    threshold: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "expression": self.expression,
            "passed": self.passed,
            "actual": self.actual,
            "threshold": self.threshold,
            "message": self.message,
        }


class _HasToDict(Protocol):
    def to_dict(self) -> Mapping[str, Any]: ...


def parse_gate(expression: str) -> Gate:
    """Parse one gate expression; InvalidInputError (``field="gates"``) if malformed."""
    if not isinstance(expression, str) or not expression.strip():
        raise _invalid(expression, "a gate must be a non-empty string")
    text = " ".join(expression.split())
    against: str | None = None
    body = text
    if text.startswith("beats") and (len(text) == 5 or not _is_path_char(text[5])):
        match = _BEATS_RE.fullmatch(text)
        if match is None:
            raise _invalid(expression, "a 'beats' gate reads 'beats: production by <metric> ...'")
        against = match["ref"]
        if against not in BEATS_REFERENCES:
            raise _invalid(
                expression,
                f"cannot beat {against!r}; allowed: {', '.join(BEATS_REFERENCES)}",
            )
        body = match["rest"]
    found = _OP_RE.search(body)
    if found is None:
        raise _invalid(expression, f"no comparison operator; use one of {', '.join(OPERATORS)}")
    op = found.group(1)
    if op not in OPERATORS:
        raise _invalid(
            expression, f"operator {op!r} is not allowed; use one of {', '.join(OPERATORS)}"
        )
    metric = body[: found.start()].strip()
    number = body[found.end() :].strip()
    if not metric:
        raise _invalid(expression, "the metric is missing before the operator")
    if not _PATH_RE.fullmatch(metric):
        raise _invalid(
            expression,
            f"{metric!r} is not a metric path (dot-separated names such as roc_auc.ci_low)",
        )
    if _OP_RE.search(number):
        raise _invalid(expression, "only one comparison is allowed per gate")
    if not _NUMBER_RE.fullmatch(number):
        raise _invalid(expression, f"threshold {number!r} is not a number")
    return Gate(expression, metric, cast(Operator, op), float(number), against)


def parse_gates(expressions: Iterable[str]) -> list[Gate]:
    """Parse every expression; the first malformed one raises InvalidInputError."""
    return [parse_gate(e) for e in expressions]


def resolve_metric(metrics: Mapping[str, Any], path: str | Iterable[str]) -> float | None:
    """The finite number at ``path`` (a ``{"value": ...}`` dict means its value), else None."""
    keys = path.split(".") if isinstance(path, str) else list(path)
    node: Any = metrics
    for key in keys:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    if isinstance(node, Mapping):
        node = node.get("value")
    if isinstance(node, bool) or not isinstance(node, int | float):
        return None
    value = float(node)
    return value if math.isfinite(value) else None


def evaluate_gate(
    gate: Gate | str,
    metrics: Mapping[str, Any],
    production: Mapping[str, Any] | None = None,
) -> GateResult:
    """Evaluate one gate against ``metrics`` (and ``production`` for ``beats``)."""
    parsed = parse_gate(gate) if isinstance(gate, str) else gate
    candidate = resolve_metric(metrics, parsed.metric)
    if parsed.against is not None:
        if production is None:
            return GateResult(
                parsed.expression, True, None, parsed.threshold, "no production version to beat"
            )
        if candidate is None:
            return _missing(parsed, parsed.metric)
        reference = resolve_metric(production, parsed.metric)
        if reference is None:
            return _missing(parsed, f"{parsed.metric} for {parsed.against}")
        actual = candidate - reference
        detail = (
            f"{parsed.metric}: candidate {_fmt(candidate)} - {parsed.against} "
            f"{_fmt(reference)} = {_fmt(actual)}"
        )
    else:
        if candidate is None:
            return _missing(parsed, parsed.metric)
        actual = candidate
        detail = f"{parsed.metric} = {_fmt(actual)}"
    passed = compare(actual, parsed.op, parsed.threshold)
    bound = f"{parsed.op} {_fmt(parsed.threshold)}"
    message = f"{detail} {bound}" if passed else f"{detail}, needs {bound}"
    return GateResult(parsed.expression, passed, actual, parsed.threshold, message)


def evaluate_gates(
    gates: Iterable[Gate | str],
    metrics: Mapping[str, Any],
    production: Mapping[str, Any] | None = None,
) -> list[GateResult]:
    """Evaluate every gate, in order. Malformed expressions raise before any is evaluated."""
    parsed = [parse_gate(g) if isinstance(g, str) else g for g in gates]
    return [evaluate_gate(g, metrics, production) for g in parsed]


def gates_passed(results: Iterable[GateResult]) -> bool:
    """True when every gate passed (and for no gates at all)."""
    return all(r.passed for r in results)


def compare(actual: float, op: Operator, threshold: float) -> bool:
    """``actual <op> threshold``; ``==`` within a tolerance of 1e-9 (relative)."""
    if op == ">=":
        return actual >= threshold
    if op == "<=":
        return actual <= threshold
    if op == ">":
        return actual > threshold
    if op == "<":
        return actual < threshold
    return math.isclose(actual, threshold, rel_tol=_EQ_REL_TOL, abs_tol=_EQ_ABS_TOL)


def build_gate_metrics(
    metrics: Mapping[str, _HasToDict | Mapping[str, Any] | float],
    *,
    fairness: Mapping[str, _HasToDict | Mapping[str, Any]] | None = None,
    latency: Mapping[str, float | int] | None = None,
    **sections: Mapping[str, Any],
) -> dict[str, Any]:
    """Assemble the dict gates read from evaluation results.

    ``metrics`` maps names to ``MetricEstimate`` (or dicts / plain numbers);
    ``fairness`` maps sensitive columns to ``FairnessReport`` (or dicts); ``latency`` is
    e.g. :func:`~modelyard.domain.evaluation.latency_summary` output. Extra keyword
    sections (e.g. ``improvement=BaselineComparison.improvement``) go under their own
    name, their values converted the same way.
    """
    out: dict[str, Any] = {name: _plain(value) for name, value in metrics.items()}
    if fairness is not None:
        out["fairness"] = {name: _plain(report) for name, report in fairness.items()}
    if latency is not None:
        out["latency"] = dict(latency)
    for name, section in sections.items():
        out[name] = {key: _plain(value) for key, value in section.items()}
    return out


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return dict(value.to_dict())
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _missing(gate: Gate, what: str) -> GateResult:
    return GateResult(gate.expression, False, None, gate.threshold, f"metric {what} not computed")


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _is_path_char(char: str) -> bool:
    return char.isalnum() or char in "_-."


def _invalid(expression: object, reason: str) -> InvalidInputError:
    return InvalidInputError(
        f"invalid gate {expression!r}: {reason}. Allowed: {ALLOWED_FORMS}", field="gates"
    )
