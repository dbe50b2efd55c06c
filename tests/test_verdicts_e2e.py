"""Verdicts end to end, on a project mlci did not shape: a DVC pipeline whose evaluate stage
writes DVCLive-style metrics (train/test with the same leaves, a `step` counter, a metric no
table knows) and a row_id,label,score predictions file. `mlci init` writes its gate; a large
paired regression fails it, a re-trained model that only moved by noise passes. And a PR checked
out at GitHub's merge commit is reported as a merge, never as the head.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import commit_all, git, invoke

EVALUATE = """\
    import json, pathlib
    import numpy as np
    import yaml

    p = yaml.safe_load(open("params.yaml"))["model"]
    rows = np.random.default_rng(7)  # the evaluation set: the same rows and labels on every run
    label = rows.integers(0, 2, 600)
    spread = rows.normal(0, 1, 600)
    fit = np.random.default_rng(p["seed"])  # training noise: another seed, another model
    score = np.clip(0.5 + p["strength"] * (label - 0.5) + 0.2 * spread + 0.08 * fit.normal(0, 1, 600), 0, 1)

    def auc(y, s):
        order = np.argsort(s, kind="mergesort")
        ranks = np.empty(len(s)); ranks[order] = np.arange(1, len(s) + 1)
        pos = y == 1
        return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * (~pos).sum()))

    out = pathlib.Path("eval"); out.mkdir(exist_ok=True)
    lines = ["row_id,label,score"] + [f"{i},{y},{s:.6f}" for i, (y, s) in enumerate(zip(label, score))]
    (out / "predictions.csv").write_text("\\n".join(lines) + "\\n")
    metrics = {
        "train": {"auc": round(0.9 + 0.05 * p["strength"], 6), "loss": round(0.4 - 0.1 * p["strength"], 6)},
        "test": {"auc": round(auc(label, score), 6), "accuracy": round(float(((score >= 0.5) == label).mean()), 6)},
        "step": 30,
        "power": round(1.0 + p["seed"] / 100, 6),
    }
    (out / "metrics.json").write_text(json.dumps(metrics))
    """

DVC_YAML = """\
    stages:
      evaluate:
        cmd: python src/evaluate.py
        deps: [src/evaluate.py]
        params: [model]
        outs: [eval/predictions.csv]
        metrics:
          - eval/metrics.json:
              cache: false
    """


def _mlci(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlci", *args], cwd=root, capture_output=True, text=True, check=False, timeout=600
    )


@pytest.fixture(scope="module")
def _initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The user's project on main: trained, `mlci init` as written, baseline recorded."""
    root = tmp_path_factory.mktemp("user") / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "src").mkdir()
    (root / "src" / "evaluate.py").write_text(textwrap.dedent(EVALUATE))
    (root / "dvc.yaml").write_text(textwrap.dedent(DVC_YAML))
    (root / "params.yaml").write_text("model:\n  strength: 0.8\n  seed: 1\n")
    commit_all(root, "A project with predictions")
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=root, check=True, capture_output=True)
    init = _mlci(root, "init")
    assert init.returncode == 0, init.stderr
    assert "no direction known for power" in init.stdout
    commit_all(root, "mlci init")
    recorded = _mlci(root, "run")
    assert recorded.returncode == 0, recorded.stderr
    return root


def _pr(initialised: Path, tmp_path: Path, *, strength: float, seed: int) -> Path:
    root = tmp_path / "project"
    shutil.copytree(initialised, root, symlinks=True)
    git(root, "checkout", "-q", "-b", "pr")
    (root / "params.yaml").write_text(f"model:\n  strength: {strength}\n  seed: {seed}\n")
    ran = _mlci(root, "run")
    assert ran.returncode == 0, ran.stderr
    commit_all(root, "Change the model")
    return root


def test_mlci_init_writes_a_commented_gate_that_bites(_initialised: Path):
    text = (_initialised / "mlci.yaml").read_text()
    assert 'predictions: "eval/predictions.csv"' in text  # found: the pipeline writes row_id,label,score
    goals = text.split("\ngoals:\n", 1)[1]
    assert '"test.auc"' in goals and "max_regression_rel: 0.01" in goals and "significant_only: true" in goals
    assert "# fail on a" in goals and "bootstrap says it is real" in goals  # each line explained
    assert '"step"' not in goals.split("# No direction known")[0]  # a counter gets no goal
    assert '#   "power"' in goals  # no direction known: listed for the user to decide


def test_a_large_paired_regression_fails_the_gate_init_wrote(_initialised: Path, tmp_path: Path):
    root = _pr(_initialised, tmp_path, strength=0.1, seed=1)
    result = _mlci(root, "gate", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [f for f in json.loads(result.stdout)["findings"] if not f["passed"]]
    auc = next(f for f in failed if f["metric"] == "test.auc")
    assert "(significant)" in auc["message"] and "95 % CI of Δ" in auc["message"]


def test_a_retrained_model_that_moved_by_noise_passes_the_same_gate(_initialised: Path, tmp_path: Path):
    root = _pr(_initialised, tmp_path, strength=0.8, seed=2)
    report = _mlci(root, "report", "--json")
    assert report.returncode == 0, report.stdout + report.stderr
    data = json.loads((root / "mlci-report" / "report.json").read_text())
    metrics = {m["name"]: m for m in data["comparison"]["metrics"]}
    assert metrics["test.auc"]["delta"] != 0 and metrics["test.auc"]["verdict"] == "not_significant"
    assert metrics["test.auc"]["paired"] is True
    assert metrics["power"]["verdict"] == "changed" and metrics["power"]["direction_source"] == "unknown"
    assert metrics["train.auc"]["verdict"] == "unchanged"
    assert _mlci(root, "gate").returncode == 0


def test_a_pr_checked_out_at_githubs_merge_commit_is_reported_as_a_merge(_initialised: Path, tmp_path: Path):
    root = _pr(_initialised, tmp_path, strength=0.8, seed=3)
    head, base = git(root, "rev-parse", "HEAD"), git(root, "rev-parse", "main")
    git(root, "checkout", "-q", "--detach", "main")
    git(root, "merge", "-q", "--no-ff", "-m", f"Merge {head} into {base}", head)  # what refs/pull/N/merge is
    merge = git(root, "rev-parse", "HEAD")
    assert _mlci(root, "run").returncode == 0
    assert _mlci(root, "report", "--base", "main").returncode in (0, 1)
    first = (root / "mlci-report" / "report.md").read_text().splitlines()[0]
    assert f"merge of head `{head[:12]}` into `{base[:12]}` (GitHub's merge commit `{merge[:12]}`)" in first
    assert f"head `{merge[:12]}`" not in first
    data = json.loads((root / "mlci-report" / "report.json").read_text())
    assert data["comparison"]["head"] | {"dirty": None} == {
        "commit": merge,
        "dirty": None,
        "source": "workspace",
        "kind": "merge",
        "pr_head": head,
        "pr_base": base,
    }
    [record] = json.loads(invoke(root, "record", "show", "--json").stdout)
    assert record["extra"]["evaluated"] == {"kind": "merge", "commit": merge, "pr_head": head, "pr_base": base}


def test_ci_on_githubs_merge_commit_says_to_check_out_the_head_when_approvals_promote(
    _initialised: Path, tmp_path: Path, fake_github
):
    from mlci.workflows.ci import ci
    from tests.plugins.fake_github import actions_env

    root = _pr(_initialised, tmp_path, strength=0.8, seed=3)
    with (root / "mlci.yaml").open("a") as config:
        config.write("registry:\n  backend: gto\n  promote_on: approval\n")
    head = commit_all(root, "Promote on approval")
    base = git(root, "rev-parse", "main")
    git(root, "checkout", "-q", "--detach", "main")
    git(root, "merge", "-q", "--no-ff", "-m", f"Merge {head} into {base}", head)
    fake_github.add_pull(12, head_sha=head)
    env = actions_env(fake_github, tmp_path / "runner", sha=git(root, "rev-parse", "HEAD"))
    result = ci(root, environ=env, phase="admit")
    assert any("check out `ref: ${{ github.event.pull_request.head.sha }}`" in n for n in result.notes), result.notes
