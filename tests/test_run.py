"""`mlci run`: DVC runs the pipeline, unchanged stages are skipped, a run record is stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlci.errors import PipelineError
from mlci.store import baseline, gitrepo
from mlci.workflows import run
from tests.helpers import commit_all, git, invoke, set_param


def test_record_holds_commit_params_metrics_hashes_and_environment(trained_repo: Path):
    record = baseline.latest(gitrepo.open_repo(trained_repo), git(trained_repo, "rev-parse", "HEAD"))
    assert record.commit == git(trained_repo, "rev-parse", "HEAD")
    assert record.branch == "main" and record.dirty is False
    assert record.params["params.yaml"]["train.num_leaves"] == 15
    assert set(record.metrics["metrics.json"]) == {"auc", "accuracy", "f1", "precision", "recall", "logloss"}
    assert {"data/train.parquet", "models/model.txt", "src/train.py"} <= set(record.deps)
    assert record.environment["packages"]["lightgbm"]
    assert any(line.startswith("dvc==") for line in record.environment["freeze"])
    model = record.model
    assert model is not None and model.path == "models/model.txt" and len(model.sha256) == 64


def test_second_run_with_nothing_changed_does_no_training(trained_repo: Path):
    record = run.run(trained_repo)
    assert [(s.name, s.status) for s in record.stages] == [
        ("prepare", "skipped"),
        ("train", "skipped"),
        ("evaluate", "skipped"),
    ]


def test_changed_param_reruns_only_the_stages_that_depend_on_it(trained_repo: Path):
    set_param(trained_repo, "train.num_leaves", 7)
    record = run.run(trained_repo)
    assert {s.name: s.status for s in record.stages} == {"prepare": "skipped", "train": "ran", "evaluate": "ran"}
    assert record.dirty is True
    assert any("uncommitted changes (params.yaml)" in w for w in record.warnings)


def test_training_is_deterministic(trained_repo: Path):
    before = baseline.latest(gitrepo.open_repo(trained_repo), git(trained_repo, "rev-parse", "HEAD"))
    again = run.run(trained_repo, force=True, store=False)
    assert {s.status for s in again.stages} == {"ran"}
    assert again.metrics == before.metrics
    assert again.model.sha256 == before.model.sha256


def test_dataset_size_is_a_param(trained_repo: Path):
    set_param(trained_repo, "data.n_rows", 2000)
    run.run(trained_repo, store=False)
    rows = (trained_repo / "eval/predictions.csv").read_text().splitlines()
    assert rows[0] == "row_id,label,score"
    assert 350 < len(rows) - 1 < 650  # ~25 % of 2,000 rows


def test_example_writes_importances_and_training_curve(trained_repo: Path):
    curve = (trained_repo / "eval/training_curve.csv").read_text().splitlines()
    assert curve[0] == "iteration,train_logloss,valid_logloss,valid_auc"
    assert len(curve) == 1 + 60
    assert (trained_repo / "eval/feature_importance.csv").read_text().startswith("feature,gain")


def test_cli_shows_progress_per_stage_and_records(trained_repo: Path):
    set_param(trained_repo, "train.learning_rate", 0.2)
    result = invoke(trained_repo, "run")
    assert result.exit_code == 0, result.output
    assert "stage prepare unchanged, skipped" in result.stderr
    assert "stage train running" in result.stderr and "stage train ran in" in result.stderr
    assert "recorded run" in result.stdout


def test_run_json_prints_the_record(trained_repo: Path):
    result = invoke(trained_repo, "run", "--json", "--no-record")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == 1 and data["commit"] == git(trained_repo, "rev-parse", "HEAD")


def test_failing_stage_shows_exit_code_and_last_output_lines(trained_repo: Path):
    script = trained_repo / "src/train.py"
    script.write_text("import sys\nprint('loading data')\nsys.exit('boom: training data is corrupt')\n")
    result = invoke(trained_repo, "run")
    assert result.exit_code == 6
    errors = [line for line in result.stderr.splitlines() if line.startswith("mlci: error:")]
    assert len(errors) == 1
    assert errors[0].startswith("mlci: error: stage 'train' failed (dvc exit code")
    assert "boom: training data is corrupt" in result.stderr
    assert "Traceback" not in result.stderr.split("|")[0]


def test_failing_stage_stores_no_record(trained_repo: Path):
    repo = gitrepo.open_repo(trained_repo)
    head = git(trained_repo, "rev-parse", "HEAD")
    before = len(baseline.records_for(repo, head))
    (trained_repo / "src/evaluate.py").write_text("raise SystemExit(3)\n")
    with pytest.raises(PipelineError):
        run.run(trained_repo)
    assert len(baseline.records_for(repo, head)) == before


def test_missing_dvc_is_a_clear_error(trained_repo: Path):
    result = invoke(trained_repo, "run", env={"MLCI_DVC": "/nonexistent/dvc"})
    assert result.exit_code == 6
    assert "MLCI_DVC names '/nonexistent/dvc', which is not an executable" in result.stderr


def test_repo_without_dvc_init_is_told_to_run_dvc_init(git_repo: Path):
    (git_repo / "dvc.yaml").write_text("stages:\n  s:\n    cmd: echo\n    metrics: [m.json]\n")
    commit_all(git_repo, "pipeline")
    result = invoke(git_repo, "run")
    assert result.exit_code == 3
    assert "run `dvc init`" in result.stderr
