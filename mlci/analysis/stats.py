"""Is a metric's change real? Bootstrap confidence intervals, paired when the rows are the same.

When base and head scored the same rows, each resample re-weights *the same rows* for both
models (a paired bootstrap), so row-to-row difficulty cancels and the CI of Δ is tight. When
the rows differ (a redrawn or changed evaluation set), each side is resampled independently and
the CI of Δ is that of the difference of the two draws (a two-sample bootstrap): wider, because
it carries the noise of drawing two evaluation sets.

Weights: each row gets weight 0 or 2 with probability ½ (the "double-or-nothing" bootstrap,
Owen & Eckles 2012): like the multinomial bootstrap's counts, the weights have mean 1 and
variance 1, so the CIs agree with the classical bootstrap, but a weight costs one random bit
instead of a random index, which is what makes 1M rows × 1,000 resamples take seconds. Every
metric here is a ratio of weighted sums, so computing with 0/1 (half the weights) is the same.

* count/average metrics (accuracy, precision, recall, f1, logloss, rmse, mae, r2) are one
  weights-matrix × per-row-columns product per chunk of resamples (BLAS);
* AUC, exact (`exact_auc=True`, the default while rows × resamples <= `EXACT_AUC_BUDGET`):
  rows sorted by score once; per resample the weighted Mann-Whitney statistic
  `sum_pos w_i * (neg weight below i + half the tied)` via a cumulative sum, ties included;
* AUC, fast (larger problems): rank once, then per resample the weighted mean of the DeLong
  placement values (each positive's share of negatives below it, each negative's share of
  positives above it), i.e. the weights matrix × the placement vector. This is the first-order
  (Hájek) expansion of the weighted Mann-Whitney statistic: its error is O(1/n) relative, far
  below the CI's width, O(1/sqrt(n)), for the large n where it is used.

* multi-class (`task: multiclass`, score = the predicted class): per class, the weighted
  counts of true positives, predicted and actual rows give precision, recall and F1 of each
  class, their unweighted means (macro) and accuracy (= micro F1 = micro precision/recall for
  single-label data); undefined ratios count as 0, as sklearn's `zero_division=0` does.

Weights come in chunks of resamples from per-chunk seeds derived from one fixed seed, so the
numbers are reproducible; chunks bound the memory. Pure numpy, imported lazily.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 20240611
CONFIDENCE = 0.95
BINARY_METRICS = ("auc", "accuracy", "f1", "precision", "recall", "logloss")
REGRESSION_METRICS = ("rmse", "mae", "r2")
MULTICLASS_AVERAGES = ("accuracy", "macro_f1", "micro_f1", "macro_precision", "macro_recall")
THRESHOLD = 0.5  # the example's evaluate.py: predicted positive when score >= 0.5
# rows × resamples up to which AUC is computed exactly: 2,000 rows at 1,000 resamples. Above it the
# placement expansion (error O(1/n), far inside the CI) is 30x faster: 20,000 rows took 5.6 s exact.
EXACT_AUC_BUDGET = 2_000_000
_EPS = 1e-15  # logloss clipping, as sklearn and the example's evaluate.py do
_CHUNK_ELEMENTS = 32 * 1024 * 1024  # rows × resamples per chunk (float32: 128 MiB)


@dataclass(frozen=True)
class MetricInterval:
    """One metric's bootstrap result: the CI of Δ = head − base (paired, or two-sample when the
    rows differ) and each side's own CI."""

    metric: str
    base: float | None
    head: float | None
    delta: float | None
    ci_low: float | None = None  # CI of Δ
    ci_high: float | None = None
    base_ci: tuple[float, float] | None = None
    head_ci: tuple[float, float] | None = None
    significant: bool | None = None  # the CI of Δ excludes 0 (None: no CI of Δ)
    undefined_resamples: int = 0  # resamples where the metric had no value (e.g. one class)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["base_ci"] = list(self.base_ci) if self.base_ci else None
        data["head_ci"] = list(self.head_ci) if self.head_ci else None
        return data


@dataclass
class Significance:
    """The bootstrap of one model's metrics, or the reason it was skipped."""

    model: str
    paired: bool
    rows: int
    resamples: int
    seed: int
    confidence: float = CONFIDENCE
    metrics: dict[str, MetricInterval] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "paired": self.paired,
            "rows": self.rows,
            "resamples": self.resamples,
            "seed": self.seed,
            "confidence": self.confidence,
            "skipped": self.skipped,
            "notes": list(self.notes),
            "metrics": {k: v.to_dict() for k, v in self.metrics.items()},
        }


# --- weights ----------------------------------------------------------------------------


def chunk_size(rows: int) -> int:
    return max(1, min(1024, _CHUNK_ELEMENTS // max(rows, 1)))


def _packed_chunks(rows: int, resamples: int, seed: int, chunk: int | None) -> Iterator[np.ndarray]:
    """Random bits, (chunk, ceil(rows / 8)) uint8: one bit per row per resample."""
    import numpy as np

    chunk = chunk or chunk_size(rows)
    width = -(-rows // 8)
    n_chunks = -(-resamples // chunk)
    for i, child in enumerate(np.random.SeedSequence(seed).spawn(n_chunks)):
        k = min(chunk, resamples - i * chunk)
        generator = np.random.Generator(np.random.PCG64(child))
        yield np.frombuffer(generator.bytes(k * width), dtype=np.uint8).reshape(k, width)


def weight_chunks(
    rows: int, resamples: int, seed: int = DEFAULT_SEED, chunk: int | None = None
) -> Iterator[np.ndarray]:
    """Bootstrap weights halved, as (chunk, rows) uint8 arrays of 0/1; `resamples` rows in all.

    The real weights are twice these (0 or 2); every metric here is a ratio, so the factor
    cancels. Deterministic for a given (rows, resamples, seed, chunk).
    """
    import numpy as np

    for packed in _packed_chunks(rows, resamples, seed, chunk):
        yield np.unpackbits(packed, axis=1, count=rows)


# --- metrics from weights -----------------------------------------------------------------


def _tie_groups(label, score):
    """Sort order by score, whether each sorted row is positive, and where tie groups start."""
    import numpy as np

    order = np.argsort(score)  # the order inside a tie group does not matter: groups are summed
    sorted_score = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    return order, label[order] == 1, starts


class _ExactAuc:
    """Weighted Mann-Whitney per resample: cumulative negative weight in score order."""

    def __init__(self, groups):
        self.order, self.pos, starts = groups
        self.starts = starts if len(starts) < len(self.order) else None  # None: no ties

    def __call__(self, weights) -> np.ndarray:
        """AUC per weights row; rows in slices of about 4M elements to bound the float64 temporaries."""
        import numpy as np

        step = max(1, (4 << 20) // max(1, weights.shape[1]))
        return np.concatenate([self._auc(weights[i : i + step]) for i in range(0, weights.shape[0], step)])

    def _auc(self, weights) -> np.ndarray:
        import numpy as np

        w = weights[:, self.order].astype(np.float64)
        pw = w * self.pos
        nw = w - pw
        if self.starts is not None:
            pw = np.add.reduceat(pw, self.starts, axis=1)
            nw = np.add.reduceat(nw, self.starts, axis=1)
        below = np.cumsum(nw, axis=1)
        total_neg = below[:, -1].copy()
        below -= 0.5 * nw  # negatives strictly below, plus half of those tied
        numerator = np.einsum("ij,ij->i", pw, below)
        with np.errstate(invalid="ignore", divide="ignore"):
            return numerator / (pw.sum(axis=1) * total_neg)


def _placements(groups):
    """DeLong placement values: per positive, the share of negatives below it (ties ½);
    per negative, the share of positives above it. Their means are both the AUC."""
    import numpy as np

    order, pos, starts = groups
    group_of = np.zeros(len(order), dtype=np.int64)
    group_of[starts[1:]] = 1
    np.cumsum(group_of, out=group_of)
    pos_in = np.bincount(group_of, weights=pos, minlength=len(starts))
    neg_in = np.bincount(group_of, weights=~pos, minlength=len(starts))
    n_pos, n_neg = pos_in.sum(), neg_in.sum()
    # in place (1M rows: a dozen fewer 8 MB temporaries), the same operations in the same order
    with np.errstate(invalid="ignore", divide="ignore"):
        v10 = np.cumsum(neg_in)  # (negatives below + ½ tied) / negatives
        v10 -= neg_in
        v10 += 0.5 * neg_in
        v10 /= n_neg
        v01 = np.cumsum(pos_in)  # (positives above + ½ tied) / positives
        np.subtract(n_pos, v01, out=v01)
        v01 += 0.5 * pos_in
        v01 /= n_pos
    del pos_in, neg_in
    in_order = v10[group_of]
    negative = ~pos
    in_order[negative] = v01[group_of[negative]]
    values = np.empty(len(order))
    values[order] = in_order
    return values


def _binary_columns(label, score, placement=None):
    """Per-row vectors whose weighted sums give every binary metric (and the fast AUC)."""
    import numpy as np

    predicted = score >= THRESHOLD
    positive = label == 1
    clipped = np.clip(score, _EPS, 1 - _EPS)
    loss = -(positive * np.log(clipped) + (~positive) * np.log(1 - clipped))
    columns = [
        predicted & positive,
        predicted & ~positive,
        ~predicted & positive,
        np.ones_like(score, dtype=bool),
        loss,
    ]
    if placement is not None:
        columns += [np.where(positive, placement, 0.0), np.where(positive, 0.0, placement)]
    return columns


def _matrix(columns: list, dtype: Any = None):
    """The per-row columns as one (rows, k) matrix, filled column by column (no float64 copy
    of the whole when `dtype` is float32, which is what keeps 1M-row peaks bounded), and for
    float32 the float64 column totals the point estimate uses; (matrix, None) for float64."""
    import numpy as np

    dtype = np.dtype(dtype or np.float64)
    out = np.empty((len(columns[0]), len(columns)), dtype=dtype)
    totals = None if dtype == np.float64 else np.empty(len(columns))
    for i, column in enumerate(columns):
        out[:, i] = column
        if totals is not None:
            totals[i] = np.sum(column, dtype=np.float64)
    return out, totals


def _binary_from_sums(sums, point_auc: float | None) -> dict[str, Any]:
    import numpy as np

    tp, fp, fn, total, loss = (sums[:, i] for i in range(5))
    tn = total - tp - fp - fn
    with np.errstate(invalid="ignore", divide="ignore"):
        values = {
            "precision": np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0),
            "recall": np.where(tp + fn > 0, tp / np.where(tp + fn > 0, tp + fn, 1), np.nan),
            "f1": np.where(2 * tp + fp + fn > 0, 2 * tp / np.where(2 * tp + fp + fn > 0, 2 * tp + fp + fn, 1), 0.0),
            "accuracy": (tp + tn) / total,
            "logloss": loss / total,
        }
        if sums.shape[1] > 5:
            w_pos, w_neg = tp + fn, total - tp - fn
            values["auc"] = sums[:, 5] / w_pos + sums[:, 6] / w_neg - point_auc
    return values


def classes_of(*arrays) -> list:
    """The sorted classes seen in any of `arrays` (labels and predicted classes of both sides)."""
    import numpy as np

    return sorted(set(np.concatenate([np.asarray(a).ravel() for a in arrays]).tolist()))


def class_name(value) -> str:
    """`2.0` → `2`: class ids read from CSV as floats name metrics as integers."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def multiclass_metrics(classes: list) -> tuple[str, ...]:
    per_class = tuple(f"{kind}_{class_name(c)}" for c in classes for kind in ("precision", "recall", "f1"))
    return MULTICLASS_AVERAGES + per_class


def _multiclass_columns(label, score, classes):
    import numpy as np

    columns = []
    for c in classes:
        actual, predicted = label == c, score == c
        columns += [actual & predicted, predicted, actual]
    columns.append(np.ones(len(label), dtype=bool))
    return columns


def _multiclass_from_sums(sums, classes) -> dict[str, Any]:
    import numpy as np

    total = sums[:, -1]
    values: dict[str, Any] = {}
    precisions, recalls, f1s = [], [], []
    with np.errstate(invalid="ignore", divide="ignore"):
        for i, c in enumerate(classes):
            tp, predicted, actual = sums[:, 3 * i], sums[:, 3 * i + 1], sums[:, 3 * i + 2]
            precision = np.where(predicted > 0, tp / np.where(predicted > 0, predicted, 1), 0.0)
            recall = np.where(actual > 0, tp / np.where(actual > 0, actual, 1), 0.0)
            f1 = np.where(predicted + actual > 0, 2 * tp / np.where(predicted + actual > 0, predicted + actual, 1), 0.0)
            name = class_name(c)
            values[f"precision_{name}"], values[f"recall_{name}"], values[f"f1_{name}"] = precision, recall, f1
            precisions.append(precision)
            recalls.append(recall)
            f1s.append(f1)
        correct = sum(sums[:, 3 * i] for i in range(len(classes)))
        values["accuracy"] = correct / total
    values["micro_f1"] = values["accuracy"]
    values["macro_precision"] = np.mean(precisions, axis=0)
    values["macro_recall"] = np.mean(recalls, axis=0)
    values["macro_f1"] = np.mean(f1s, axis=0)
    return values


def _regression_columns(label, score):
    import numpy as np

    error = score - label
    return [error**2, np.abs(error), label, label**2, np.ones_like(label)]


def _regression_from_sums(sums) -> dict[str, Any]:
    import numpy as np

    sse, sae, sy, syy, total = (sums[:, i] for i in range(5))
    with np.errstate(invalid="ignore", divide="ignore"):
        sst = syy - sy**2 / total
        r2 = np.where(sst > 0, 1 - sse / np.where(sst > 0, sst, 1), np.nan)
        return {"rmse": np.sqrt(sse / total), "mae": sae / total, "r2": r2}


class _Evaluator:
    """All metrics of one (label, score) pair, for a batch of weight vectors."""

    def __init__(
        self,
        task: str,
        label,
        score,
        metrics: tuple[str, ...],
        *,
        exact_auc: bool = True,
        classes: list | None = None,
        dtype: Any = None,
    ):

        self.task = task
        self.classes = classes
        self.metrics = metrics
        self.exact_auc = None
        self.point_auc = None
        if task == "binary":
            placement = None
            if "auc" in metrics:
                groups = _tie_groups(label, score)
                if exact_auc:
                    self.exact_auc = _ExactAuc(groups)
                else:
                    placement = _placements(groups)
                    positive = label == 1
                    self.point_auc = float(placement[positive].mean()) if positive.any() else float("nan")
            columns = _binary_columns(label, score, placement)
        elif task == "multiclass":
            self.classes = classes if classes is not None else classes_of(label, score)
            columns = _multiclass_columns(label, score, self.classes)
        else:
            columns = _regression_columns(label, score)
        self.columns, self.totals = _matrix(columns, dtype)
        self.rows = len(label)

    def point(self) -> dict[str, float]:
        """The metrics on the rows as given (all weights 1)."""
        import numpy as np

        if self.totals is not None:  # float32 columns: the point estimate from float64 totals
            values = self.from_sums(self.totals[None, :], None)
        else:
            values = self(np.ones((1, self.rows), dtype=np.uint8))
        return {m: float(v[0]) for m, v in values.items()}

    def from_sums(self, sums, weights) -> dict[str, Any]:
        if self.task == "binary":
            values = _binary_from_sums(sums, self.point_auc)
        elif self.task == "multiclass":
            values = _multiclass_from_sums(sums, self.classes)
        else:
            values = _regression_from_sums(sums)
        if self.exact_auc is not None:
            values["auc"] = self.exact_auc(weights)
        return {m: values[m] for m in self.metrics}

    def __call__(self, weights) -> dict[str, Any]:
        return self.from_sums(weights.astype(self.columns.dtype) @ self.columns, weights)


def point_estimates(
    task: str, label, score, metrics: tuple[str, ...] | None = None, *, classes: list | None = None
) -> dict[str, float]:
    """The metrics on the rows as given (all weights 1)."""
    if task == "multiclass" and classes is None:
        classes = classes_of(label, score)
    return _Evaluator(task, label, score, metrics or default_metrics(task, classes), classes=classes).point()


def default_metrics(task: str, classes: list | None = None) -> tuple[str, ...]:
    if task == "multiclass":
        return multiclass_metrics(classes or [])
    return BINARY_METRICS if task == "binary" else REGRESSION_METRICS


_ROW_BLOCK = 1 << 15  # rows per block: a block's weights and columns stay in cache


def _workers() -> int:
    import os

    try:
        return max(1, min(4, len(os.sched_getaffinity(0))))
    except AttributeError:
        return max(1, min(4, os.cpu_count() or 1))


def _run(
    evaluators: list[_Evaluator], rows: int, resamples: int, seed: int, chunk: int | None, exact: bool
) -> list[dict[str, Any]]:
    """Every evaluator on the same weights, one matrix product per row block for all of them.

    Rows are processed in cache-sized blocks (unpack bits, widen to float, multiply), which is
    several times faster than materialising the whole weights matrix. Chunks of resamples run
    on one thread per core with single-threaded BLAS (threadpoolctl, installed with
    scikit-learn): small products parallelise badly inside BLAS, well across chunks. Results
    are put back in chunk order, so the numbers do not depend on the number of threads.
    """
    from concurrent.futures import ThreadPoolExecutor
    from contextlib import nullcontext

    import numpy as np

    dtype = _dtype(exact)
    bounds = np.cumsum([0] + [ev.columns.shape[1] for ev in evaluators])
    columns = np.empty((rows, bounds[-1]), dtype=dtype)
    for i, ev in enumerate(evaluators):  # each evaluator's own copy is freed once moved in
        columns[:, bounds[i] : bounds[i + 1]] = ev.columns
        ev.columns = columns[:, bounds[i] : bounds[i + 1]]
    need_weights = any(ev.exact_auc is not None for ev in evaluators)

    def job(packed):
        k = packed.shape[0]
        buffer = np.empty((k, min(_ROW_BLOCK, rows)), dtype=dtype)
        sums = np.zeros((k, columns.shape[1]))
        for start in range(0, rows, _ROW_BLOCK):
            width = min(_ROW_BLOCK, rows - start)
            bits = np.unpackbits(packed[:, start // 8 : (start + width + 7) // 8], axis=1, count=width)
            np.copyto(buffer[:, :width], bits)
            sums += buffer[:, :width] @ columns[start : start + width]
        weights = np.unpackbits(packed, axis=1, count=rows) if need_weights else None
        return [ev.from_sums(sums[:, bounds[i] : bounds[i + 1]], weights) for i, ev in enumerate(evaluators)]

    try:
        from threadpoolctl import threadpool_limits

        single_blas = threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover - scikit-learn brings threadpoolctl
        single_blas = nullcontext()
    workers = _workers()
    with single_blas:
        chunks = _packed_chunks(rows, resamples, seed, chunk)
        if workers > 1 and rows * resamples > 1_000_000:
            with ThreadPoolExecutor(workers) as pool:
                done = _bounded_map(pool, job, chunks, 2 * workers)
        else:
            done = [job(packed) for packed in chunks]
    return [{m: np.concatenate([d[i][m] for d in done]) for m in ev.metrics} for i, ev in enumerate(evaluators)]


def _bounded_map(pool, fn, items, ahead: int) -> list:
    """`pool.map` that draws at most `ahead` items before their results are taken, in order.

    `Executor.map` submits every item at once, so all chunks of random bits (1M rows × 1,000
    resamples: 125 MB) would exist together; this keeps a few in flight, bounding peak memory.
    """
    from collections import deque

    pending: deque = deque()
    done = []
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            done.append(pending.popleft().result())
    done.extend(future.result() for future in pending)
    return done


def _interval(draws, confidence: float) -> tuple[tuple[float, float] | None, int]:
    import numpy as np

    finite = draws[np.isfinite(draws)]
    undefined = int(len(draws) - len(finite))
    if len(finite) == 0:
        return None, undefined
    alpha = (1 - confidence) / 2
    low, high = np.percentile(finite, [100 * alpha, 100 * (1 - alpha)])
    return (float(low), float(high)), undefined


def _dtype(exact: bool) -> Any:
    """The bootstrap's arithmetic: float64 for exact AUC (small problems), float32 otherwise."""
    import numpy as np

    return np.float64 if exact else np.float32


def _exact(rows: int, resamples: int, exact_auc: bool | None) -> bool:
    return rows * resamples <= EXACT_AUC_BUDGET if exact_auc is None else exact_auc


def paired_bootstrap(
    task: str,
    label,
    base_score,
    head_score,
    *,
    metrics: tuple[str, ...] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = CONFIDENCE,
    chunk: int | None = None,
    exact_auc: bool | None = None,
) -> dict[str, MetricInterval]:
    """CI of head − base for each metric, both scored on the same rows (same order)."""
    classes = classes_of(label, base_score, head_score) if task == "multiclass" else None
    metrics = metrics or default_metrics(task, classes)
    exact = _exact(len(label), resamples, exact_auc)
    evaluators = [
        _Evaluator(task, label, s, metrics, exact_auc=exact, classes=classes, dtype=_dtype(exact))
        for s in (base_score, head_score)
    ]
    base_draws, head_draws = _run(evaluators, len(label), resamples, seed, chunk, exact)
    base_point, head_point = (ev.point() for ev in evaluators)
    out = {}
    for m in metrics:
        ci, undefined = _interval(head_draws[m] - base_draws[m], confidence)
        b, h = _finite(base_point[m]), _finite(head_point[m])
        out[m] = MetricInterval(
            metric=m,
            base=b,
            head=h,
            delta=h - b if b is not None and h is not None else None,
            ci_low=ci[0] if ci else None,
            ci_high=ci[1] if ci else None,
            base_ci=_interval(base_draws[m], confidence)[0],
            head_ci=_interval(head_draws[m], confidence)[0],
            significant=(ci[0] > 0 or ci[1] < 0) if ci else None,
            undefined_resamples=undefined,
        )
    return out


def _side(
    task: str,
    label,
    score,
    metrics: tuple[str, ...],
    *,
    resamples: int,
    seed: int,
    chunk: int | None,
    exact_auc: bool | None,
    classes: list | None,
) -> tuple[dict[str, Any], dict[str, float]]:
    """One side's bootstrap draws and point estimates."""
    exact = _exact(len(label), resamples, exact_auc)
    evaluator = _Evaluator(task, label, score, metrics, exact_auc=exact, classes=classes, dtype=_dtype(exact))
    (draws,) = _run([evaluator], len(label), resamples, seed, chunk, exact)
    return draws, evaluator.point()


def bootstrap(
    task: str,
    label,
    score,
    *,
    metrics: tuple[str, ...] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = CONFIDENCE,
    chunk: int | None = None,
    exact_auc: bool | None = None,
    classes: list | None = None,
) -> dict[str, tuple[tuple[float, float] | None, float | None]]:
    """One side's own CI per metric: metric -> (CI or None, point estimate)."""
    if task == "multiclass" and classes is None:
        classes = classes_of(label, score)
    metrics = metrics or default_metrics(task, classes)
    draws, point = _side(
        task, label, score, metrics, resamples=resamples, seed=seed, chunk=chunk, exact_auc=exact_auc, classes=classes
    )
    return {m: (_interval(draws[m], confidence)[0], _finite(point[m])) for m in metrics}


def unpaired_bootstrap(
    task: str,
    base_label,
    base_score,
    head_label,
    head_score,
    *,
    metrics: tuple[str, ...] | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
    confidence: float = CONFIDENCE,
    chunk: int | None = None,
    exact_auc: bool | None = None,
) -> dict[str, MetricInterval]:
    """Different evaluation rows: a two-sample bootstrap of head − base.

    Each side is resampled independently (base with `seed`, head with `seed + 1`), and the i-th
    draw of the difference is head's i-th draw minus base's: the bootstrap distribution of the
    difference of two independent estimates. Its CI is wider than a paired one (row difficulty
    does not cancel), so "significant" here means the change outgrew the noise of drawing two
    evaluation sets, which is what a redrawn or changed test set calls for.
    """
    classes = classes_of(base_label, base_score, head_label, head_score) if task == "multiclass" else None
    metrics = metrics or default_metrics(task, classes)
    base_draws, base_point = _side(
        task,
        base_label,
        base_score,
        metrics,
        resamples=resamples,
        seed=seed,
        chunk=chunk,
        exact_auc=exact_auc,
        classes=classes,
    )
    head_draws, head_point = _side(
        task,
        head_label,
        head_score,
        metrics,
        resamples=resamples,
        seed=seed + 1,
        chunk=chunk,
        exact_auc=exact_auc,
        classes=classes,
    )
    out = {}
    for m in metrics:
        ci, undefined = _interval(head_draws[m] - base_draws[m], confidence)
        b, h = _finite(base_point[m]), _finite(head_point[m])
        out[m] = MetricInterval(
            metric=m,
            base=b,
            head=h,
            delta=h - b if b is not None and h is not None else None,
            ci_low=ci[0] if ci else None,
            ci_high=ci[1] if ci else None,
            base_ci=_interval(base_draws[m], confidence)[0],
            head_ci=_interval(head_draws[m], confidence)[0],
            significant=(ci[0] > 0 or ci[1] < 0) if ci else None,
            undefined_resamples=undefined,
        )
    return out


def _finite(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) else None
