"""MLflow scoring payloads: the JSON bodies ``mlflow models serve`` takes on ``/invocations``.

A body holds exactly one of four data keys, plus an optional ``params`` object::

    {"dataframe_split": {"columns": [...], "data": [[...], ...], "index": [...]}}
    {"dataframe_records": [{"column": value, ...}, ...]}
    {"instances": ...}
    {"inputs": ...}

``dataframe_split`` is ``DataFrame.to_dict(orient="split")`` / ``to_json(orient="split")``
(``index`` is optional and ignored); ``dataframe_records`` is
``to_dict(orient="records")``. ``instances`` and ``inputs`` take the same shapes: a list
of row objects, a list of rows as lists (values in the signature's column order), an
object of column → list of values, an object of column → one value (a single row), or,
for a single-column signature, a flat list of that column's values.

Where modelyard differs from MLflow, it refuses rather than guesses:

* ``params`` must be an object and empty: modelyard models take no inference
  parameters, and MLflow's habit of ignoring them with a log line would hide a mistake.
* Unknown top-level keys and columns outside the signature are errors (MLflow drops
  them with a warning).
* Rows as lists are matched to the columns by position for any signature (MLflow does
  this only for single-column signatures), so a list row must hold every column.

CSV bodies are not handled here. Errors are InvalidInputError (SignatureError for
column and value problems) whose ``field`` is the JSON path at fault, such as
``"dataframe_split.columns"``, or the column name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from modelyard.domain.signature import (
    ClassLabel,
    Signature,
    to_json_scalar,
    validate_frame,
    validate_records,
)
from modelyard.errors import InvalidInputError, SignatureError
from modelyard.runtime.base import Prediction

SPLIT = "dataframe_split"
RECORDS = "dataframe_records"
INSTANCES = "instances"
INPUTS = "inputs"
PARAMS = "params"
#: The data keys, exactly one of which a request must hold.
DATA_KEYS: tuple[str, ...] = (SPLIT, RECORDS, INSTANCES, INPUTS)
_SPLIT_KEYS = frozenset({"columns", "data", "index"})
#: Up to this many rows, rows → ``validate_records`` is cheaper than building a frame.
SMALL_REQUEST_ROWS = 128


def parse_mlflow_payload(
    payload: object, signature: Signature, *, max_rows: int | None = None
) -> pd.DataFrame:
    """The model's input frame for a decoded MLflow scoring body.

    The frame is checked against the signature (``validate_records`` or
    ``validate_frame``), so it has exactly the signature's columns and dtypes.
    ``max_rows`` caps the number of rows (checked before any value is looked at).
    """
    if not isinstance(payload, Mapping):
        raise InvalidInputError(
            f"expected a JSON object with one of the keys {', '.join(DATA_KEYS)}", field="body"
        )
    unknown = sorted(str(k) for k in payload if k not in DATA_KEYS and k != PARAMS)
    if unknown:
        raise InvalidInputError(
            f"unexpected key {unknown[0]!r}; an MLflow scoring request holds one of "
            f"{', '.join(DATA_KEYS)} and optionally {PARAMS!r}",
            field=unknown[0],
        )
    present = [key for key in DATA_KEYS if key in payload]
    if len(present) != 1:
        found = f"got {', '.join(present)}" if present else "got none"
        raise InvalidInputError(
            f"expected exactly one of {', '.join(DATA_KEYS)}; {found}", field="body"
        )
    _check_params(payload.get(PARAMS))
    key = present[0]
    value = payload[key]
    if key == SPLIT:
        return _from_split(value, signature, max_rows)
    if key == RECORDS:
        if not isinstance(value, list):
            raise InvalidInputError(f"{key} must be a list of row objects", field=key)
        _check_count(len(value), key, max_rows)
        return _from_records(value, signature, key)
    return _from_tensor_input(value, signature, key, max_rows)


def encode_mlflow_response(
    prediction: Prediction, *, proba_classes: Sequence[ClassLabel] | None = None
) -> dict[str, Any]:
    """``{"predictions": [...]}``, as MLflow 2.x answers for a pyfunc model.

    By default each row's prediction: the class label for classifiers, the number for
    regressors (what ``mlflow.sklearn`` models return). With ``proba_classes`` (usually
    ``signature.output.classes``) each row is instead the list of class probabilities in
    that order, which is what a model logged with ``pyfunc_predict_fn="predict_proba"``
    returns; InvalidInputError (field ``"predict_proba"``) if the model gives none.
    """
    if proba_classes is None:
        return {"predictions": prediction.predictions}
    if prediction.probabilities is None:
        raise InvalidInputError(
            "this model gives no class probabilities, only labels", field="predict_proba"
        )
    keys = [str(to_json_scalar(c)) for c in proba_classes]
    return {"predictions": [[row[k] for k in keys] for row in prediction.probabilities]}


# --------------------------------------------------------------------------- shapes


def _check_params(params: object) -> None:
    if params is None:
        return
    if not isinstance(params, Mapping):
        raise InvalidInputError(f"{PARAMS} must be an object", field=PARAMS)
    if params:
        name = sorted(str(k) for k in params)[0]
        raise InvalidInputError(
            f"modelyard models take no inference parameters; remove {PARAMS}.{name}",
            field=PARAMS,
        )


def _check_count(count: int, field: str, max_rows: int | None) -> None:
    if count == 0:
        raise InvalidInputError(f"{field} is empty; send at least one row", field=field)
    if max_rows is not None and count > max_rows:
        raise InvalidInputError(f"{field} has {count} rows; the limit is {max_rows}", field=field)


def _from_split(split: object, signature: Signature, max_rows: int | None) -> pd.DataFrame:
    if not isinstance(split, Mapping):
        raise InvalidInputError(f"{SPLIT} must be an object with 'columns' and 'data'", field=SPLIT)
    unknown = sorted(str(k) for k in split if k not in _SPLIT_KEYS)
    if unknown:
        raise InvalidInputError(
            f"unexpected key {unknown[0]!r} in {SPLIT}; expected columns, data and optional index",
            field=f"{SPLIT}.{unknown[0]}",
        )
    columns = split.get("columns")
    if columns is None:
        raise InvalidInputError(
            f"{SPLIT}.columns is missing: list the column names", field=f"{SPLIT}.columns"
        )
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidInputError(
            f"{SPLIT}.columns must be a list of column names", field=f"{SPLIT}.columns"
        )
    if len(set(columns)) != len(columns):
        duplicate = next(c for i, c in enumerate(columns) if c in columns[:i])
        raise InvalidInputError(
            f"{SPLIT}.columns names {duplicate!r} twice", field=f"{SPLIT}.columns"
        )
    data = split.get("data")
    if not isinstance(data, list):
        raise InvalidInputError(
            f"{SPLIT}.data must be a list of rows (lists of values)", field=f"{SPLIT}.data"
        )
    _check_count(len(data), f"{SPLIT}.data", max_rows)
    index = split.get("index")
    if "index" in split and (not isinstance(index, list) or len(index) != len(data)):
        raise InvalidInputError(
            f"{SPLIT}.index must be a list with one entry per row ({len(data)})",
            field=f"{SPLIT}.index",
        )
    return _from_rows(data, columns, signature, f"{SPLIT}.data")


def _from_records(records: list[Any], signature: Signature, field: str) -> pd.DataFrame:
    try:
        return validate_records(signature, records)
    except SignatureError:
        raise
    except InvalidInputError as exc:
        # validate_records names the native API's field; name this payload's instead.
        if exc.field != "inputs":
            raise
        raise InvalidInputError(f"{field}: {exc.message}", field=field, row=exc.row) from None


def _from_tensor_input(
    value: object, signature: Signature, key: str, max_rows: int | None
) -> pd.DataFrame:
    """``instances`` / ``inputs``: rows as objects or lists, or columns."""
    if isinstance(value, Mapping):
        return _from_columns(value, signature, key, max_rows)
    if not isinstance(value, list):
        raise InvalidInputError(
            f"{key} must be a list of rows or an object of column values", field=key
        )
    _check_count(len(value), key, max_rows)
    first = value[0]
    if isinstance(first, Mapping):
        return _from_records(value, signature, key)
    if isinstance(first, list):
        return _from_rows(value, signature.columns, signature, key)
    if len(signature.inputs) == 1:
        # A flat list of values for a single-column signature, as MLflow accepts.
        return _checked(signature, {signature.columns[0]: value}, len(value))
    raise InvalidInputError(
        f"{key}[0] must be a row: an object of column values or a list of "
        f"{len(signature.inputs)} values in the order {', '.join(signature.columns)}",
        field=key,
        row=0,
    )


def _from_rows(
    rows: list[Any], columns: list[str], signature: Signature, field: str
) -> pd.DataFrame:
    """Rows given as lists, one value per name in ``columns``."""
    width = len(columns)
    for number, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise InvalidInputError(
                f"{field}[{number}] must be a list of {width} values ({', '.join(columns)})",
                field=field,
                row=number,
            )
    if width and len(rows) <= SMALL_REQUEST_ROWS:
        return validate_records(signature, [dict(zip(columns, row, strict=True)) for row in rows])
    values = zip(*rows, strict=True) if width else iter(())
    data = dict(zip(columns, values, strict=True))
    return _checked(signature, data, len(rows))


def _from_columns(
    columns: Mapping[Any, Any], signature: Signature, key: str, max_rows: int | None
) -> pd.DataFrame:
    """An object of column → list of values, or column → one value (one row)."""
    if not columns:
        raise InvalidInputError(f"{key} is empty; send at least one row", field=key)
    for name in columns:
        if not isinstance(name, str):
            raise InvalidInputError(f"{key} has a non-string column name {name!r}", field=key)
    lists = [name for name, v in columns.items() if isinstance(v, list)]
    if not lists:
        _check_count(1, key, max_rows)
        return _checked(signature, {name: [v] for name, v in columns.items()}, 1)
    if len(lists) != len(columns):
        odd = next(name for name, v in columns.items() if not isinstance(v, list))
        raise InvalidInputError(
            f"{key}.{odd} must be a list of values like the other columns",
            field=f"{key}.{odd}",
        )
    count = len(columns[lists[0]])
    for name in lists:
        if len(columns[name]) != count:
            raise InvalidInputError(
                f"{key}.{name} has {len(columns[name])} values but {key}.{lists[0]} "
                f"has {count}; every column needs one value per row",
                field=f"{key}.{name}",
            )
    _check_count(count, key, max_rows)
    return _checked(signature, dict(columns), count)


# --------------------------------------------------------------------------- frames


def _checked(signature: Signature, data: Mapping[str, Sequence[Any]], count: int) -> pd.DataFrame:
    """Validate columns of raw JSON values (``count`` values each) against the signature."""
    if data and count <= SMALL_REQUEST_ROWS:
        names = list(data)
        rows = zip(*data.values(), strict=True)
        return validate_records(signature, [dict(zip(names, row, strict=True)) for row in rows])
    index = pd.RangeIndex(count)
    # dtype=object: pandas 3 would otherwise infer its own string dtype for strings.
    series = {
        name: pd.Series(
            np.fromiter(values, dtype=object, count=count), index=index, dtype=object, copy=False
        )
        for name, values in data.items()
    }
    return validate_frame(signature, pd.DataFrame(series, index=index, copy=False))
