"""The PyTorch + DVCLive example (`mlci init --example torch`), end to end: run, diff, report
with DVCLive's plots, gate, reproduce. CPU here; `train.device: auto` takes CUDA when present."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the torch extra (pip install 'mlci[torch]') is not installed")

from mlci.workflows import report as reporting
from mlci.workflows import run
from tests.helpers import commit_all, git, invoke, invoke_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def _torch_main(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("torch") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    result = invoke(root, "init", "--example", "torch")
    assert result.exit_code == 0, result.output
    commit_all(root, "PyTorch example")
    run.run(root)
    commit_all(root, "Train baseline")
    run.run(root)
    return root


@pytest.fixture(scope="module")
def _torch_pr(_torch_main: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("torch-pr") / "repo"
    shutil.copytree(_torch_main, root, symlinks=True)
    git(root, "checkout", "-q", "-b", "pr/tiny-lr")
    params = root / "params.yaml"
    params.write_text(params.read_text().replace("lr: 0.05", "lr: 0.001"))  # far too small: a real regression
    commit_all(root, "Lower the learning rate")
    run.run(root)
    return root


@pytest.fixture
def torch_pr(_torch_pr: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(_torch_pr, root, symlinks=True)
    return root


def test_example_logs_dvclive_metrics_and_plots_and_records_the_model(_torch_main: Path):
    metrics = json.loads((_torch_main / "dvclive/metrics.json").read_text())
    assert metrics["step"] == 29 and metrics["test"]["auc"] > 0.85
    assert (_torch_main / "dvclive/plots/metrics/test/auc.tsv").read_text().startswith("step\tauc")
    record = run.run(_torch_main, store=False)
    assert record.metrics["dvclive/metrics.json"]["test.auc"] == metrics["test"]["auc"]
    assert record.model is not None and record.model.path == "models/model.pt"
    assert json.loads((_torch_main / "eval/train_info.json").read_text())["device"] == "cpu"


def test_diff_shows_the_regression_dvc_metrics_diff_shows(torch_pr: Path):
    import subprocess
    import sys

    ours = invoke_json(torch_pr, "diff", "--base", "main")
    dvc = json.loads(
        subprocess.run(
            [sys.executable, "-m", "dvc", "metrics", "diff", "main", "--json", "--all"],
            cwd=torch_pr,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    theirs = dvc["dvclive/metrics.json"]
    for m in ours["metrics"]:
        assert (m["base"], m["head"]) == (theirs[m["name"]]["old"], theirs[m["name"]]["new"])
    auc = next(m for m in ours["metrics"] if m["name"] == "test.auc")
    assert auc["verdict"] == "regressed"
    assert ours["params"] == [
        {"file": "params.yaml", "name": "train.lr", "base": 0.05, "head": 0.001, "change": "changed"}
    ]


def test_report_draws_dvclive_curves_roc_and_confusion_base_vs_head(torch_pr: Path, tmp_path: Path):
    report = reporting.build(torch_pr, base_ref="main", out_dir=tmp_path / "report", resamples=200)
    plots = json.loads(report.json.read_text())["plots"]
    assert "training_curve:dvclive/plots/metrics/test/auc.tsv" in plots
    assert "ROC (test set):dvclive/plots/sklearn/roc.json" in plots
    assert "Confusion matrix (test set):dvclive/plots/sklearn/confusion_matrix.json" in plots
    text = report.markdown.read_text()
    for rel in plots.values():
        assert f"]({rel})" in text
        assert (tmp_path / "report" / rel).read_bytes().startswith(b"\x89PNG")
    assert "No plots" not in text


def test_report_shows_the_interval_of_the_metric_the_predictions_measure(torch_pr: Path, tmp_path: Path):
    """DVCLive's train.auc and test.auc share the leaf `auc`: the test set's predictions reproduce
    test.auc, so it gets the interval; train.auc says why it has none (no silent "—")."""
    report = reporting.build(torch_pr, base_ref="main", out_dir=tmp_path / "report", resamples=200, plots=False)
    metrics = {m["name"]: m for m in json.loads(report.json.read_text())["comparison"]["metrics"]}
    assert metrics["test.auc"]["interval"]["ci_low"] is not None and metrics["test.auc"]["tested"]
    assert metrics["train.auc"]["interval"] is None
    assert metrics["train.auc"]["note"] == "the predictions measure test.auc, not this metric"
    assert metrics["step"]["verdict"] in ("changed", "unchanged") and metrics["step"]["direction"] == "none"
    rows = {
        line.split(" | ")[0][2:]: line for line in report.markdown.read_text().splitlines() if line.startswith("| ")
    }
    assert " | [" in rows["test.auc"]


def test_gate_fails_the_regressed_auc(torch_pr: Path):
    result = invoke(torch_pr, "gate", "--base", "main")
    assert result.exit_code == 1, result.output
    assert "test.auc" in result.output


def test_recorded_run_reproduces_exactly_on_cpu(_torch_main: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(_torch_main, root, symlinks=True)
    result = invoke(root, "reproduce", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "reproduced" and data["mismatches"] == []
    assert all(m["recorded"] == m["reproduced"] for m in data["metrics"])
    assert data["model"]["path"] == "models/model.pt" and data["model"]["match"]


def test_the_model_is_promoted_to_mlflow_and_loads_back_in_another_process(
    _torch_main: Path, mlflow_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """TorchScript + `model: {flavor: pytorch, example: …}`: MLflow's pytorch flavour with a
    signature, loaded by mlflow.pytorch and mlflow.pyfunc where the project's code is not."""
    import numpy as np
    import torch

    from tests.test_registry_mlflow import client, load_elsewhere

    root = tmp_path / "repo"
    shutil.copytree(_torch_main, root, symlinks=True)
    config = root / "mlci.yaml"
    config.write_text(
        config.read_text().replace("name: mlp", "name: mlp-mlflow")
        + f"registry:\n  backend: mlflow\n  tracking_uri: {mlflow_server.uri}\n"
    )
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = invoke(root, "promote", "--stage", "staging", "--json")
    assert result.exit_code == 0, result.output
    mv = client(mlflow_server.uri).get_model_version_by_alias("mlp-mlflow", "staging")
    assert mv.tags["mlci.sha256"] == json.loads(result.stdout)["version"]["sha256"]
    got = load_elsewhere(
        mlflow_server.uri,
        "models:/mlp-mlflow@staging",
        "pytorch",
        root / "data/test.csv",
        ["row_id", "label"],
        tmp_path / "elsewhere",
    )
    table = np.loadtxt(root / "data/test.csv", delimiter=",", skiprows=1, ndmin=2)[:, 2:].astype(np.float32)
    with torch.no_grad():
        expected = torch.jit.load(str(root / "models/model.pt"))(torch.from_numpy(table)).numpy()
    assert np.array_equal(np.asarray(got["native"], dtype=np.float32), expected)
    assert np.array_equal(np.asarray(got["pyfunc"], dtype=np.float32), expected)
    assert got["signature"] and got["example"]
