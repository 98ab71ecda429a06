"""A synthetic, deterministic customer-churn table for demos, docs and tests.

The story: a subscription business wants to predict which customers will churn
(``target == 1``) in the next quarter. The label comes from a logistic model of the
features plus noise, so models learn something real without the task being trivial.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REGIONS = ("north", "south", "east", "west", "central")
PLANS = ("basic", "standard", "premium")
CHANNELS = ("web", "store", "partner")
SEXES = ("female", "male")
TARGET = "target"
_SIGNUP_START = np.datetime64("2023-01-01T00:00:00", "s")
_SIGNUP_SPAN_S = 730 * 24 * 3600  # about two years
CSV_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"


def generate_quickstart_frame(n_rows: int = 5000, seed: int = 7) -> pd.DataFrame:
    """Return the quickstart churn table; the same arguments give an identical frame.

    Columns: ``age`` (int), ``income`` (float), ``tenure_months`` (int), ``balance``
    (float, ~3% missing), ``num_products`` (int), ``support_calls`` (int), ``region``,
    ``plan``, ``channel`` (strings), ``sex`` (sensitive attribute), ``signup_at``
    (timestamp over ~2 years) and the binary label ``target`` (int 0/1, ~30% positive).
    """
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    rng = np.random.default_rng(seed)

    age = np.clip(np.round(rng.normal(42.0, 13.0, n_rows)), 18, 85).astype(np.int64)
    sex = rng.choice(np.array(SEXES), size=n_rows)
    region = rng.choice(np.array(REGIONS), size=n_rows, p=[0.25, 0.22, 0.2, 0.18, 0.15])
    plan_idx = rng.choice(len(PLANS), size=n_rows, p=[0.5, 0.32, 0.18])
    plan = np.array(PLANS)[plan_idx]
    channel = rng.choice(np.array(CHANNELS), size=n_rows, p=[0.55, 0.3, 0.15])

    income = np.round(
        np.exp(rng.normal(10.6, 0.45, n_rows)) * (1.0 + 0.25 * plan_idx) + 150.0 * (age - 18),
        2,
    )
    tenure_months = rng.integers(0, 120, size=n_rows, endpoint=True, dtype=np.int64)
    num_products = 1 + rng.binomial(3, 0.25 + 0.1 * plan_idx, size=n_rows).astype(np.int64)
    support_calls = rng.poisson(1.2 + 0.8 * (plan_idx == 0), size=n_rows).astype(np.int64)
    balance = np.round(np.maximum(rng.normal(0.12, 0.1, n_rows) * income, 0.0), 2)

    offsets = rng.integers(0, _SIGNUP_SPAN_S, size=n_rows, dtype=np.int64)
    signup_at = (_SIGNUP_START + offsets.astype("timedelta64[s]")).astype("datetime64[us]")

    region_effect = {"north": -0.1, "south": 0.25, "east": 0.0, "west": -0.2, "central": 0.35}
    logit = (
        -1.75
        - 1.1 * (tenure_months - 60.0) / 35.0
        - 0.35 * (num_products - 2.0)
        + 0.45 * (support_calls - 1.5)
        - 0.35 * (np.log(income) - 11.0) / 0.5
        + 0.25 * ((age - 42.0) / 13.0) ** 2
        - 0.3 * (balance / np.maximum(income, 1.0) - 0.12) / 0.1
        + np.array([0.45, 0.0, -0.5])[plan_idx]
        + np.vectorize(region_effect.__getitem__, otypes=[float])(region)
        + 0.2 * (channel == "partner")
        + rng.normal(0.0, 0.6, n_rows)
    )
    target = (rng.random(n_rows) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)

    balance_with_nulls = np.where(rng.random(n_rows) < 0.03, np.nan, balance)

    return pd.DataFrame(
        {
            "age": age,
            "income": income,
            "tenure_months": tenure_months,
            "balance": balance_with_nulls,
            "num_products": num_products,
            "support_calls": support_calls,
            "region": pd.Series(region, dtype="str"),
            "plan": pd.Series(plan, dtype="str"),
            "channel": pd.Series(channel, dtype="str"),
            "sex": pd.Series(sex, dtype="str"),
            "signup_at": signup_at,
            TARGET: target,
        }
    )


def write_quickstart_csv(path: Path, n_rows: int = 5000, seed: int = 7) -> Path:
    """Write the quickstart table to ``path`` as CSV (ISO-8601 timestamps) and return it.

    The bytes depend only on ``n_rows`` and ``seed``.
    """
    frame = generate_quickstart_frame(n_rows=n_rows, seed=seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, date_format=CSV_DATE_FORMAT, lineterminator="\n")
    return path
