"""Quality gates: the goals in mlci.yaml applied to a comparison, giving pass / warn / fail.

Per model, for every metric with a configured goal:
  * `min` / `max`: absolute floor / ceiling on the head value;
  * `max_regression` (metric units) / `max_regression_rel` (fraction of |base|): the largest
    allowed move in the worse direction versus base;
  * `significant_only`: a regression beyond the limit fails only when the bootstrap says it
    is significant (the CI of Δ excludes 0). When significance could not be computed (no
    base predictions), the gate fails conservatively and says why.
Warnings (the verdict passes, marked ⚠️): regressions that no goal limits, over-limit
regressions that are not significant (with `significant_only`), changes judged by a direction
guessed from the metric's name, goals naming metrics that no metrics file has. Other capabilities add findings (e.g. `kind="data"`) via `with_findings`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from mlci.analysis.compare import Comparison, MetricDelta
from mlci.store.config import Config, Goal, ModelConfig

STATUS_MARK = {"pass": "✅", "warn": "⚠️", "fail": "❌"}


@dataclass(frozen=True)
class GateFinding:
    model: str
    kind: str  # "min" | "max" | "regression" | "missing" | "warning" | "data" | …
    metric: str | None
    message: str
    passed: bool
    level: str = "error"  # "error": decides the verdict; "warning": shown, passes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GateVerdict:
    passed: bool
    findings: tuple[GateFinding, ...] = ()
    models: tuple[str, ...] = ()
    checked: int = 0  # goals evaluated

    @property
    def failures(self) -> list[GateFinding]:
        return [f for f in self.findings if not f.passed]

    @property
    def warnings(self) -> list[GateFinding]:
        return [f for f in self.findings if f.passed and f.level == "warning"]

    @property
    def status(self) -> str:
        if not self.passed:
            return "fail"
        return "warn" if self.warnings else "pass"

    @property
    def mark(self) -> str:
        return STATUS_MARK[self.status]

    def for_model(self, model: str) -> GateVerdict:
        own = tuple(f for f in self.findings if f.model == model)
        return GateVerdict(passed=all(f.passed for f in own), findings=own, models=(model,), checked=self.checked)

    def with_findings(self, extra: list[GateFinding]) -> GateVerdict:
        findings = self.findings + tuple(extra)
        return replace(self, findings=findings, passed=all(f.passed for f in findings))

    def summary(self) -> str:
        if self.status == "fail":
            return f"gate failed: {len(self.failures)} goal(s) not met"
        if self.status == "warn":
            return f"gate passed with {len(self.warnings)} warning(s)"
        return "gate passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "status": self.status,
            "summary": self.summary(),
            "checked": self.checked,
            "models": list(self.models),
            "findings": [f.to_dict() for f in self.findings],
        }


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


def _ci_text(interval) -> str:
    if interval is None:
        return ""
    if interval.ci_low is not None:
        return f", CI [{_fmt(interval.ci_low)}, {_fmt(interval.ci_high)}]"
    return ""


def _worse_by(m: MetricDelta) -> float:
    """How far head moved in the worse direction (positive = worse); both sides are known here."""
    assert m.base is not None and m.head is not None
    return (m.base - m.head) if m.direction == "higher" else (m.head - m.base)


def _regression_message(m: MetricDelta, limit_text: str, interval) -> str:
    verb = "dropped" if m.direction == "higher" else "rose"
    rel = f" ({m.delta_rel * 100:+.1f} %)" if m.delta_rel is not None else ""
    return f"{m.name} {verb} {_fmt(abs(m.delta) if m.delta is not None else None)}{rel}, limit {limit_text}{_ci_text(interval)}"


def _check_metric(model: ModelConfig, m: MetricDelta, goal: Goal, interval, significance_reason: str | None):
    findings = []
    if m.head is None:
        findings.append(
            GateFinding(
                model.name,
                "missing",
                m.name,
                f"{m.name} is missing from {m.file} in head; the goal cannot be checked",
                False,
            )
        )
        return findings
    if goal.min is not None and m.head < goal.min:
        findings.append(
            GateFinding(
                model.name, "min", m.name, f"{m.name} {_fmt(m.head)} is below the floor {_fmt(goal.min)}", False
            )
        )
    if goal.max is not None and m.head > goal.max:
        findings.append(
            GateFinding(
                model.name, "max", m.name, f"{m.name} {_fmt(m.head)} is above the ceiling {_fmt(goal.max)}", False
            )
        )
    if m.base is None or m.delta is None:
        return findings
    worse = _worse_by(m)
    limits = []
    if goal.max_regression is not None and worse > goal.max_regression:
        limits.append(_fmt(goal.max_regression))
    if goal.max_regression_rel is not None and m.base != 0 and worse / abs(m.base) > goal.max_regression_rel:
        limits.append(f"{goal.max_regression_rel * 100:g} %")
    if not limits:
        if worse > 0 and goal.max_regression is None and goal.max_regression_rel is None:
            findings.append(
                GateFinding(
                    model.name, "warning", m.name, _regression_message(m, "none set", interval), True, "warning"
                )
            )
        return findings
    message = _regression_message(m, " and ".join(limits), interval)
    if goal.significant_only:
        significant = interval.significant if interval is not None else None
        if significant is False:
            findings.append(
                GateFinding(
                    model.name,
                    "regression",
                    m.name,
                    message + " (not significant: allowed by significant_only)",
                    True,
                    "warning",
                )
            )
            return findings
        if significant is None:
            reason = significance_reason or "no paired bootstrap for this metric"
            findings.append(
                GateFinding(
                    model.name,
                    "regression",
                    m.name,
                    f"{message} (significance unknown: {reason}; failing to be safe)",
                    False,
                )
            )
            return findings
        message += " (significant)"
    findings.append(GateFinding(model.name, "regression", m.name, message, False))
    return findings


def evaluate(comparison: Comparison, cfg: Config, significance: dict[str, Any] | None = None) -> GateVerdict:
    """Apply every model's goals to `comparison`; `significance` maps model name -> stats.Significance."""
    significance = significance or {}
    findings: list[GateFinding] = []
    checked = 0
    for model in cfg.models:
        sig = significance.get(model.name)
        reason = None
        if sig is None:
            reason = "base predictions unavailable"
        elif sig.skipped:
            reason = sig.skipped
        elif not sig.paired:
            reason = "base and head were evaluated on different rows"
        deltas = [m for m in comparison.metrics if m.model == model.name]
        names = [m.name for m in deltas]
        seen = set()
        for m in deltas:
            configured = not model.direction_is_guessed(m.file, m.name)
            goal = model.goal_for(m.file, m.name)
            if configured:
                seen.add(m.name)
                seen.add(f"{m.file}:{m.name}")
                checked += 1
                interval = sig.get(m.name, names) if sig is not None and sig.paired and not sig.skipped else None
                findings.extend(_check_metric(model, m, goal, interval, reason))
            elif m.verdict == "regressed":
                interval = sig.get(m.name, names) if sig is not None and sig.paired and not sig.skipped else None
                findings.append(
                    GateFinding(
                        model.name,
                        "warning",
                        m.name,
                        _regression_message(m, "none set", interval)
                        + f" (direction '{goal.direction}' guessed from the name)",
                        True,
                        "warning",
                    )
                )
        guessed = sorted({m.name for m in deltas if m.verdict == "improved" and m.direction_guessed})
        if guessed:
            findings.append(
                GateFinding(
                    model.name,
                    "direction",
                    None,
                    f"better/worse guessed from the name for {', '.join(guessed)}; "
                    "set goals.<metric>.direction in mlci.yaml",
                    True,
                    "warning",
                )
            )
        for key in sorted(model.goals):
            if key not in seen:
                findings.append(
                    GateFinding(
                        model.name,
                        "missing",
                        key,
                        f"goal '{key}' names a metric that no metrics file of model '{model.name}' has; "
                        "fix the name in mlci.yaml",
                        True,
                        "warning",
                    )
                )
    passed = all(f.passed for f in findings)
    return GateVerdict(
        passed=passed, findings=tuple(findings), models=tuple(m.name for m in cfg.models), checked=checked
    )


def verdict_from_dict(data: dict[str, Any]) -> GateVerdict:
    """Read back a verdict from `report.json` or a run record's `gate`."""
    findings = tuple(GateFinding(**f) for f in data.get("findings", []))
    return GateVerdict(
        passed=bool(data.get("passed")),
        findings=findings,
        models=tuple(data.get("models", [])),
        checked=int(data.get("checked", 0)),
    )


__all__ = ["GateFinding", "GateVerdict", "evaluate", "verdict_from_dict", "STATUS_MARK"]
