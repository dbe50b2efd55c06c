"""`evaluate()`: everything a verdict depends on, computed once and rendered by nobody.

The comparison with base, each model's evidence (predictions and bootstrap), the changed DVC
dependencies, the data checks, and the gate verdict over all of them. `mlci gate` stops here;
`mlci report` (mlci.workflows.report) draws and renders an `Evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlci.analysis.compare import Comparison
from mlci.analysis.deps import DepChange
from mlci.analysis.drift import DataComparison
from mlci.analysis.gate import GateVerdict
from mlci.analysis.significance import Evidence
from mlci.store import config as config_mod
from mlci.store.project import Project, opened


@dataclass
class Evaluation:
    """One PR's evaluation: what was compared, the evidence, the data findings and the verdict."""

    repo: Any  # git.Repo
    root: Path
    cfg: config_mod.Config
    comparison: Comparison
    evidence: dict[str, Evidence]  # model name -> its predictions and bootstrap
    deps: list[DepChange]
    data: DataComparison | None  # None: no data profile in head's record
    verdict: GateVerdict


def evaluate(
    path: Project | Path | str = ".",
    *,
    base_ref: str | None = None,
    base_how: str | None = None,
    config_path: Path | None = None,
    comparison: Comparison | None = None,
    resamples: int | None = None,
) -> Evaluation:
    """Diff head against base, bootstrap each model, check the data, apply the gate."""
    from mlci.analysis import gate, stats
    from mlci.analysis.deps import dep_changes
    from mlci.analysis.significance import assess, attach
    from mlci.report import changes, data_section
    from mlci.workflows import diff as diff_mod

    project = opened(path, config_path)
    repo, root, cfg = project.repo, project.root, project.config
    if comparison is None:
        comparison = diff_mod.diff(root, base_ref=base_ref, cfg=cfg, base_how=base_how)
    deps = dep_changes(repo, root, comparison)
    changed = {d.path for d in deps}
    evidence = {}
    for m in cfg.models:
        moved = [p for p in changes.evaluation_inputs(root, m.predictions) if p in changed]
        evidence[m.name] = assess(
            repo,
            root,
            comparison.base_commit,
            m,
            resamples=resamples or stats.DEFAULT_RESAMPLES,
            evaluation_changed=moved,
        )
        evidence[m.name].evaluation_changed = moved
    judged = list(comparison.metrics)  # each metric with its interval and the verdict it supports
    for m in cfg.models:
        rows = [i for i, d in enumerate(judged) if d.model == m.name]
        for i, d in zip(rows, attach(evidence[m.name], [judged[i] for i in rows], m.predictions_metrics), strict=True):
            judged[i] = d
    comparison = replace(comparison, metrics=judged)
    significance = {name: e.significance for name, e in evidence.items() if e.significance is not None}
    data = data_section.from_records(comparison.base_record, comparison.head_record, cfg)
    verdict = gate.evaluate(comparison, cfg, significance).with_findings(data_section.gate_findings(data))
    return Evaluation(repo, root, cfg, comparison, evidence, deps, data, verdict)
