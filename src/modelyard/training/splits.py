"""Deterministic train/test splits of a frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from modelyard.errors import InvalidInputError


def train_test_split_frame(
    frame: pd.DataFrame,
    target: str,
    *,
    test_size: float = 0.2,
    seed: int = 0,
    stratify: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into ``(train, test)``; stratified by ``target`` when ``stratify``.

    The same inputs and ``seed`` always give the same split; rows keep their index.
    Raises :class:`InvalidInputError` for an empty frame, a missing or null-containing
    target, fewer than two distinct target values, a class with fewer than two rows
    (when stratifying) or a split that leaves either side empty.
    """
    if len(frame) == 0:
        raise InvalidInputError("cannot split an empty frame", field=None)
    if target not in frame.columns:
        raise InvalidInputError(f"target column {target!r} not found in the frame", field="target")
    if not 0.0 < test_size < 1.0:
        raise InvalidInputError(
            f"test_size must be between 0 and 1 (exclusive), got {test_size}", field="test_size"
        )
    y = frame[target]
    n_missing = int(y.isna().sum())
    if n_missing:
        raise InvalidInputError(
            f"target column {target!r} has {n_missing} missing value(s)", field="target"
        )
    counts = y.value_counts()
    if len(counts) < 2:
        raise InvalidInputError(
            f"target column {target!r} needs at least 2 distinct values (classes), "
            f"found {len(counts)}",
            field="target",
        )
    if stratify:
        rare = counts[counts < 2]
        if len(rare):
            label = rare.index[0]
            label = label.item() if isinstance(label, np.generic) else label
            raise InvalidInputError(
                f"class {label!r} of target {target!r} has only {int(rare.iloc[0])} row; "
                "stratified splitting needs at least 2 rows per class",
                field="target",
            )
    try:
        train, test = train_test_split(
            frame,
            test_size=test_size,
            random_state=seed,
            shuffle=True,
            stratify=y if stratify else None,
        )
    except ValueError as exc:
        raise InvalidInputError(
            f"cannot split {len(frame)} rows with test_size={test_size}: {exc}", field="test_size"
        ) from None
    return train, test
