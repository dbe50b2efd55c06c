"""Pure comparison of a base and a head: metric deltas with direction-aware verdicts, param changes.

No I/O here: `mlci.workflows.diff` gathers the values, this module judges them, the report renders them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from mlci.analysis.stats import MetricInterval
from mlci.model.record import RunRecord
from mlci.store.config import Config

# Every metric's verdict, one of these words (rendered by mlci.report.format.verdict_label):
# improved / regressed: the 95 % CI of Δ excludes 0 (tested), or, with no interval, the sign of Δ
#   (`tested` False: labelled "not tested");
# not_significant: the CI of Δ includes 0 ("no significant change");
# changed: the metric has no direction (a counter, a clock, a name no table knows);
# unchanged: the same value; new / removed: on one side only;
# unavailable: one side's file could not be read here (a DVC output missing from the cache): `note` says why.
VERDICTS = ("regressed", "improved", "not_significant", "changed", "unchanged", "new", "removed", "unavailable")
JSON_SCHEMA_VERSION = 2  # 2: verdicts not_significant/changed, tested, interval, direction none


@dataclass(frozen=True)
class MetricDelta:
    model: str
    file: str
    name: str
    base: float | None
    head: float | None
    delta: float | None
    delta_rel: float | None  # fraction of |base|; None when base is 0 or missing
    direction: str  # "higher" | "lower" | "none" (never judged)
    direction_guessed: bool  # not from a goal in mlci.yaml
    verdict: str  # VERDICTS
    direction_source: str = "config"  # "config" | "name" | "counter" | "unknown"
    tested: bool = False  # the verdict comes from a bootstrap interval, not the sign of Δ
    interval: MetricInterval | None = None  # the bootstrap of this metric, when bound to predictions
    paired: bool | None = None  # the interval's kind: paired (same rows) or two-sample
    note: str | None = None  # why there is no interval (a short footnote), when there is none

    def to_dict(self) -> dict[str, Any]:
        """As in `mlci diff --json` and report.json (JSON types: the interval's CIs as lists)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["interval"] = self.interval.to_dict() if self.interval is not None else None
        return data

    @property
    def judged(self) -> bool:
        """Improved or regressed: a claim about better or worse, tested or not."""
        return self.verdict in ("improved", "regressed")


@dataclass(frozen=True)
class ParamChange:
    file: str
    name: str
    base: Any
    head: Any
    change: str  # "changed" | "added" | "removed"


@dataclass
class Comparison:
    base_ref: str
    base_commit: str | None
    base_source: str  # "record" | "git" | "none"
    head_commit: str
    head_dirty: bool
    metrics: list[MetricDelta]
    params: list[ParamChange]
    base_record: RunRecord | None = None
    head_record: RunRecord | None = None
    notes: list[str] = field(default_factory=list)
    base_how: str = ""  # how the base ref was chosen ("given with --base", "the local default branch main", …)
    merge_of: tuple[str, str] | None = None  # HEAD is GitHub's test merge of (PR head, PR base), not a head
    base_provenance: str | None = None  # base_source "record": "verified" (its CI run published it) | "unverified"

    def count(self, verdict: str) -> int:
        return sum(1 for m in self.metrics if m.verdict == verdict)

    def to_dict(self) -> dict[str, Any]:
        """The documented `mlci diff --json` schema (README: "diff JSON")."""
        return {
            "schema": JSON_SCHEMA_VERSION,
            "base": {
                "ref": self.base_ref,
                "commit": self.base_commit,
                "source": self.base_source,
                "how": self.base_how,
                "provenance": self.base_provenance,
            },
            "head": {
                "commit": self.head_commit,
                "dirty": self.head_dirty,
                "source": "workspace",
                # "merge": head.commit is GitHub's test merge of pr_head into pr_base, not the PR head
                "kind": "merge" if self.merge_of else "commit",
                "pr_head": self.merge_of[0] if self.merge_of else None,
                "pr_base": self.merge_of[1] if self.merge_of else None,
            },
            "metrics": [m.to_dict() for m in self.metrics],
            "params": [asdict(p) for p in self.params],
            "summary": {v: self.count(v) for v in VERDICTS},
            "notes": list(self.notes),
        }


def verdict(base: float | None, head: float | None, direction: str) -> str:
    """The verdict without evidence: the sign of Δ judged by the direction (`tested` stays False)."""
    if base is None:
        return "new"
    if head is None:
        return "removed"
    if head == base:
        return "unchanged"
    if direction not in ("higher", "lower"):
        return "changed"
    better = head > base if direction == "higher" else head < base
    return "improved" if better else "regressed"


def with_interval(m: MetricDelta, interval: MetricInterval, *, paired: bool, note: str | None = None) -> MetricDelta:
    """`m` judged by its bootstrap interval: the CI of Δ decides whenever there is one."""
    if (
        m.verdict in ("new", "removed", "unchanged", "unavailable")
        or interval.ci_low is None
        or interval.ci_high is None
    ):
        return replace(m, interval=interval, paired=paired, note=note)
    if not interval.significant:
        judged = "not_significant"
    elif m.direction not in ("higher", "lower"):
        judged = "changed"
    else:
        rose = interval.ci_low > 0
        judged = "improved" if rose == (m.direction == "higher") else "regressed"
    return replace(m, verdict=judged, tested=True, interval=interval, paired=paired, note=None)


def without_interval(m: MetricDelta, note: str | None) -> MetricDelta:
    """`m` with no interval, and why (the report's footnote)."""
    return replace(m, note=note)


def compare_metrics(
    cfg: Config,
    base: dict[str, dict[str, float]] | None,
    head: dict[str, dict[str, float]],
    unavailable: dict[str, str] | None = None,
) -> list[MetricDelta]:
    """`unavailable`: metrics file -> why one side of it could not be read; its metrics are
    "unavailable" (with that note), never "new" or "removed"."""
    base = base or {}
    unavailable = unavailable or {}
    deltas = []
    for file in sorted(set(base) | set(head)):
        model = cfg.model_for_metrics_file(file)
        b_values, h_values = base.get(file, {}), head.get(file, {})
        for name in sorted(set(b_values) | set(h_values)):
            b, h = b_values.get(name), h_values.get(name)
            goal = model.goal_for(file, name)
            source = model.direction_source(file, name)
            delta = h - b if b is not None and h is not None else None
            rel = delta / abs(b) if delta is not None and b else None
            deltas.append(
                MetricDelta(
                    model=model.name,
                    file=file,
                    name=name,
                    base=b,
                    head=h,
                    delta=delta,
                    delta_rel=rel,
                    direction=goal.direction,
                    direction_guessed=source != "config",
                    verdict="unavailable" if file in unavailable else verdict(b, h, goal.direction),
                    direction_source=source,
                    note=unavailable.get(file),
                )
            )
    return deltas


def compare_params(base: dict[str, dict[str, Any]] | None, head: dict[str, dict[str, Any]]) -> list[ParamChange]:
    base = base or {}
    changes = []
    for file in sorted(set(base) | set(head)):
        b_values, h_values = base.get(file, {}), head.get(file, {})
        for name in sorted(set(b_values) | set(h_values)):
            if name not in b_values:
                changes.append(ParamChange(file, name, None, h_values[name], "added"))
            elif name not in h_values:
                changes.append(ParamChange(file, name, b_values[name], None, "removed"))
            elif b_values[name] != h_values[name]:
                changes.append(ParamChange(file, name, b_values[name], h_values[name], "changed"))
    return changes
