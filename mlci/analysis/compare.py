"""Pure comparison of a base and a head: metric deltas with direction-aware verdicts, param changes.

No I/O here: `mlci.workflows.diff` gathers the values, this module judges them, the report renders them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mlci.model.record import RunRecord
from mlci.store.config import Config

VERDICTS = ("regressed", "improved", "unchanged", "new", "removed")
JSON_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class MetricDelta:
    model: str
    file: str
    name: str
    base: float | None
    head: float | None
    delta: float | None
    delta_rel: float | None  # fraction of |base|; None when base is 0 or missing
    direction: str
    direction_guessed: bool
    verdict: str


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
                "provenance": self.base_provenance,
            },
            "head": {"commit": self.head_commit, "dirty": self.head_dirty, "source": "workspace"},
            "metrics": [asdict(m) for m in self.metrics],
            "params": [asdict(p) for p in self.params],
            "summary": {v: self.count(v) for v in VERDICTS},
            "notes": list(self.notes),
        }


def verdict(base: float | None, head: float | None, direction: str) -> str:
    if base is None:
        return "new"
    if head is None:
        return "removed"
    if head == base:
        return "unchanged"
    better = head > base if direction == "higher" else head < base
    return "improved" if better else "regressed"


def compare_metrics(
    cfg: Config,
    base: dict[str, dict[str, float]] | None,
    head: dict[str, dict[str, float]],
) -> list[MetricDelta]:
    base = base or {}
    deltas = []
    for file in sorted(set(base) | set(head)):
        model = cfg.model_for_metrics_file(file)
        b_values, h_values = base.get(file, {}), head.get(file, {})
        for name in sorted(set(b_values) | set(h_values)):
            b, h = b_values.get(name), h_values.get(name)
            goal = model.goal_for(file, name)
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
                    direction_guessed=model.direction_is_guessed(file, name),
                    verdict=verdict(b, h, goal.direction),
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
