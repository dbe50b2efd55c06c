"""Main's runs as a series: one value per recorded commit, where a PR falls in it, and its noise.

Pure: run records in, numbers out (`mlci.store.history` reads them, the report renders them).

- `runs`: one run per first-parent commit (its newest clean record), metrics and params
  flattened to one name each, with the params that changed since the previous run.
- `placement`: where a value falls among the last N runs ("above all of main's last 20 runs").
- `noise`: the spread of main's reruns whose inputs did not change (same pipeline inputs and
  params, and the pipeline really ran again). It shows how far a metric moves by chance when
  nothing changed; it is an estimate of scale, not a significance test, and is labelled so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlci.model.record import RunRecord


@dataclass(frozen=True)
class Run:
    """One recorded commit of the branch: its newest clean run record, flattened."""

    commit: str
    created_at: str  # when the run was recorded (the record's own time)
    subject: str
    record_id: str
    metrics: dict[str, float]  # numbers as recorded (an int stays an int)
    params: dict[str, Any]  # every param, flattened
    changed: dict[str, Any] = field(default_factory=dict)  # params that differ from the previous run (None: removed)

    def to_dict(self) -> dict[str, Any]:
        """One entry of `mlci history --json` ("params": the params this run changed)."""
        return {
            "commit": self.commit,
            "created_at": self.created_at,
            "subject": self.subject,
            "record": self.record_id,
            "metrics": dict(self.metrics),
            "params": dict(self.changed),
        }


def flat_names(nested: Iterable[dict[str, dict[str, Any]]]) -> dict[tuple[str, str], str]:
    """(file, name) -> one key: the bare name when no other file has it, else `file:name`.

    The same rule as goals in mlci.yaml (`auc` or `metrics.json:auc`); decided once over every
    run, so a metric keeps its key along the whole history.
    """
    files: dict[str, set[str]] = {}
    for values in nested:
        for file, names in values.items():
            for name in names:
                files.setdefault(name, set()).add(file)
    return {
        (file, name): name if len(found) == 1 else f"{file}:{name}" for name, found in files.items() for file in found
    }


def _flatten(values: dict[str, dict[str, Any]], keys: dict[tuple[str, str], str]) -> dict[str, Any]:
    return {keys[(file, name)]: value for file, names in values.items() for name, value in names.items()}


def newest_clean(records: Sequence[RunRecord]) -> RunRecord | None:
    """The record a commit stands for: its newest run of a clean tree (what a PR compares with)."""
    clean = [r for r in records if not r.dirty]
    return clean[-1] if clean else None


def runs(entries: Iterable[tuple[str, str, Sequence[RunRecord]]]) -> list[Run]:
    """(commit, subject, records oldest first), oldest commit first -> one Run per commit with a clean record."""
    chosen = [(commit, subject, newest_clean(records)) for commit, subject, records in entries]
    picked = [(c, s, r) for c, s, r in chosen if r is not None]
    metric_keys = flat_names(r.metrics for _c, _s, r in picked)
    param_keys = flat_names(r.params for _c, _s, r in picked)
    out: list[Run] = []
    previous: dict[str, Any] | None = None
    for commit, subject, record in picked:
        metrics = {k: v for k, v in _flatten(record.metrics, metric_keys).items() if _number(v)}
        params = _flatten(record.params, param_keys)
        changed: dict[str, Any] = {}
        if previous is not None:
            changed = {
                k: params.get(k) for k in sorted(set(params) | set(previous)) if params.get(k) != previous.get(k)
            }
        out.append(Run(commit, record.created_at, subject, record.id, metrics, params, changed))
        previous = params
    return out


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def series(history: Sequence[Run], metric: str) -> list[tuple[str, float]]:
    """(commit, value) of `metric` along the history, oldest first; runs without it are left out."""
    return [(r.commit, r.metrics[metric]) for r in history if metric in r.metrics]


def metric_key(history: Sequence[Run], file: str, name: str) -> str | None:
    """The key `metric` (of `file`) has in this history: `name` or `file:name`, or None when never recorded."""
    for key in (name, f"{file}:{name}"):
        if any(key in r.metrics for r in history):
            return key
    return None


@dataclass(frozen=True)
class Placement:
    """Where one value falls among a series of earlier values."""

    value: float
    runs: int  # how many values it is compared with
    low: float
    high: float
    below: int  # values strictly below it
    above: int  # values strictly above it

    @property
    def position(self) -> str:
        """above (higher than every run), below (lower than every run), equal (every run has this
        value) or within."""
        if self.below == self.runs:
            return "above"
        if self.above == self.runs:
            return "below"
        if self.below == 0 and self.above == 0:
            return "equal"
        return "within"

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "runs": self.runs,
            "low": self.low,
            "high": self.high,
            "below": self.below,
            "above": self.above,
            "position": self.position,
        }


def placement(value: float | None, values: Sequence[float]) -> Placement | None:
    """Where `value` falls among `values` (None when either is missing)."""
    if value is None or not values or not _number(value):
        return None
    return Placement(
        value=float(value),
        runs=len(values),
        low=min(values),
        high=max(values),
        below=sum(1 for v in values if v < value),
        above=sum(1 for v in values if v > value),
    )


@dataclass(frozen=True)
class Noise:
    """How far a metric moved between reruns of the same inputs (an estimate, not a test)."""

    metric: str
    sd: float  # pooled within-group standard deviation
    spread: float  # the largest max − min within one group
    reruns: int  # runs in groups of two or more
    groups: int  # distinct input sets rerun

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "sd": self.sd,
            "spread": self.spread,
            "reruns": self.reruns,
            "groups": self.groups,
            "kind": "rerun spread (an estimate of noise, not a significance test)",
        }


def executed(record: RunRecord) -> bool:
    """Whether the pipeline really ran (a stage "ran"): a run whose stages were all skipped or
    restored from DVC's cache only repeats an earlier run's numbers and says nothing about noise."""
    return any(s.status == "ran" for s in record.stages)


def noise(
    records: Iterable[RunRecord],
    metric: str,
    inputs: Callable[[RunRecord], Hashable],
    value: Callable[[RunRecord], float | None],
) -> Noise | None:
    """The spread of `metric` over clean, executed reruns that share `inputs(record)`; None with
    no input set run at least twice."""
    groups: dict[Hashable, list[float]] = {}
    for record in records:
        if record.dirty or not executed(record):
            continue
        v = value(record)
        if v is None or not _number(v):
            continue
        groups.setdefault(inputs(record), []).append(float(v))
    repeated = [g for g in groups.values() if len(g) >= 2]
    if not repeated:
        return None
    squares = sum(sum((v - sum(g) / len(g)) ** 2 for v in g) for g in repeated)
    freedom = sum(len(g) - 1 for g in repeated)
    return Noise(
        metric=metric,
        sd=math.sqrt(squares / freedom),
        spread=max(max(g) - min(g) for g in repeated),
        reruns=sum(len(g) for g in repeated),
        groups=len(repeated),
    )


@dataclass(frozen=True)
class MetricHistory:
    """One goal metric of a PR report: main's recent values, and where base and head fall."""

    model: str
    metric: str  # its key in the history (`auc`, or `file:auc`)
    direction: str
    values: list[tuple[str, float]]  # (commit, value) of the last runs, oldest first
    base: Placement | None
    head: Placement | None
    base_value: float | None = None
    head_value: float | None = None
    base_commit: str | None = None
    noise: Noise | None = None  # main's rerun spread, for a metric with no interval from predictions
    tested: bool = False  # the report has an interval for this metric (then no noise estimate is needed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "metric": self.metric,
            "direction": self.direction,
            "values": [{"commit": c, "value": v} for c, v in self.values],
            "base": self.base.to_dict() if self.base else None,
            "head": self.head.to_dict() if self.head else None,
            "noise": self.noise.to_dict() if self.noise else None,
        }


@dataclass
class ReportHistory:
    """What a PR report says about main's history: per goal metric, and the trend plots."""

    ref: str
    last: int
    metrics: list[MetricHistory]
    note: str | None = None  # why there is nothing to show
    plots: dict[str, str] = field(default_factory=dict)  # model -> plot path relative to the report
