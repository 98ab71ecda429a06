"""One contract, every flavor: save, load, predict, validate, fail loudly on bad files."""

from __future__ import annotations

import dataclasses
import importlib
import json
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelyard.domain.signature import (
    Signature,
    infer_signature,
    to_json_scalar,
    validate_records,
    validate_rows,
)
from modelyard.errors import InvalidInputError, ModelLoadError, SignatureError, TrustError
from modelyard.runtime.base import LoadedModel, Prediction
from modelyard.runtime.flavors import FLAVORS, detect_flavor, get_flavor

USER_MODULE = "modelyard_test_user_models"
USER_SOURCE = '''
"""A user's own model class, as the python flavor sees it."""

import json
from pathlib import Path

import numpy as np


class ThresholdModel:
    """Predicts 1 when x is above the mean seen in fit."""

    def __init__(self):
        self.threshold = 0.0
        self.classes_ = [0, 1]

    def fit(self, frame, target):
        self.threshold = float(frame["x"].mean())
        return self

    def predict(self, frame):
        return (frame["x"].to_numpy() > self.threshold).astype(int)

    def predict_proba(self, frame):
        p = 1.0 / (1.0 + np.exp(-(frame["x"].to_numpy() - self.threshold)))
        return np.column_stack([1.0 - p, p])

    def save(self, directory):
        (Path(directory) / "state.json").write_text(json.dumps({"threshold": self.threshold}))

    def load(self, directory):
        state = json.loads((Path(directory) / "state.json").read_text())
        self.threshold = state["threshold"]


class BrokenLengthModel:
    def predict(self, frame):
        return [1.0]
'''


@dataclass
class Case:
    """A fitted model with the frame to predict on and what the library itself says."""

    flavor: str
    model: object
    frame: pd.DataFrame
    signature: Signature
    expected: Any
    expected_proba: Any = None
    trusted: bool = False


# --------------------------------------------------------------------------- the contract


def check_model_adapter(
    flavor_name: str,
    model: object,
    frame: pd.DataFrame,
    signature: Signature,
    *,
    workdir: Path,
    expected: Sequence[Any],
    expected_proba: np.ndarray | None = None,
    trusted: bool = False,
) -> LoadedModel:
    """Assert that ``flavor_name`` saves, loads and serves ``model`` faithfully."""
    flavor = get_flavor(flavor_name)
    assert flavor.name == flavor_name
    saved = workdir / "saved"
    saved.mkdir()
    flavor.save(model, saved, signature)
    files = sorted(p.relative_to(saved) for p in saved.rglob("*") if p.is_file())
    assert files, "save wrote no files"

    loaded = flavor.load(saved, signature, trusted=trusted)
    assert isinstance(loaded, LoadedModel)
    assert loaded.flavor == flavor_name
    assert loaded.signature == signature

    result = loaded.predict(frame)
    _check_prediction(result, signature, expected, expected_proba, rows=len(frame))

    # The serving path: JSON rows → validate_records → predict gives the same answers.
    records = [{k: to_json_scalar(v) for k, v in row.items()} for row in frame.to_dict("records")]
    via_json = loaded.predict(validate_records(signature, json.loads(json.dumps(records))))
    assert via_json.predictions == result.predictions
    # The hot path's rows (an all-float signature's matrix, no frame) answer exactly alike.
    rows = validate_rows(signature, json.loads(json.dumps(records)))
    assert isinstance(rows, np.ndarray) == signature.all_float
    via_rows = loaded.predict_validated(rows)
    assert via_rows.predictions == via_json.predictions
    assert via_rows.probabilities == via_json.probabilities

    # Input is validated against the signature before the model sees it.
    first = signature.columns[0]
    with pytest.raises(SignatureError) as info:
        loaded.predict(frame.drop(columns=[first]))
    assert info.value.field == first
    with pytest.raises(SignatureError):
        loaded.predict(frame.assign(unexpected_extra=1))

    # A damaged or incomplete artifact fails with ModelLoadError, never anything else.
    for index, name in enumerate(files):
        for damage in ("corrupt", "delete"):
            copy = workdir / f"{damage}-{index}"
            shutil.copytree(saved, copy)
            target = copy / name
            if damage == "corrupt":
                target.write_bytes(b"\x00\xffnot a model\x00" * 3)
            else:
                target.unlink()
            with pytest.raises(ModelLoadError):
                flavor.load(copy, signature, trusted=trusted)
    return loaded


def _check_prediction(
    result: Prediction,
    signature: Signature,
    expected: Sequence[Any],
    expected_proba: np.ndarray | None,
    *,
    rows: int,
) -> None:
    assert isinstance(result, Prediction)
    assert len(result.predictions) == rows
    assert all(type(p) in (int, float, str, bool) for p in result.predictions)
    json.dumps({"predictions": result.predictions, "probabilities": result.probabilities})
    if signature.output.kind == "regression":
        assert result.probabilities is None
        np.testing.assert_allclose(result.predictions, np.asarray(expected, float), rtol=1e-5)
        return
    assert result.predictions == [to_json_scalar(v) for v in expected]
    assert result.probabilities is not None
    assert len(result.probabilities) == rows
    keys = [str(c) for c in signature.output.classes or ()]
    for row in result.probabilities:
        assert sorted(row) == sorted(keys)
        assert all(type(p) is float and 0.0 <= p <= 1.0 for p in row.values())
        assert sum(row.values()) == pytest.approx(1.0, abs=1e-5)
    if expected_proba is not None:
        got = np.array([[row[k] for k in keys] for row in result.probabilities])
        np.testing.assert_allclose(got, expected_proba, atol=1e-5)


# --------------------------------------------------------------------------- cases


def _rng() -> np.random.Generator:
    return np.random.default_rng(7)


def sklearn_pipeline_case() -> Case:
    rng = _rng()
    n = 120
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
            "city": pd.Series(rng.choice(["paris", "lyon", "nice"], n)).where(rng.random(n) > 0.1),
        }
    )
    target = pd.Series(np.where((frame["age"] > 45) | (frame["city"] == "nice"), "yes", "no"))
    pre = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
                ["age", "income"],
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                ["city"],
            ),
        ]
    )
    model = Pipeline([("pre", pre), ("model", LogisticRegression())]).fit(frame, target)
    test = frame.head(30)
    return Case(
        "sklearn",
        model,
        test,
        infer_signature(frame, target),
        model.predict(test),
        model.predict_proba(test),
    )


def sklearn_forest_regressor_case() -> Case:
    rng = _rng()
    frame = pd.DataFrame({"x": rng.normal(size=80), "k": rng.integers(0, 5, 80)})
    target = frame["x"] * 3 + frame["k"]
    model = RandomForestRegressor(n_estimators=10, random_state=0).fit(frame, target)
    test = frame.head(20)
    return Case("sklearn", model, test, infer_signature(frame, target), model.predict(test))


def _lightgbm_frame(n: int = 200) -> pd.DataFrame:
    rng = _rng()
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "color": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "k": rng.integers(0, 4, n),
        }
    )


def _lgbm(cls: type, frame: pd.DataFrame, target: pd.Series) -> Any:
    return cls(n_estimators=15, min_child_samples=5, verbose=-1, n_jobs=1, random_state=0).fit(
        frame, target
    )


def lightgbm_classifier_case() -> Case:
    frame = _lightgbm_frame()
    target = pd.Series(np.where((frame["x"] > 0) ^ (frame["color"] == "red"), "yes", "no"))
    model = _lgbm(lgb.LGBMClassifier, frame, target)
    test = frame.head(40)
    return Case(
        "lightgbm",
        model,
        test,
        infer_signature(frame, target),
        model.predict(test),
        model.predict_proba(test),
    )


def lightgbm_multiclass_case() -> Case:
    frame = _lightgbm_frame()
    target = pd.Series(np.where(frame["color"] == "red", 2, np.where(frame["x"] > 0, 1, 0)))
    model = _lgbm(lgb.LGBMClassifier, frame, target)
    test = frame.head(40)
    return Case(
        "lightgbm",
        model,
        test,
        infer_signature(frame, target),
        model.predict(test),
        model.predict_proba(test),
    )


def lightgbm_regressor_case() -> Case:
    frame = _lightgbm_frame()
    target = frame["x"] * 2 + (frame["color"] == "blue")
    model = _lgbm(lgb.LGBMRegressor, frame, target)
    test = frame.head(40)
    return Case("lightgbm", model, test, infer_signature(frame, target), model.predict(test))


def lightgbm_booster_case() -> Case:
    frame = _lightgbm_frame()
    target = pd.Series((frame["x"] > 0).astype(int))
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5},
        lgb.Dataset(frame, target),
        num_boost_round=10,
    )
    test = frame.head(40)
    p = np.asarray(booster.predict(test), dtype=np.float64)
    return Case(
        "lightgbm",
        booster,
        test,
        infer_signature(frame, target),
        (p > 0.5).astype(int),
        np.column_stack([1 - p, p]),
    )


def _numeric_classification() -> tuple[pd.DataFrame, pd.Series, pd.DataFrame]:
    rng = _rng()
    frame = pd.DataFrame({"a": rng.normal(size=100), "b": rng.normal(size=100)})
    target = pd.Series((frame["a"] + frame["b"] > 0).astype(int))
    # Far from the decision boundary, so float32 in ONNX cannot flip a label.
    test = frame[(frame["a"] + frame["b"]).abs() > 0.5].head(25)
    return frame, target, test


def onnx_single_tensor_case() -> Case:
    frame, target, test = _numeric_classification()
    model = LogisticRegression().fit(frame.to_numpy(np.float32), target)
    proto = to_onnx(model, initial_types=[("X", FloatTensorType([None, 2]))])  # ZipMap output
    test_array = test.to_numpy(np.float32)
    return Case(
        "onnx",
        proto,
        test,
        infer_signature(frame, target),
        model.predict(test_array),
        model.predict_proba(test_array),
    )


def onnx_per_column_case() -> Case:
    frame, target, test = _numeric_classification()
    model = Pipeline(
        [
            ("pre", ColumnTransformer([("scale", StandardScaler(), ["a", "b"])])),
            ("model", LogisticRegression()),
        ]
    ).fit(frame, target)
    proto = to_onnx(
        model,
        initial_types=[("a", FloatTensorType([None, 1])), ("b", FloatTensorType([None, 1]))],
        options={id(model): {"zipmap": False}},  # probabilities as a tensor
    )
    return Case(
        "onnx",
        proto.SerializeToString(),
        test,
        infer_signature(frame, target),
        model.predict(test),
        model.predict_proba(test),
    )


def python_case() -> Case:
    module = importlib.import_module(USER_MODULE)
    frame = pd.DataFrame({"x": np.linspace(-3, 3, 30)})
    target = pd.Series((frame["x"] > 0).astype(int))
    model = module.ThresholdModel().fit(frame, target)
    return Case(
        "python",
        model,
        frame,
        infer_signature(frame, target),
        model.predict(frame),
        model.predict_proba(frame),
        trusted=True,
    )


CASES: dict[str, Callable[[], Case]] = {
    "sklearn-pipeline": sklearn_pipeline_case,
    "sklearn-forest-regressor": sklearn_forest_regressor_case,
    "lightgbm-classifier": lightgbm_classifier_case,
    "lightgbm-multiclass": lightgbm_multiclass_case,
    "lightgbm-regressor": lightgbm_regressor_case,
    "lightgbm-booster": lightgbm_booster_case,
    "onnx-single-tensor": onnx_single_tensor_case,
    "onnx-per-column": onnx_per_column_case,
    "python": python_case,
}


@pytest.fixture
def user_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An importable module holding user model classes, as a real user would have."""
    code = tmp_path / "usercode"
    code.mkdir()
    (code / f"{USER_MODULE}.py").write_text(textwrap.dedent(USER_SOURCE))
    monkeypatch.syspath_prepend(str(code))
    sys.modules.pop(USER_MODULE, None)
    try:
        yield importlib.import_module(USER_MODULE)
    finally:
        sys.modules.pop(USER_MODULE, None)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case_name", list(CASES))
def test_model_adapter_contract(case_name: str, tmp_path: Path, user_models: Any) -> None:
    case = CASES[case_name]()
    check_model_adapter(
        case.flavor,
        case.model,
        case.frame,
        case.signature,
        workdir=tmp_path,
        expected=case.expected,
        expected_proba=case.expected_proba,
        trusted=case.trusted,
    )


def test_every_flavor_has_a_contract_case() -> None:
    assert {name.split("-")[0] for name in CASES} == set(FLAVORS)


@pytest.mark.parametrize(
    "case_name",
    [name for name in CASES if name != "python"],
)
def test_detect_flavor(case_name: str) -> None:
    case = CASES[case_name]()
    assert detect_flavor(case.model) == case.flavor


def test_detect_flavor_for_onnx_sources_and_unknown_objects() -> None:
    assert detect_flavor(b"\x08\x07") == "onnx"
    assert detect_flavor("models/churn.onnx") == "onnx"
    assert detect_flavor(Path("models/churn.ONNX")) == "onnx"
    with pytest.raises(InvalidInputError) as info:
        detect_flavor(object())
    assert info.value.field == "flavor"
    assert "sklearn" in info.value.message


def test_unknown_flavor_lists_known_ones() -> None:
    with pytest.raises(InvalidInputError) as info:
        get_flavor("tensorflow")
    assert info.value.field == "flavor"
    for name in FLAVORS:
        assert name in info.value.message


def test_lightgbm_unseen_category_is_missing(tmp_path: Path) -> None:
    case = lightgbm_classifier_case()
    inputs = tuple(
        dataclasses.replace(spec, nullable=True) if spec.name == "color" else spec
        for spec in case.signature.inputs
    )
    signature = Signature(inputs, case.signature.output)
    flavor = get_flavor("lightgbm")
    flavor.save(case.model, tmp_path, signature)
    loaded = flavor.load(tmp_path, signature)
    rows = [{"x": 0.3, "color": "purple", "k": 1}, {"x": 0.3, "color": None, "k": 1}]
    result = loaded.predict(validate_records(signature, rows))
    categories = case.frame["color"].cat.categories
    missing = pd.DataFrame(
        {"x": [0.3], "color": pd.Categorical([None], categories=categories), "k": [1]}
    )
    model: Any = case.model
    expected = to_json_scalar(model.predict(missing)[0])
    assert result.predictions == [expected, expected]
    assert result.probabilities is not None
    assert result.probabilities[0] == pytest.approx(result.probabilities[1])


def test_python_flavor_refused_without_trust(tmp_path: Path, user_models: Any) -> None:
    case = python_case()
    flavor = get_flavor("python")
    flavor.save(case.model, tmp_path, case.signature)
    assert json.loads((tmp_path / "python_model.json").read_text()) == {
        "entrypoint": f"{USER_MODULE}:ThresholdModel"
    }
    with pytest.raises(TrustError) as info:
        flavor.load(tmp_path, case.signature)
    assert "trusted=True" in info.value.message


def test_python_flavor_needs_an_importable_class(tmp_path: Path) -> None:
    class Local:
        def predict(self, frame: pd.DataFrame) -> list[int]:
            return [0] * len(frame)

    signature = infer_signature(pd.DataFrame({"x": [1.0]}), kind="regression")
    with pytest.raises(InvalidInputError) as info:
        get_flavor("python").save(Local(), tmp_path, signature)
    assert info.value.field == "model"


def test_python_flavor_bad_entrypoint(tmp_path: Path) -> None:
    (tmp_path / "python_model.json").write_text(json.dumps({"entrypoint": "no_such_mod:Model"}))
    signature = infer_signature(pd.DataFrame({"x": [1.0]}), kind="regression")
    with pytest.raises(ModelLoadError):
        get_flavor("python").load(tmp_path, signature, trusted=True)


def test_wrong_number_of_predictions_is_an_error(tmp_path: Path, user_models: Any) -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0, 2.0]}), kind="regression")
    flavor = get_flavor("python")
    flavor.save(user_models.BrokenLengthModel(), tmp_path, signature)
    loaded = flavor.load(tmp_path, signature, trusted=True)
    with pytest.raises(RuntimeError):
        loaded.predict(pd.DataFrame({"x": [1.0, 2.0]}))


def _small_xy() -> tuple[pd.DataFrame, pd.Series]:
    rng = _rng()
    frame = pd.DataFrame({"a": rng.normal(size=40), "b": rng.normal(size=40)})
    return frame, pd.Series((frame["a"] > 0).astype(int))


@pytest.mark.parametrize(
    "estimator",
    [
        LogisticRegression(),
        LinearRegression(),
        RandomForestClassifier(n_estimators=3, random_state=0),
        RandomForestRegressor(n_estimators=3, random_state=0),
        HistGradientBoostingClassifier(max_iter=3),
        HistGradientBoostingRegressor(max_iter=3),
    ],
    ids=lambda e: type(e).__name__,
)
def test_stock_sklearn_models_load_without_trust(tmp_path: Path, estimator: Any) -> None:
    frame, target = _small_xy()
    estimator.fit(frame, target)
    signature = infer_signature(frame, target)
    flavor = get_flavor("sklearn")
    flavor.save(estimator, tmp_path, signature)
    loaded = flavor.load(tmp_path, signature)
    predictions = loaded.predict(frame).predictions
    if signature.output.kind == "classification" and hasattr(estimator, "classes_"):
        assert predictions == estimator.predict(frame).tolist()
    else:
        np.testing.assert_allclose(predictions, estimator.predict(frame))


def test_sklearn_untrusted_types_need_trust(tmp_path: Path) -> None:
    frame, target = _small_xy()
    model = KNeighborsClassifier(n_neighbors=3, algorithm="kd_tree").fit(frame, target)
    signature = infer_signature(frame, target)
    flavor = get_flavor("sklearn")
    flavor.save(model, tmp_path, signature)
    untrusted = sio.get_untrusted_types(file=tmp_path / "model.skops")
    assert any("KDTree" in t for t in untrusted)
    with pytest.raises(TrustError) as info:
        flavor.load(tmp_path, signature)
    assert "KDTree" in info.value.message
    loaded = flavor.load(tmp_path, signature, trusted=True)
    assert loaded.predict(frame).predictions == model.predict(frame).tolist()


def test_sklearn_save_rejects_non_models(tmp_path: Path) -> None:
    signature = infer_signature(pd.DataFrame({"x": [1.0]}), kind="regression")
    with pytest.raises(InvalidInputError):
        get_flavor("sklearn").save(object(), tmp_path, signature)


def test_onnx_signature_mismatch_fails_at_load(tmp_path: Path) -> None:
    case = onnx_single_tensor_case()
    flavor = get_flavor("onnx")
    flavor.save(case.model, tmp_path, case.signature)
    three = infer_signature(
        pd.DataFrame({"a": [1.0], "b": [1.0], "c": [1.0]}), pd.Series([0]), kind="classification"
    )
    with pytest.raises(ModelLoadError):
        flavor.load(tmp_path, three)


def test_lightgbm_and_pipeline_explanations_add_up() -> None:
    import lightgbm as lgb
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from modelyard.domain.signature import infer_signature
    from modelyard.runtime.lightgbm import LightGBMFlavor
    from modelyard.runtime.sklearn import SklearnModel

    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {
            "a": rng.normal(size=300),
            "b": rng.normal(size=300),
            "c": rng.choice(["u", "v", "w"], size=300),
        }
    )
    y = pd.Series(((x["a"] + (x["c"] == "u")) > 0.5).astype(int))
    sig = infer_signature(x, y)
    pipe = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [
                        ("num", StandardScaler(), ["a", "b"]),
                        ("cat", OneHotEncoder(handle_unknown="ignore"), ["c"]),
                    ]
                ),
            ),
            ("clf", LogisticRegression()),
        ]
    ).fit(x, y)
    explained = SklearnModel(pipe, sig).explain(x.head(5))
    logits = pipe.decision_function(x.head(5))
    for row, logit in zip(explained, logits, strict=True):
        assert set(row) == {"a", "b", "c", "__bias__"}
        assert sum(row.values()) == pytest.approx(float(logit), abs=1e-9)
    numeric = x[["a", "b"]]
    booster = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(numeric, y)
    sig2 = infer_signature(numeric, y)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        LightGBMFlavor().save(booster, Path(tmp), sig2)
        loaded = LightGBMFlavor().load(Path(tmp), sig2)
    contributions = loaded.explain(numeric.head(3))
    raw = booster.predict(numeric.head(3), raw_score=True)
    for row, score in zip(contributions, raw, strict=True):
        assert sum(row.values()) == pytest.approx(float(score), abs=1e-6)


def _float_models(tmp_path: Path) -> Iterator[tuple[str, LoadedModel, pd.DataFrame]]:
    """Models of an all-float signature, one per way a flavor may take a matrix."""
    frame, target, test = _numeric_classification()
    signature = infer_signature(frame, target)
    swapped = frame[["b", "a"]]
    models: list[tuple[str, str, object]] = [
        ("sklearn", "sklearn bare estimator", LogisticRegression().fit(frame, target)),
        (
            "sklearn",
            "sklearn pipeline",
            Pipeline([("scale", StandardScaler()), ("model", LogisticRegression())]).fit(
                frame, target
            ),
        ),
        ("lightgbm", "lightgbm by name", lgb.LGBMClassifier(n_estimators=5, verbose=-1)),
        ("lightgbm", "lightgbm by name, other order", lgb.LGBMClassifier(n_estimators=5)),
        ("lightgbm", "lightgbm by position", lgb.LGBMClassifier(n_estimators=5, verbose=-1)),
        # Keeps its feature names whatever is deleted: fed the frame, so it never warns
        # (warnings are errors here) that an array has no feature names.
        ("sklearn", "lightgbm via the sklearn flavor", lgb.LGBMClassifier(n_estimators=5)),
    ]
    fits = {
        "lightgbm by name": (frame, target),
        "lightgbm by name, other order": (swapped, target),
        "lightgbm by position": (frame.to_numpy(), target),
        "lightgbm via the sklearn flavor": (frame, target),
    }
    for index, (flavor_name, label, model) in enumerate(models):
        if label in fits:
            x, y = fits[label]
            model.set_params(verbose=-1)  # type: ignore[attr-defined]
            model.fit(x, y)  # type: ignore[attr-defined]
        directory = tmp_path / f"model-{index}"
        directory.mkdir()
        flavor = get_flavor(flavor_name)
        flavor.save(model, directory, signature)
        # LightGBM's estimator is not a stock scikit-learn type: trusted explicitly.
        yield label, flavor.load(directory, signature, trusted=True), test


def test_a_float_matrix_gets_the_answers_of_its_frame(tmp_path: Path) -> None:
    for label, loaded, test in _float_models(tmp_path):
        records = json.loads(test.to_json(orient="records"))
        rows = validate_rows(loaded.signature, records)
        assert isinstance(rows, np.ndarray), label
        from_frame = loaded.predict_validated(validate_records(loaded.signature, records))
        from_matrix = loaded.predict_validated(rows)
        assert from_matrix == from_frame, label


def test_onnx_matrix_feeds_refuse_missing_values_like_frames(tmp_path: Path) -> None:
    from skl2onnx.common.data_types import Int64TensorType

    frame, target, _ = _numeric_classification()
    signature = infer_signature(frame, target)
    model = LogisticRegression().fit(frame.round(), target)
    for name, initial_types in (
        ("single", [("X", Int64TensorType([None, 2]))]),
        ("per-column", [("a", Int64TensorType([None, 1])), ("b", Int64TensorType([None, 1]))]),
    ):
        onnx_model = model
        if name == "per-column":
            onnx_model = Pipeline(
                [
                    ("pre", ColumnTransformer([("scale", StandardScaler(), ["a", "b"])])),
                    ("m", LogisticRegression()),
                ]
            ).fit(frame.round(), target)
        directory = tmp_path / name
        directory.mkdir()
        proto = to_onnx(onnx_model, initial_types=initial_types, target_opset=17)
        get_flavor("onnx").save(proto, directory, signature)
        loaded = get_flavor("onnx").load(directory, signature)
        matrix = np.array([[1.0, 2.0], [3.0, np.nan]])
        errors = []
        for rows in (matrix, pd.DataFrame(matrix, columns=["a", "b"])):
            with pytest.raises(InvalidInputError) as info:
                loaded.predict_validated(rows)
            errors.append((info.value.field, info.value.message))
        message = "column 'b' has missing values, which this ONNX model (int64 input) cannot take"
        assert errors[0] == errors[1] == ("b", message), name
        clean = matrix[:1]
        assert loaded.predict_validated(clean) == loaded.predict_validated(
            pd.DataFrame(clean, columns=["a", "b"])
        ), name
