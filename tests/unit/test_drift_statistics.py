"""Drift statistics agree with scipy's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from modelyard.domain.drift import (
    EmpiricalDistribution,
    adjust_p_values,
    benjamini_hochberg,
    chi2_homogeneity,
    holm,
    js_distance,
    kolmogorov_sf,
    ks_and_wasserstein,
    ks_p_value,
    psi,
)
from modelyard.domain.drift.numeric import bin_shares, finite_sorted, quantile_edges


def _ks(
    reference: np.ndarray, current: np.ndarray, method: str = "auto"
) -> tuple[float, float, float]:
    ref, _ = finite_sorted(reference)
    cur, _ = finite_sorted(current)
    statistic, wasserstein = ks_and_wasserstein(EmpiricalDistribution.from_sorted(ref), cur)
    p = ks_p_value(statistic, ref.size, cur.size, method)  # type: ignore[arg-type]
    return statistic / (ref.size * cur.size), p, wasserstein


def _samples(rng: np.random.Generator, kind: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    if kind == 0:  # continuous, shifted and widened
        return rng.normal(size=n), rng.normal(0.2, 1.3, size=m)
    if kind == 1:  # few distinct values: heavy ties within and across samples
        return rng.integers(0, 5, n).astype(float), rng.integers(0, 6, m).astype(float)
    return np.round(rng.normal(size=n), 1), np.round(rng.exponential(size=m), 1)


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_ks_exact_and_wasserstein_match_scipy_small_samples(kind: int) -> None:
    rng = np.random.default_rng(kind)
    for _ in range(40):
        n, m = (int(v) for v in rng.integers(1, 400, size=2))
        reference, current = _samples(rng, kind, n, m)
        d, p, w = _ks(reference, current, "exact")
        expected = stats.ks_2samp(reference, current, method="exact")
        assert d == pytest.approx(expected.statistic, abs=1e-12)
        assert abs(p - expected.pvalue) < 1e-3
        assert w == pytest.approx(stats.wasserstein_distance(reference, current), abs=1e-12)


def test_ks_equal_sizes_exact_matches_scipy() -> None:
    rng = np.random.default_rng(7)
    for n in (10, 100, 1000, 5000):
        reference, current = rng.normal(size=n), rng.normal(0.05, size=n)
        d, p, _ = _ks(reference, current)
        expected = stats.ks_2samp(reference, current, method="exact")
        assert d == pytest.approx(expected.statistic, abs=1e-12)
        assert abs(p - expected.pvalue) < 1e-3


@pytest.mark.parametrize("shift", [0.0, 0.005, 0.01, 0.02, 0.05])
def test_ks_asymptotic_matches_scipy_at_large_n(shift: float) -> None:
    rng = np.random.default_rng(11)
    reference, current = rng.normal(size=30_000), rng.normal(shift, size=200_000)
    d, p, w = _ks(reference, current)
    expected = stats.ks_2samp(reference, current, method="asymp")
    assert d == pytest.approx(expected.statistic, abs=1e-12)
    assert abs(p - expected.pvalue) < 1e-3
    assert w == pytest.approx(stats.wasserstein_distance(reference, current), rel=1e-9)


def test_wasserstein_is_exact_with_offset_data_and_ties() -> None:
    rng = np.random.default_rng(3)
    reference = 1e6 + np.round(rng.normal(size=5000), 2)
    current = 1e6 + np.round(rng.normal(0.3, 2.0, size=20_000), 2)
    _, _, w = _ks(reference, current)
    assert w == pytest.approx(stats.wasserstein_distance(reference, current), rel=1e-7)


def test_constant_reference() -> None:
    reference = np.full(500, 2.0)
    current = np.r_[np.full(300, 2.0), np.full(200, 3.0)]
    d, _, w = _ks(reference, current)
    assert d == pytest.approx(stats.ks_2samp(reference, current).statistic)
    assert w == pytest.approx(stats.wasserstein_distance(reference, current))


def test_kolmogorov_sf_matches_kstwo() -> None:
    for n in (150, 1_000, 5_000, 30_000):
        for z in (0.3, 0.6, 0.9, 1.2, 1.5, 2.0, 3.0):
            x = z / np.sqrt(n)
            assert kolmogorov_sf(n, x) == pytest.approx(stats.kstwo.sf(x, n), abs=1e-5)
    assert kolmogorov_sf(100, 0.2) == pytest.approx(stats.kstwo.sf(0.2, 100))


def test_chi2_matches_chi2_contingency() -> None:
    rng = np.random.default_rng(5)
    for k in (2, 3, 7, 20):
        ref = rng.integers(0, 200, size=k)
        cur = rng.integers(0, 200, size=k)
        statistic, p, dof = chi2_homogeneity(ref, cur)
        expected = stats.chi2_contingency(np.vstack([ref, cur]), correction=False)
        assert float(statistic) == pytest.approx(expected.statistic, rel=1e-10)
        assert float(p) == pytest.approx(expected.pvalue, rel=1e-8, abs=1e-300)
        assert int(dof) == expected.dof


def test_chi2_drops_empty_categories_and_vectorises() -> None:
    table = np.array([[[10, 0, 5], [12, 0, 9]], [[30, 30, 30], [30, 30, 30]]])
    statistic, p, dof = chi2_homogeneity(table[:, 0], table[:, 1])
    expected = stats.chi2_contingency(np.array([[10, 5], [12, 9]]), correction=False)
    assert statistic[0] == pytest.approx(expected.statistic)
    assert p[0] == pytest.approx(expected.pvalue)
    assert list(dof) == [1, 2]
    assert statistic[1] == 0.0 and p[1] == 1.0
    single, p_single, dof_single = chi2_homogeneity([5, 0], [7, 0])
    assert (float(single), float(p_single), int(dof_single)) == (0.0, 1.0, 0)


def test_js_distance_matches_scipy() -> None:
    rng = np.random.default_rng(9)
    for k in (2, 5, 30):
        ref = rng.integers(0, 50, size=k).astype(float)
        cur = rng.integers(0, 50, size=k).astype(float)
        cur[0] = 0.0
        assert float(js_distance(ref, cur)) == pytest.approx(jensenshannon(ref, cur), abs=1e-12)
    assert float(js_distance([1, 2, 3], [1, 2, 3])) == 0.0


def test_psi_on_reference_quantile_bins() -> None:
    rng = np.random.default_rng(2)
    reference, _ = finite_sorted(rng.normal(size=50_000))
    edges = quantile_edges(reference, 10)
    np.testing.assert_allclose(edges, np.quantile(reference, np.arange(1, 10) / 10))
    ref_shares = bin_shares(reference, edges)
    np.testing.assert_allclose(ref_shares, 0.1, atol=1e-3)
    same, _ = finite_sorted(rng.normal(size=50_000))
    shifted, _ = finite_sorted(rng.normal(0.5, size=50_000))
    assert psi(ref_shares, bin_shares(same, edges), 1e-4) < 0.01
    assert 0.15 < psi(ref_shares, bin_shares(shifted, edges), 1e-4) < 0.4
    empty_bin = np.array([0.5, 0.5, 0.0])
    assert np.isfinite(psi(np.array([0.4, 0.4, 0.2]), empty_bin, 1e-4))


def test_benjamini_hochberg_and_holm() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.5])
    np.testing.assert_allclose(benjamini_hochberg(p), [0.025, 0.05, 0.05, 0.025, 0.5])
    np.testing.assert_allclose(holm(p), [0.04, 0.09, 0.09, 0.025, 0.5])
    np.testing.assert_allclose(adjust_p_values(p, "none"), p)
    assert benjamini_hochberg(np.array([])).size == 0
    assert holm(np.array([0.9, 0.8])).max() <= 1.0
