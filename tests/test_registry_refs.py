"""Model references and version numbers: GTO's grammar, parsed without importing gto."""

from __future__ import annotations

import pytest

from mlci.errors import UsageError
from mlci.model.refs import ModelRef, bump, parse, semver_key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", ModelRef("churn")),
        ("churn@v1.2.3", ModelRef("churn", version="v1.2.3")),
        ("churn#prod", ModelRef("churn", stage="prod")),
        ("team/churn-model@v0.0.1", ModelRef("team/churn-model", version="v0.0.1")),
        ("churn@3", ModelRef("churn", version="3")),  # an MLflow version number
    ],
)
def test_references_parse(text: str, expected: ModelRef):
    assert parse(text) == expected
    assert str(parse(text)) == text


@pytest.mark.parametrize("text", ["", "churn@1.2.3", "churn@v1.2", "-churn", "churn#", "churn@v1.0.0#prod", "a b"])
def test_bad_references_say_how_to_write_one(text: str):
    with pytest.raises(UsageError):
        parse(text)


def test_first_version_follows_gto():
    assert bump(None) == "v0.0.1"
    assert bump(None, "minor") == "v0.1.0"


@pytest.mark.parametrize(("how", "expected"), [("patch", "v1.2.4"), ("minor", "v1.3.0"), ("major", "v2.0.0")])
def test_bump(how: str, expected: str):
    assert bump("v1.2.3", how) == expected


def test_versions_sort_numerically_and_prereleases_first():
    versions = ["v0.10.0", "v0.9.0", "v1.0.0", "v1.0.0-rc.1", "v0.2.0"]
    assert sorted(versions, key=semver_key) == ["v0.2.0", "v0.9.0", "v0.10.0", "v1.0.0-rc.1", "v1.0.0"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", ModelRef("churn")),
        ("churn@v1.2.3", ModelRef("churn", version="v1.2.3")),
        ("churn#prod", ModelRef("churn", stage="prod")),
        ("churn@latest", ModelRef("churn")),  # GTO's shortcut for the newest version
    ],
)
def test_gto_references(text: str, expected: ModelRef):
    assert parse(text, backend="gto") == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("churn@prod", "for the stage write churn#prod"),
        ("churn@3", "MLflow numbers versions"),
        ("models:/churn@prod", "is an MLflow model URI"),
    ],
)
def test_gto_refuses_other_forms_naming_those_that_work(text: str, says: str):
    with pytest.raises(UsageError) as caught:
        parse(text, backend="gto")
    assert says in caught.value.message and "NAME@vX.Y.Z or NAME#stage" in caught.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("churn", ModelRef("churn")),
        ("churn@staging", ModelRef("churn", stage="staging")),
        ("churn/3", ModelRef("churn", version="3")),
        ("models:/churn@staging", ModelRef("churn", stage="staging")),
        ("models:/churn/3", ModelRef("churn", version="3")),
        ("models:/churn/latest", ModelRef("churn")),
        ("churn#staging", ModelRef("churn", stage="staging")),
        ("churn@3", ModelRef("churn", version="3")),
        ("churn@v3", ModelRef("churn", version="3")),  # MLflow reads the alias v3 as version 3
    ],
)
def test_mlflow_references(text: str, expected: ModelRef):
    assert parse(text, backend="mlflow") == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("churn@v1.2.3", "numbers versions itself"),
        ("models:/churn/Production", "write models:/churn@production"),
        ("team/churn/3/4", "cannot read MLflow model reference"),
        ("models:/", "cannot read MLflow model reference"),
    ],
)
def test_mlflow_refuses_other_forms_naming_those_that_work(text: str, says: str):
    with pytest.raises(UsageError) as caught:
        parse(text, backend="mlflow")
    assert says in caught.value.message and "models:/NAME@alias" in caught.value.message
