"""Quality gates: the goals in mlci.yaml applied to a comparison, giving pass / warn / fail.

Per model, for every metric with a configured goal:
  * `min` / `max`: absolute floor / ceiling on the head value;
  * `max_regression` (metric units) / `max_regression_rel` (fraction of |base|): the largest
    allowed move in the worse direction versus base;
  * `significant_only`: a regression beyond the limit fails only when the bootstrap says it
    is significant (the CI of Δ, paired or two-sample, excludes 0). When the metric has no
    interval (no predictions, base predictions unavailable, a metric the predictions do not
    measure), the gate fails conservatively and says why.
Metrics with no direction (counters, clocks, names no table knows) are never judged; `min` and
`max` still apply to them. A model whose mlci.yaml sets no goals at all gets the default gate
(`default_goal`) on every metric with a direction: a gate that cannot fail proves nothing.
Warnings (the verdict passes, marked ⚠️): regressions that no goal limits (a "regressed"
verdict: significant, or not tested), over-limit regressions that are not significant (with
`significant_only`), goals naming metrics that no metrics file has. Other capabilities add
findings (e.g. `kind="data"`) via `with_findings`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
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

    def to_dict(self) -> dict[str, Any]:  # not asdict(): its deep copy cost a second at 5,000 findings
        return {
            "model": self.model,
            "kind": self.kind,
            "metric": self.metric,
            "message": self.message,
            "passed": self.passed,
            "level": self.level,
        }


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


# The default gate: what `mlci init` writes for each metric with a direction, and what applies
# to every such metric of a model whose mlci.yaml sets no goals at all (a gate that bites).
DEFAULT_MAX_REGRESSION_REL = 0.01
DEFAULT_GATE_NOTE = " [default gate: no goals in mlci.yaml]"


def default_goal(metric: str, direction: str) -> Goal:
    """Fail a regression larger than 1 % of base that is significant (or has no interval to say)."""
    return Goal(
        metric=metric, direction=direction, max_regression_rel=DEFAULT_MAX_REGRESSION_REL, significant_only=True
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


def _ci_text(interval) -> str:
    if interval is None:
        return ""
    if interval.ci_low is not None:
        return f", 95 % CI of Δ [{_fmt(interval.ci_low)}, {_fmt(interval.ci_high)}]"
    return ""


def _worse_by(m: MetricDelta) -> float:
    """How far head moved in the worse direction (positive = worse); both sides are known here."""
    assert m.base is not None and m.head is not None
    return (m.base - m.head) if m.direction == "higher" else (m.head - m.base)


def _regression_message(m: MetricDelta, limit_text: str, interval) -> str:
    verb = "dropped" if m.direction == "higher" else "rose"
    rel = f" ({m.delta_rel * 100:+.1f} %)" if m.delta_rel is not None else ""
    return f"{m.name} {verb} {_fmt(abs(m.delta) if m.delta is not None else None)}{rel}, limit {limit_text}{_ci_text(interval)}"


def _check_metric(model: ModelConfig, m: MetricDelta, goal: Goal):
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
    if m.base is None or m.delta is None or m.direction not in ("higher", "lower"):
        return findings  # a counter or a metric with no direction is never judged
    interval = m.interval if m.tested else None
    worse = _worse_by(m)
    limits = []
    if goal.max_regression is not None and worse > goal.max_regression:
        limits.append(_fmt(goal.max_regression))
    if goal.max_regression_rel is not None and m.base != 0 and worse / abs(m.base) > goal.max_regression_rel:
        limits.append(f"{goal.max_regression_rel * 100:g} %")
    if not limits:
        if m.verdict == "regressed" and goal.max_regression is None and goal.max_regression_rel is None:
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
            reason = m.note or "no interval for this metric"
            findings.append(
                GateFinding(
                    model.name,
                    "regression",
                    m.name,
                    f"{message} (significance not tested: {reason}; failing to be safe)",
                    False,
                )
            )
            return findings
        message += " (significant)"
    findings.append(GateFinding(model.name, "regression", m.name, message, False))
    return findings


def evaluate(comparison: Comparison, cfg: Config, significance: dict[str, Any] | None = None) -> GateVerdict:
    """Apply every model's goals to `comparison`, whose metrics carry their intervals and verdicts
    (mlci.analysis.significance.attach); `significance` is accepted for callers that still pass it."""
    findings: list[GateFinding] = []
    checked = 0
    for model in cfg.models:
        deltas = [m for m in comparison.metrics if m.model == model.name]
        seen = set()
        for m in deltas:
            goal = model.goal_for(m.file, m.name)
            if m.direction_source == "config":
                seen.add(m.name)
                seen.add(f"{m.file}:{m.name}")
                checked += 1
                findings.extend(_check_metric(model, m, goal))
            elif not model.goals and m.direction in ("higher", "lower"):
                checked += 1
                findings.extend(
                    replace(f, message=f.message + DEFAULT_GATE_NOTE)
                    for f in _check_metric(model, m, default_goal(m.name, m.direction))
                )
            elif m.verdict == "regressed":
                interval = m.interval if m.tested else None
                how = "" if m.tested else ", not tested"
                findings.append(
                    GateFinding(
                        model.name,
                        "warning",
                        m.name,
                        _regression_message(m, "none set", interval)
                        + f" (direction '{goal.direction}' from the name{how})",
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
    if checked == 0:  # a gate that checks nothing must not read as "passed"
        findings.append(GateFinding(cfg.models[0].name, "nothing", None, nothing_to_check(comparison), False))
    passed = all(f.passed for f in findings)
    return GateVerdict(
        passed=passed, findings=tuple(findings), models=tuple(m.name for m in cfg.models), checked=checked
    )


def nothing_to_check(comparison: Comparison) -> str:
    """Why a gate checked no goal, and the fix (`mlci gate` exits 5 with this line)."""
    numbers = len(comparison.metrics)
    found = (
        f"the metrics files hold {numbers} number(s), none with a goal or a direction"
        if numbers
        else ("the metrics files hold no numbers")
    )
    return (
        f"the gate has nothing to check: {found}; write numeric metrics, or goals for them in mlci.yaml "
        "(goals: {name: {direction: higher}})"
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
