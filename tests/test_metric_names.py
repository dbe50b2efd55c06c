"""Directions by whole words: a metric's name is split into words and looked up in tables of
the names ML metrics use; substrings never decide, counters and clocks are never judged."""

from __future__ import annotations

import pytest

from mlci.model import metric_names


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        # contain "wer", "cer", "time": the substrings that used to decide
        ("answer_accuracy", "higher"),
        ("cancer_recall", "higher"),
        ("uptime", "higher"),
        ("Answer-Accuracy", "higher"),
        # higher
        ("test.auc", "higher"),
        ("val/roc_auc", "higher"),
        ("f1_macro", "higher"),
        ("valF1Score", "higher"),
        ("ndcg@10", "higher"),
        ("map@5", "higher"),
        ("bleu", "higher"),
        ("rougeL", "higher"),
        ("r2", "higher"),
        ("iou", "higher"),
        ("dice", "higher"),
        ("precision", "higher"),
        ("true_positive_rate", "higher"),
        # lower
        ("train.loss", "lower"),
        ("val_loss", "lower"),
        ("rmse", "lower"),
        ("mae", "lower"),
        ("mape", "lower"),
        ("wer", "lower"),
        ("cer", "lower"),
        ("perplexity", "lower"),
        ("p95_latency_seconds", "lower"),
        ("fpr", "lower"),
        ("false_positive_rate", "lower"),
        ("brier", "lower"),
        ("ece", "lower"),
        ("error_rate", "lower"),
        ("n_errors", "lower"),
    ],
)
def test_known_metric_names_have_their_direction(name: str, direction: str):
    assert metric_names.direction(name) == direction


@pytest.mark.parametrize(
    "name",
    [
        "step",
        "epoch",
        "epochs",
        "global_step",
        "iteration",
        "n_samples",
        "num_trees",
        "timestamp",
        "train_time",
        "duration",
        "elapsed",
    ],
)
def test_counters_and_clocks_have_no_direction(name: str):
    assert metric_names.is_counter(name)
    assert metric_names.direction(name) == "none"


@pytest.mark.parametrize("name", ["power", "temperature", "my_metric", "weight_norm"])
def test_names_no_table_knows_have_no_direction(name: str):
    assert metric_names.direction(name) is None
    assert not metric_names.is_counter(name)


def test_names_split_on_separators_and_camel_case():
    assert metric_names.words("val/F1Score_macro-avg.top5") == ["val", "f1", "score", "macro", "avg", "top5"]
