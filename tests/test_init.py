"""`mlci init`: scaffolds into a git repo, and never overwrites without --force."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlci.errors import ConfigError, GitError
from mlci.store import config
from mlci.workflows import scaffold
from tests.helpers import invoke


def test_example_scaffold_writes_a_complete_dvc_project(git_repo: Path):
    result = invoke(git_repo, "init", "--example")
    assert result.exit_code == 0, result.output
    for path in ("dvc.yaml", "params.yaml", "mlci.yaml", "src/prepare.py", "src/train.py", "src/evaluate.py"):
        assert (git_repo / path).is_file(), path
    assert (git_repo / ".dvc").is_dir()
    assert config.load(git_repo).models[0].goals["auc"].direction == "higher"


def test_init_works_in_a_repo_without_commits(tmp_path: Path):
    from tests.helpers import git

    git(tmp_path, "init", "-q")
    assert "mlci.yaml" in scaffold.init(tmp_path, example=True)


def test_existing_files_are_not_overwritten_and_nothing_is_written(git_repo: Path):
    (git_repo / "params.yaml").write_text("mine: 1\n")
    result = invoke(git_repo, "init", "--example")
    assert result.exit_code == 3
    assert "would overwrite params.yaml; nothing was written; pass --force" in result.stderr
    assert (git_repo / "params.yaml").read_text() == "mine: 1\n"
    assert not (git_repo / "dvc.yaml").exists()


def test_force_overwrites(git_repo: Path):
    (git_repo / "params.yaml").write_text("mine: 1\n")
    assert invoke(git_repo, "init", "--example", "--force").exit_code == 0
    assert "train:" in (git_repo / "params.yaml").read_text()


def test_existing_gitignore_is_extended_not_replaced(git_repo: Path):
    (git_repo / ".gitignore").write_text("*.log\n")
    scaffold.init(git_repo, example=True)
    lines = (git_repo / ".gitignore").read_text().splitlines()
    assert lines[0] == "*.log" and "/models" in lines


def test_running_init_twice_is_a_no_op(git_repo: Path):
    scaffold.init(git_repo, example=True)
    assert scaffold.init(git_repo, example=True) == []


def test_plain_init_derives_mlci_yaml_from_dvc_yaml(git_repo: Path):
    (git_repo / "dvc.yaml").write_text(
        "stages:\n  ev:\n    cmd: x\n    metrics:\n    - scores.json:\n        cache: false\n"
    )
    (git_repo / "scores.json").write_text('{"rmse": 1.5, "r2": 0.3}')
    scaffold.init(git_repo)
    goals = config.load(git_repo).models[0].goals
    assert {k: g.direction for k, g in goals.items()} == {"r2": "higher", "rmse": "lower"}


def test_plain_init_without_a_pipeline_points_to_example(git_repo: Path):
    with pytest.raises(ConfigError, match="mlci init --example"):
        scaffold.init(git_repo)


def test_init_outside_git_is_refused(tmp_path: Path):
    with pytest.raises(GitError, match="not inside a git repository"):
        scaffold.init(tmp_path, example=True)


def test_example_pins_its_dependencies_so_runs_do_not_warn(git_repo: Path):
    from importlib import metadata

    scaffold.init(git_repo, example=True)
    pins = (git_repo / "requirements.txt").read_text().splitlines()
    assert f"lightgbm=={metadata.version('lightgbm')}" in pins


def test_an_existing_requirements_file_is_left_alone(git_repo: Path):
    (git_repo / "requirements.txt").write_text("mine==1.0\n")
    scaffold.init(git_repo, example=True)
    assert (git_repo / "requirements.txt").read_text() == "mine==1.0\n"


def test_plain_init_takes_the_model_from_dvc_yaml_artifacts(git_repo: Path):
    (git_repo / "dvc.yaml").write_text(
        "stages:\n  ev:\n    cmd: x\n    metrics:\n    - m.json:\n        cache: false\n"
        "artifacts:\n  notes-helper:\n    path: docs/x.txt\n    type: dataset\n"
        "  text-classifier:\n    path: models/clf.pkl\n    type: model\n"
    )
    (git_repo / "m.json").write_text('{"acc": 0.9}')
    scaffold.init(git_repo)
    model = config.load(git_repo).models[0]
    assert (model.name, model.model) == ("text-classifier", "models/clf.pkl")


def test_plain_init_makes_no_goals_for_step_epoch_or_time_counters(git_repo: Path):
    (git_repo / "dvc.yaml").write_text("metrics:\n  - dvclive/metrics.json\n")
    (git_repo / "dvclive").mkdir()
    (git_repo / "dvclive/metrics.json").write_text(
        '{"train": {"loss": 0.3, "epoch": 9}, "test": {"acc": 0.8}, "step": 29, "timestamp": 1700000000}'
    )
    scaffold.init(git_repo)
    assert set(config.load(git_repo).models[0].goals) == {"train.loss", "test.acc"}


def test_plain_init_before_the_first_run_writes_a_valid_config_with_a_hint(git_repo: Path):
    (git_repo / "dvc.yaml").write_text("stages:\n  ev:\n    cmd: x\n    metrics:\n    - eval/m.json\n")
    scaffold.init(git_repo)
    text = (git_repo / "mlci.yaml").read_text()
    assert "goals: {}" in text and "run `mlci run`, then `mlci init --force`" in text
    cfg = config.load(git_repo)
    assert cfg.models[0].goals == {} and cfg.metrics_files == ["eval/m.json"]


def test_plain_init_resolves_templated_metrics_paths_like_dvc(git_repo: Path):
    (git_repo / "dvc.yaml").write_text(
        "vars:\n  - out: results\nstages:\n  ev:\n    foreach: [a, b]\n    do:\n      cmd: x ${item}\n"
        "      metrics:\n      - ${out}/${item}.json:\n          cache: false\n"
    )
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=git_repo, check=True)
    scaffold.init(git_repo)
    assert config.load(git_repo).metrics_files == ["results/a.json", "results/b.json"]
    assert "${" not in (git_repo / "mlci.yaml").read_text()


def test_init_example_torch_writes_the_pytorch_dvclive_pipeline(git_repo: Path):
    written = scaffold.init(git_repo, example="torch")
    assert {"dvc.yaml", "params.yaml", "mlci.yaml", "src/train.py", "requirements.txt"} <= set(written)
    assert "from dvclive import Live" in (git_repo / "src/train.py").read_text()
    assert "torch==" in (git_repo / "requirements.txt").read_text()
    assert config.load(git_repo).models[0].model == "models/model.pt"
