"""Gather one model's base and head predictions and bootstrap its metrics; never raises.

What could not be done (no predictions file, base not in the DVC cache, different rows, one
class…) becomes a note the report prints, and `Significance.skipped` says why the gate had no
significance to go on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.analysis import stats
from mlci.analysis.compare import MetricDelta, with_interval, without_interval
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
            "no paired test; Δ is tested by a two-sample bootstrap instead"
        )
        aligned = None
    if aligned is not None and evaluation_changed:
        notes.append(
            f"the evaluation data changed ({', '.join(evaluation_changed)}): the rows share ids and "
            "labels but not features, so deltas are not paired; Δ is tested by a two-sample bootstrap instead"
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
                f"{shared:,} shared): no paired test; Δ is tested by a two-sample bootstrap instead"
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


# Metric names pipelines use for what the bootstrap recomputes (leaf, lowercased, "-" as "_").
_ALIASES = {
    "roc_auc": "auc",
    "rocauc": "auc",
    "auroc": "auc",
    "roc_auc_score": "auc",
    "acc": "accuracy",
    "accuracy_score": "accuracy",
    "f1_score": "f1",
    "fscore": "f1",
    "f1score": "f1",
    "precision_score": "precision",
    "recall_score": "recall",
    "log_loss": "logloss",
    "r2_score": "r2",
    "r_squared": "r2",
    "mean_absolute_error": "mae",
    "root_mean_squared_error": "rmse",
    "f1_macro": "macro_f1",
    "f1_micro": "micro_f1",
    "precision_macro": "macro_precision",
    "recall_macro": "macro_recall",
}
_LEAF = re.compile(r"[./]")


def recomputed_key(name: str, keys: Any) -> str | None:
    """The bootstrap metric a metrics-file name could be (`test.roc_auc` → `auc`), if any."""
    leaf = _LEAF.split(name)[-1].lower().replace("-", "_")
    if leaf in keys:
        return leaf
    alias = _ALIASES.get(leaf)
    return alias if alias in keys else None


def _in_group(m: MetricDelta, group: str) -> bool:
    return m.file == group or m.name.startswith((f"{group}.", f"{group}/"))


def _agrees(m: MetricDelta, interval: stats.MetricInterval) -> bool:
    """The metrics file's values are the ones recomputed from the predictions (on each side both have)."""
    compared = 0
    for table, computed in ((m.head, interval.head), (m.base, interval.base)):
        if table is None or computed is None:
            continue
        compared += 1
        if abs(table - computed) > 1e-4 + 1e-3 * abs(table):
            return False
    return compared > 0


def _mismatch(m: MetricDelta, interval: stats.MetricInterval) -> str:
    side, table, computed = next(
        (side, t, c)
        for side, t, c in (("head", m.head, interval.head), ("base", m.base, interval.base))
        if t is not None and c is not None and abs(t - c) > 1e-4 + 1e-3 * abs(t)
    )
    return (
        f"the predictions give {interval.metric} {computed:.4g} on {side}, {m.file} says {table:.4g} "
        "(another threshold or definition?)"
    )


def attach(evidence: Evidence, deltas: list[MetricDelta], measures: str | None = None) -> list[MetricDelta]:
    """Each metric with the interval that measures it, judged by it; the others with why not.

    A metric is bound to a bootstrap interval when its name is one the bootstrap recomputes
    (auc, accuracy, f1 … or an alias such as roc_auc) and its value is the one recomputed from
    the predictions — so `test.auc` gets the interval and `train.auc` (same leaf, another value)
    does not. `measures` (mlci.yaml `predictions: {metrics: ...}`) restricts the candidates to
    one metrics file or name prefix; when two candidates still agree with the predictions the
    binding is ambiguous, and neither gets an interval (the footnote says how to decide).
    """
    sig = evidence.significance
    out = list(deltas)
    if sig is None or not sig.metrics:
        reason = _no_interval_reason(evidence)
        return [m if m.direction_source == "counter" else without_interval(m, reason) for m in out]
    notes: dict[int, str] = {}
    candidates: dict[str, list[int]] = {}
    for i, m in enumerate(out):
        if m.direction_source == "counter":
            continue
        key = recomputed_key(m.name, sig.metrics)
        if key is None:
            notes[i] = "not recomputable from the predictions (mlci recomputes " + _known(sig) + ")"
        elif measures is not None and not _in_group(m, measures):
            notes[i] = f"the predictions measure {measures}, not this metric"
        else:
            candidates.setdefault(key, []).append(i)
    for key, rows in candidates.items():
        interval = sig.metrics[key]
        agreeing = [i for i in rows if _agrees(out[i], interval)]
        if len(agreeing) == 1:
            bound = agreeing[0]
            out[bound] = _judged(out[bound], interval, sig)
            for i in rows:
                if i != bound:
                    notes[i] = f"the predictions measure {out[bound].name}, not this metric"
        elif not agreeing:
            for i in rows:
                notes[i] = _mismatch(out[i], interval) if _comparable(out[i], interval) else _no_values(sig)
        else:
            names = " and ".join(out[i].name for i in agreeing[:2])
            for i in rows:
                notes[i] = (
                    f"{names} both equal the value recomputed from the predictions; say which the predictions "
                    "measure in mlci.yaml: predictions: {path: ..., metrics: <file or prefix>}"
                )
    for i, note in notes.items():
        out[i] = without_interval(out[i], note)
    return out


def _judged(m: MetricDelta, interval: stats.MetricInterval, sig: stats.Significance) -> MetricDelta:
    if interval.ci_low is None:  # head only (no base predictions), or undefined in every resample
        reason = sig.skipped or "the metric is undefined in every resample"
        return with_interval(m, interval, paired=sig.paired, note=reason)
    return with_interval(m, interval, paired=sig.paired)


def _comparable(m: MetricDelta, interval: stats.MetricInterval) -> bool:
    return any(t is not None and c is not None for t, c in ((m.head, interval.head), (m.base, interval.base)))


def _no_values(sig: stats.Significance) -> str:
    return sig.skipped or "no value to compare with the predictions"


def _known(sig: stats.Significance) -> str:
    keys = list(sig.metrics)
    return ", ".join(keys[:6]) + (" …" if len(keys) > 6 else "")


def _no_interval_reason(evidence: Evidence) -> str:
    if evidence.head is None:
        return next(
            (n.split(":")[0] for n in evidence.notes if n.startswith("head predictions unusable")),
            "no predictions for this model (`predictions:` in mlci.yaml)",
        )
    return "no interval could be computed (see the notes)"
