"""Deterministic train/test splits of a frame."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api import types as ptypes
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from modelyard.domain.signature import to_json_scalar
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


# --- spec splits: train / validation / holdout ---------------------------------------------

SPLIT_STRATEGIES = ("stratified", "random", "time", "group")
Positions = npt.NDArray[np.intp]


@dataclass(frozen=True)
class SplitPositions:
    """Row positions (``iloc``) of each part, ascending; the parts are disjoint."""

    train: Positions
    validation: Positions
    holdout: Positions


def holdout_split(
    frame: pd.DataFrame,
    *,
    strategy: str,
    target: str,
    holdout: float,
    validation: float | None = None,
    column: str | None = None,
    seed: int = 0,
) -> SplitPositions:
    """Divide ``frame`` into train, validation (possibly empty) and holdout rows.

    ``holdout`` and ``validation`` are fractions of all rows. Strategies:

    ``stratified``
        Shuffled, keeping class shares in every part (each class needs 2+ rows).
    ``random``
        Shuffled.
    ``time``
        Ordered by ``column`` (datetimes, parseable strings or numbers): the latest
        ``holdout`` share is the holdout, the ``validation`` share before it the
        validation part, the earliest rows train. Ties keep frame order.
    ``group``
        Whole groups of ``column`` go to one part (fractions count groups, not rows).

    The same inputs and ``seed`` give the same split. InvalidInputError names the cause
    (a rare class, an unparsable or null split column, too few rows or groups).
    """
    n = len(frame)
    if strategy not in SPLIT_STRATEGIES:
        raise InvalidInputError(
            f"unknown split strategy {strategy!r}; allowed: {', '.join(SPLIT_STRATEGIES)}",
            field="split.strategy",
        )
    if n < 3:
        raise InvalidInputError(
            f"cannot split {n} row(s) into train and holdout; need at least 3", field=None
        )
    val = validation or 0.0
    positions = np.arange(n, dtype=np.intp)
    if strategy == "time":
        order = _time_order(_split_column(frame, column, strategy))
        n_hold = math.ceil(holdout * n)
        n_val = math.ceil(val * n) if val else 0
        n_train = n - n_hold - n_val
        if n_train < 1:
            raise InvalidInputError(
                f"{n} rows leave no training rows after holdout and validation", field="split"
            )
        return _parts(order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :])
    if strategy == "group":
        groups = _split_column(frame, column, strategy)
        if groups.isna().any():
            raise InvalidInputError(
                f"group column {column!r} has {int(groups.isna().sum())} missing value(s)",
                field="split.column",
            )
        codes = np.asarray(pd.factorize(groups, sort=True)[0], dtype=np.intp)
        rest, hold = _group_split(positions, codes, holdout, seed, column)
        valid = positions[:0]
        if val:
            rest, valid = _group_split(rest, codes[rest], val / (1.0 - holdout), seed, column)
        return _parts(rest, valid, hold)
    y = frame[target] if strategy == "stratified" else None
    if y is not None:
        _check_stratifiable(y, target)
    rest, hold = _shuffle_split(positions, y, holdout, seed)
    valid = positions[:0]
    if val:
        y_rest = None if y is None else y.iloc[rest]
        rest, valid = _shuffle_split(rest, y_rest, val / (1.0 - holdout), seed)
    return _parts(rest, valid, hold)


def _parts(train: Positions, validation: Positions, holdout: Positions) -> SplitPositions:
    parts = [np.sort(np.asarray(p, dtype=np.intp)) for p in (train, validation, holdout)]
    if len(parts[0]) == 0 or len(parts[2]) == 0:
        raise InvalidInputError(
            "the split left the training or the holdout part empty; use more rows", field="split"
        )
    return SplitPositions(*parts)


def _split_column(frame: pd.DataFrame, column: str | None, strategy: str) -> pd.Series:
    if column is None:
        raise InvalidInputError(f"split strategy {strategy!r} needs a column", field="split.column")
    if column not in frame.columns:
        raise InvalidInputError(
            f"split column {column!r} not found in the dataset", field="split.column"
        )
    return frame[column]


def _time_order(values: pd.Series) -> Positions:
    """Positions sorted by time (stable); InvalidInputError if not parseable."""
    name = values.name
    if ptypes.is_datetime64_any_dtype(values.dtype) or (
        ptypes.is_numeric_dtype(values.dtype) and not ptypes.is_bool_dtype(values.dtype)
    ):
        keys = values
    else:
        try:
            keys = pd.to_datetime(values, utc=True, format="mixed", errors="raise")
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidInputError(
                f"timestamp column {name!r} cannot be parsed as datetimes: {exc}",
                field="split.column",
            ) from None
    if keys.isna().any():
        raise InvalidInputError(
            f"timestamp column {name!r} has {int(keys.isna().sum())} missing value(s); "
            "a time split needs a time for every row",
            field="split.column",
        )
    return np.asarray(np.argsort(keys.to_numpy(), kind="stable"), dtype=np.intp)


def _check_stratifiable(y: pd.Series, target: str) -> None:
    counts = y.value_counts()
    rare = counts[counts < 2]
    if len(rare):
        label = rare.index[0]
        label = label.item() if isinstance(label, np.generic) else label
        raise InvalidInputError(
            f"class {label!r} of target {target!r} has only {int(rare.iloc[0])} row; a "
            "stratified split needs at least 2 rows per class (drop the class, collect "
            "more rows or use split.strategy: random)",
            field="data.target",
        )


def _shuffle_split(
    positions: Positions, y: pd.Series | None, test_size: float, seed: int
) -> tuple[Positions, Positions]:
    try:
        train, test = train_test_split(
            positions,
            test_size=test_size,
            random_state=seed,
            shuffle=True,
            stratify=None if y is None else y.to_numpy(),
        )
    except ValueError as exc:
        raise InvalidInputError(
            f"cannot split {len(positions)} rows with a {test_size:.3g} share: {exc}",
            field="split",
        ) from None
    return np.asarray(train, dtype=np.intp), np.asarray(test, dtype=np.intp)


def _group_split(
    positions: Positions,
    groups: npt.NDArray[np.intp],
    test_size: float,
    seed: int,
    column: str | None,
) -> tuple[Positions, Positions]:
    """Split ``positions`` (with aligned group codes ``groups``) keeping groups whole."""
    n_groups = len(np.unique(groups))
    if n_groups < 2:
        raise InvalidInputError(
            f"group column {column!r} has {n_groups} distinct value(s); a group split "
            "needs at least 2 groups",
            field="split.column",
        )
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    try:
        train, test = next(splitter.split(positions, groups=groups))
    except ValueError as exc:
        raise InvalidInputError(
            f"cannot split {n_groups} groups of {column!r} with a {test_size:.3g} share: {exc}",
            field="split",
        ) from None
    return positions[train], positions[test]


# --- holdout record: which rows were held out, and proof they never trained -------------


@dataclass(frozen=True)
class HoldoutInfo:
    """Which rows were held out, and the proof they never reached training.

    ``ids`` are the holdout rows' index labels (or ``id_column`` values), JSON-able;
    ``*_ids_sha256`` digest the sorted ids of each part (:func:`ids_digest`).
    ``excluded`` is only ever ``True``: :func:`record_holdout` raises on a leak.
    """

    strategy: str
    column: str | None
    fraction: float
    validation_fraction: float | None
    split_seed: int
    id_source: str
    ids: list[Any]
    ids_sha256: str
    train_ids_sha256: str
    validation_ids_sha256: str | None
    n_train: int
    n_validation: int
    n_holdout: int
    excluded: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return {
            "strategy": self.strategy,
            "column": self.column,
            "fraction": self.fraction,
            "validation_fraction": self.validation_fraction,
            "split_seed": self.split_seed,
            "id_source": self.id_source,
            "ids": list(self.ids),
            "ids_sha256": self.ids_sha256,
            "train_ids_sha256": self.train_ids_sha256,
            "validation_ids_sha256": self.validation_ids_sha256,
            "n_train": self.n_train,
            "n_validation": self.n_validation,
            "n_holdout": self.n_holdout,
            "excluded": self.excluded,
        }


def row_ids(
    frame: pd.DataFrame, id_column: str | None = None, *, allow_duplicates: bool = False
) -> pd.Index:
    """The id of every row: the index labels, or the values of ``id_column``.

    Ids must be unique (``allow_duplicates``: e.g. a group split on the id column keeps
    each id on one side anyway) and not null; InvalidInputError otherwise.
    """
    ids: pd.Index
    if id_column is None:
        ids = frame.index
        what = "the dataset's index has duplicate labels"
    else:
        if id_column not in frame.columns:
            raise InvalidInputError(
                f"id column {id_column!r} is not in the dataset", field="id_column"
            )
        ids = pd.Index(frame[id_column])
        if ids.hasnans:
            raise InvalidInputError(
                f"id column {id_column!r} has missing values", field="id_column"
            )
        what = f"id column {id_column!r} has duplicate values"
    if ids.has_duplicates and not allow_duplicates:
        raise InvalidInputError(
            f"{what}, so holdout rows cannot be identified; use unique ids (or reset the index)",
            field="id_column",
        )
    return ids


def ids_digest(ids: Sequence[Any] | pd.Index) -> str:
    """sha256 of the sorted JSON encodings of ``ids`` (independent of their order)."""
    encoded = sorted(json.dumps(to_json_scalar(v), default=str) for v in ids)
    return hashlib.sha256("\n".join(encoded).encode("utf-8")).hexdigest()


def record_holdout(
    parts: SplitPositions,
    ids: pd.Index,
    *,
    strategy: str,
    column: str | None,
    fraction: float,
    validation_fraction: float | None,
    split_seed: int,
    id_source: str,
) -> HoldoutInfo:
    """Record the holdout ids, after checking that none is a training or validation id.

    ``ids`` holds one id per row of the split frame. A holdout row or id found on the
    other side raises InvalidInputError, so a returned record always has ``excluded``.
    """
    hold_positions = set(parts.holdout.tolist())
    if hold_positions & (set(parts.train.tolist()) | set(parts.validation.tolist())):
        raise InvalidInputError("the split put a row in both training and holdout", field="split")
    train_ids, valid_ids, hold_ids = (
        ids[p] for p in (parts.train, parts.validation, parts.holdout)
    )
    leaked = hold_ids.intersection(train_ids.append(valid_ids))
    if len(leaked):
        raise InvalidInputError(
            f"{len(leaked)} holdout id(s) also identify training rows "
            f"(e.g. {to_json_scalar(leaked[0])!r}); ids must identify rows",
            field="id_column",
        )
    return HoldoutInfo(
        strategy=strategy,
        column=column,
        fraction=fraction,
        validation_fraction=validation_fraction,
        split_seed=split_seed,
        id_source=id_source,
        ids=[to_json_scalar(v) for v in hold_ids],
        ids_sha256=ids_digest(hold_ids),
        train_ids_sha256=ids_digest(train_ids),
        validation_ids_sha256=ids_digest(valid_ids) if len(valid_ids) else None,
        n_train=len(parts.train),
        n_validation=len(parts.validation),
        n_holdout=len(parts.holdout),
        excluded=True,
    )
