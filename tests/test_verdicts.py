"""Verdict words backed by evidence: each metric bound to the interval that measures it, judged
by that interval (paired or two-sample), and every metric without one says why.

Unit level: real bootstraps of synthetic predictions, metrics laid out as DVCLive writes them
(train/test with the same leaves, a `step` counter), judged by `significance.attach`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlci.analysis import stats
from mlci.analysis.compare import compare_metrics
from mlci.analysis.significance import Evidence, attach
from mlci.store.config import Config, Goal, ModelConfig

FILE = "dvclive/metrics.json"


def _model(**goals: Goal) -> ModelConfig:
    return ModelConfig(name="mlp", metrics=(FILE,), predictions="eval/predictions.csv", goals=dict(goals))


def _sides(rows: int = 600, seed: int = 3, head_strength: float = 0.15, redraw: bool = False):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, rows)
    base = np.clip(rng.normal(0.5 + 0.3 * (label - 0.5), 0.2), 0, 1)
    if redraw:  # the same model on another draw of the evaluation set
        other = np.random.default_rng(seed + 100)
        head_label = other.integers(0, 2, rows)
        head = np.clip(other.normal(0.5 + 0.3 * (head_label - 0.5), 0.2), 0, 1)
        return (label, base), (head_label, head)
    head = np.clip(rng.normal(0.5 + head_strength * (label - 0.5), 0.2), 0, 1)
    return (label, base), (label, head)


def _evidence(base, head, *, paired: bool) -> Evidence:
    if paired:
        intervals = stats.paired_bootstrap("binary", base[0], base[1], head[1], resamples=400)
    else:
        intervals = stats.unpaired_bootstrap("binary", *base, *head, resamples=400)
    sig = stats.Significance(model="mlp", paired=paired, rows=len(head[0]), resamples=400, seed=1, metrics=intervals)
    return Evidence(model="mlp", task="binary", significance=sig)


def _judge(model: ModelConfig, evidence: Evidence, base_values: dict, head_values: dict, measures=None):
    cfg = Config(root=Path("."), models=(model,), path=None)
    deltas = compare_metrics(cfg, {FILE: base_values}, {FILE: head_values})
    return {m.name: m for m in attach(evidence, deltas, measures)}


def _dvclive(intervals: dict, side: str, train_auc: float, step: float) -> dict:
    """What DVCLive writes: train.* and test.* with the same leaves, and the step counter."""
    return {
        "train.auc": train_auc,
        "train.loss": 0.3,
        "test.auc": getattr(intervals["auc"], side),
        "test.accuracy": getattr(intervals["accuracy"], side),
        "step": step,
    }


def test_the_interval_goes_to_the_metric_whose_value_the_predictions_reproduce():
    base, head = _sides()
    evidence = _evidence(base, head, paired=True)
    sig = evidence.significance.metrics
    judged = _judge(_model(), evidence, _dvclive(sig, "base", 0.99, 29), _dvclive(sig, "head", 0.98, 59))
    assert judged["test.auc"].interval is sig["auc"] and judged["test.auc"].tested
    assert judged["train.auc"].interval is None
    assert judged["train.auc"].note == "the predictions measure test.auc, not this metric"
    assert judged["test.auc"].verdict == "regressed"  # head_strength 0.15 < base 0.3: a real drop


def test_a_counter_is_changed_with_no_interval_and_no_footnote():
    base, head = _sides()
    evidence = _evidence(base, head, paired=True)
    sig = evidence.significance.metrics
    judged = _judge(_model(), evidence, _dvclive(sig, "base", 0.99, 29), _dvclive(sig, "head", 0.98, 59))
    step = judged["step"]
    assert (step.verdict, step.interval, step.note, step.direction) == ("changed", None, None, "none")


def test_metrics_not_recomputable_from_predictions_say_so():
    base, head = _sides()
    evidence = _evidence(base, head, paired=True)
    sig = evidence.significance.metrics
    judged = _judge(
        _model(), evidence, _dvclive(sig, "base", 0.99, 29), _dvclive(sig, "head", 0.98, 59) | {"train.loss": 0.2}
    )
    assert judged["train.loss"].note.startswith("not recomputable from the predictions (mlci recomputes auc")
    assert judged["train.loss"].verdict == "improved" and not judged["train.loss"].tested


def test_two_metrics_equal_to_the_recomputed_value_are_ambiguous_and_neither_gets_it():
    base, head = _sides()
    evidence = _evidence(base, head, paired=True)
    sig = evidence.significance.metrics
    base_values = {"train.auc": sig["auc"].base, "test.auc": sig["auc"].base}
    head_values = {"train.auc": sig["auc"].head, "test.auc": sig["auc"].head}
    judged = _judge(_model(), evidence, base_values, head_values)
    assert judged["test.auc"].interval is None and judged["train.auc"].interval is None
    assert "both equal the value recomputed from the predictions" in judged["test.auc"].note


def test_mlci_yaml_can_say_which_metrics_the_predictions_measure():
    base, head = _sides()
    evidence = _evidence(base, head, paired=True)
    sig = evidence.significance.metrics
    base_values = {"train.auc": sig["auc"].base, "test.auc": sig["auc"].base}
    head_values = {"train.auc": sig["auc"].head, "test.auc": sig["auc"].head}
    judged = _judge(_model(), evidence, base_values, head_values, measures="test")
    assert judged["test.auc"].tested
    assert judged["train.auc"].note == "the predictions measure test, not this metric"


def test_a_metric_defined_differently_from_the_recomputed_one_gets_no_interval_and_says_why():
    base, head = _sides()
    evidence = _evidence(base, head, paired=True)
    sig = evidence.significance.metrics
    judged = _judge(
        _model(), evidence, {"test.accuracy": sig["accuracy"].base + 0.05}, {"test.accuracy": sig["accuracy"].head}
    )
    assert judged["test.accuracy"].interval is None
    assert "(another threshold or definition?)" in judged["test.accuracy"].note


def test_an_alias_such_as_roc_auc_is_bound():
    base, head = _sides()
    evidence = _evidence(base, head, paired=True)
    sig = evidence.significance.metrics
    judged = _judge(_model(), evidence, {"val/roc_auc": sig["auc"].base}, {"val/roc_auc": sig["auc"].head})
    assert judged["val/roc_auc"].interval is sig["auc"]


def test_a_redrawn_evaluation_set_with_the_same_model_is_no_significant_change():
    base, head = _sides(rows=400, redraw=True)
    evidence = _evidence(base, head, paired=False)
    sig = evidence.significance.metrics
    judged = _judge(_model(), evidence, {"test.auc": sig["auc"].base}, {"test.auc": sig["auc"].head})
    auc = judged["test.auc"]
    assert auc.delta != 0 and auc.tested and not auc.paired
    assert auc.verdict == "not_significant"
    assert auc.interval.ci_low < 0 < auc.interval.ci_high


def test_a_real_change_on_a_redrawn_evaluation_set_is_still_found():
    rng = np.random.default_rng(8)
    label_b, label_h = rng.integers(0, 2, 800), rng.integers(0, 2, 800)
    base = (label_b, np.clip(rng.normal(0.5 + 0.1 * (label_b - 0.5), 0.2), 0, 1))
    head = (label_h, np.clip(rng.normal(0.5 + 0.5 * (label_h - 0.5), 0.2), 0, 1))
    evidence = _evidence(base, head, paired=False)
    sig = evidence.significance.metrics
    judged = _judge(_model(), evidence, {"test.auc": sig["auc"].base}, {"test.auc": sig["auc"].head})
    assert judged["test.auc"].verdict == "improved" and judged["test.auc"].tested


def test_without_predictions_every_judged_metric_says_not_tested_and_why():
    model = ModelConfig(name="m", metrics=(FILE,))
    judged = _judge(model, Evidence(model="m", task="binary"), {"test.auc": 0.8}, {"test.auc": 0.9})
    assert judged["test.auc"].verdict == "improved" and not judged["test.auc"].tested
    assert "no predictions" in judged["test.auc"].note


@pytest.mark.parametrize(
    ("verdict", "tested", "source", "words"),
    [
        ("improved", True, "config", "▲ improved"),
        ("improved", False, "name", "▲ improved (not tested)"),
        ("regressed", False, "config", "▼ regressed (not tested)"),
        ("not_significant", True, "config", "≈ no significant change"),
        ("changed", False, "counter", "~ changed (counter)"),
        ("changed", False, "unknown", "~ changed (no direction)"),
    ],
)
def test_every_renderer_uses_the_same_words(verdict, tested, source, words):
    from dataclasses import replace

    from mlci.report.format import verdict_label

    cfg = Config(root=Path("."), models=(ModelConfig(name="m", metrics=(FILE,)),), path=None)
    [m] = compare_metrics(cfg, {FILE: {"x": 1.0}}, {FILE: {"x": 2.0}})
    assert verdict_label(replace(m, verdict=verdict, tested=tested, direction_source=source)) == words
