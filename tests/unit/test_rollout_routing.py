"""Traffic policies (validation, round trip) and sticky, accurate routing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from modelyard.domain.rollout import (
    ABArm,
    Canary,
    Shadow,
    TrafficPolicy,
    route,
    unit_hash,
)
from modelyard.errors import InvalidInputError

KEYS = [f"user-{i}" for i in range(100_000)]


def _ab(*weights: float) -> TrafficPolicy:
    arms = tuple(ABArm(f"arm{i}", f"m:{i + 1}", w) for i, w in enumerate(weights))
    return TrafficPolicy(primary="m:1", ab_arms=arms, salt="churn")


# --- policy -------------------------------------------------------------------------


def test_policy_round_trips_through_json() -> None:
    policy = TrafficPolicy(
        primary="m:1",
        canary=Canary("m:2", 5),
        shadows=(Shadow("m:3", 10),),
        fallback="m:4",
        salt="churn",
    )
    again = TrafficPolicy.from_dict(json.loads(json.dumps(policy.to_dict())))
    assert again == policy
    assert policy.refs == ("m:1", "m:2", "m:3", "m:4")
    ab = _ab(20, 30, 50)
    assert TrafficPolicy.from_dict(ab.to_dict()) == ab


def test_from_dict_accepts_pairs() -> None:
    policy = TrafficPolicy.from_dict(
        {
            "primary": "m:1",
            "shadows": [["m:3", 25], "m:4"],
            "ab_arms": [["a", "m:1", 90], {"name": "b", "ref": "m:2", "weight": 10}],
        }
    )
    assert policy.shadows == (Shadow("m:3", 25.0), Shadow("m:4", 100.0))
    assert policy.ab_arms is not None and [a.weight for a in policy.ab_arms] == [90.0, 10.0]


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"canary": {"ref": "m:2", "share": 5}}, "primary", "needs a primary"),
        ({"primary": "m"}, "primary", "NAME:VERSION"),
        ({"primary": "m:production"}, "primary", "pin a version number"),
        ({"primary": "m:1", "canary": {"ref": "m:2", "share": 120}}, "canary.share", "120"),
        ({"primary": "m:1", "canary": {"ref": "m:2", "share": -1}}, "canary.share", "between"),
        ({"primary": "m:1", "canary": {"ref": "m:1", "share": 5}}, "canary.ref", "primary"),
        (
            {
                "primary": "m:1",
                "canary": {"ref": "m:2", "share": 5},
                "ab_arms": [["a", "m:1", 50], ["b", "m:3", 50]],
            },
            "canary",
            "not both",
        ),
        (
            {"primary": "m:1", "ab_arms": [["a", "m:1", 50], ["b", "m:2", 40]]},
            "ab_arms",
            "must sum to 100, got 90 (a=50, b=40)",
        ),
        ({"primary": "m:1", "ab_arms": [["a", "m:1", 100]]}, "ab_arms", "at least two"),
        (
            {"primary": "m:1", "ab_arms": [["a", "m:1", 50], ["a", "m:2", 50]]},
            "ab_arms[1].name",
            "twice",
        ),
        (
            {"primary": "m:1", "ab_arms": [["a", "m:2", 50], ["b", "m:2", 50]]},
            "ab_arms[1].ref",
            "two arms",
        ),
        (
            {"primary": "m:1", "ab_arms": [["a", "m:1", 150], ["b", "m:2", -50]]},
            "ab_arms[0].weight",
            "between",
        ),
        ({"primary": "m:1", "shadows": [["m:1", 10]]}, "shadows[0].ref", "already serves"),
        (
            {"primary": "m:1", "shadows": [["m:2", 10], ["m:2", 20]]},
            "shadows[1].ref",
            "twice",
        ),
        ({"primary": "m:1", "shadows": [["m:2", 101]]}, "shadows[0].share", "101"),
        ({"primary": "m:1", "fallback": "m:1"}, "fallback", "primary"),
        ({"primary": "m:1", "canary": {"ref": "m:2", "share": "5"}}, "canary.share", "number"),
        ({"primary": "m:1", "mirror": []}, "mirror", "unknown policy field"),
    ],
)
def test_policy_validation_names_the_field(data: dict[str, object], field: str, text: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        TrafficPolicy.from_dict(data)
    assert info.value.field == field
    assert text in info.value.message


# --- sticky assignment --------------------------------------------------------------


def test_unit_hash_is_pinned() -> None:
    # Changing the hash would silently move every user to another arm: pin it.
    assert unit_hash("churn:user-1") == 0.6972836887993679
    assert 0.0 <= unit_hash("") < 1.0


def test_same_key_same_arm_across_calls_and_processes() -> None:
    policy = _ab(20, 30, 50)
    keys = KEYS[:200]
    here = [route(policy, k, request_seed=i).arm for i, k in enumerate(keys)]
    again = [route(policy, k, request_seed=10**9 + i).arm for i, k in enumerate(keys)]
    assert here == again  # the seed is irrelevant once there is a key
    code = (
        "import json, sys\n"
        "from modelyard.domain.rollout import TrafficPolicy, route\n"
        "policy = TrafficPolicy.from_dict(json.loads(sys.argv[1]))\n"
        "print(json.dumps([route(policy, k, 0).arm for k in json.loads(sys.argv[2])]))\n"
    )
    # A fresh process with another PYTHONHASHSEED: Python's own hash() would differ.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(policy.to_dict()), json.dumps(keys)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert json.loads(out.stdout) == here


@pytest.mark.parametrize("weights", [(50, 50), (90, 10), (20, 30, 50)])
def test_ab_split_accuracy_over_100k_keys(weights: tuple[float, ...]) -> None:
    policy = _ab(*weights)
    counts = Counter(route(policy, key, 0).arm for key in KEYS)
    for i, weight in enumerate(weights):
        assert abs(counts[f"arm{i}"] / len(KEYS) * 100 - weight) < 1.0, counts


def test_salt_reshuffles_assignment() -> None:
    a = _ab(50, 50)
    b = TrafficPolicy.from_dict({**a.to_dict(), "salt": "another-experiment"})
    same = sum(route(a, k, 0).arm == route(b, k, 0).arm for k in KEYS[:10_000])
    assert 4_500 < same < 5_500  # independent, not identical


def test_canary_keeps_its_keys_as_the_share_grows() -> None:
    def canary_keys(share: float) -> set[str]:
        policy = TrafficPolicy(primary="m:1", canary=Canary("m:2", share), salt="ep")
        return {k for k in KEYS[:20_000] if route(policy, k, 0).arm == "canary"}

    five, twenty_five = canary_keys(5), canary_keys(25)
    assert five < twenty_five
    assert abs(len(five) / 20_000 - 0.05) < 0.01
    assert abs(len(twenty_five) / 20_000 - 0.25) < 0.01
    assert canary_keys(0) == set()
    assert len(canary_keys(100)) == 20_000


def test_keyless_requests_split_by_seed() -> None:
    policy = TrafficPolicy(primary="m:1", canary=Canary("m:2", 10))
    seeds = np.random.default_rng(7).integers(0, 2**63, size=50_000, dtype=np.int64)
    arms = [route(policy, None, int(s)).serve_ref for s in seeds]
    assert abs(arms.count("m:2") / len(arms) - 0.10) < 0.01
    assert route(policy, None, 12345) == route(policy, "", 12345)  # empty key = no key
    assert route(policy, None, 2**64 + 5) == route(policy, None, 5)  # 64-bit seeds


def test_shadow_mirroring_is_independent_of_serving() -> None:
    policy = TrafficPolicy(
        primary="m:1",
        canary=Canary("m:2", 50),
        shadows=(Shadow("m:3", 20), Shadow("m:4", 100)),
        salt="ep",
    )
    decisions = [route(policy, k, 0) for k in KEYS[:40_000]]
    assert all("m:4" in d.shadows for d in decisions)
    for arm in ("primary", "canary"):
        subset = [d for d in decisions if d.arm == arm]
        mirrored = sum("m:3" in d.shadows for d in subset) / len(subset)
        assert abs(mirrored - 0.20) < 0.015, (arm, mirrored)


def test_primary_only_policy_routes_to_primary() -> None:
    decision = route(TrafficPolicy(primary="m:1"), "anyone", 1)
    assert (decision.serve_ref, decision.arm, decision.shadows) == ("m:1", "primary", ())


def test_zero_weight_arm_never_serves() -> None:
    policy = _ab(0, 100)
    assert {route(policy, k, 0).arm for k in KEYS[:5_000]} == {"arm1"}
