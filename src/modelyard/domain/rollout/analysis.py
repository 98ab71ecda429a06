"""Canary analysis: compare the canary with the primary at one look of one step.

The service calls :func:`analyze_step` every ``look_interval_s`` with both arms' data
since the step started (same traffic window) and the :class:`StepProgress` returned
by the previous look; the outcome is ``promote`` (go to the next step), ``hold``
(look again later), ``rollback`` or ``pause`` (a person decides). Every outcome comes
with an evidence dict: the numbers, p-values, thresholds and reasons.

False rollbacks
    ``alpha`` (0.05) bounds the chance that a canary that is no worse than the primary
    is ever rolled back by a statistical test during the whole rollout. It is split
    (Bonferroni) equally over the four comparisons -- error rate, tail latency, live
    quality, output distribution -- and over the analysed steps (those below 100%):
    0.05 / 4 / 3 ~ 0.0042 per comparison and step with the default steps. Comparisons
    are one-sided: only "canary worse" rolls back.

Error rate and live quality: a beta-binomial mixture SPRT, valid at every look
    Condition on the failures. If both versions fail at the same rate and requests are
    routed independently of their outcome, each failure lands in the canary with
    probability ``rho`` = the canary's share of the step's requests, whatever the base
    rate. The test statistic is the mixture likelihood ratio

        Lambda = integral of (theta/rho)^x ((1-theta)/(1-rho))^(E-x) dpi(theta)

    over ``x`` canary failures out of ``E``, with ``pi`` a Beta prior of mean ``rho``
    and concentration ``1/(rho(1-rho))`` (about one unit of log-odds spread), truncated
    to ``theta > rho`` so the test is one-sided. ``Lambda`` is a non-negative
    martingale under the null, so by Ville's inequality ``P(ever Lambda >= 1/alpha) <=
    alpha``: the step can be looked at any number of times (the mixture SPRT of
    Robbins, as in Johari et al. 2017, in the conjugate count form of Lindon & Malek
    2022, which Netflix uses for canaries). It is exact for rare events -- no normal
    approximation of a 0.5% error rate -- and needs no planned number of looks. The
    reported always-valid p-value is the smallest ``1/Lambda`` seen so far. Because it
    is valid at every look it may roll back before the minimum data is reached. Live
    quality runs the same test on wrong predictions among those with feedback
    (accuracy); ``rho`` is then the canary's share of the feedback.

Tail latency: Mood's quantile test plus the ratio limit
    Pool both arms' latency samples and take their ``latency_quantile`` (p99) ``T``.
    If the distributions are equal, the number of canary samples above ``T`` is
    hypergeometric given the pooled sample -- an exact, distribution-free test that
    looks at the tail itself (Mann-Whitney would miss a slowdown of the slowest 2% that
    leaves the median alone). It runs once the minimum data is in; look ``j`` from
    then on gets ``alpha * 2**-j`` (Bonferroni spending: the levels sum to at most
    ``alpha`` over unlimited looks, and the first look, where promotion is decided,
    gets half). It rolls back only when the canary is significantly slower **and**
    its p99 exceeds ``latency_ratio_limit`` (1.2) times the primary's: significant
    and large, as in drift detection. Over the limit but not yet significant holds --
    it is never promoted. Tail tests need at least ``10 / (1 - q)`` samples per arm
    (1,000 for p99); latencies may be a uniform subsample such as a bounded reservoir.

Output distribution (ML-aware)
    On the same window the canary's outputs are compared with the primary's: scores
    by the two-sample Kolmogorov-Smirnov test, labels by Pearson's chi-square on the
    2 x k table. A shift needs significance (the same spending as latency) and an
    effect of at least ``output_shift_threshold`` (0.1): the KS statistic, or the
    total variation distance between the label shares. ``on_output_shift`` decides
    (default ``rollback``; ``pause``, ``hold`` or ``ignore`` record it only).

Guardrails
    Absolute limits from the spec (``max_error_rate``, ``max_p99_ms``), checked on the
    canary's point estimates once the minimum data is in; a breach rolls back.

Too little data
    Until the step has lasted ``min_duration_s`` and each arm has ``min_requests``
    requests the outcome is ``hold`` (only the always-valid tests may roll back). A
    step still holding after ``max_looks`` looks or ``max_hold_s`` seconds ends with
    ``on_timeout`` (``pause`` by default, or ``rollback``), saying why.

Defaults and the simulation that checks them
    Steps 5/25/50/100%, at least 300 s and 1,000 requests per arm per step, a look
    every 60 s. ``tests/unit/test_rollout_simulation.py`` drives 200 requests/s
    (10/50/100 canary requests/s at 5/25/50%) over many seeded runs: an equal canary
    is rolled back in well under 5% of runs and promoted in the rest, a canary with
    1.5% errors against 0.5% or with a 30% slower p99 is rolled back in more than 95%
    of runs before it reaches 100%.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt

from modelyard.errors import InvalidInputError

TimeoutAction = Literal["pause", "rollback"]
OutputShiftAction = Literal["rollback", "pause", "hold", "ignore"]
OutputKind = Literal["auto", "scores", "labels"]

TIMEOUT_ACTIONS: tuple[TimeoutAction, ...] = get_args(TimeoutAction)
OUTPUT_SHIFT_ACTIONS: tuple[OutputShiftAction, ...] = get_args(OutputShiftAction)
OUTPUT_KINDS: tuple[OutputKind, ...] = get_args(OutputKind)

#: Comparisons sharing ``alpha``: error rate, latency, quality, outputs.
COMPARISONS = 4
#: Tail tests need this many expected samples above the quantile per arm.
TAIL_SAMPLES = 10
#: Fewest outputs per arm for the distribution comparison.
MIN_OUTPUTS = 100

FloatArray = npt.NDArray[np.float64]


class Outcome(StrEnum):
    """What one look at a step decides."""

    PROMOTE = "promote"
    HOLD = "hold"
    ROLLBACK = "rollback"
    PAUSE = "pause"


@dataclass(frozen=True)
class Guardrails:
    """Absolute limits on the canary (``None`` = no limit). Error rate is a fraction."""

    max_error_rate: float | None = None
    max_p99_ms: float | None = None

    def __post_init__(self) -> None:
        if self.max_error_rate is not None:
            _number(self.max_error_rate, "guardrails.max_error_rate", low=0.0, high=1.0)
        if self.max_p99_ms is not None:
            _number(self.max_p99_ms, "guardrails.max_p99_ms", low=0.0, low_open=True)

    def to_dict(self) -> dict[str, Any]:
        return {"max_error_rate": self.max_error_rate, "max_p99_ms": self.max_p99_ms}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Guardrails:
        _mapping(data, "guardrails", ("max_error_rate", "max_p99_ms"))
        return cls(**dict(data))


@dataclass(frozen=True)
class CanaryConfig:
    """How a canary advances and what the analysis accepts (module docstring: why)."""

    steps: tuple[float, ...] = (5.0, 25.0, 50.0, 100.0)
    min_duration_s: float = 300.0
    min_requests: int = 1000
    alpha: float = 0.05
    max_looks: int = 30
    max_hold_s: float | None = 1800.0
    look_interval_s: float = 60.0
    latency_quantile: float = 0.99
    latency_ratio_limit: float = 1.2
    output_kind: OutputKind = "auto"
    output_shift_threshold: float = 0.1
    on_output_shift: OutputShiftAction = "rollback"
    guardrails: Guardrails = field(default_factory=Guardrails)
    on_timeout: TimeoutAction = "pause"

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", _check_steps(self.steps))
        _number(self.min_duration_s, "min_duration_s", low=0.0)
        _integer(self.min_requests, "min_requests", low=1)
        _number(self.alpha, "alpha", low=0.0, high=0.5, low_open=True)
        _integer(self.max_looks, "max_looks", low=1)
        _number(self.look_interval_s, "look_interval_s", low=0.0, low_open=True)
        if self.max_looks * self.look_interval_s < self.min_duration_s:
            raise InvalidInputError(
                f"max_looks ({self.max_looks}) x look_interval_s ({self.look_interval_s:g}) "
                f"must cover min_duration_s ({self.min_duration_s:g})",
                field="max_looks",
            )
        if self.max_hold_s is not None:
            _number(self.max_hold_s, "max_hold_s", low=0.0, low_open=True)
            if self.max_hold_s < self.min_duration_s:
                raise InvalidInputError(
                    f"max_hold_s ({self.max_hold_s:g}) is shorter than min_duration_s "
                    f"({self.min_duration_s:g})",
                    field="max_hold_s",
                )
        _number(self.latency_quantile, "latency_quantile", low=0.5, high=0.999)
        _number(self.latency_ratio_limit, "latency_ratio_limit", low=1.0)
        _number(self.output_shift_threshold, "output_shift_threshold", low=0.0, high=1.0)
        _choice(self.output_kind, "output_kind", OUTPUT_KINDS)
        _choice(self.on_output_shift, "on_output_shift", OUTPUT_SHIFT_ACTIONS)
        _choice(self.on_timeout, "on_timeout", TIMEOUT_ACTIONS)
        if not isinstance(self.guardrails, Guardrails):
            raise InvalidInputError("guardrails must be a Guardrails value", field="guardrails")

    @property
    def analysed_steps(self) -> tuple[float, ...]:
        """The steps that run an analysis (all but the final 100%)."""
        return self.steps[:-1]

    @property
    def min_tail_samples(self) -> int:
        """Latency samples per arm the tail comparison needs."""
        return math.ceil(TAIL_SAMPLES / (1.0 - self.latency_quantile) - 1e-9)

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _CONFIG_KEYS}
        out["steps"] = list(self.steps)
        out["guardrails"] = self.guardrails.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CanaryConfig:
        """Parse the spec's ``rollout`` mapping; unknown keys are rejected by name."""
        _mapping(data, "rollout", _CONFIG_KEYS)
        values = dict(data)
        if isinstance(values.get("guardrails"), Mapping):
            values["guardrails"] = Guardrails.from_dict(values["guardrails"])
        elif values.get("guardrails") is None:
            values.pop("guardrails", None)
        return cls(**values)


_CONFIG_KEYS = tuple(CanaryConfig.__dataclass_fields__)


@dataclass(frozen=True, eq=False)
class ArmWindow:
    """One arm's data since the step started.

    ``latencies_ms`` and ``outputs`` may be uniform subsamples (a bounded reservoir);
    ``feedback`` counts predictions with ground truth, ``correct`` the right ones.
    """

    requests: int
    errors: int
    latencies_ms: npt.ArrayLike = ()
    outputs: npt.ArrayLike | None = None
    feedback: int = 0
    correct: int = 0

    def check(self, arm: str) -> None:
        """Raise :class:`InvalidInputError` naming ``<arm>.<field>`` on bad counts."""
        _integer(self.requests, f"{arm}.requests", low=0)
        _integer(self.errors, f"{arm}.errors", low=0, high=self.requests)
        _integer(self.feedback, f"{arm}.feedback", low=0)
        _integer(self.correct, f"{arm}.correct", low=0, high=self.feedback)


@dataclass(frozen=True)
class StepProgress:
    """What the analysis remembers between looks of one step (reset at each step)."""

    looks: int = 0
    test_looks: int = 0
    error_p: float = 1.0
    quality_p: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "looks": self.looks,
            "test_looks": self.test_looks,
            "error_p": self.error_p,
            "quality_p": self.quality_p,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepProgress:
        _mapping(data, "progress", ("looks", "test_looks", "error_p", "quality_p"))
        return cls(**dict(data))


@dataclass(frozen=True)
class StepAnalysis:
    """The outcome of one look, why, the evidence, and the progress for the next look."""

    outcome: Outcome
    reasons: tuple[str, ...]
    evidence: dict[str, Any]
    progress: StepProgress

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def mixture_sprt(x: int, total: int, rho: float) -> float:
    """Log of the one-sided beta-binomial mixture likelihood ratio (module docstring).

    ``x`` of ``total`` events fell in the arm that received a ``rho`` share of the
    exposure; large values mean the arm gets more than its share.
    """
    if total <= 0 or not 0.0 < rho < 1.0:
        return 0.0
    from scipy import special  # scipy loads on first use: the CLI starts without it

    concentration = 1.0 / (rho * (1.0 - rho))
    a, b = concentration * rho, concentration * (1.0 - rho)
    posterior_mass = float(special.betaincc(a + x, b + total - x, rho))
    if posterior_mass <= 0.0:
        return -math.inf
    prior_mass = float(special.betaincc(a, b, rho))
    return (
        float(special.betaln(a + x, b + total - x) - special.betaln(a, b))
        + math.log(posterior_mass)
        - math.log(prior_mass)
        - x * math.log(rho)
        - (total - x) * math.log1p(-rho)
    )


def quantile_test(canary: FloatArray, primary: FloatArray, q: float) -> dict[str, Any]:
    """Mood's one-sided quantile test: are canary samples above the pooled ``q``-quantile
    more often than chance? Exact (hypergeometric) given the pooled sample."""
    from scipy import stats

    pooled = np.concatenate([canary, primary])
    threshold = float(np.quantile(pooled, q, method="higher"))
    above = int(np.count_nonzero(pooled > threshold))
    canary_above = int(np.count_nonzero(canary > threshold))
    p_value = float(stats.hypergeom.sf(canary_above - 1, len(pooled), above, len(canary)))
    return {
        "threshold_ms": threshold,
        "canary_above": canary_above,
        "expected_above": above * len(canary) / len(pooled),
        "p_value": min(1.0, max(0.0, p_value)),
    }


def output_shift(canary: npt.ArrayLike, primary: npt.ArrayLike, kind: OutputKind) -> dict[str, Any]:
    """Compare two output samples: KS for scores, chi-square for labels (with effect)."""
    from scipy import stats

    c, p = np.asarray(canary).ravel(), np.asarray(primary).ravel()
    if kind == "auto":
        numeric = c.dtype.kind == "f" and p.dtype.kind == "f"
        kind = "scores" if numeric else "labels"
    if kind == "scores":
        cf, pf = _finite(c), _finite(p)
        statistic, p_value = 0.0, 1.0
        if len(cf) and len(pf):
            result = stats.ks_2samp(cf, pf, method="asymp")
            statistic, p_value = float(result.statistic), float(result.pvalue)
        return {
            "method": "two-sample Kolmogorov-Smirnov",
            "kind": "scores",
            "effect": statistic,
            "effect_name": "ks_statistic",
            "p_value": p_value,
            "n_canary": int(len(cf)),
            "n_primary": int(len(pf)),
        }
    labels, codes = np.unique(np.concatenate([c.astype(str), p.astype(str)]), return_inverse=True)
    table = np.stack(
        [
            np.bincount(codes[: len(c)], minlength=len(labels)),
            np.bincount(codes[len(c) :], minlength=len(labels)),
        ]
    ).astype(np.float64)
    shares = table / table.sum(axis=1, keepdims=True)
    tv = 0.5 * float(np.abs(shares[0] - shares[1]).sum())
    if len(labels) < 2:
        p_value = 1.0
    else:
        p_value = float(stats.chi2_contingency(table, correction=False).pvalue)
    top = np.argsort(-np.abs(shares[0] - shares[1]))[:5]
    return {
        "method": "chi-square homogeneity",
        "kind": "labels",
        "effect": tv,
        "effect_name": "total_variation",
        "p_value": p_value,
        "n_canary": int(len(c)),
        "n_primary": int(len(p)),
        "shares": {
            str(labels[i]): {"canary": float(shares[0, i]), "primary": float(shares[1, i])}
            for i in top
        },
    }


def analyze_step(
    config: CanaryConfig,
    canary: ArmWindow,
    primary: ArmWindow,
    *,
    step: int,
    step_started_at: float,
    now: float,
    progress: StepProgress | None = None,
) -> StepAnalysis:
    """Analyse one look at canary step ``step`` (an index into ``config.steps``)."""
    progress = progress or StepProgress()
    n_steps = len(config.analysed_steps)
    if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step < n_steps:
        raise InvalidInputError(
            f"step must index an analysed step 0..{n_steps - 1}, got {step!r}", field="step"
        )
    canary.check("canary")
    primary.check("primary")
    elapsed = _number(now, "now") - _number(step_started_at, "step_started_at")
    if elapsed < 0:
        raise InvalidInputError("now is before the step started", field="now")
    look = progress.looks + 1
    alpha = config.alpha / (COMPARISONS * n_steps)
    rollback: list[str] = []
    pause: list[str] = []
    hold: list[str] = []
    tests: dict[str, Any] = {}

    # Always-valid comparisons: every look, may roll back early.
    error = _count_test(
        canary.errors, canary.requests, primary.errors, primary.requests, alpha, progress.error_p
    )
    error["method"] = "beta-binomial mixture SPRT on errors (one-sided, always valid)"
    tests["error_rate"] = error
    if error["rejected"]:
        rollback.append(
            f"canary error rate {_pct(error['canary_rate'])} is higher than primary's "
            f"{_pct(error['primary_rate'])} (always-valid p = {error['p_value']:.3g} "
            f"<= {alpha:.3g})"
        )
    quality_p = progress.quality_p
    if canary.feedback and primary.feedback:
        quality = _count_test(
            canary.feedback - canary.correct,
            canary.feedback,
            primary.feedback - primary.correct,
            primary.feedback,
            alpha,
            progress.quality_p,
        )
        quality_p = quality["p_value"]
        quality["method"] = "beta-binomial mixture SPRT on wrong predictions (one-sided)"
        quality["canary_accuracy"] = 1.0 - quality.pop("canary_rate")
        quality["primary_accuracy"] = 1.0 - quality.pop("primary_rate")
        tests["quality"] = quality
        if quality["rejected"]:
            rollback.append(
                f"canary accuracy {_pct(quality['canary_accuracy'])} is lower than primary's "
                f"{_pct(quality['primary_accuracy'])} (always-valid p = "
                f"{quality['p_value']:.3g} <= {alpha:.3g})"
            )
    else:
        tests["quality"] = {"skipped": "no feedback on one or both arms"}

    missing = []
    if elapsed < config.min_duration_s:
        missing.append(f"{elapsed:.0f} of {config.min_duration_s:.0f} s elapsed")
    for arm, window in (("canary", canary), ("primary", primary)):
        if window.requests < config.min_requests:
            missing.append(f"{arm} has {window.requests} of {config.min_requests} requests")
    test_looks = progress.test_looks
    canary_lat = _finite(np.asarray(canary.latencies_ms, dtype=np.float64).ravel())
    primary_lat = _finite(np.asarray(primary.latencies_ms, dtype=np.float64).ravel())
    if missing:
        hold.append("insufficient data: " + ", ".join(missing))
    else:
        test_looks += 1
        look_alpha = alpha * 0.5**test_looks
        tests["latency"] = _latency(config, canary_lat, primary_lat, look_alpha, rollback, hold)
        tests["outputs"] = _outputs(config, canary, primary, look_alpha, rollback, pause, hold)
        tests["guardrails"] = _guardrails(config, canary, canary_lat, rollback)

    outcome = Outcome.PROMOTE
    reasons: list[str] = ["no regression found on " + ", ".join(_tested(tests))]
    if rollback:
        outcome, reasons = Outcome.ROLLBACK, rollback
    elif pause:
        outcome, reasons = Outcome.PAUSE, pause
    elif hold:
        outcome, reasons = Outcome.HOLD, hold
        limit = None
        if look >= config.max_looks:
            limit = f"{look} looks (max_looks = {config.max_looks})"
        elif config.max_hold_s is not None and elapsed >= config.max_hold_s:
            limit = f"{elapsed:.0f} s (max_hold_s = {config.max_hold_s:g})"
        if limit is not None:
            outcome = Outcome(config.on_timeout)
            reasons = [f"step held for {limit} without a decision", *hold]

    new_progress = StepProgress(
        looks=look, test_looks=test_looks, error_p=error["p_value"], quality_p=quality_p
    )
    evidence = {
        "outcome": outcome.value,
        "reasons": list(reasons),
        "step": step,
        "share": config.steps[step],
        "look": look,
        "elapsed_s": elapsed,
        "alpha": {"total": config.alpha, "per_comparison_and_step": alpha},
        "min_data": {
            "met": not missing,
            "missing": missing,
            "min_requests": config.min_requests,
            "min_duration_s": config.min_duration_s,
        },
        "canary": _summary(canary, canary_lat, config.latency_quantile),
        "primary": _summary(primary, primary_lat, config.latency_quantile),
        "tests": tests,
    }
    return StepAnalysis(outcome, tuple(reasons), evidence, new_progress)


def _count_test(
    x_canary: int, n_canary: int, x_primary: int, n_primary: int, alpha: float, prev_p: float
) -> dict[str, Any]:
    total = x_canary + x_primary
    exposure = n_canary + n_primary
    rho = n_canary / exposure if exposure else 0.0
    log_lr = mixture_sprt(x_canary, total, rho)
    p_now = 1.0 if log_lr <= 0 else math.exp(-log_lr)
    p_value = min(prev_p, p_now)
    return {
        "canary_rate": x_canary / n_canary if n_canary else 0.0,
        "primary_rate": x_primary / n_primary if n_primary else 0.0,
        "canary_events": int(x_canary),
        "primary_events": int(x_primary),
        "canary_exposure_share": rho,
        "log_likelihood_ratio": log_lr if math.isfinite(log_lr) else None,
        "p_value": p_value,
        "alpha": alpha,
        "rejected": p_value <= alpha,
    }


def _latency(
    config: CanaryConfig,
    canary: FloatArray,
    primary: FloatArray,
    alpha: float,
    rollback: list[str],
    hold: list[str],
) -> dict[str, Any]:
    q = config.latency_quantile
    need = config.min_tail_samples
    label = f"p{q * 100:g}"
    out: dict[str, Any] = {
        "method": f"Mood quantile test at {label} (one-sided) and ratio limit",
        "quantile": q,
        "alpha": alpha,
        "ratio_limit": config.latency_ratio_limit,
        "n_canary": int(len(canary)),
        "n_primary": int(len(primary)),
    }
    if len(canary) < need or len(primary) < need:
        hold.append(
            f"latency: {len(canary)} canary and {len(primary)} primary samples; "
            f"the {label} comparison needs {need} each"
        )
        out["skipped"] = f"fewer than {need} samples on an arm"
        return out
    canary_q = float(np.quantile(canary, q))
    primary_q = float(np.quantile(primary, q))
    ratio = canary_q / primary_q if primary_q > 0 else (1.0 if canary_q <= 0 else math.inf)
    out.update(quantile_test(canary, primary, q))
    significant = out["p_value"] <= alpha
    over = ratio > config.latency_ratio_limit
    out.update(
        canary_ms=canary_q,
        primary_ms=primary_q,
        ratio=ratio if math.isfinite(ratio) else None,
        significant=significant,
        over_limit=over,
    )
    text = (
        f"canary {label} {canary_q:.1f} ms is {ratio:.2f}x primary's {primary_q:.1f} ms "
        f"(limit {config.latency_ratio_limit:g}x, p = {out['p_value']:.3g}, alpha {alpha:.3g})"
    )
    if over and significant:
        rollback.append(text)
    elif over:
        hold.append(text + " but not yet significant")
    return out


def _outputs(
    config: CanaryConfig,
    canary: ArmWindow,
    primary: ArmWindow,
    alpha: float,
    rollback: list[str],
    pause: list[str],
    hold: list[str],
) -> dict[str, Any]:
    if canary.outputs is None or primary.outputs is None:
        return {"skipped": "no outputs recorded"}
    nc, np_ = np.size(canary.outputs), np.size(primary.outputs)
    if nc < MIN_OUTPUTS or np_ < MIN_OUTPUTS:
        return {"skipped": f"{nc} canary and {np_} primary outputs; need {MIN_OUTPUTS} each"}
    out = output_shift(canary.outputs, primary.outputs, config.output_kind)
    shifted = out["p_value"] <= alpha and out["effect"] >= config.output_shift_threshold
    out.update(
        alpha=alpha,
        threshold=config.output_shift_threshold,
        shifted=shifted,
        action=config.on_output_shift,
    )
    if shifted:
        text = (
            f"canary output distribution differs from primary's ({out['effect_name']} "
            f"{out['effect']:.3f} >= {config.output_shift_threshold:g}, p = "
            f"{out['p_value']:.3g}, alpha {alpha:.3g})"
        )
        {"rollback": rollback, "pause": pause, "hold": hold, "ignore": []}[
            config.on_output_shift
        ].append(text)
    return out


def _guardrails(
    config: CanaryConfig, canary: ArmWindow, latencies: FloatArray, rollback: list[str]
) -> dict[str, Any]:
    rails = config.guardrails
    out: dict[str, Any] = rails.to_dict()
    if rails.max_error_rate is not None:
        rate = canary.errors / canary.requests if canary.requests else 0.0
        out["canary_error_rate"] = rate
        if rate > rails.max_error_rate:
            rollback.append(
                f"canary error rate {_pct(rate)} breaks the guardrail "
                f"max_error_rate {_pct(rails.max_error_rate)}"
            )
    if rails.max_p99_ms is not None and len(latencies) >= config.min_tail_samples:
        p99 = float(np.quantile(latencies, 0.99))
        out["canary_p99_ms"] = p99
        if p99 > rails.max_p99_ms:
            rollback.append(
                f"canary p99 {p99:.1f} ms breaks the guardrail max_p99_ms {rails.max_p99_ms:g}"
            )
    return out


def _summary(window: ArmWindow, latencies: FloatArray, q: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "requests": int(window.requests),
        "errors": int(window.errors),
        "error_rate": window.errors / window.requests if window.requests else None,
        "latency_samples": int(len(latencies)),
    }
    if len(latencies):
        p50, pq = np.quantile(latencies, [0.5, q])
        out["p50_ms"], out[f"p{q * 100:g}_ms"] = float(p50), float(pq)
    if window.feedback:
        out["feedback"] = int(window.feedback)
        out["accuracy"] = window.correct / window.feedback
    return out


def _tested(tests: Mapping[str, Any]) -> list[str]:
    names = []
    for name, result in tests.items():
        if isinstance(result, Mapping) and "skipped" not in result:
            names.append(name.replace("_", " "))
    return names


def _finite(values: npt.NDArray[Any]) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    return arr[np.isfinite(arr)]


def _pct(value: float) -> str:
    return f"{value * 100:.2f}%"


def _check_steps(steps: object) -> tuple[float, ...]:
    if isinstance(steps, str | bytes) or not isinstance(steps, tuple | list):
        raise InvalidInputError("steps must be a list of percentages", field="steps")
    values = tuple(_number(s, "steps", low=0.0, high=100.0, low_open=True) for s in steps)
    if len(values) < 2 or values[-1] != 100.0:
        raise InvalidInputError(
            f"steps must end at 100 after at least one partial step, got {list(values)}",
            field="steps",
        )
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise InvalidInputError(f"steps must increase, got {list(values)}", field="steps")
    return values


def _number(
    value: object,
    field: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError(f"{field} must be a finite number, got {value!r}", field=field)
    too_low = low is not None and (value <= low if low_open else value < low)
    if too_low or (high is not None and value > high):
        bounds = f"{'(' if low_open else '['}{low if low is not None else '-inf'}, "
        bounds += f"{high if high is not None else 'inf'}]"
        raise InvalidInputError(f"{field} must be in {bounds}, got {value!r}", field=field)
    return float(value)


def _integer(value: object, field: str, *, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidInputError(f"{field} must be an integer, got {value!r}", field=field)
    if value < low or (high is not None and value > high):
        upper = f" and at most {high}" if high is not None else ""
        raise InvalidInputError(f"{field} must be at least {low}{upper}, got {value}", field=field)
    return int(value)


def _choice(value: object, field: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInputError(
            f"{field} must be one of {', '.join(allowed)}, got {value!r}", field=field
        )


def _mapping(data: object, field: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(data, Mapping):
        raise InvalidInputError(f"{field} must be a mapping", field=field)
    unknown = sorted(str(k) for k in set(data) - set(allowed))
    if unknown:
        raise InvalidInputError(
            f"unknown {field} field {unknown[0]!r}; allowed: {', '.join(allowed)}",
            field=f"{field}.{unknown[0]}",
        )
