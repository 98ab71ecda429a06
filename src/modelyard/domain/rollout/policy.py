"""An endpoint's traffic policy: who serves, who is mirrored, who catches failures.

A :class:`TrafficPolicy` is a plain value that every worker and replica applies the
same way (see :func:`modelyard.domain.rollout.routing.route`). Model references are
pinned ``NAME:VERSION`` strings: stages and ``latest`` move, so the service resolves
them before it builds a policy. Shares and weights are percentages in ``[0, 100]``.

Rules (violations raise :class:`~modelyard.errors.InvalidInputError` naming the field):

* ``canary`` and ``ab_arms`` are mutually exclusive (both split the served traffic);
* a canary, a shadow or the fallback cannot be the primary, shadows cannot repeat or
  shadow a version that already serves (canary or an A/B arm);
* A/B: at least two arms, unique valid names, distinct versions, non-negative
  weights that sum to 100 (the error shows the sum and each weight).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

from modelyard.domain.refs import check_name, parse_model_ref
from modelyard.errors import InvalidInputError

#: How a rollout moves traffic (:mod:`~modelyard.domain.rollout.strategy` runs them).
#: Defined here, away from the numpy-based analysis, so the CLI lists them cheaply.
Strategy = Literal["blue-green", "canary", "shadow", "ab"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)

#: Tolerance when checking that A/B weights sum to 100.
WEIGHT_SUM_TOLERANCE = 1e-6

_POLICY_KEYS = ("primary", "canary", "shadows", "ab_arms", "fallback", "salt")


@dataclass(frozen=True)
class Canary:
    """A candidate version serving ``share`` percent of requests."""

    ref: str
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "share": self.share}


@dataclass(frozen=True)
class Shadow:
    """A version that receives a mirrored copy of ``share`` percent of requests."""

    ref: str
    share: float = 100.0

    def to_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "share": self.share}


@dataclass(frozen=True)
class ABArm:
    """One arm of an A/B test: a named version with a traffic weight (percent)."""

    name: str
    ref: str
    weight: float

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ref": self.ref, "weight": self.weight}


@dataclass(frozen=True)
class TrafficPolicy:
    """Primary version plus optional canary, shadows, A/B arms and fallback.

    ``salt`` seeds sticky assignment (the service sets it to the endpoint name;
    changing it reshuffles which keys land in which arm).
    """

    primary: str
    canary: Canary | None = None
    shadows: tuple[Shadow, ...] = ()
    ab_arms: tuple[ABArm, ...] | None = None
    fallback: str | None = None
    salt: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "primary", check_ref(self.primary, "primary"))
        if self.canary is not None:
            if self.ab_arms is not None:
                raise InvalidInputError(
                    "a policy has either a canary or A/B arms, not both", field="canary"
                )
            ref = check_ref(self.canary.ref, "canary.ref")
            share = check_share(self.canary.share, "canary.share")
            if ref == self.primary:
                raise InvalidInputError(
                    f"canary {ref} is already the primary version", field="canary.ref"
                )
            set_(self, "canary", Canary(ref, share))
        if self.ab_arms is not None:
            set_(self, "ab_arms", _check_arms(self.ab_arms))
        set_(self, "shadows", self._check_shadows())
        if self.fallback is not None:
            fallback = check_ref(self.fallback, "fallback")
            if fallback == self.primary:
                raise InvalidInputError(
                    f"fallback {fallback} is the primary version; pick another version",
                    field="fallback",
                )
            set_(self, "fallback", fallback)
        if not isinstance(self.salt, str):
            raise InvalidInputError("salt must be a string", field="salt")

    def _check_shadows(self) -> tuple[Shadow, ...]:
        if isinstance(self.shadows, str | bytes) or not isinstance(self.shadows, Iterable):
            raise InvalidInputError("shadows must be a list", field="shadows")
        serving = {self.primary}
        if self.canary is not None:
            serving.add(self.canary.ref)
        serving.update(arm.ref for arm in self.ab_arms or ())
        seen: set[str] = set()
        out: list[Shadow] = []
        for i, shadow in enumerate(self.shadows):
            if not isinstance(shadow, Shadow):
                raise InvalidInputError("shadows must hold Shadow values", field=f"shadows[{i}]")
            ref = check_ref(shadow.ref, f"shadows[{i}].ref")
            if ref in serving:
                raise InvalidInputError(
                    f"shadow {ref} already serves traffic on this endpoint",
                    field=f"shadows[{i}].ref",
                )
            if ref in seen:
                raise InvalidInputError(f"shadow {ref} is listed twice", field=f"shadows[{i}].ref")
            seen.add(ref)
            out.append(Shadow(ref, check_share(shadow.share, f"shadows[{i}].share")))
        return tuple(out)

    @property
    def refs(self) -> tuple[str, ...]:
        """Every version the policy names (what the endpoint must keep loaded)."""
        refs = [self.primary]
        if self.canary is not None:
            refs.append(self.canary.ref)
        refs.extend(arm.ref for arm in self.ab_arms or ())
        refs.extend(shadow.ref for shadow in self.shadows)
        if self.fallback is not None:
            refs.append(self.fallback)
        return tuple(dict.fromkeys(refs))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (what the database stores and every replica reads)."""
        return {
            "primary": self.primary,
            "canary": self.canary.to_dict() if self.canary else None,
            "shadows": [shadow.to_dict() for shadow in self.shadows],
            "ab_arms": None if self.ab_arms is None else [a.to_dict() for a in self.ab_arms],
            "fallback": self.fallback,
            "salt": self.salt,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrafficPolicy:
        """Parse the :meth:`to_dict` form; pairs ``[ref, share]`` are accepted too."""
        if not isinstance(data, Mapping):
            raise InvalidInputError("a traffic policy must be a mapping", field=None)
        unknown = sorted(set(data) - set(_POLICY_KEYS))
        if unknown:
            raise InvalidInputError(
                f"unknown policy field {unknown[0]!r}; allowed: {', '.join(_POLICY_KEYS)}",
                field=str(unknown[0]),
            )
        if data.get("primary") is None:
            raise InvalidInputError("a traffic policy needs a primary version", field="primary")
        canary = data.get("canary")
        shadows = data.get("shadows") or []
        arms = data.get("ab_arms")
        if isinstance(shadows, str | bytes | Mapping) or not isinstance(shadows, Sequence):
            raise InvalidInputError("shadows must be a list", field="shadows")
        if arms is not None and (
            isinstance(arms, str | bytes | Mapping) or not isinstance(arms, Sequence)
        ):
            raise InvalidInputError("ab_arms must be a list of arms", field="ab_arms")
        return cls(
            primary=data["primary"],
            canary=None if canary is None else Canary(*_pair(canary, "canary", "share")),
            shadows=tuple(
                Shadow(*_pair(s, f"shadows[{i}]", "share", default=100.0))
                for i, s in enumerate(shadows)
            ),
            ab_arms=None if arms is None else tuple(_arm(a, i) for i, a in enumerate(arms)),
            fallback=data.get("fallback"),
            salt=data.get("salt") or "",
        )


def check_ref(value: object, field: str) -> str:
    """Return ``value`` as a normalised pinned ``NAME:VERSION`` or raise naming ``field``."""
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field} must be a model reference NAME:VERSION, got {value!r}", field=field
        )
    try:
        ref = parse_model_ref(value, default=None)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{field}: {exc.message}", field=field) from None
    if ref.version is None:
        raise InvalidInputError(
            f"{field} must pin a version number (NAME:VERSION), got {value!r}; "
            "resolve stages and 'latest' before building a policy",
            field=field,
        )
    return f"{ref.name}:{ref.version}"


def check_share(value: object, field: str, *, low: float = 0.0, high: float = 100.0) -> float:
    """Return ``value`` as a float percentage in ``[low, high]`` or raise naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{field} must be a number, got {value!r}", field=field)
    if not low <= value <= high:
        raise InvalidInputError(
            f"{field} must be between {low:g} and {high:g} percent, got {value:g}", field=field
        )
    return float(value)


def _check_arms(arms: object) -> tuple[ABArm, ...]:
    if isinstance(arms, str | bytes) or not isinstance(arms, Iterable):
        raise InvalidInputError("ab_arms must be a list of arms", field="ab_arms")
    items = list(arms)
    if len(items) < 2:
        raise InvalidInputError(
            f"an A/B test needs at least two arms, got {len(items)}", field="ab_arms"
        )
    out: list[ABArm] = []
    names: set[str] = set()
    refs: set[str] = set()
    for i, arm in enumerate(items):
        if not isinstance(arm, ABArm):
            raise InvalidInputError("ab_arms must hold ABArm values", field=f"ab_arms[{i}]")
        if not isinstance(arm.name, str):
            raise InvalidInputError("arm names must be strings", field=f"ab_arms[{i}].name")
        try:
            name = check_name(arm.name, what="arm")
        except InvalidInputError as exc:
            raise InvalidInputError(exc.message, field=f"ab_arms[{i}].name") from None
        ref = check_ref(arm.ref, f"ab_arms[{i}].ref")
        if name in names:
            raise InvalidInputError(f"arm {name!r} is listed twice", field=f"ab_arms[{i}].name")
        if ref in refs:
            raise InvalidInputError(
                f"version {ref} is in two arms; give each arm its own version",
                field=f"ab_arms[{i}].ref",
            )
        names.add(name)
        refs.add(ref)
        out.append(ABArm(name, ref, check_share(arm.weight, f"ab_arms[{i}].weight")))
    total = math.fsum(arm.weight for arm in out)
    if abs(total - 100.0) > WEIGHT_SUM_TOLERANCE:
        detail = ", ".join(f"{arm.name}={arm.weight:g}" for arm in out)
        raise InvalidInputError(
            f"A/B weights must sum to 100, got {total:g} ({detail})", field="ab_arms"
        )
    return tuple(out)


def _pair(
    value: object, field: str, share_key: str, default: float | None = None
) -> tuple[Any, Any]:
    if isinstance(value, Mapping):
        extra = sorted(set(value) - {"ref", share_key})
        if extra:
            raise InvalidInputError(f"unknown field {extra[0]!r}", field=f"{field}.{extra[0]}")
        if "ref" not in value:
            raise InvalidInputError(f"{field} needs a ref", field=f"{field}.ref")
        if share_key not in value and default is None:
            raise InvalidInputError(f"{field} needs a {share_key}", field=f"{field}.{share_key}")
        return value["ref"], value.get(share_key, default)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes) and len(value) == 2:
        return value[0], value[1]
    if isinstance(value, str) and default is not None:
        return value, default
    raise InvalidInputError(
        f"{field} must be {{'ref': ..., '{share_key}': ...}} or [ref, {share_key}]", field=field
    )


def _arm(value: object, i: int) -> ABArm:
    field_ = f"ab_arms[{i}]"
    if isinstance(value, Mapping):
        extra = sorted(set(value) - {"name", "ref", "weight"})
        if extra:
            raise InvalidInputError(f"unknown field {extra[0]!r}", field=f"{field_}.{extra[0]}")
        for key in ("name", "ref", "weight"):
            if key not in value:
                raise InvalidInputError(f"arm {i} needs a {key}", field=f"{field_}.{key}")
        return ABArm(value["name"], value["ref"], value["weight"])
    if isinstance(value, Sequence) and not isinstance(value, str | bytes) and len(value) == 3:
        return ABArm(value[0], value[1], value[2])
    raise InvalidInputError(
        "an arm must be {'name': ..., 'ref': ..., 'weight': ...} or [name, ref, weight]",
        field=field_,
    )
