"""Quality gates: goals from mlci.yaml applied to a comparison, and `mlci gate`'s exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.analysis import gate
from mlci.analysis.compare import Comparison, compare_metrics, with_interval, without_interval
from mlci.analysis.stats import MetricInterval
from mlci.store.config import Config, Goal, ModelConfig
from tests.helpers import invoke


def _config(**goals: Goal) -> Config:
    model = ModelConfig(name="churn", metrics=("metrics.json",), goals=dict(goals))
    return Config(root=Path("."), models=(model,), path=None)


def _comparison(cfg: Config, base: dict | None, head: dict) -> Comparison:
    return Comparison(
        base_ref="main",
        base_commit="b" * 40,
        base_source="record",
        head_commit="h" * 40,
        head_dirty=False,
        metrics=compare_metrics(cfg, {"metrics.json": base} if base is not None else None, {"metrics.json": head}),
        params=[],
    )


def _judged(comparison: Comparison, **intervals: tuple[float, float]) -> Comparison:
    """The comparison with a paired CI of Δ attached to the named metrics (as significance.attach does)."""
    metrics = []
    for m in comparison.metrics:
        if m.name in intervals:
            low, high = intervals[m.name]
            interval = MetricInterval(
                metric=m.name,
                base=m.base,
                head=m.head,
                delta=m.delta,
                ci_low=low,
                ci_high=high,
                significant=low > 0 or high < 0,
            )
            m = with_interval(m, interval, paired=True)
        metrics.append(m)
    comparison.metrics = metrics
    return comparison


def test_a_value_below_the_floor_fails():
    cfg = _config(auc=Goal("auc", "higher", min=0.9))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.88}), cfg)
    assert not verdict.passed and verdict.status == "fail"
    assert verdict.failures[0].kind == "min"
    assert verdict.failures[0].message == "auc 0.88 is below the floor 0.9"


def test_a_regression_beyond_the_absolute_limit_fails_with_the_ci_in_its_message():
    cfg = _config(auc=Goal("auc", "higher", max_regression=0.005))
    verdict = gate.evaluate(_judged(_comparison(cfg, {"auc": 0.95}, {"auc": 0.9377}), auc=(-0.018, -0.007)), cfg)
    assert not verdict.passed
    assert verdict.failures[0].message == "auc dropped 0.0123 (-1.3 %), limit 0.005, 95 % CI of Δ [-0.018, -0.007]"


def test_a_regression_within_the_limit_passes_with_a_clean_verdict():
    cfg = _config(auc=Goal("auc", "higher", max_regression=0.01))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.945}), cfg)
    assert verdict.passed and verdict.status == "pass" and verdict.mark == "✅"
    assert verdict.checked == 1


def test_a_relative_limit_applies_to_lower_is_better_metrics():
    cfg = _config(logloss=Goal("logloss", "lower", max_regression_rel=0.02))
    verdict = gate.evaluate(_comparison(cfg, {"logloss": 0.30}, {"logloss": 0.31}), cfg)
    assert not verdict.passed
    assert verdict.failures[0].message.startswith("logloss rose 0.01 (+3.3 %), limit 2 %")


def test_significant_only_lets_a_non_significant_regression_pass_with_a_warning():
    cfg = _config(auc=Goal("auc", "higher", max_regression=0.001, significant_only=True))
    verdict = gate.evaluate(_judged(_comparison(cfg, {"auc": 0.95}, {"auc": 0.948}), auc=(-0.006, 0.002)), cfg)
    assert verdict.passed and verdict.status == "warn" and verdict.mark == "⚠️"
    assert "not significant" in verdict.warnings[0].message


def test_significant_only_fails_a_significant_regression():
    cfg = _config(auc=Goal("auc", "higher", max_regression=0.001, significant_only=True))
    verdict = gate.evaluate(_judged(_comparison(cfg, {"auc": 0.95}, {"auc": 0.94}), auc=(-0.015, -0.004)), cfg)
    assert not verdict.passed
    assert verdict.failures[0].message.endswith("(significant)")


def test_significant_only_without_an_interval_fails_and_says_why():
    cfg = _config(auc=Goal("auc", "higher", max_regression=0.001, significant_only=True))
    comparison = _comparison(cfg, {"auc": 0.95}, {"auc": 0.94})
    comparison.metrics = [without_interval(m, "base predictions unavailable") for m in comparison.metrics]
    verdict = gate.evaluate(comparison, cfg)
    assert not verdict.passed
    assert "significance not tested: base predictions unavailable; failing to be safe" in verdict.failures[0].message


def test_a_regression_no_goal_limits_is_a_warning():
    cfg = _config(auc=Goal("auc", "higher", min=0.5))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95, "f1": 0.8}, {"auc": 0.95, "f1": 0.7}), cfg)
    assert verdict.passed and verdict.status == "warn"
    assert [f.metric for f in verdict.warnings] == ["f1"]
    assert "direction 'higher' from the name, not tested" in verdict.warnings[0].message


def test_a_goal_whose_metric_disappeared_fails():
    cfg = _config(auc=Goal("auc", "higher", min=0.5))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95, "f1": 0.8}, {"f1": 0.8}), cfg)
    assert not verdict.passed and verdict.failures[0].kind == "missing"


def test_a_goal_for_an_unknown_metric_is_a_warning_naming_it():
    cfg = _config(aucc=Goal("aucc", "higher", min=0.5), auc=Goal("auc", "higher"))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.95}), cfg)
    assert verdict.passed and "goal 'aucc'" in verdict.warnings[0].message


def test_a_gate_that_checks_nothing_fails_and_says_so():
    """Its only goal names no metric: nothing is checked, and that is not a pass."""
    cfg = _config(aucc=Goal("aucc", "higher", min=0.5))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.95}), cfg)
    assert not verdict.passed and verdict.checked == 0
    assert "nothing to check" in verdict.failures[0].message


def test_metrics_without_numbers_leave_the_gate_nothing_to_check():
    cfg = _config()
    verdict = gate.evaluate(_comparison(cfg, {}, {}), cfg)
    assert not verdict.passed and "hold no numbers" in verdict.failures[0].message


def test_findings_added_by_other_checks_decide_the_verdict_too():
    cfg = _config(auc=Goal("auc", "higher", min=0.5))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.95}), cfg)
    failed = verdict.with_findings([gate.GateFinding("churn", "data", None, "3 rows with null ids", False)])
    assert verdict.passed and not failed.passed
    assert failed.to_dict()["findings"][-1]["kind"] == "data"


def test_the_verdict_round_trips_through_json():
    cfg = _config(auc=Goal("auc", "higher", min=0.99))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.95}), cfg)
    assert gate.verdict_from_dict(verdict.to_dict()) == verdict


# --- the command -------------------------------------------------------------------------


def _set_goals(root: Path, goals_yaml: str) -> None:
    text = (root / "mlci.yaml").read_text()
    head, _sep, _old = text.partition("goals:")
    (root / "mlci.yaml").write_text(head + "goals:\n" + goals_yaml)


def test_gate_exits_0_when_every_goal_holds(trained_repo: Path):
    result = invoke(trained_repo, "gate")
    assert result.exit_code == 0, result.output
    assert "gate passed" in result.stdout


def test_gate_exits_1_and_prints_each_failing_goal(trained_repo: Path):
    _set_goals(trained_repo, "  auc:\n    min: 0.999\n  accuracy:\n    max: 0.5\n")
    result = invoke(trained_repo, "gate")
    assert result.exit_code == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert len(lines) == 2
    assert "is below the floor 0.999" in lines[1] or "is below the floor 0.999" in lines[0]
    assert "mlci: error: gate failed: 2 goal(s) not met" in result.stderr


def test_gate_json_carries_the_verdict_and_still_exits_1(trained_repo: Path):
    import json

    _set_goals(trained_repo, "  auc:\n    min: 0.999\n")
    result = invoke(trained_repo, "gate", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["passed"] is False and data["status"] == "fail"
    assert data["findings"][0]["metric"] == "auc" and data["findings"][0]["kind"] == "min"


@pytest.mark.parametrize("bad", ["  auc:\n    min: high\n"])
def test_gate_with_an_invalid_goal_is_a_config_error(trained_repo: Path, bad: str):
    _set_goals(trained_repo, bad)
    result = invoke(trained_repo, "gate")
    assert result.exit_code == 3
    assert "goals.auc.min" in result.stderr


def test_an_improvement_judged_by_the_names_direction_passes_without_a_warning():
    cfg = _config(auc=Goal("auc", "higher", min=0.5))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.9, "recall": 0.7}, {"auc": 0.9, "recall": 0.8}), cfg)
    assert verdict.status == "pass"


@pytest.mark.parametrize("counter", ["step", "epoch", "n_samples", "train_time", "timestamp"])
def test_a_counter_is_changed_never_regressed_and_never_gated(counter: str):
    cfg = _config(auc=Goal("auc", "higher", min=0.5))
    comparison = _comparison(cfg, {"auc": 0.9, counter: 59.0}, {"auc": 0.9, counter: 29.0})
    [moved] = [m for m in comparison.metrics if m.name == counter]
    assert (moved.verdict, moved.direction, moved.direction_source) == ("changed", "none", "counter")
    assert gate.evaluate(comparison, cfg).status == "pass"


def test_a_name_with_no_known_direction_is_changed_and_not_judged():
    cfg = _config(auc=Goal("auc", "higher", min=0.5))
    comparison = _comparison(cfg, {"auc": 0.9, "power": 0.8}, {"auc": 0.9, "power": 0.2})
    [moved] = [m for m in comparison.metrics if m.name == "power"]
    assert (moved.verdict, moved.direction_source) == ("changed", "unknown")
    assert gate.evaluate(comparison, cfg).status == "pass"


def test_a_regression_without_an_interval_fails_significant_only_goals_for_every_metric_sharing_a_leaf():
    cfg = _config(
        **{
            "train.auc": Goal("train.auc", "higher", max_regression=0.001, significant_only=True),
            "test.auc": Goal("test.auc", "higher", max_regression=0.001, significant_only=True),
        }
    )
    comparison = _comparison(cfg, {"train.auc": 0.99, "test.auc": 0.95}, {"train.auc": 0.98, "test.auc": 0.94})
    verdict = gate.evaluate(comparison, cfg)
    assert all("significance not tested" in f.message for f in verdict.failures) and len(verdict.failures) == 2


def test_a_noise_level_regression_passes_and_a_significant_one_fails_under_the_same_goal():
    cfg = _config(auc=Goal("auc", "higher", max_regression_rel=0.01, significant_only=True))
    noise = gate.evaluate(_judged(_comparison(cfg, {"auc": 0.90}, {"auc": 0.88}), auc=(-0.05, 0.01)), cfg)
    real = gate.evaluate(_judged(_comparison(cfg, {"auc": 0.90}, {"auc": 0.54}), auc=(-0.40, -0.32)), cfg)
    assert noise.passed and not real.passed
