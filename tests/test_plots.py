"""Plots are deterministic PNGs: same inputs, same bytes; no metadata; no pyplot."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest

from mlci.report import plots


def _chunks(png: bytes) -> list[bytes]:
    """PNG chunk types, in order."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    names, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset : offset + 4])
        names.append(png[offset + 4 : offset + 8])
        offset += 12 + length
    return names


@pytest.fixture(scope="module")
def sides():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, 500)
    base = np.clip(rng.random(500) * 0.6 + label * 0.3, 0, 1)
    head = np.clip(base + rng.normal(0, 0.1, 500), 0, 1)
    return (label, base), (label, head)


BINARY = [plots.roc, plots.precision_recall, plots.calibration, plots.confusion]


@pytest.mark.parametrize("draw", BINARY, ids=lambda f: f.__name__)
def test_binary_plots_give_the_same_bytes_for_the_same_inputs(draw, sides):
    base, head = sides
    first = draw(base, head)
    assert first == draw(base, head)
    assert first != draw(None, head)  # head alone is a different picture


@pytest.mark.parametrize("draw", [plots.residuals, plots.predicted_vs_actual], ids=lambda f: f.__name__)
def test_regression_plots_are_deterministic(draw):
    truth = np.linspace(0, 10, 300)
    predicted = truth + np.sin(truth)
    assert draw((truth, truth + 0.5), (truth, predicted)) == draw((truth, truth + 0.5), (truth, predicted))


def test_pngs_carry_no_software_or_time_metadata(sides):
    png = plots.roc(*sides)
    assert b"tIME" not in _chunks(png) and b"tEXt" not in _chunks(png) and b"iTXt" not in _chunks(png)
    assert b"matplotlib" not in png.lower()


def test_feature_importance_and_training_curves_accept_a_missing_base():
    head = {f"f{i}": float(i) for i in range(30)}
    assert plots.feature_importance(None, head).startswith(b"\x89PNG")
    assert plots.feature_importance({"f1": 3.0}, head) != plots.feature_importance(None, head)
    curve = {"iteration": [1, 2, 3], "valid_auc": [0.7, 0.8, 0.85], "train_logloss": [0.6, 0.5, 0.4]}
    assert plots.training_curves(None, curve) == plots.training_curves(None, curve)


def test_plotting_never_imports_pyplot():
    code = (
        "import sys, numpy as np; from mlci.report import plots; y = np.array([0, 1, 0, 1]); "
        "plots.roc((y, y * 0.5), (y, y * 0.9)); print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_feature_importance_compares_shares_of_total_not_raw_totals():
    base = {"f1": 30.0, "f2": 20.0, "f3": 10.0}
    more_trees = {k: v * 2.5 for k, v in base.items()}  # same model shape, 2.5x the trees: 2.5x the gain
    assert plots.share_of_total(more_trees) == pytest.approx({"f1": 0.5, "f2": 1 / 3, "f3": 1 / 6})
    assert plots.feature_importance(base, more_trees) == plots.feature_importance(base, base)


@pytest.mark.parametrize("decimals", [None, 2], ids=["distinct-scores", "tied-scores"])
def test_roc_and_pr_curves_are_the_ones_sklearn_draws(decimals):
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    rng = np.random.default_rng(3)
    label = rng.integers(0, 2, 5000)
    score = np.clip(rng.random(5000) * 0.6 + label * 0.3, 0, 1)
    score = score if decimals is None else np.round(score, decimals)
    fpr, tpr, auc = plots.roc_points(label, score)
    sk_fpr, sk_tpr, _ = roc_curve(label, score)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert auc == pytest.approx(roc_auc_score(label, score), abs=1e-12)
    precision, recall, ap = plots.pr_points(label, score)
    sk_precision, sk_recall, _ = precision_recall_curve(label, score)
    np.testing.assert_allclose(precision, sk_precision)
    np.testing.assert_allclose(recall, sk_recall)
    assert ap == pytest.approx(average_precision_score(label, score), abs=1e-12)
