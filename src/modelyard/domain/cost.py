"""What serving costs: a per-endpoint cost model, cost per request and cost totals.

Two ways to price an endpoint (``monitoring.cost`` in the spec), each plus an optional
fixed overhead per request (``per_request_usd``: egress, logging, a paid API call):

CPU-second (pay for compute used, e.g. serverless)::

    cost(request) = compute_ms / 1000 × cpu_second_usd + per_request_usd

Instance-hour (pay for machines whether busy or not)::

    cost(request in hour h) = instance_hour_usd × instances / requests(endpoint, h)
                              + per_request_usd

so every request an endpoint served in an hour carries an equal share of that hour's
instance cost (its compute time does not matter). Hours without requests leave no
records, so their idle cost is not in :func:`aggregate`'s totals; :func:`window_cost`
(used for ``cost_per_hour`` alerts) does count it.

Spec forms (:func:`parse_cost_models`)::

    cost: {cpu_second_usd: 0.000048, per_request_usd: 0.000001}      # every endpoint
    cost:                                                            # per endpoint
      "*":   {cpu_second_usd: 0.000048}                              # the default
      fraud: {instance_hour_usd: 0.34, instances: 2}
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelyard.errors import InvalidInputError

MODEL_KEYS: tuple[str, ...] = (
    "cpu_second_usd",
    "instance_hour_usd",
    "instances",
    "per_request_usd",
)
DEFAULT_ENDPOINT = "*"
_HOUR = 3600.0

#: One record of :func:`aggregate`: (endpoint, version, caller, hour_bucket, compute_ms).
CostRecord = tuple[str, Any, str | None, Hashable, float]


@dataclass(frozen=True)
class CostModel:
    """How one endpoint is priced: exactly one of ``cpu_second_usd`` / ``instance_hour_usd``."""

    cpu_second_usd: float | None = None
    instance_hour_usd: float | None = None
    instances: int = 1
    per_request_usd: float = 0.0

    def __post_init__(self) -> None:
        if (self.cpu_second_usd is None) == (self.instance_hour_usd is None):
            raise InvalidInputError(
                "cpu_second_usd: give exactly one of cpu_second_usd, instance_hour_usd",
                field="cpu_second_usd",
            )
        for key in ("cpu_second_usd", "instance_hour_usd", "per_request_usd"):
            value = getattr(self, key)
            if value is None:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                raise InvalidInputError(
                    f"{key}: expected a finite number >= 0 (USD), got {value!r}", field=key
                )
            object.__setattr__(self, key, float(value))
        if isinstance(self.instances, bool) or not isinstance(self.instances, int):
            raise InvalidInputError(
                f"instances: expected an integer >= 1, got {self.instances!r}", field="instances"
            )
        if self.instances < 1:
            raise InvalidInputError(
                f"instances: expected an integer >= 1, got {self.instances}", field="instances"
            )
        if self.cpu_second_usd is not None and self.instances != 1:
            raise InvalidInputError(
                "instances: only used with instance_hour_usd", field="instances"
            )

    @classmethod
    def from_dict(cls, data: object, *, path: str = "monitoring.cost") -> CostModel:
        """Validate a spec mapping; errors name ``<path>.<key>`` and the allowed keys."""
        if not isinstance(data, Mapping):
            raise InvalidInputError(
                f"{path}: expected a mapping with keys {', '.join(MODEL_KEYS)}, got {data!r}",
                field=path,
            )
        for key in data:
            if key not in MODEL_KEYS:
                raise InvalidInputError(
                    f"{path}.{key}: unknown key {key!r}; allowed keys: {', '.join(MODEL_KEYS)}",
                    field=f"{path}.{key}",
                )
        try:
            return cls(**dict(data))
        except InvalidInputError as exc:
            raise InvalidInputError(f"{path}.{exc.message}", field=f"{path}.{exc.field}") from None

    @property
    def kind(self) -> str:
        """``cpu_second`` or ``instance_hour``."""
        return "cpu_second" if self.cpu_second_usd is not None else "instance_hour"

    @property
    def hourly_instance_usd(self) -> float:
        """Fixed cost of one hour of the endpoint's instances (0 for CPU-second pricing)."""
        return (self.instance_hour_usd or 0.0) * self.instances

    def to_dict(self) -> dict[str, Any]:
        """The spec form (``None`` keys left out)."""
        out: dict[str, Any] = {"per_request_usd": self.per_request_usd}
        if self.cpu_second_usd is not None:
            out["cpu_second_usd"] = self.cpu_second_usd
        else:
            out["instance_hour_usd"] = self.instance_hour_usd
            out["instances"] = self.instances
        return out


def parse_cost_models(data: object, *, path: str = "monitoring.cost") -> dict[str, CostModel]:
    """``monitoring.cost`` → ``{endpoint: CostModel}`` (``"*"`` is the default).

    A mapping whose keys are all cost-model keys is one model for every endpoint;
    otherwise each key is an endpoint name (or ``*``) mapped to a model. ``None`` or an
    empty mapping → no models.
    """
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            f"{path}: expected a cost model mapping or endpoint → cost model, got {data!r}",
            field=path,
        )
    if data and all(key in MODEL_KEYS for key in data):
        return {DEFAULT_ENDPOINT: CostModel.from_dict(data, path=path)}
    out: dict[str, CostModel] = {}
    for endpoint, entry in data.items():
        if not isinstance(endpoint, str) or not endpoint:
            raise InvalidInputError(
                f"{path}: endpoint keys must be names, got {endpoint!r}", field=path
            )
        out[endpoint] = CostModel.from_dict(entry, path=f"{path}.{endpoint}")
    return out


def model_for(models: CostModel | Mapping[str, CostModel], endpoint: str) -> CostModel | None:
    """The endpoint's model: its own entry, else ``"*"``, else ``None`` (unpriced)."""
    if isinstance(models, CostModel):
        return models
    return models.get(endpoint, models.get(DEFAULT_ENDPOINT))


def cost_per_request(
    compute_ms: float, model: CostModel, *, requests_in_hour: int | None = None
) -> float:
    """USD for one request that took ``compute_ms`` of compute (see the module docstring).

    Instance-hour pricing needs ``requests_in_hour``: the requests the endpoint served in
    that hour (or a trailing-hour count when pricing live).
    """
    ms = _compute_ms(compute_ms)
    if model.cpu_second_usd is not None:
        return ms / 1000.0 * model.cpu_second_usd + model.per_request_usd
    if requests_in_hour is None or isinstance(requests_in_hour, bool) or requests_in_hour < 1:
        raise InvalidInputError(
            "instance-hour pricing divides the hour's instance cost by the requests served "
            f"in that hour; requests_in_hour must be an integer >= 1, got {requests_in_hour!r}",
            field="requests_in_hour",
        )
    return model.hourly_instance_usd / requests_in_hour + model.per_request_usd


@dataclass(frozen=True)
class WindowCost:
    """Cost of one endpoint over a time window (the ``cost_*`` alert metrics)."""

    cost_usd: float
    cost_per_request: float | None
    cost_per_hour: float
    requests: int
    window_seconds: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "cost_usd": self.cost_usd,
            "cost_per_request": self.cost_per_request,
            "cost_per_hour": self.cost_per_hour,
            "requests": self.requests,
            "window_seconds": self.window_seconds,
        }


def window_cost(
    model: CostModel, *, requests: int, compute_ms: float, window_seconds: float
) -> WindowCost:
    """Cost of ``requests`` using ``compute_ms`` in total over ``window_seconds``.

    CPU-second: ``compute_ms / 1000 × cpu_second_usd``; instance-hour: the instances'
    cost for the window's length, busy or idle; both plus ``per_request_usd`` per
    request. ``cost_per_request`` is ``None`` without requests.
    """
    if isinstance(requests, bool) or not isinstance(requests, int) or requests < 0:
        raise InvalidInputError(
            f"requests must be an integer >= 0, got {requests!r}", field="requests"
        )
    if not math.isfinite(window_seconds) or window_seconds <= 0:
        raise InvalidInputError(
            f"window_seconds must be > 0, got {window_seconds!r}", field="window_seconds"
        )
    ms = _compute_ms(compute_ms)
    if model.cpu_second_usd is not None:
        variable = ms / 1000.0 * model.cpu_second_usd
    else:
        variable = model.hourly_instance_usd * window_seconds / _HOUR
    total = variable + model.per_request_usd * requests
    return WindowCost(
        cost_usd=total,
        cost_per_request=total / requests if requests else None,
        cost_per_hour=total * _HOUR / window_seconds,
        requests=requests,
        window_seconds=float(window_seconds),
    )


@dataclass
class CostLine:
    """Totals of one group: requests, compute time and cost."""

    requests: int = 0
    compute_ms: float = 0.0
    cost_usd: float = 0.0

    @property
    def cost_per_request(self) -> float | None:
        return self.cost_usd / self.requests if self.requests else None

    def add(self, other: CostLine) -> None:
        self.requests += other.requests
        self.compute_ms += other.compute_ms
        self.cost_usd += other.cost_usd

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "requests": self.requests,
            "compute_ms": self.compute_ms,
            "cost_usd": self.cost_usd,
            "cost_per_request": self.cost_per_request,
        }


#: (endpoint, version, caller, hour_bucket) — the finest grain of :class:`CostReport`.
CostKey = tuple[str, Any, str | None, Hashable]


@dataclass(frozen=True)
class CostReport:
    """Cost totals at the finest grain and rolled up by endpoint, version, caller, hour.

    ``unpriced`` lists endpoints without a cost model; their lines have cost 0.
    """

    lines: dict[CostKey, CostLine]
    unpriced: list[str] = field(default_factory=list)

    @property
    def total(self) -> CostLine:
        out = CostLine()
        for line in self.lines.values():
            out.add(line)
        return out

    @property
    def by_endpoint(self) -> dict[str, CostLine]:
        return self._rollup(lambda key: key[0])

    @property
    def by_version(self) -> dict[tuple[str, Any], CostLine]:
        """Keyed by ``(endpoint, version)``: versions belong to an endpoint."""
        return self._rollup(lambda key: (key[0], key[1]))

    @property
    def by_caller(self) -> dict[str | None, CostLine]:
        return self._rollup(lambda key: key[2])

    @property
    def by_hour(self) -> dict[Hashable, CostLine]:
        return self._rollup(lambda key: key[3])

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: the total and each rollup as a list of rows."""
        return {
            "total": self.total.to_dict(),
            "by_endpoint": [{"endpoint": k, **v.to_dict()} for k, v in _sorted(self.by_endpoint)],
            "by_version": [
                {"endpoint": k[0], "version": _json_key(k[1]), **v.to_dict()}
                for k, v in _sorted(self.by_version)
            ],
            "by_caller": [{"caller": k, **v.to_dict()} for k, v in _sorted(self.by_caller)],
            "by_hour": [{"hour": _json_key(k), **v.to_dict()} for k, v in _sorted(self.by_hour)],
            "unpriced": list(self.unpriced),
        }

    def _rollup(self, key_of: Any) -> dict[Any, CostLine]:
        out: dict[Any, CostLine] = {}
        for key, line in self.lines.items():
            out.setdefault(key_of(key), CostLine()).add(line)
        return dict(_sorted(out))


def aggregate(
    records: Iterable[CostRecord], models: CostModel | Mapping[str, CostModel]
) -> CostReport:
    """Price every record and total by endpoint, version, caller and hour.

    ``records`` are ``(endpoint, version, caller, hour_bucket, compute_ms)``; the hour
    bucket is any hashable value identifying the hour (e.g. :func:`hour_bucket`).
    ``models`` is one model for all endpoints or ``{endpoint: model}`` with optional
    ``"*"`` default. Instance-hour costs are shared equally by the requests the endpoint
    served in each hour (see the module docstring). One pass, O(groups) memory.
    """
    lines: dict[CostKey, CostLine] = {}
    for i, record in enumerate(records):
        try:
            endpoint, version, caller, hour, compute_ms = record
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"record {i}: expected (endpoint, version, caller, hour_bucket, compute_ms), "
                f"got {record!r}",
                field="records",
                row=i,
            ) from None
        try:
            ms = _compute_ms(compute_ms)
        except InvalidInputError as exc:
            raise InvalidInputError(
                f"record {i}: {exc.message}", field="compute_ms", row=i
            ) from None
        line = lines.setdefault((endpoint, version, caller, hour), CostLine())
        line.requests += 1
        line.compute_ms += ms

    per_hour: dict[tuple[str, Hashable], int] = {}
    for (endpoint, _, _, hour), line in lines.items():
        per_hour[(endpoint, hour)] = per_hour.get((endpoint, hour), 0) + line.requests
    unpriced: set[str] = set()
    for (endpoint, _, _, hour), line in lines.items():
        model = model_for(models, endpoint)
        if model is None:
            unpriced.add(endpoint)
            continue
        if model.cpu_second_usd is not None:
            variable = line.compute_ms / 1000.0 * model.cpu_second_usd
        else:
            variable = model.hourly_instance_usd * line.requests / per_hour[(endpoint, hour)]
        line.cost_usd = variable + model.per_request_usd * line.requests
    return CostReport(lines=lines, unpriced=sorted(unpriced))


def hour_bucket(at: datetime | float) -> datetime:
    """The UTC hour containing ``at`` (a datetime, naive meaning UTC, or Unix seconds)."""
    if isinstance(at, datetime):
        moment = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    else:
        moment = datetime.fromtimestamp(float(at), tz=UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def _compute_ms(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not (math.isfinite(float(value)) and float(value) >= 0)
    ):
        raise InvalidInputError(
            f"compute_ms must be a finite number >= 0, got {value!r}", field="compute_ms"
        )
    return float(value)


def _sorted(mapping: Mapping[Any, CostLine]) -> list[tuple[Any, CostLine]]:
    return sorted(mapping.items(), key=lambda item: _sort_key(item[0]))


def _sort_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple(_sort_key(part) for part in key)
    return (key is None, type(key).__name__, str(key) if not isinstance(key, int | float) else key)


def _json_key(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
