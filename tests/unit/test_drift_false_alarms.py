"""Calibration: on identical distributions the raw tests alarm at about alpha.

400 seeded trials per configuration at alpha = 0.05, unadjusted per-column p-values.
With 400 trials the alarm rate's standard error is ~1.1 percentage points, so the
band 3.5%-6.5% is only +-1.4 standard errors: it catches gross miscalibration (a
goodness-of-fit chi-square that treats the reference frequencies as exact, say), but
about one seed in seven would miss it even for a perfect test, hence fixed seeds.
With 20,000 trials each configuration here alarms at 4.9%-5.1%.
"""

from __future__ import annotations

import numpy as np
import pytest

from modelyard.domain.drift import EmpiricalDistribution, chi2_homogeneity, ks_and_wasserstein
from modelyard.domain.drift import ks_p_value as ks_p
from modelyard.domain.drift.numeric import finite_sorted

TRIALS = 400
ALPHA = 0.05
ROWS = 1000
BAND = (0.035, 0.065)


def _ks_alarm_rate(draw: str, n_ref: int, n_cur: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    sampler = {
        "normal": lambda size: rng.normal(size=size),
        "lognormal": lambda size: rng.lognormal(sigma=1.0, size=size),
    }[draw]
    alarms = 0
    for _ in range(TRIALS):
        reference, _ = finite_sorted(sampler(n_ref))
        current, _ = finite_sorted(sampler(n_cur))
        statistic, _ = ks_and_wasserstein(EmpiricalDistribution.from_sorted(reference), current)
        alarms += ks_p(statistic, n_ref, n_cur) < ALPHA
    return alarms / TRIALS


@pytest.mark.parametrize(
    ("draw", "n_cur", "seed"),
    [
        ("normal", ROWS, 101),  # equal sizes: exact p-value
        ("lognormal", 1500, 203),  # unequal sizes: asymptotic p-value
    ],
)
def test_ks_false_alarm_rate(draw: str, n_cur: int, seed: int) -> None:
    rate = _ks_alarm_rate(draw, ROWS, n_cur, seed)
    assert BAND[0] <= rate <= BAND[1], rate


def _zipf(k: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, k + 1)
    return weights / weights.sum()


@pytest.mark.parametrize(
    ("k", "probabilities"),
    [
        (3, np.array([0.6, 0.3, 0.1])),
        (5, _zipf(5)),
        (10, _zipf(10)),
        (20, _zipf(20)),
    ],
)
def test_chi2_false_alarm_rate(k: int, probabilities: np.ndarray) -> None:
    rng = np.random.default_rng(1000 + k)
    reference = rng.multinomial(ROWS, probabilities, size=TRIALS)
    current = rng.multinomial(ROWS, probabilities, size=TRIALS)
    _, p_values, _ = chi2_homogeneity(reference, current)
    rate = float(np.mean(p_values < ALPHA))
    assert BAND[0] <= rate <= BAND[1], rate
