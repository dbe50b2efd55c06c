"""Gather one model's base and head predictions and bootstrap its metrics; never raises.

What could not be done (no predictions file, base not in the DVC cache, different rows, one
class…) becomes a note the report prints, and `Significance.skipped` says why the gate had no
significance to go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.analysis import stats
from mlci.errors import DataError
from mlci.store import predictions as preds
from mlci.store.config import ModelConfig

UNAVAILABLE = "base predictions unavailable: significance skipped"


@dataclass
class Evidence:
    """The predictions a model's plots and statistics are drawn from."""

    model: str
    task: str
    head: preds.Predictions | None = None
    base: preds.Predictions | None = None
    significance: stats.Significance | None = None
    notes: list[str] = field(default_factory=list)
    evaluation_changed: list[str] = field(default_factory=list)  # evaluation data files that differ from base


def _metrics_for(task: str, sides: list[preds.Predictions], notes: list[str]) -> tuple[str, ...] | None:
    import numpy as np

    if task == "multiclass":
        return None  # every class of both sides, averages and per class (stats.multiclass_metrics)
    metrics = stats.default_metrics(task)
    if task == "binary" and any(len(np.unique(p.label)) < 2 for p in sides):
        metrics = tuple(m for m in metrics if m != "auc")
        notes.append("AUC has no confidence interval: an evaluation set has a single class")
    return metrics


def assess(
    repo: Any,
    root: Path,
    base_commit: str | None,
    model: ModelConfig,
    *,
    resamples: int = stats.DEFAULT_RESAMPLES,
    seed: int = stats.DEFAULT_SEED,
    evaluation_changed: list[str] | None = None,
) -> Evidence:
    """`evaluation_changed`: the evaluation data files that differ from base (no paired test then)."""
    evidence = Evidence(model=model.name, task=model.task)
    notes = evidence.notes
    if not model.predictions:
        notes.append(
            f"no `predictions:` for model '{model.name}' in mlci.yaml: significance and "
            "prediction plots skipped (add a row_id,label,score file to enable them)"
        )
        return evidence
    try:
        evidence.head = preds.read_head(root, model)
    except DataError as exc:
        notes.append(f"head predictions unusable: {exc.message}; significance and prediction plots skipped")
        return evidence
    notes.extend(preds.problems(evidence.head, model.task))

    reason = None
    if base_commit is None:
        reason = "no base commit"
    else:
        try:
            evidence.base = preds.read_base(repo, root, base_commit, model)
            notes.extend(preds.problems(evidence.base, model.task))
        except DataError as exc:
            reason = exc.message
    head = evidence.head
    if evidence.base is None:
        notes.append(f"{UNAVAILABLE} ({reason})")
        metrics = _metrics_for(model.task, [head], notes)
        own = stats.bootstrap(model.task, head.label, head.score, metrics=metrics, resamples=resamples, seed=seed)
        evidence.significance = stats.Significance(
            model=model.name,
            paired=False,
            rows=len(head),
            resamples=resamples,
            seed=seed,
            skipped=UNAVAILABLE,
            metrics={
                m: stats.MetricInterval(metric=m, base=None, head=point, delta=None, head_ci=ci)
                for m, (ci, point) in own.items()
            },
        )
        return evidence

    base = evidence.base
    aligned = preds.align(base, head)
    same_rows = aligned is not None
    if aligned is not None and not preds.labels_agree(*aligned):
        notes.append(
            "base and head have the same row ids but different labels (the evaluation data changed): "
            "no paired test; each side's own 95 % CI is shown instead"
        )
        aligned = None
    if aligned is not None and evaluation_changed:
        notes.append(
            f"the evaluation data changed ({', '.join(evaluation_changed)}): the rows share ids and "
            "labels but not features, so deltas are not paired; each side's own 95 % CI is shown instead"
        )
        aligned = None
        same_rows = True
    evidence.evaluation_changed = list(evaluation_changed or [])
    metrics = _metrics_for(model.task, [base, head], notes)
    if aligned is not None:
        base, head = aligned
        intervals = stats.paired_bootstrap(
            model.task, head.label, base.score, head.score, metrics=metrics, resamples=resamples, seed=seed
        )
        paired = True
    else:
        shared = _shared(base, head)
        if not same_rows:
            notes.append(
                f"base and head were evaluated on different rows ({len(base):,} vs {len(head):,} rows, "
                f"{shared:,} shared): no paired test; each side's own 95 % CI is shown instead"
            )
        intervals = stats.unpaired_bootstrap(
            model.task, base.label, base.score, head.label, head.score, metrics=metrics, resamples=resamples, seed=seed
        )
        paired = False
    evidence.significance = stats.Significance(
        model=model.name,
        paired=paired,
        rows=len(head),
        resamples=resamples,
        seed=seed,
        metrics=intervals,
        notes=list(notes),
    )
    return evidence


def _shared(base: preds.Predictions, head: preds.Predictions) -> int:
    import numpy as np

    try:
        return int(len(np.intersect1d(base.row_id, head.row_id)))
    except TypeError:
        return 0


def reconcile(evidence: Evidence, deltas: list) -> None:
    """Drop CIs whose point estimate disagrees with the metrics file, and say so.

    The bootstrap recomputes each metric from the predictions (threshold 0.5, sklearn's
    definitions); if the pipeline defines a metric differently, its CI would describe another
    number than the table shows, so it is withheld rather than shown wrongly.
    """
    sig = evidence.significance
    if sig is None:
        return
    names = [m.name for m in deltas]
    for m in deltas:
        interval = sig.get(m.name, names)
        if interval is None:
            continue
        for side, table_value, computed in (("head", m.head, interval.head), ("base", m.base, interval.base)):
            if table_value is None or computed is None:
                continue
            if abs(table_value - computed) > 1e-4 + 1e-3 * abs(table_value):
                sig.metrics.pop(interval.metric, None)
                evidence.notes.append(
                    f"{m.name}: recomputed from the predictions it is {computed:.6g} on {side}, but {m.file} says "
                    f"{table_value:.6g} (another threshold or definition?): its CI is not shown"
                )
                break
