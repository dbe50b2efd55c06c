"""A multi-class model's report: per-class metrics, macro/micro averages with paired CIs, confusion matrix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlci.analysis import stats
from mlci.workflows import report as reporting
from tests.helpers import commit_all, git
from tests.test_stats import reference_paired_ci

CONFIG = """\
version: 1
models:
  - name: species
    metrics: [mc/metrics.json]
    predictions: mc/predictions.csv
    task: multiclass
    goals:
      macro_f1: {direction: higher, max_regression: 0.01}
      accuracy: {direction: higher}
"""
N = 600
RESAMPLES = 100


def _write(root: Path, accuracy: float, seed: int) -> None:
    """Three classes, one rare (class 2: ~10 % of rows); `accuracy` of rows predicted right."""
    rng = np.random.default_rng(0)
    label = rng.choice([0, 1, 2], size=N, p=[0.5, 0.4, 0.1])
    other = np.random.default_rng(seed)
    predicted = np.where(other.random(N) < accuracy, label, other.integers(0, 3, N))
    (root / "mc").mkdir(exist_ok=True)
    pd.DataFrame({"row_id": np.arange(N), "label": label, "score": predicted}).to_csv(
        root / "mc/predictions.csv", index=False
    )
    points = stats.point_estimates("multiclass", label, predicted)
    metrics = {k: round(points[k], 6) for k in ("accuracy", "macro_f1", "micro_f1")}
    (root / "mc/metrics.json").write_text(json.dumps(metrics))


@pytest.fixture
def multiclass_pr(git_repo: Path) -> Path:
    (git_repo / "mlci.yaml").write_text(CONFIG)
    _write(git_repo, accuracy=0.8, seed=1)
    commit_all(git_repo, "base model")
    git(git_repo, "checkout", "-q", "-b", "pr")
    _write(git_repo, accuracy=0.6, seed=2)
    commit_all(git_repo, "worse model")
    return git_repo


def test_multiclass_report_has_paired_per_class_and_average_cis(multiclass_pr: Path, tmp_path: Path):
    result = reporting.build(multiclass_pr, base_ref="main", out_dir=tmp_path / "out", resamples=RESAMPLES)
    sig = result.context.models[0].evidence.significance
    assert sig.paired and sig.rows == N
    head = pd.read_csv(multiclass_pr / "mc/predictions.csv")
    base = pd.read_csv(pd.io.common.StringIO(git(multiclass_pr, "show", "main:mc/predictions.csv")))
    expected = reference_paired_ci(
        "multiclass",
        head["label"].to_numpy(),
        base["score"].to_numpy(),
        head["score"].to_numpy(),
        RESAMPLES,
        stats.DEFAULT_SEED,
    )
    for name in (
        "macro_f1",
        "micro_f1",
        "macro_precision",
        "macro_recall",
        "f1_0",
        "f1_1",
        "f1_2",
        "precision_2",
        "recall_2",
    ):
        assert (sig.metrics[name].ci_low, sig.metrics[name].ci_high) == pytest.approx(expected[name], abs=1e-9), name


def test_multiclass_report_shows_each_class_and_fails_the_macro_goal(multiclass_pr: Path, tmp_path: Path):
    from mlci.report import format as fmt

    result = reporting.build(multiclass_pr, base_ref="main", out_dir=tmp_path / "out", resamples=RESAMPLES)
    text = result.markdown.read_text()
    sig = result.context.models[0].evidence.significance
    assert "Per-class metrics (3 classes), macro and micro averages</summary>" in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| `")}
    assert set(rows) == {"| `0`", "| `1`", "| `2`"}
    f1_2 = sig.metrics["f1_2"]
    assert f"CI [{fmt.signed(f1_2.ci_low)}, {fmt.signed(f1_2.ci_high)}]" in rows["| `2`"]
    macro = next(line for line in text.splitlines() if line.startswith("| **macro** |"))
    assert (
        f"CI [{fmt.signed(sig.metrics['macro_f1'].ci_low)}, {fmt.signed(sig.metrics['macro_f1'].ci_high)}] ✱" in macro
    )
    first = text.splitlines()[0]
    assert first.startswith("❌ **mlci: gate failed") and "macro_f1 dropped" in first
    assert (
        result.gate.failures[0].message.startswith("macro_f1 dropped ")
        and ", 95 % CI of Δ [" in result.gate.failures[0].message
    )
    assert sorted(p.name for p in result.images) == ["species-confusion.png"]
