"""Quality gates: goals from mlci.yaml applied to a comparison, and `mlci gate`'s exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.analysis import gate
from mlci.analysis.compare import Comparison, compare_metrics
from mlci.analysis.stats import MetricInterval, Significance
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


def _significance(**intervals: tuple[float, float]) -> dict[str, Significance]:
    metrics = {
        name: MetricInterval(
            metric=name, base=None, head=None, delta=None, ci_low=low, ci_high=high, significant=low > 0 or high < 0
        )
        for name, (low, high) in intervals.items()
    }
    return {"churn": Significance(model="churn", paired=True, rows=100, resamples=100, seed=1, metrics=metrics)}


def test_a_value_below_the_floor_fails():
    cfg = _config(auc=Goal("auc", "higher", min=0.9))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.88}), cfg)
    assert not verdict.passed and verdict.status == "fail"
    assert verdict.failures[0].kind == "min"
    assert verdict.failures[0].message == "auc 0.88 is below the floor 0.9"


def test_a_regression_beyond_the_absolute_limit_fails_with_the_ci_in_its_message():
    cfg = _config(auc=Goal("auc", "higher", max_regression=0.005))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.9377}), cfg, _significance(auc=(-0.018, -0.007)))
    assert not verdict.passed
    assert verdict.failures[0].message == "auc dropped 0.0123 (-1.3 %), limit 0.005, CI [-0.018, -0.007]"


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
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.948}), cfg, _significance(auc=(-0.006, 0.002)))
    assert verdict.passed and verdict.status == "warn" and verdict.mark == "⚠️"
    assert "not significant" in verdict.warnings[0].message


def test_significant_only_fails_a_significant_regression():
    cfg = _config(auc=Goal("auc", "higher", max_regression=0.001, significant_only=True))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.94}), cfg, _significance(auc=(-0.015, -0.004)))
    assert not verdict.passed
    assert verdict.failures[0].message.endswith("(significant)")


def test_significant_only_without_base_predictions_fails_and_says_why():
    cfg = _config(auc=Goal("auc", "higher", max_regression=0.001, significant_only=True))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.94}), cfg, significance=None)
    assert not verdict.passed
    assert "significance unknown: base predictions unavailable" in verdict.failures[0].message


def test_a_regression_no_goal_limits_is_a_warning():
    cfg = _config(auc=Goal("auc", "higher", min=0.5))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95, "f1": 0.8}, {"auc": 0.95, "f1": 0.7}), cfg)
    assert verdict.passed and verdict.status == "warn"
    assert [f.metric for f in verdict.warnings] == ["f1"]
    assert "guessed" in verdict.warnings[0].message


def test_a_goal_whose_metric_disappeared_fails():
    cfg = _config(auc=Goal("auc", "higher", min=0.5))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95, "f1": 0.8}, {"f1": 0.8}), cfg)
    assert not verdict.passed and verdict.failures[0].kind == "missing"


def test_a_goal_for_an_unknown_metric_is_a_warning_naming_it():
    cfg = _config(aucc=Goal("aucc", "higher", min=0.5))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.95}, {"auc": 0.95}), cfg)
    assert verdict.passed and "goal 'aucc'" in verdict.warnings[0].message


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


def test_an_improvement_judged_by_a_guessed_direction_is_a_warning():
    cfg = _config(auc=Goal("auc", "higher", min=0.5))
    verdict = gate.evaluate(_comparison(cfg, {"auc": 0.9, "recall": 0.7}, {"auc": 0.9, "recall": 0.8}), cfg)
    assert verdict.status == "warn"
    assert verdict.warnings[0].kind == "direction" and "recall" in verdict.warnings[0].message


def test_a_ci_is_not_borrowed_by_a_metric_whose_short_name_is_ambiguous():
    cfg = _config(
        **{
            "train.auc": Goal("train.auc", "higher", max_regression=0.001, significant_only=True),
            "test.auc": Goal("test.auc", "higher", max_regression=0.001, significant_only=True),
        }
    )
    comparison = _comparison(cfg, {"train.auc": 0.99, "test.auc": 0.95}, {"train.auc": 0.98, "test.auc": 0.94})
    verdict = gate.evaluate(comparison, cfg, _significance(auc=(-0.002, 0.001)))
    assert all("significance unknown" in f.message for f in verdict.failures) and len(verdict.failures) == 2
