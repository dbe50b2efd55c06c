"""Projects shaped like users' at scale, for the benchmarks: a DVCLive layout with thousands of
metrics and a predictions file.

    dvclive/metrics.json  {"train": {"seg_0000": {"auc", "loss", "f1"}, …}, "test": {…}, "step": N}
                          plus the overall test.auc / test.accuracy the predictions reproduce
    eval/predictions.csv  row_id,label,score (tracked in git, so the base side is in the commit)
    mlci.yaml             predictions: {path, metrics: test}, goals on the overall test metrics

main is committed and recorded (`mlci run` writes its record); the `feature` branch moves every
metric and the predictions (a real change), uncommitted, as a PR's working tree is before commit.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

MLCI_YAML = """\
metrics: [dvclive/metrics.json]
predictions: {path: eval/predictions.csv, metrics: test}
task: binary
goals:
  test.auc: {direction: higher, max_regression_rel: 0.01, significant_only: true}
  test.accuracy: {direction: higher, max_regression_rel: 0.01, significant_only: true}
"""

DVC_YAML = """\
stages:
  evaluate:
    cmd: mkdir -p dvclive && cp src/metrics.json dvclive/metrics.json
    deps: [src/metrics.json]
    metrics:
      - dvclive/metrics.json:
          cache: false
"""


def _auc(label: np.ndarray, score: np.ndarray) -> float:
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    positive = label == 1
    n_pos, n_neg = positive.sum(), (~positive).sum()
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _side(root: Path, metrics: int, rows: int, strength: float, step: int) -> None:
    rng = np.random.default_rng(7)
    label = rng.integers(0, 2, rows)
    spread = rng.normal(0, 1, rows)
    score = np.clip(0.5 + strength * (label - 0.5) + 0.2 * spread, 0, 1)
    lines = ["row_id,label,score"] + [f"{i},{y},{s:.6f}" for i, (y, s) in enumerate(zip(label, score, strict=True))]
    (root / "eval").mkdir(exist_ok=True)
    (root / "eval" / "predictions.csv").write_text("\n".join(lines) + "\n")
    per_segment = max(1, (metrics - 3) // 6)  # train and test, 3 metrics per segment
    bump = strength - 0.5
    data: dict = {"train": {}, "test": {}, "step": step}
    for side in ("train", "test"):
        for i in range(per_segment):
            base = 0.7 + (i % 97) / 1000
            data[side][f"seg_{i:04d}"] = {
                "auc": round(base + bump / 10, 6),
                "loss": round(0.5 - base / 4 - bump / 20, 6),
                "f1": round(base - 0.05 + bump / 12, 6),
            }
    data["test"]["auc"] = round(_auc(label, score), 6)
    data["test"]["accuracy"] = round(float(((score >= 0.5) == label).mean()), 6)
    for where in ("src", "dvclive"):  # the stage's input, and what its run wrote
        (root / where).mkdir(exist_ok=True)
        (root / where / "metrics.json").write_text(json.dumps(data))


def build(root: Path, *, metrics: int, rows: int, mlci: list[str], env: dict[str, str]) -> None:
    """The project at `root`: main recorded, `feature` checked out with every metric moved."""

    def run(*cmd: str) -> None:
        subprocess.run(list(cmd), cwd=root, env=env, check=True, capture_output=True)

    root.mkdir(parents=True, exist_ok=True)
    run("git", "init", "-q", "-b", "main")
    run(str(Path(mlci[0]).parent / "dvc"), "init", "-q")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "mlci.yaml").write_text(MLCI_YAML)
    _side(root, metrics, rows, strength=0.5, step=29)
    run("git", "add", "-A")
    run("git", "commit", "-q", "-m", "main")
    run(*mlci, "run")
    run("git", "checkout", "-q", "-b", "feature")
    _side(root, metrics, rows, strength=0.45, step=59)
