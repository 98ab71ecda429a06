from __future__ import annotations

import pytest

from modelyard.domain.refs import check_name, parse_dataset_ref, parse_model_ref
from modelyard.domain.stages import Stage, check_transition, parse_stage
from modelyard.errors import InvalidInputError


@pytest.mark.parametrize("name", ["a", "churn-model_v2.1", "X" * 128])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "../x", "a/b", "a..b", "-x", "x" * 129, "a b", "naïve", "a\x00b", ".hidden"]
)
def test_bad_names(name: str) -> None:
    with pytest.raises(InvalidInputError):
        check_name(name)


def test_model_refs() -> None:
    assert parse_model_ref("m:3").version == 3
    assert parse_model_ref("m").selector == "latest"
    assert parse_model_ref("m:Production").selector == "production"
    assert str(parse_model_ref("m:2")) == "m:2"
    for bad in ["m:", "m:0", "m:1.5", ":1", "m:a-b"]:
        with pytest.raises(InvalidInputError):
            parse_model_ref(bad)
    with pytest.raises(InvalidInputError, match="NAME:VERSION"):
        parse_model_ref("m", default=None)


def test_dataset_refs() -> None:
    assert parse_dataset_ref("quickstart") == ("quickstart", None)
    assert parse_dataset_ref("quickstart:12") == ("quickstart", 12)
    assert parse_dataset_ref("q.v2-x:1") == ("q.v2-x", 1)


@pytest.mark.parametrize(
    ("ref", "field", "words"),
    [
        ("quickstart:abc", "ref", "the version after ':' must be a number >= 1"),
        ("quickstart:0", "ref", "the version after ':' must be a number >= 1"),
        ("quickstart:", "ref", "the version after ':' must be a number >= 1"),
        ("quickstart: 1", "ref", "the version after ':' must be a number >= 1"),
        ("quickstart:²", "ref", "the version after ':' must be a number >= 1"),
        ("quickstart:١", "ref", "the version after ':' must be a number >= 1"),
        ("quickstart:latest", "ref", "the version after ':' must be a number >= 1"),
        ("", "ref", "has no name"),
        ("  :3", "ref", "has no name"),
        ("../x:1", "dataset", "invalid dataset '../x'"),
    ],
)
def test_bad_dataset_refs(ref: str, field: str, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words) as info:
        parse_dataset_ref(ref)
    assert info.value.field == field
    assert repr(ref) in info.value.message or field == "dataset"


def test_stages() -> None:
    assert parse_stage(" Staging ") is Stage.STAGING
    with pytest.raises(InvalidInputError, match="allowed: candidate, staging"):
        parse_stage("prod")
    with pytest.raises(InvalidInputError):
        check_transition(Stage.STAGING, Stage.STAGING)
    check_transition(Stage.CANDIDATE, Stage.PRODUCTION)
