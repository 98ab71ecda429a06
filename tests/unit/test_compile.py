"""Compiling sklearn and LightGBM models to ONNX, loaded back by the onnx flavor."""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from modelyard.domain.signature import Signature, infer_signature
from modelyard.errors import InvalidInputError
from modelyard.runtime.base import LoadedModel
from modelyard.runtime.compile import (
    TENSOR_INPUT,
    CompileReport,
    compile_to_onnx,
    load_compiled,
    verify_compiled,
)
from modelyard.runtime.flavors import get_flavor
from modelyard.runtime.sklearn import SklearnModel

ROWS = 500


def _mixed_frame(n: int = ROWS, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": np.where(rng.random(n) < 0.1, np.nan, rng.normal(50, 10, n)),
            "city": rng.choice(["paris", "lyon", "nice"], n),
            "member": rng.random(n) < 0.4,
        }
    )


def _numeric_frame(n: int = ROWS, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"a": rng.normal(size=n), "b": rng.normal(size=n), "k": rng.integers(0, 5, n)}
    )


def _logreg_pipeline() -> tuple[Pipeline, pd.DataFrame, Signature]:
    frame = _mixed_frame()
    noise = np.random.default_rng(2).normal(scale=5, size=len(frame))
    score = frame["age"] + 10 * (frame["city"] == "nice") + 5 * frame["member"] + noise
    target = pd.Series(np.where(score > 50, "yes", "no"))
    pre = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
                ["age", "income", "member"],
            ),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), ["city"]),
        ]
    )
    model = Pipeline([("pre", pre), ("model", LogisticRegression())]).fit(frame, target)
    return model, frame, infer_signature(frame, target)


def _compile_and_verify(
    model: object, flavor: str, frame: pd.DataFrame, original: LoadedModel
) -> tuple[onnx.ModelProto, LoadedModel, CompileReport]:
    proto = compile_to_onnx(model, flavor, original.signature, frame)
    compiled = load_compiled(proto, original.signature)
    return proto, compiled, verify_compiled(original, compiled, frame)


def _lightgbm_loaded(model: object, signature: Signature, tmp_path: Path) -> LoadedModel:
    flavor = get_flavor("lightgbm")
    tmp_path.mkdir(parents=True, exist_ok=True)
    flavor.save(model, tmp_path, signature)
    return flavor.load(tmp_path, signature)


def test_logistic_regression_pipeline_with_categorical_columns() -> None:
    model, frame, signature = _logreg_pipeline()
    proto, compiled, report = _compile_and_verify(
        model, "sklearn", frame, SklearnModel(model, signature)
    )
    inputs = {i.name: i.type.tensor_type.elem_type for i in proto.graph.input}
    assert inputs == {
        "age": onnx.TensorProto.FLOAT,
        "income": onnx.TensorProto.FLOAT,
        "city": onnx.TensorProto.STRING,
        "member": onnx.TensorProto.FLOAT,
    }
    assert compiled.flavor == "onnx"
    assert report.passed, report.reason
    assert report.n_rows == ROWS
    assert report.label_agreement == 1.0
    assert report.max_abs_diff_proba is not None and report.max_abs_diff_proba < 1e-4
    assert report.max_abs_diff_prediction is None
    assert report.reason is None
    # Probabilities come out keyed by the same class labels as the original's.
    assert compiled.predict(frame.head(3)).probabilities is not None
    assert set(compiled.predict(frame.head(1)).probabilities[0]) == {"no", "yes"}  # type: ignore[index]


def test_random_forest_classifier_takes_one_tensor() -> None:
    frame = _numeric_frame()
    target = pd.Series((frame["a"] + frame["b"] * frame["k"] > 0.3).astype(int))
    model = RandomForestClassifier(n_estimators=30, random_state=0).fit(frame, target)
    signature = infer_signature(frame, target)
    proto, compiled, report = _compile_and_verify(
        model, "sklearn", frame, SklearnModel(model, signature)
    )
    assert [i.name for i in proto.graph.input] == [TENSOR_INPUT]
    assert report.passed, report.reason
    assert report.max_abs_diff_proba is not None and report.max_abs_diff_proba < 1e-4
    assert compiled.predict(frame.head(5)).predictions == model.predict(frame.head(5)).tolist()


def test_random_forest_regressor() -> None:
    frame = _numeric_frame()
    target = frame["a"] * 3 + frame["k"]
    model = RandomForestRegressor(n_estimators=20, random_state=0).fit(frame, target)
    signature = infer_signature(frame, target)
    _, _, report = _compile_and_verify(model, "sklearn", frame, SklearnModel(model, signature))
    assert report.passed, report.reason
    assert report.max_abs_diff_proba is None
    assert report.max_abs_diff_prediction is not None
    assert report.max_abs_diff_prediction < 1e-4
    assert report.label_agreement == 1.0


def _lgbm(cls: type, frame: pd.DataFrame, target: pd.Series) -> object:
    return cls(n_estimators=100, verbose=-1, n_jobs=1, random_state=0).fit(frame, target)


def test_numeric_lightgbm_classifier(tmp_path: Path) -> None:
    frame = _numeric_frame()
    target = pd.Series(np.where(frame["a"] + frame["b"] * frame["k"] > 0.3, "yes", "no"))
    model = _lgbm(lgb.LGBMClassifier, frame, target)
    signature = infer_signature(frame, target)
    original = _lightgbm_loaded(model, signature, tmp_path)
    proto, compiled, report = _compile_and_verify(model, "lightgbm", frame, original)
    assert [i.name for i in proto.graph.input] == [TENSOR_INPUT]
    assert report.passed, report.reason
    assert report.n_rows == ROWS
    assert report.label_agreement == 1.0
    assert report.max_abs_diff_proba is not None and report.max_abs_diff_proba < 1e-4
    assert (
        compiled.predict(frame.head(4)).predictions == original.predict(frame.head(4)).predictions
    )


def test_numeric_lightgbm_regressor_and_multiclass(tmp_path: Path) -> None:
    frame = _numeric_frame()
    regressor = _lgbm(lgb.LGBMRegressor, frame, frame["a"] * 2 + frame["k"])
    signature = infer_signature(frame, frame["a"] * 2 + frame["k"])
    original = _lightgbm_loaded(regressor, signature, tmp_path / "reg")
    _, _, report = _compile_and_verify(regressor, "lightgbm", frame, original)
    assert report.passed, report.reason
    assert report.max_abs_diff_prediction is not None

    target = pd.Series(np.where(frame["a"] > 0.5, 2, np.where(frame["b"] > 0, 1, 0)))
    multiclass = _lgbm(lgb.LGBMClassifier, frame, target)
    signature = infer_signature(frame, target)
    original = _lightgbm_loaded(multiclass, signature, tmp_path / "multi")
    _, _, report = _compile_and_verify(multiclass, "lightgbm", frame, original)
    assert report.passed, report.reason


def test_lightgbm_with_category_columns_is_refused() -> None:
    frame = _numeric_frame(200).assign(
        color=pd.Categorical(np.random.default_rng(3).choice(["red", "blue"], 200))
    )
    target = pd.Series(((frame["color"] == "red") ^ (frame["a"] > 0)).astype(int))
    model = lgb.LGBMClassifier(n_estimators=10, verbose=-1, min_child_samples=5).fit(frame, target)
    with pytest.raises(InvalidInputError, match="categorical features") as info:
        compile_to_onnx(model, "lightgbm", infer_signature(frame, target), frame)
    assert "cannot compile LGBMClassifier: categorical features" in info.value.message
    assert info.value.field == "color"


class _Custom(ClassifierMixin, BaseEstimator):
    """A scikit-learn-style estimator no converter knows."""

    def fit(self, frame: pd.DataFrame, target: pd.Series) -> _Custom:
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = frame.shape[1]
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(frame), dtype=int)


def test_unsupported_estimators_are_named() -> None:
    frame = _numeric_frame(50)
    target = pd.Series((frame["a"] > 0).astype(int))
    signature = infer_signature(frame, target)
    with pytest.raises(InvalidInputError, match="cannot compile _Custom") as info:
        compile_to_onnx(_Custom().fit(frame, target), "sklearn", signature, frame)
    assert info.value.field == "model"

    pipeline = Pipeline(
        [("odd", FunctionTransformer(np.abs)), ("model", LogisticRegression())]
    ).fit(frame, target)
    with pytest.raises(InvalidInputError, match=r"cannot compile .*FunctionTransformer"):
        compile_to_onnx(pipeline, "sklearn", signature, frame)

    with pytest.raises(InvalidInputError, match="cannot compile dict"):
        compile_to_onnx({"not": "a model"}, "sklearn", signature, frame)
    with pytest.raises(
        InvalidInputError, match="cannot compile LogisticRegression: it is not fitted"
    ):
        compile_to_onnx(LogisticRegression(), "sklearn", signature, frame)
    with pytest.raises(InvalidInputError, match="cannot compile LogisticRegression: the lightgbm"):
        compile_to_onnx(LogisticRegression(), "lightgbm", signature, frame)
    with pytest.raises(InvalidInputError, match="only sklearn and lightgbm") as info:
        compile_to_onnx(object(), "python", signature, frame)
    assert info.value.field == "flavor"
    with pytest.raises(InvalidInputError, match="unknown flavor"):
        compile_to_onnx(object(), "torch", signature, frame)


def test_string_columns_need_a_column_transformer() -> None:
    frame = _mixed_frame(100)[["age", "city"]]
    target = pd.Series((frame["age"] > 40).astype(int))
    model = Pipeline([("enc", OneHotEncoder()), ("model", LogisticRegression())]).fit(frame, target)
    with pytest.raises(InvalidInputError, match="ColumnTransformer") as info:
        compile_to_onnx(model, "sklearn", infer_signature(frame, target), frame)
    assert info.value.field == "city"


def test_feature_order_must_match_the_signature() -> None:
    frame = _numeric_frame(60)
    target = pd.Series((frame["a"] > 0).astype(int))
    signature = infer_signature(frame, target)
    model = LogisticRegression().fit(frame[["b", "a", "k"]], target)
    with pytest.raises(InvalidInputError, match="fitted on columns") as info:
        compile_to_onnx(model, "sklearn", signature, frame)
    assert info.value.field == "model"
    booster = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(frame[["b", "a", "k"]], target)
    with pytest.raises(InvalidInputError, match="not the signature's columns") as info:
        compile_to_onnx(booster, "lightgbm", signature, frame)
    assert info.value.field == "model"


def test_sample_must_match_the_signature() -> None:
    model, frame, signature = _logreg_pipeline()
    with pytest.raises(InvalidInputError) as info:
        compile_to_onnx(model, "sklearn", signature, frame.drop(columns=["city"]))
    assert info.value.field == "city"
    with pytest.raises(InvalidInputError) as info:
        compile_to_onnx(model, "sklearn", signature, frame.head(0))
    assert info.value.field == "sample"


def test_verify_fails_for_a_model_that_predicts_differently() -> None:
    model, frame, signature = _logreg_pipeline()
    proto = compile_to_onnx(model, "sklearn", signature, frame)
    other = Pipeline(
        [("pre", model.named_steps["pre"]), ("model", LogisticRegression(C=1e-4))]
    ).fit(frame, SklearnModel(model, signature).predict(frame).predictions)
    report = verify_compiled(SklearnModel(other, signature), load_compiled(proto, signature), frame)
    assert not report.passed
    assert report.reason is not None and "probabilities differ" in report.reason
    assert report.max_abs_diff_proba is not None and report.max_abs_diff_proba > 1e-4
