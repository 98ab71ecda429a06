"""Splits, estimators, metrics and the trainer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_diabetes
from sklearn.pipeline import Pipeline

from modelyard.data.quickstart import generate_quickstart_frame
from modelyard.errors import InvalidInputError
from modelyard.training.estimators import MODEL_KINDS, build_estimator, prepare_features
from modelyard.training.metrics import classification_metrics, regression_metrics
from modelyard.training.splits import train_test_split_frame
from modelyard.training.trainer import infer_task, train_model


@pytest.fixture(scope="module")
def quickstart() -> pd.DataFrame:
    return generate_quickstart_frame(n_rows=2000)


@pytest.fixture(scope="module")
def diabetes() -> pd.DataFrame:
    frame: pd.DataFrame = load_diabetes(as_frame=True).frame
    return frame


# --- training on real data -------------------------------------------------------------


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_each_kind_learns_the_quickstart_task(quickstart: pd.DataFrame, kind: str) -> None:
    result = train_model(quickstart, target="target", kind=kind, seed=0)
    assert result.task == "classification"
    assert result.flavor == ("lightgbm" if kind == "lightgbm" else "sklearn")
    assert result.metrics["roc_auc"] > 0.7
    assert set(result.metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"}
    assert all(type(v) is float for v in result.metrics.values())
    assert "signup_at" not in result.feature_columns
    assert "target" not in result.feature_columns
    assert list(result.train_frame_features.columns) == result.feature_columns
    assert len(result.train_frame_features) == len(result.target) == 1600
    assert result.params["kind"] == kind
    assert result.params["n_train"] == 1600 and result.params["n_test"] == 400
    assert result.params["seed"] == 0 and result.params["test_size"] == 0.2
    assert all(v is None or isinstance(v, str | int | float) for v in result.params.values())
    assert result.duration_s > 0
    # The fitted model predicts from the prepared features of unseen rows.
    rows = prepare_features(quickstart.tail(5), kind, result.feature_columns)
    assert result.model.predict_proba(rows).shape == (5, 2)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_same_seed_gives_same_metrics(quickstart: pd.DataFrame, kind: str) -> None:
    frame = quickstart.head(800)
    first = train_model(frame, target="target", kind=kind, seed=3)
    second = train_model(frame, target="target", kind=kind, seed=3)
    assert first.metrics == second.metrics
    assert first.params == second.params
    pd.testing.assert_frame_equal(first.train_frame_features, second.train_frame_features)


def test_different_seed_changes_the_split(quickstart: pd.DataFrame) -> None:
    frame = quickstart.head(800)
    first = train_model(frame, target="target", kind="logistic_regression", seed=1)
    second = train_model(frame, target="target", kind="logistic_regression", seed=2)
    assert not first.train_frame_features.index.equals(second.train_frame_features.index)


def test_linear_regression_on_diabetes(diabetes: pd.DataFrame) -> None:
    result = train_model(diabetes, target="target", kind="logistic_regression", seed=1)
    assert result.task == "regression"
    assert set(result.metrics) == {"mae", "rmse", "r2"}
    assert result.metrics["r2"] > 0.3
    assert isinstance(result.model, Pipeline)


@pytest.mark.parametrize("kind", ["random_forest", "lightgbm"])
def test_tree_regressors_on_diabetes(diabetes: pd.DataFrame, kind: str) -> None:
    result = train_model(diabetes, target="target", kind=kind, seed=1)
    assert result.task == "regression"
    assert result.metrics["r2"] > 0.2


def test_multiclass_string_target(quickstart: pd.DataFrame) -> None:
    result = train_model(quickstart.head(600), target="plan", kind="logistic_regression", seed=0)
    assert result.task == "classification"
    assert list(result.model.classes_) == ["basic", "premium", "standard"]
    assert {"accuracy", "f1", "roc_auc", "log_loss"} <= set(result.metrics)


def test_params_override_model_defaults(quickstart: pd.DataFrame) -> None:
    result = train_model(
        quickstart.head(400), target="target", kind="random_forest", params={"n_estimators": 10}
    )
    assert result.params["n_estimators"] == 10


def test_task_inference() -> None:
    assert infer_task(pd.Series([0, 1, 1])) == "classification"
    assert infer_task(pd.Series([True, False])) == "classification"
    assert infer_task(pd.Series(["a", "b"])) == "classification"
    assert infer_task(pd.Series(pd.Categorical(["a", "b"]))) == "classification"
    assert infer_task(pd.Series(range(21))) == "regression"
    assert infer_task(pd.Series([0.0, 1.0])) == "regression"


# --- trainer errors ----------------------------------------------------------------------


def _small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "x": [0.1, 0.5, 0.3, 0.9, 0.2, 0.8, 0.4, 0.7],
            "c": ["a", "b", "a", "b", "a", "b", "a", "b"],
            "when": pd.date_range("2024-01-01", periods=8, freq="D"),
            "y": [0, 1, 0, 1, 0, 1, 0, 1],
        }
    )


def _raises(frame: pd.DataFrame, field: str | None, match: str, **kwargs: object) -> None:
    args: dict[str, object] = {"target": "y", "kind": "logistic_regression"}
    args.update(kwargs)
    with pytest.raises(InvalidInputError, match=match) as info:
        train_model(frame, **args)  # type: ignore[arg-type]
    assert info.value.field == field


def test_error_empty_frame() -> None:
    _raises(_small().iloc[0:0], None, "empty")


def test_error_missing_target() -> None:
    _raises(_small(), "target", "'nope' not found", target="nope")


def test_error_constant_target() -> None:
    _raises(_small().assign(y=1), "target", "constant")


def test_error_null_target() -> None:
    _raises(_small().assign(y=[0, 1, np.nan, 1, 0, 1, 0, 1]), "target", "missing value")


def test_error_no_feature_columns() -> None:
    _raises(_small()[["when", "y"]], "features", "no feature columns")


def test_error_all_null_feature() -> None:
    _raises(_small().assign(empty=np.nan), "empty", "'empty' has only missing values")


def test_error_unknown_kind() -> None:
    with pytest.raises(InvalidInputError) as info:
        train_model(_small(), target="y", kind="svm")
    assert info.value.field == "kind"
    assert all(kind in info.value.message for kind in MODEL_KINDS)


def test_error_unknown_task_and_string_regression() -> None:
    _raises(_small(), "task", "unknown task", task="ranking")
    _raises(_small().assign(y=list("abababab")), "target", "numeric target", task="regression")


def test_error_unknown_param() -> None:
    _raises(_small(), "params", "unknown parameter", params={"bogus": 1})


def test_error_class_too_small_to_stratify() -> None:
    _raises(_small().assign(y=[0, 1, 0, 1, 0, 1, 0, 2]), "target", "class 2")


# --- splits --------------------------------------------------------------------------------


def test_split_is_stratified_and_deterministic(quickstart: pd.DataFrame) -> None:
    train, test = train_test_split_frame(quickstart, "target", test_size=0.25, seed=4)
    again_train, again_test = train_test_split_frame(quickstart, "target", test_size=0.25, seed=4)
    assert train.index.equals(again_train.index) and test.index.equals(again_test.index)
    assert len(test) == 500 and len(train) == 1500
    assert set(train.index).isdisjoint(test.index)
    assert abs(train["target"].mean() - test["target"].mean()) < 0.01


def test_split_errors() -> None:
    frame = _small()
    with pytest.raises(InvalidInputError) as info:
        train_test_split_frame(frame, "nope")
    assert info.value.field == "target"
    with pytest.raises(InvalidInputError, match="empty"):
        train_test_split_frame(frame.iloc[0:0], "y")
    with pytest.raises(InvalidInputError, match="at least 2 distinct"):
        train_test_split_frame(frame.assign(y=0), "y")
    with pytest.raises(InvalidInputError, match="class 'z'"):
        train_test_split_frame(frame.assign(y=list("abababaz")), "y")
    with pytest.raises(InvalidInputError) as info:
        train_test_split_frame(frame, "y", test_size=1.5)
    assert info.value.field == "test_size"
    train, test = train_test_split_frame(frame.assign(y=list("abababaz")), "y", stratify=False)
    assert len(train) + len(test) == 8


# --- estimators and metrics ------------------------------------------------------------


def test_prepare_features_converts_strings_for_lightgbm_only(quickstart: pd.DataFrame) -> None:
    columns = ["age", "region", "plan"]
    lgbm = prepare_features(quickstart, "lightgbm", columns)
    assert list(lgbm.columns) == columns
    assert isinstance(lgbm["region"].dtype, pd.CategoricalDtype)
    assert pd.api.types.is_integer_dtype(lgbm["age"])
    sk = prepare_features(quickstart, "random_forest", columns)
    assert pd.api.types.is_string_dtype(sk["region"])
    with pytest.raises(InvalidInputError) as info:
        prepare_features(quickstart, "lightgbm", ["age", "nope"])
    assert info.value.field == "nope"


def test_build_estimator_uses_plain_sklearn_types() -> None:
    pipe = build_estimator("logistic_regression", "classification", ["a"], ["b"], 0, None)
    assert isinstance(pipe, Pipeline)
    for step in pipe.get_params(deep=True).values():
        assert type(step).__module__.split(".")[0] in {"sklearn", "builtins", "numpy"}, step
    with pytest.raises(InvalidInputError, match="logistic_regression, random_forest, lightgbm"):
        build_estimator("xgb", "classification", ["a"], [], 0, None)


def test_lightgbm_missing_gives_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(InvalidInputError, match=r"modelyard\[lightgbm\]") as info:
        build_estimator("lightgbm", "classification", ["a"], [], 0, None)
    assert info.value.field == "kind"


def test_classification_metrics_binary_and_multiclass() -> None:
    y = np.array(["no", "yes", "yes", "no"])
    pred = np.array(["no", "yes", "no", "no"])
    proba = np.array([0.1, 0.9, 0.4, 0.2])
    m = classification_metrics(y, pred, proba, ["no", "yes"])
    assert m["accuracy"] == 0.75 and m["precision"] == 1.0 and m["recall"] == 0.5
    assert m["roc_auc"] == 1.0
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.9, 0.4, 0.8])))
    one_class = classification_metrics(["no", "no"], ["no", "yes"], [0.2, 0.7], ["no", "yes"])
    assert "roc_auc" not in one_class
    matrix = np.array([[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    multi = classification_metrics([0, 1, 2, 0], [0, 1, 2, 1], matrix, [0, 1, 2])
    assert multi["accuracy"] == 0.75 and multi["roc_auc"] == 1.0


def test_regression_metrics() -> None:
    m = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["rmse"] == pytest.approx(np.sqrt(4 / 3))
    assert m["r2"] == pytest.approx(1 - 4 / 2)


def test_error_unfittable_feature_is_invalid_input() -> None:
    mixed = pd.Series(["a", 1, "b", 2, "a", 1, "b", 2], dtype=object)
    _raises(_small().assign(c=mixed), None, "training logistic_regression failed")
