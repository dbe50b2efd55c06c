"""Report plots: base and head on the same axes, rendered to deterministic PNG bytes.

Pure functions: arrays in, PNG bytes out. Matplotlib is imported lazily and used through its
object API with the Agg canvas only (no pyplot, no global backend switch), under a fixed
style, size and DPI, and saved without metadata (`Software`, dates), so the same inputs give
the same bytes on every run. Long curves are thinned to at most `MAX_POINTS` points.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

BASE_COLOR = "#7f7f7f"
HEAD_COLOR = "#1f77b4"
MAX_POINTS = 2000
TOP_FEATURES = 20
_STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "svg.hashsalt": "mlci",
    "path.simplify": True,
}

Side = tuple[Any, Any]  # (label, score) arrays


def _figure(width: float = 5.0, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _render(draw, width: float = 5.0, height: float = 4.0) -> bytes:
    import matplotlib

    with matplotlib.rc_context(_STYLE):  # type: ignore[arg-type]  # rcParams keys are a Literal in the stubs
        figure = _figure(width, height)
        draw(figure)
        return _png(figure)


def _thin(x, y):
    import numpy as np

    if len(x) <= MAX_POINTS:
        return x, y
    keep = np.unique(np.r_[np.linspace(0, len(x) - 1, MAX_POINTS).astype(int), len(x) - 1])
    return x[keep], y[keep]


def _sides(base: Side | None, head: Side) -> list[tuple[str, str, Side]]:
    sides = [("base", BASE_COLOR, base)] if base is not None else []
    return sides + [("head", HEAD_COLOR, head)]


def _clf_curve(label, score):
    """False and true positives at each distinct score, highest first (sklearn's `_binary_clf_curve`).

    numpy only: importing scikit-learn costs a report about a second and 80 MB, for two sorts.
    """
    import numpy as np

    order = np.argsort(score, kind="mergesort")[::-1]
    score, positive = score[order], label[order] == 1
    ends = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]
    tps = np.cumsum(positive, dtype=np.float64)[ends]
    return 1 + ends - tps, tps


def roc_points(label, score):
    """(fpr, tpr, AUC) as sklearn's `roc_curve` (collinear points dropped) and `roc_auc_score` give them."""
    import numpy as np

    fps, tps = _clf_curve(label, score)
    full_fpr, full_tpr = np.r_[0, fps] / fps[-1], np.r_[0, tps] / tps[-1]
    auc = float(np.trapezoid(full_tpr, full_fpr))
    if len(fps) > 2:
        keep = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps = fps[keep], tps[keep]
    return np.r_[0, fps] / fps[-1], np.r_[0, tps] / tps[-1], auc


def pr_points(label, score):
    """(precision, recall, average precision) as sklearn's `precision_recall_curve` and
    `average_precision_score` give them."""
    import numpy as np

    fps, tps = _clf_curve(label, score)
    precision = np.divide(tps, tps + fps, out=np.zeros_like(tps), where=(tps + fps) != 0)
    recall = tps / tps[-1]
    precision, recall = np.r_[precision[::-1], 1], np.r_[recall[::-1], 0]
    return precision, recall, float(-np.sum(np.diff(recall) * precision[:-1]))


def roc(base: Side | None, head: Side) -> bytes:
    def draw(figure):
        ax = figure.add_subplot()
        for name, color, (label, score) in _sides(base, head):
            fpr, tpr, auc = roc_points(label, score)
            fpr, tpr = _thin(fpr, tpr)
            ax.plot(fpr, tpr, color=color, label=f"{name} (AUC {auc:.4f})")
        ax.plot([0, 1], [0, 1], color="#cccccc", linestyle="--", linewidth=0.8)
        ax.set(
            xlabel="false positive rate", ylabel="true positive rate", title="ROC curve", xlim=(0, 1), ylim=(0, 1.01)
        )
        ax.legend(loc="lower right")

    return _render(draw)


def precision_recall(base: Side | None, head: Side) -> bytes:
    def draw(figure):
        ax = figure.add_subplot()
        for name, color, (label, score) in _sides(base, head):
            precision, recall, ap = pr_points(label, score)
            recall, precision = _thin(recall, precision)
            ax.plot(recall, precision, color=color, label=f"{name} (AP {ap:.4f})")
        ax.set(xlabel="recall", ylabel="precision", title="Precision–recall curve", xlim=(0, 1), ylim=(0, 1.01))
        ax.legend(loc="lower left")

    return _render(draw)


def calibration(base: Side | None, head: Side, bins: int = 10) -> bytes:
    import numpy as np

    def draw(figure):
        ax = figure.add_subplot()
        ax.plot([0, 1], [0, 1], color="#cccccc", linestyle="--", linewidth=0.8, label="perfect")
        edges = np.linspace(0, 1, bins + 1)
        for name, color, (label, score) in _sides(base, head):
            which = np.clip(np.digitize(score, edges[1:-1]), 0, bins - 1)
            counts = np.bincount(which, minlength=bins)
            filled = counts > 0
            mean_score = np.bincount(which, weights=score, minlength=bins)[filled] / counts[filled]
            frac_pos = np.bincount(which, weights=label, minlength=bins)[filled] / counts[filled]
            ax.plot(mean_score, frac_pos, marker="o", markersize=3, color=color, label=name)
        ax.set(
            xlabel="mean predicted probability",
            ylabel="fraction of positives",
            title="Calibration",
            xlim=(0, 1),
            ylim=(0, 1.01),
        )
        ax.legend(loc="upper left")

    return _render(draw)


def confusion(base: Side | None, head: Side, threshold: float = 0.5) -> bytes:
    """2×2 matrices at `threshold` (rows actual, columns predicted): counts and shares."""
    import numpy as np

    panels = []
    for name, _color, (label, score) in _sides(base, head):
        predicted = (np.asarray(score) >= threshold).astype(int)
        label = np.asarray(label).astype(int)
        matrix = np.array([[np.sum((label == t) & (predicted == p)) for p in (0, 1)] for t in (0, 1)])
        texts = [[f"{v:,}\n{v / max(1, matrix.sum()):.1%}" for v in row] for row in matrix]
        panels.append(MatrixPanel(f"{name} (threshold {threshold:g})", matrix, matrix, texts))
    return confusion_matrices(panels, ["0", "1"], ["0", "1"], xlabel="predicted", ylabel="actual", cell=2.1)


@dataclass
class MatrixPanel:
    """One matrix of `confusion_matrices`: `shade` colours the cells, `texts` label them."""

    title: str
    matrix: Any  # counts, rows × columns
    shade: Any  # what the colour shows (counts, or shares of a row)
    texts: list[list[str]] | None = None  # None: no labels (a matrix too large to read)


def confusion_matrices(
    panels: list[MatrixPanel],
    columns: Sequence[str],
    rows: Sequence[str],
    *,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    cell: float = 0.45,
) -> bytes:
    """The one confusion-matrix renderer (binary, multiclass, DVC's confusion templates): panels
    side by side on one colour scale, each cell's text black or white by the luminance of the
    colour under it, so every label is readable whatever its value."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    cmap = colormaps["Blues"]
    vmax = max([float(np.max(p.shade)) for p in panels if np.size(p.shade)] + [1e-12])
    norm = Normalize(vmin=0, vmax=vmax)

    def draw(figure):
        for i, panel in enumerate(panels):
            ax = figure.add_subplot(1, len(panels), i + 1)
            ax.imshow(panel.shade, cmap=cmap, norm=norm, aspect="auto")
            ax.grid(False)
            for (r, c), text in np.ndenumerate(np.array(panel.texts, dtype=object)) if panel.texts else []:
                red, green, blue, _alpha = cmap(norm(float(panel.shade[r][c])))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
                ax.text(c, r, text, ha="center", va="center", fontsize=8, color="white" if dark else "black")
            ax.set(
                xticks=range(len(columns)),
                yticks=range(len(rows)),
                xticklabels=list(columns),
                yticklabels=list(rows),
                xlabel=xlabel,
                ylabel=ylabel,
                title=panel.title,
            )
        if title:
            figure.suptitle(title)

    width = max(3.6, 1.6 + cell * len(columns))
    height = max(3.2, 1.6 + cell * len(rows))
    return _render(draw, width=width * len(panels), height=height)


def share_of_total(values: Mapping[str, float]) -> dict[str, float]:
    """Each feature's share of the model's total importance: 60 and 150 trees become comparable."""
    total = sum(v for v in values.values() if v > 0)
    return {k: (max(v, 0.0) / total if total > 0 else 0.0) for k, v in values.items()}


def feature_importance(base: Mapping[str, float] | None, head: Mapping[str, float], top: int = TOP_FEATURES) -> bytes:
    """Horizontal bars of the `top` features by head importance (base's value beside each).

    Values are shares of each model's total (raw gain grows with the number of trees, so raw
    totals of a 60-tree and a 150-tree model are not comparable).
    """
    import numpy as np

    head = share_of_total(head)
    base = share_of_total(base) if base else base

    ranked = sorted(head, key=lambda f: (-head[f], f))[:top]
    if base:
        extra = [f for f in sorted(base, key=lambda f: (-base[f], f))[:top] if f not in ranked]
        ranked = ranked + extra[: max(0, top - len(ranked))]
    names = list(reversed(ranked))

    import matplotlib.ticker

    def draw(figure):
        ax = figure.add_subplot()
        y = np.arange(len(names))
        height = 0.4 if base is not None else 0.8
        if base is not None:
            ax.barh(y + height / 2, [base.get(n, 0.0) for n in names], height=height, color=BASE_COLOR, label="base")
            ax.barh(y - height / 2, [head.get(n, 0.0) for n in names], height=height, color=HEAD_COLOR, label="head")
        else:
            ax.barh(y, [head.get(n, 0.0) for n in names], height=height, color=HEAD_COLOR, label="head")
        ax.set_yticks(y, names)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set(xlabel="share of the model's total importance", title=f"Feature importance: top {len(names)}")
        ax.legend(loc="lower right")

    return _render(draw, width=6.0, height=max(3.0, 0.28 * len(names) + 1.2))


def training_curves(
    base: Mapping[str, Sequence[float]] | None, head: Mapping[str, Sequence[float]], x: str = "iteration"
) -> bytes:
    """One panel per curve column (e.g. train_logloss, valid_logloss, valid_auc), base dashed."""
    columns = [c for c in head if c != x]

    def draw(figure):
        for i, column in enumerate(columns):
            ax = figure.add_subplot(1, len(columns), i + 1)
            for name, color, table, style in (("base", BASE_COLOR, base, "--"), ("head", HEAD_COLOR, head, "-")):
                if table is None or column not in table:
                    continue
                xs = table.get(x) if x in table else range(1, len(table[column]) + 1)
                ax.plot(list(xs), list(table[column]), color=color, linestyle=style, label=name)
            ax.set(xlabel=x, title=column)
            ax.legend(loc="best")

    return _render(draw, width=max(4.0, 3.6 * len(columns)), height=3.4)


def residuals(base: Side | None, head: Side) -> bytes:
    """Residual (prediction − actual) against prediction."""
    import numpy as np

    def draw(figure):
        ax = figure.add_subplot()
        for name, color, (label, score) in _sides(base, head):
            score, error = _sample(np.asarray(score), np.asarray(score) - np.asarray(label))
            ax.scatter(score, error, s=4, alpha=0.5, color=color, label=name, linewidths=0)
        ax.axhline(0, color="#444444", linewidth=0.8)
        ax.set(xlabel="predicted", ylabel="residual (predicted − actual)", title="Residuals")
        ax.legend(loc="best")

    return _render(draw)


def predicted_vs_actual(base: Side | None, head: Side) -> bytes:
    import numpy as np

    def draw(figure):
        ax = figure.add_subplot()
        low, high = None, None
        for name, color, (label, score) in _sides(base, head):
            actual, predicted = _sample(np.asarray(label, dtype=float), np.asarray(score, dtype=float))
            ax.scatter(actual, predicted, s=4, alpha=0.5, color=color, label=name, linewidths=0)
            lo, hi = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
            low, high = (lo, hi) if low is None else (min(low, lo), max(high, hi))
        ax.plot([low, high], [low, high], color="#444444", linewidth=0.8, linestyle="--")
        ax.set(xlabel="actual", ylabel="predicted", title="Predicted vs actual")
        ax.legend(loc="best")

    return _render(draw)


def _sample(x: np.ndarray, y: np.ndarray, limit: int = 5000):
    """A deterministic, evenly spaced subset: scatter plots of 1M points say no more than 5k."""
    import numpy as np

    if len(x) <= limit:
        return x, y
    keep = np.linspace(0, len(x) - 1, limit).astype(int)
    return x[keep], y[keep]


def confusion_multiclass(base: Side | None, head: Side) -> bytes:
    """K×K confusion matrices (rows: actual class, columns: predicted), base and head side by side.

    Cells are coloured by the share of the actual class (row-normalised, so rare classes are
    readable) and labelled with counts (up to 12 classes).
    """
    import numpy as np

    sides = _sides(base, head)
    classes = sorted(set(np.concatenate([np.asarray(a).ravel() for _n, _c, side in sides for a in side]).tolist()))
    index = {c: i for i, c in enumerate(classes)}
    k = len(classes)
    panels = []
    for name, _color, (label, predicted) in sides:
        matrix = np.zeros((k, k), dtype=np.int64)
        np.add.at(
            matrix,
            ([index[v] for v in np.asarray(label).tolist()], [index[v] for v in np.asarray(predicted).tolist()]),
            1,
        )
        share = matrix / np.maximum(1, matrix.sum(axis=1, keepdims=True))
        texts = [[f"{v:,}" for v in row] for row in matrix] if k <= 12 else None
        panels.append(MatrixPanel(name, matrix, share, texts))
    names = [str(int(c)) if float(c).is_integer() else str(c) for c in classes]
    return confusion_matrices(panels, names, names, xlabel="predicted class", ylabel="actual class")


# --- dvc.yaml `plots:` drawn as their templates mean (mlci.report.dvcplots) ---------------------

XY = tuple[Sequence[float], Sequence[float]]


@dataclass
class CurvePanel:
    """One field of one file: `name` says which ("eval/train/acc.tsv: acc" when several)."""

    name: str
    head: XY | None
    base: XY | None = None


@dataclass
class BarPanel:
    """Bars of one file: label -> value, every row of it."""

    name: str
    head: dict[str, float]
    base: dict[str, float] | None = None


def _grid(count: int) -> tuple[int, int]:
    columns = min(3, max(1, count))
    return -(-count // columns), columns


def curves(
    panels: Sequence[CurvePanel],
    *,
    title: str,
    x_label: str,
    y_label: str | None = None,
    points: bool = False,
) -> bytes:
    """Linear, simple and smooth templates as lines, scatter as points; a series of one point
    is drawn as a point (a line through one point shows nothing). Base dashed and grey."""
    rows, columns = _grid(len(panels))

    def draw(figure):
        for i, panel in enumerate(panels):
            ax = figure.add_subplot(rows, columns, i + 1)
            for name, color, side, style in (
                ("base", BASE_COLOR, panel.base, "--"),
                ("head", HEAD_COLOR, panel.head, "-"),
            ):
                if side is None:
                    continue
                xs, ys = list(side[0]), list(side[1])
                if points or len(xs) == 1:
                    ax.scatter(xs, ys, s=16, color=color, label=name, marker="o" if name == "head" else "s", zorder=3)
                else:
                    ax.plot(xs, ys, color=color, linestyle=style, label=name)
            ax.set(xlabel=x_label, ylabel=y_label or panel.name.rsplit(": ", 1)[-1], title=panel.name)
            if panel.base is not None:
                ax.legend(loc="best")
        if title:
            figure.suptitle(title)

    return _render(draw, width=max(4.6, 4.2 * columns), height=3.4 * rows + (0.4 if title else 0))


def bars(panels: Sequence[BarPanel], *, title: str, x_label: str, y_label: str, sort: bool = False) -> bytes:
    """bar_horizontal(_sorted): one bar per row of the file, every row (base beside head);
    `sort`: largest head value on top, as DVC's `sort: -x`; else the file's order, top down."""
    import numpy as np

    def draw(figure):
        for i, panel in enumerate(panels):
            ax = figure.add_subplot(1, len(panels), i + 1)
            names = list(panel.head) + [n for n in (panel.base or {}) if n not in panel.head]
            if sort:
                names.sort(key=lambda n: -panel.head.get(n, (panel.base or {}).get(n, 0.0)))
            names.reverse()  # barh draws bottom-up: the first row on top
            y = np.arange(len(names))
            height = 0.4 if panel.base is not None else 0.8
            if panel.base is not None:
                ax.barh(
                    y + height / 2,
                    [panel.base.get(n, 0.0) for n in names],
                    height=height,
                    color=BASE_COLOR,
                    label="base",
                )
            ax.barh(
                y - (height / 2 if panel.base is not None else 0),
                [panel.head.get(n, 0.0) for n in names],
                height=height,
                color=HEAD_COLOR,
                label="head",
            )
            ax.set_yticks(y, names)
            ax.set(xlabel=x_label, ylabel=y_label, title=panel.name)
            if panel.base is not None:
                ax.legend(loc="lower right")
        if title:
            figure.suptitle(title)

    rows = max(len(p.head) + len([n for n in (p.base or {}) if n not in p.head]) for p in panels)
    return _render(draw, width=6.0 * len(panels), height=min(60.0, max(3.0, 0.28 * rows + 1.6)))
