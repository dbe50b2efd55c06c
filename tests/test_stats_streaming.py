"""The large-data bootstrap path (float32 columns, chunks drawn a few at a time) says what the exact path says."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mlci.analysis import stats


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(7)
    label = rng.integers(0, 2, 20_000)
    base = np.clip(rng.random(20_000) * 0.6 + label * 0.3, 0, 1)
    head = np.clip(base + rng.normal(0, 0.05, 20_000), 0, 1)
    return label, np.round(base, 3), np.round(head, 3)  # rounded: ties, as real scores have


def test_float32_path_point_estimates_are_sklearns(scored):
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    label, base, head = scored
    fast = stats.paired_bootstrap("binary", label, base, head, resamples=50, exact_auc=False)
    for side, score in (("base", base), ("head", head)):
        assert getattr(fast["auc"], side) == pytest.approx(roc_auc_score(label, score), abs=1e-9)
        assert getattr(fast["accuracy"], side) == pytest.approx(accuracy_score(label, score >= 0.5), abs=1e-12)
        assert getattr(fast["f1"], side) == pytest.approx(f1_score(label, score >= 0.5), abs=1e-12)
        assert getattr(fast["logloss"], side) == pytest.approx(log_loss(label, score), abs=1e-9)


def test_float32_path_intervals_match_the_exact_path_within_monte_carlo_error(scored):
    label, base, head = scored
    exact = stats.paired_bootstrap("binary", label, base, head, resamples=400, exact_auc=True)
    fast = stats.paired_bootstrap("binary", label, base, head, resamples=400, exact_auc=False)
    for metric in ("auc", "accuracy", "logloss"):
        width = exact[metric].ci_high - exact[metric].ci_low
        assert fast[metric].ci_low == pytest.approx(exact[metric].ci_low, abs=0.15 * width)
        assert fast[metric].ci_high == pytest.approx(exact[metric].ci_high, abs=0.15 * width)
        assert fast[metric].significant == exact[metric].significant


def test_chunks_are_drawn_only_a_few_ahead_of_the_results():
    drawn = []

    def items():
        for i in range(20):
            drawn.append(i)
            yield i

    def work(i):
        assert len(drawn) <= i + 4  # never more than `ahead` items drawn past the one being worked on
        return i * i

    with ThreadPoolExecutor(2) as pool:
        assert stats._bounded_map(pool, work, items(), 4) == [i * i for i in range(20)]
