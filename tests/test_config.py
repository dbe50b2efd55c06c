"""mlci.yaml: strict validation with one-line errors, and sensible defaults without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci import config
from mlci.errors import ConfigError
from tests.helpers import invoke


def write(root: Path, text: str) -> None:
    (root / "mlci.yaml").write_text(text)


def test_full_config_is_parsed_into_typed_goals(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  auc: {direction: higher, min: 0.8, max_regression: 0.01}\n")
    cfg = config.load(tmp_path)
    goal = cfg.models[0].goal_for("m.json", "auc")
    assert (goal.direction, goal.min, goal.max_regression) == ("higher", 0.8, 0.01)


def test_unknown_key_names_file_key_and_closest_match(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  auc: {dirction: higher}\n")
    with pytest.raises(ConfigError, match=r"mlci.yaml: unknown key 'goals.auc.dirction'; did you mean 'direction'"):
        config.load(tmp_path)


def test_wrong_type_names_the_key_and_expected_type(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  auc: {min: high}\n")
    with pytest.raises(ConfigError, match=r"'goals.auc.min' must be a number, got str 'high'"):
        config.load(tmp_path)


def test_boolean_is_not_accepted_as_a_number(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  auc: {min: true}\n")
    with pytest.raises(ConfigError, match="must be a number"):
        config.load(tmp_path)


def test_malformed_yaml_reports_the_line(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  auc: {direction: higher\n  bad: [\n")
    with pytest.raises(ConfigError, match=r"mlci.yaml:\d+: cannot parse YAML"):
        config.load(tmp_path)


def test_invalid_direction_is_rejected(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  auc: {direction: up}\n")
    with pytest.raises(ConfigError, match="must be 'higher' or 'lower'"):
        config.load(tmp_path)


def test_negative_regression_limit_is_rejected(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  auc: {max_regression: -1}\n")
    with pytest.raises(ConfigError, match="max_regression' must be >= 0"):
        config.load(tmp_path)


def test_several_models_each_get_their_own_section(tmp_path: Path):
    write(tmp_path, "models:\n  - {name: churn, metrics: [a.json]}\n  - {name: fraud, metrics: [b.json]}\n")
    cfg = config.load(tmp_path)
    assert [m.name for m in cfg.models] == ["churn", "fraud"]
    assert cfg.model_for_metrics_file("b.json").name == "fraud"


def test_duplicate_model_names_are_rejected(tmp_path: Path):
    write(tmp_path, "models:\n  - {name: a, metrics: [a.json]}\n  - {name: a, metrics: [b.json]}\n")
    with pytest.raises(ConfigError, match="model names must be unique"):
        config.load(tmp_path)


def test_explicit_config_path_that_does_not_exist_is_an_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path, tmp_path / "nope.yaml")


def test_without_mlci_yaml_metrics_come_from_dvc_yaml(tmp_path: Path):
    (tmp_path / "dvc.yaml").write_text("stages:\n  ev:\n    cmd: x\n    metrics:\n    - scores.json:\n        cache: false\n")
    cfg = config.load(tmp_path)
    assert cfg.path is None
    assert cfg.metrics_files == ["scores.json"]


def test_without_any_config_the_error_says_how_to_start(tmp_path: Path):
    with pytest.raises(ConfigError, match="mlci init --example"):
        config.load(tmp_path)


@pytest.mark.parametrize(
    ("name", "direction"),
    [("logloss", "lower"), ("val.rmse", "lower"), ("mae", "lower"), ("error_rate", "lower"),
     ("auc", "higher"), ("f1", "higher"), ("accuracy", "higher")],
)
def test_direction_is_guessed_from_well_known_names(name: str, direction: str):
    assert config.guess_direction(name) == direction


def test_config_error_is_one_line_with_exit_code_3(git_repo: Path):
    write(git_repo, "metrics: [m.json]\nbogus: 1\n")
    (git_repo / "m.json").write_text('{"auc": 1}')
    result = invoke(git_repo, "diff")
    assert result.exit_code == 3
    assert result.stderr.strip().count("\n") == 0
    assert "unknown key 'bogus'" in result.stderr
    assert "Traceback" not in result.output
