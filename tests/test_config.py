"""mlci.yaml: strict validation with one-line errors, and sensible defaults without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.errors import ConfigError
from mlci.store import config
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
    with pytest.raises(ConfigError, match=r"mlci.yaml:3: unknown key 'goals.auc.dirction'; did you mean 'direction'"):
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
    with pytest.raises(ConfigError, match="must be 'higher', 'lower' or 'none'"):
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
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n  ev:\n    cmd: x\n    metrics:\n    - scores.json:\n        cache: false\n"
    )
    cfg = config.load(tmp_path)
    assert cfg.path is None
    assert cfg.metrics_files == ["scores.json"]


def test_without_any_config_the_error_says_how_to_start(tmp_path: Path):
    with pytest.raises(ConfigError, match="mlci init --example"):
        config.load(tmp_path)


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("logloss", "lower"),
        ("val.rmse", "lower"),
        ("mae", "lower"),
        ("error_rate", "lower"),
        ("auc", "higher"),
        ("f1", "higher"),
        ("accuracy", "higher"),
    ],
)
def test_direction_is_guessed_from_well_known_names(name: str, direction: str):
    assert config.guess_direction(name) == direction


def test_a_limit_on_a_goal_whose_name_gives_no_direction_asks_for_one(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  power:\n    max_regression: 0.1\n")
    with pytest.raises(ConfigError, match="goal 'goals.power' sets max_regression but has no direction.*add direction"):
        config.load(tmp_path)


def test_a_floor_needs_no_direction(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  power:\n    min: 0.1\n")
    assert config.load(tmp_path).models[0].goals["power"].direction == "none"


def test_predictions_may_say_which_metrics_they_measure(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\npredictions: {path: eval/p.csv, metrics: test}\n")
    model = config.load(tmp_path).models[0]
    assert (model.predictions, model.predictions_metrics) == ("eval/p.csv", "test")


def test_predictions_as_a_mapping_need_a_path(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\npredictions: {metrics: test}\n")
    with pytest.raises(ConfigError, match="'predictions' needs a 'path:'"):
        config.load(tmp_path)


def test_config_error_is_one_line_with_exit_code_3(git_repo: Path):
    write(git_repo, "metrics: [m.json]\nbogus: 1\n")
    (git_repo / "m.json").write_text('{"auc": 1}')
    result = invoke(git_repo, "diff")
    assert result.exit_code == 3
    assert result.stderr.strip().count("\n") == 0
    assert "unknown key 'bogus'" in result.stderr
    assert "Traceback" not in result.output


# --- strict validation (issue 15) --------------------------------------------------------


def test_a_duplicate_key_is_refused_with_both_lines(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  auc: {min: 0.8}\n  auc: {min: 0.9}\n")
    with pytest.raises(ConfigError, match=r"mlci.yaml:4: duplicate key 'auc' \(first on line 3\)"):
        config.load(tmp_path)


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf"])
def test_a_number_that_can_never_compare_is_refused(tmp_path: Path, value: str):
    write(tmp_path, f"metrics: [m.json]\ngoals:\n  auc:\n    min: {value}\n")
    with pytest.raises(ConfigError, match=r"mlci.yaml:4: 'goals.auc.min' is .*write a finite number"):
        config.load(tmp_path)


def test_an_enum_typo_names_the_line_and_the_closest_value(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\nregistry:\n  backend: gto\n  promote_on: mian\n")
    with pytest.raises(
        ConfigError,
        match=r"mlci.yaml:4: 'registry.promote_on' must be one of approval, main, both, "
        r"got 'mian'; did you mean 'main'\?",
    ):
        config.load(tmp_path)


def test_a_goal_naming_no_metric_is_an_error_listing_the_known_ones(tmp_path: Path):
    (tmp_path / "m.json").write_text('{"auc": 0.9, "logloss": 0.3}')
    write(tmp_path, "metrics: [m.json]\ngoals:\n  aucc: {min: 0.8}\n")
    with pytest.raises(
        ConfigError,
        match=r"mlci.yaml:3: goal 'goals.aucc' names no metric of m.json; "
        r"did you mean 'auc'\? known: auc, logloss",
    ):
        config.load(tmp_path)


def test_a_goal_may_name_a_metric_by_file_and_name(tmp_path: Path):
    (tmp_path / "m.json").write_text('{"auc": 0.9}')
    write(tmp_path, "metrics: [m.json]\ngoals:\n  'm.json:auc': {min: 0.8}\n")
    assert list(config.load(tmp_path).models[0].goals) == ["m.json:auc"]


def test_goals_load_before_the_first_run_produced_the_metrics(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  aucc: {min: 0.8}\n")
    assert list(config.load(tmp_path).models[0].goals) == ["aucc"]


@pytest.mark.parametrize(
    "entry",
    [
        "metrics: [../outside.json]",
        "metrics: [/etc/passwd]",
        "metrics: [m.json]\npredictions: ../p.csv",
        "metrics: [m.json]\nparams: [a/../../p.yaml]",
    ],
)
def test_an_input_path_outside_the_repository_is_refused(tmp_path: Path, entry: str):
    write(tmp_path, entry + "\n")
    with pytest.raises(ConfigError, match=r"mlci.yaml:\d+: .* is outside the repository"):
        config.load(tmp_path)


def test_min_above_max_can_never_pass_and_is_refused(tmp_path: Path):
    write(tmp_path, "metrics: [m.json]\ngoals:\n  auc: {min: 0.9, max: 0.5}\n")
    with pytest.raises(ConfigError, match="is above its max"):
        config.load(tmp_path)
