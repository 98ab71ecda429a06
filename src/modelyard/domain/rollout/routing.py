"""Deterministic request routing under a :class:`TrafficPolicy`.

Every decision is a uniform number ``u`` in ``[0, 1)`` compared with cumulative
shares. ``u`` comes from BLAKE2b (64-bit digest, personalised per purpose):

* with a caller key: ``blake2b(f"{policy.salt}:{key}")`` -- the same key lands in the
  same arm in every process, replica and restart (Python's ``hash()`` is salted per
  process and is never used). The canary test ``u < share / 100`` keeps a key in the
  canary as the share grows (5% -> 25% keeps the first 5%);
* without a key: ``blake2b(request_seed)``, where the caller draws the 64-bit seed at
  random per request, so this function stays pure and testable.

Serving (canary or A/B arm) and each shadow's mirroring use different personalisation
strings (and the shadow's ref), so the decisions are independent of each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from modelyard.domain.rollout.policy import TrafficPolicy

_SERVE = b"modelyard.route"
_SHADOW = b"modelyard.shadow"
_SCALE = 2.0**-64
_MASK = (1 << 64) - 1

PRIMARY_ARM = "primary"
CANARY_ARM = "canary"


@dataclass(frozen=True)
class RouteDecision:
    """Which version answers (``serve_ref``, from ``arm``) and which get a mirrored copy."""

    serve_ref: str
    arm: str
    shadows: tuple[str, ...] = ()


def unit_hash(text: str, purpose: bytes = _SERVE) -> float:
    """A stable uniform number in ``[0, 1)`` for ``text`` (BLAKE2b, 64 bits)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8, person=purpose).digest()
    return int.from_bytes(digest, "big") * _SCALE


def route(policy: TrafficPolicy, key: str | None, request_seed: int) -> RouteDecision:
    """Pick the serving version and the shadows for one request.

    ``key`` (a user or session id) makes the choice sticky; an empty or missing key
    falls back to ``request_seed``, a random 64-bit integer the caller draws.
    """
    if key:
        text = f"{policy.salt}:{key}"
    else:
        text = str(request_seed & _MASK)
    u = unit_hash(text, _SERVE)
    serve_ref, arm = policy.primary, PRIMARY_ARM
    if policy.canary is not None:
        if u < policy.canary.share / 100.0:
            serve_ref, arm = policy.canary.ref, CANARY_ARM
    elif policy.ab_arms:
        cumulative = 0.0
        last = [a for a in policy.ab_arms if a.weight > 0][-1]  # float rounding near u = 1
        serve_ref, arm = last.ref, last.name
        for candidate in policy.ab_arms:
            cumulative += candidate.weight / 100.0
            if u < cumulative:
                serve_ref, arm = candidate.ref, candidate.name
                break
    shadows = tuple(
        shadow.ref
        for shadow in policy.shadows
        if unit_hash(f"{shadow.ref}:{text}", _SHADOW) < shadow.share / 100.0
    )
    return RouteDecision(serve_ref=serve_ref, arm=arm, shadows=shadows)
