"""The bootstrap against a slow, obviously-correct reference: a loop over the same resample
weights, each metric recomputed by sklearn.metrics with `sample_weight`."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from mlci.analysis import stats


def _binary_reference(label, score, weights) -> dict[str, float]:
    predicted = (score >= 0.5).astype(int)
    return {
        "auc": skm.roc_auc_score(label, score, sample_weight=weights),
        "accuracy": skm.accuracy_score(label, predicted, sample_weight=weights),
        "f1": skm.f1_score(label, predicted, sample_weight=weights, zero_division=0),
        "precision": skm.precision_score(label, predicted, sample_weight=weights, zero_division=0),
        "recall": skm.recall_score(label, predicted, sample_weight=weights),
        "logloss": skm.log_loss(label, np.clip(score, 1e-15, 1 - 1e-15), sample_weight=weights),
    }


def _regression_reference(label, score, weights) -> dict[str, float]:
    return {
        "rmse": float(np.sqrt(skm.mean_squared_error(label, score, sample_weight=weights))),
        "mae": skm.mean_absolute_error(label, score, sample_weight=weights),
        "r2": skm.r2_score(label, score, sample_weight=weights),
    }


def _multiclass_reference(label, predicted, weights, classes=(0, 1, 2)) -> dict[str, float]:
    labels = list(classes)
    per_class = {
        kind: fn(label, predicted, labels=labels, average=None, sample_weight=weights, zero_division=0)
        for kind, fn in (("precision", skm.precision_score), ("recall", skm.recall_score), ("f1", skm.f1_score))
    }
    values = {f"{kind}_{c}": float(per_class[kind][i]) for i, c in enumerate(labels) for kind in per_class}
    for average in ("macro", "micro"):
        values[f"{average}_f1"] = skm.f1_score(
            label, predicted, labels=labels, average=average, sample_weight=weights, zero_division=0
        )
    values["macro_precision"] = skm.precision_score(
        label, predicted, labels=labels, average="macro", sample_weight=weights, zero_division=0
    )
    values["macro_recall"] = skm.recall_score(
        label, predicted, labels=labels, average="macro", sample_weight=weights, zero_division=0
    )
    values["accuracy"] = skm.accuracy_score(label, predicted, sample_weight=weights)
    return values


def reference_paired_ci(task, label, base, head, resamples, seed, chunk=None):
    """Loop over resamples; weights are 2 × the bits `stats.weight_chunks` hands out."""
    metric_fn = {"binary": _binary_reference, "regression": _regression_reference, "multiclass": _multiclass_reference}[
        task
    ]
    deltas: dict[str, list[float]] = {}
    for bits in stats.weight_chunks(len(label), resamples, seed, chunk):
        for row in bits:
            weights = 2.0 * row
            b, h = metric_fn(label, base, weights), metric_fn(label, head, weights)
            for name in b:
                deltas.setdefault(name, []).append(h[name] - b[name])
    return {name: tuple(np.percentile(values, [2.5, 97.5])) for name, values in deltas.items()}


@pytest.fixture
def binary_data():
    rng = np.random.default_rng(7)
    n = 400
    label = rng.integers(0, 2, n)
    base = np.round(np.clip(rng.random(n) * 0.7 + label * 0.25, 0, 1), 2)  # rounded: many ties
    head = np.round(np.clip(base + rng.normal(0.03, 0.08, n) * (2 * label - 1), 0, 1), 2)
    return label, base, head


def test_paired_ci_of_every_binary_metric_matches_the_reference(binary_data):
    label, base, head = binary_data
    got = stats.paired_bootstrap("binary", label, base, head, resamples=80, seed=3, chunk=32)
    expected = reference_paired_ci("binary", label, base, head, 80, 3, chunk=32)
    for name, (low, high) in expected.items():
        assert got[name].ci_low == pytest.approx(low, abs=1e-9), name
        assert got[name].ci_high == pytest.approx(high, abs=1e-9), name


def test_point_estimates_are_sklearns_on_the_unweighted_rows(binary_data):
    label, base, head = binary_data
    got = stats.paired_bootstrap("binary", label, base, head, resamples=10)
    expected = _binary_reference(label, head, np.ones(len(label)))
    for name, value in expected.items():
        assert got[name].head == pytest.approx(value, abs=1e-12), name


def test_paired_ci_of_regression_metrics_matches_the_reference():
    rng = np.random.default_rng(11)
    label = rng.normal(10, 3, 300)
    base = label + rng.normal(0, 1.0, 300)
    head = label + rng.normal(0, 0.8, 300)
    got = stats.paired_bootstrap("regression", label, base, head, resamples=150, seed=5)
    expected = reference_paired_ci("regression", label, base, head, 150, 5)
    for name, (low, high) in expected.items():
        assert got[name].ci_low == pytest.approx(low, abs=1e-9), name
        assert got[name].ci_high == pytest.approx(high, abs=1e-9), name


def test_fast_auc_agrees_with_the_exact_reference_within_a_small_share_of_the_ci():
    rng = np.random.default_rng(3)
    n = 10_000
    label = rng.integers(0, 2, n)
    base = rng.random(n) * 0.6 + label * 0.3
    head = base + rng.normal(0, 0.05, n)
    fast = stats.paired_bootstrap("binary", label, base, head, metrics=("auc",), resamples=60, seed=1, exact_auc=False)[
        "auc"
    ]
    exact = reference_paired_ci("binary", label, base, head, 60, 1)["auc"]
    width = exact[1] - exact[0]
    assert abs(fast.ci_low - exact[0]) < 0.02 * width
    assert abs(fast.ci_high - exact[1]) < 0.02 * width


def test_same_seed_gives_the_same_numbers_and_another_seed_other_numbers(binary_data):
    label, base, head = binary_data
    first = stats.paired_bootstrap("binary", label, base, head, resamples=100, seed=1)
    again = stats.paired_bootstrap("binary", label, base, head, resamples=100, seed=1)
    other = stats.paired_bootstrap("binary", label, base, head, resamples=100, seed=2)
    assert first == again
    assert first["auc"].ci_low != other["auc"].ci_low


def test_weights_have_the_bootstrap_mean_and_variance():
    bits = np.concatenate(list(stats.weight_chunks(5000, 200, seed=9)))
    weights = 2.0 * bits
    assert bits.shape == (200, 5000)
    assert weights.mean() == pytest.approx(1.0, abs=0.01)
    assert weights.var() == pytest.approx(1.0, abs=0.01)


def test_identical_models_have_a_zero_width_ci_and_no_significance(binary_data):
    label, base, _head = binary_data
    result = stats.paired_bootstrap("binary", label, base, base.copy(), resamples=50)
    assert result["auc"].ci_low == 0 and result["auc"].ci_high == 0
    assert result["auc"].significant is False


def test_a_clearly_better_model_is_significant():
    rng = np.random.default_rng(1)
    label = rng.integers(0, 2, 3000)
    base = rng.random(3000) * 0.8 + label * 0.2
    head = rng.random(3000) * 0.5 + label * 0.5
    result = stats.paired_bootstrap("binary", label, base, head, resamples=200)
    assert result["auc"].significant is True and result["auc"].ci_low > 0
    assert result["logloss"].ci_high < 0


def test_unpaired_bootstrap_gives_each_side_its_own_ci_and_a_ci_of_the_difference(binary_data):
    label, base, head = binary_data
    result = stats.unpaired_bootstrap("binary", label[:300], base[:300], label[100:], head[100:], resamples=100)
    auc = result["auc"]
    assert auc.base_ci[0] <= auc.base <= auc.base_ci[1]
    assert auc.head_ci[0] <= auc.head <= auc.head_ci[1]
    assert auc.ci_low < auc.delta < auc.ci_high
    assert auc.significant == (auc.ci_low > 0 or auc.ci_high < 0)


def _two_sample_reference(metric, base, head, resamples: int, seed: int) -> tuple[float, float]:
    """The textbook two-sample bootstrap, written independently: multinomial resampling of each
    side's rows with its own generator, the metric recomputed by sklearn, percentiles of Δ."""
    rng = np.random.default_rng(seed)
    deltas = []
    for _ in range(resamples):
        b = rng.integers(0, len(base[0]), len(base[0]))
        h = rng.integers(0, len(head[0]), len(head[0]))
        deltas.append(metric(head[0][h], head[1][h]) - metric(base[0][b], base[1][b]))
    low, high = np.percentile(deltas, [2.5, 97.5])
    return float(low), float(high)


def _agree_within_monte_carlo_error(ours, reference, draws_sd: float, resamples: int) -> None:
    """A 2.5 % / 97.5 % bootstrap quantile has a Monte-Carlo SE of about 0.06 sd at 2,000
    resamples; ours and the reference are independent, so allow 5 SE of their difference."""
    tolerance = 5 * 0.06 * draws_sd * np.sqrt(2) * np.sqrt(2000 / resamples)
    assert abs(ours[0] - reference[0]) < tolerance, (ours, reference, tolerance)
    assert abs(ours[1] - reference[1]) < tolerance, (ours, reference, tolerance)


@pytest.mark.parametrize(
    ("task", "metric_name"),
    [("binary", "auc"), ("binary", "accuracy"), ("regression", "rmse"), ("multiclass", "macro_f1")],
)
def test_the_two_sample_interval_matches_an_independent_implementation(task, metric_name):
    rng = np.random.default_rng(5)
    n_base, n_head, resamples = 500, 400, 2000

    def draw(n, strength):
        if task == "binary":
            label = rng.integers(0, 2, n)
            return label, np.clip(rng.normal(0.5 + strength * (label - 0.5), 0.25), 0, 1)
        if task == "regression":
            label = rng.normal(0, 1, n)
            return label, label + rng.normal(0, 1 - strength, n)
        label = rng.integers(0, 3, n)
        return label, np.where(rng.random(n) < 0.4 + strength, label, rng.integers(0, 3, n))

    base, head = draw(n_base, 0.5), draw(n_head, 0.6)
    metric = {
        "auc": skm.roc_auc_score,
        "accuracy": lambda y, s: skm.accuracy_score(y, s >= 0.5),
        "rmse": lambda y, s: float(np.sqrt(skm.mean_squared_error(y, s))),
        "macro_f1": lambda y, s: skm.f1_score(y, s, average="macro", labels=[0, 1, 2], zero_division=0),
    }[metric_name]
    ours = stats.unpaired_bootstrap(task, *base, *head, resamples=resamples)[metric_name]
    reference = _two_sample_reference(metric, base, head, resamples, seed=1)
    sd = (reference[1] - reference[0]) / (2 * 1.96)
    _agree_within_monte_carlo_error((ours.ci_low, ours.ci_high), reference, sd, resamples)
    assert ours.delta == pytest.approx(metric(*head) - metric(*base))


def test_the_two_sample_interval_is_seeded_like_the_paired_one(binary_data):
    label, base, head = binary_data
    first = stats.unpaired_bootstrap("binary", label[:300], base[:300], label[100:], head[100:], resamples=200)
    again = stats.unpaired_bootstrap("binary", label[:300], base[:300], label[100:], head[100:], resamples=200)
    other = stats.unpaired_bootstrap("binary", label[:300], base[:300], label[100:], head[100:], resamples=200, seed=7)
    assert first == again and first["auc"].ci_low != other["auc"].ci_low


def test_resamples_without_a_positive_are_counted_not_crashing():
    label = np.array([0] * 30 + [1])
    score = np.linspace(0, 1, 31)
    result = stats.paired_bootstrap("binary", label, score, score[::-1].copy(), metrics=("auc",), resamples=200)
    assert 0 < result["auc"].undefined_resamples < 200


@pytest.fixture
def multiclass_data():
    rng = np.random.default_rng(11)
    n = 300
    label = rng.integers(0, 3, n)
    base = np.where(rng.random(n) < 0.6, label, rng.integers(0, 3, n))  # predicted classes
    head = np.where(rng.random(n) < 0.75, label, base)
    return label, base, head


def test_paired_ci_of_per_class_macro_and_micro_metrics_matches_the_reference(multiclass_data):
    label, base, head = multiclass_data
    got = stats.paired_bootstrap("multiclass", label, base, head, resamples=60, seed=5, chunk=16)
    expected = reference_paired_ci("multiclass", label, base, head, 60, 5, chunk=16)
    assert set(got) == set(expected) >= {"macro_f1", "micro_f1", "f1_0", "precision_2", "recall_1"}
    for name, (low, high) in expected.items():
        assert (got[name].ci_low, got[name].ci_high) == pytest.approx((low, high), abs=1e-9), name
    point = _multiclass_reference(label, head, np.ones(len(label)))
    assert got["macro_f1"].head == pytest.approx(point["macro_f1"], abs=1e-12)
