"""train.engine: dask trains the example through lightgbm.dask on a real 2-worker LocalCluster."""

from __future__ import annotations

import json

from tests.helpers import commit_all, invoke, set_param


def run_json(root) -> dict:
    result = invoke(root, "run", "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_dask_engine_trains_through_mlci_run_with_sane_metrics(trained_repo, dask_cluster, monkeypatch):
    monkeypatch.chdir(trained_repo)
    local = json.loads((trained_repo / "metrics.json").read_text())
    set_param(trained_repo, "train.engine", "dask")
    set_param(trained_repo, "train.scheduler_address", dask_cluster)
    commit_all(trained_repo, "Train on the Dask cluster")

    record = run_json(trained_repo)

    assert record["environment"]["training"]["engine"] == "dask"
    assert [s["name"] for s in record["stages"] if s["status"] == "ran"] == ["train", "evaluate"]
    metrics = record["metrics"]["metrics.json"]
    assert metrics["auc"] > 0.85
    assert abs(metrics["auc"] - local["auc"]) < 0.02  # the same model family on the same data
    model = trained_repo / "models" / "model.txt"
    assert model.read_text().startswith("tree") and record["artifacts"]["model"]["size"] == model.stat().st_size


def test_dask_engine_without_a_scheduler_address_fails_the_stage_with_the_fix(trained_repo, monkeypatch):
    monkeypatch.chdir(trained_repo)
    set_param(trained_repo, "train.engine", "dask")
    commit_all(trained_repo, "Dask without an address")

    result = invoke(trained_repo, "run")

    assert result.exit_code == 6
    assert "stage 'train' failed" in result.stderr
    assert "train.scheduler_address is empty; set it to the scheduler" in result.stderr
