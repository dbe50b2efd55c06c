"""`mlci init`: scaffolds into a git repo, and never overwrites without --force."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci import config, scaffold
from mlci.errors import ConfigError, GitError
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
    (git_repo / "dvc.yaml").write_text("stages:\n  ev:\n    cmd: x\n    metrics:\n    - scores.json:\n        cache: false\n")
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
