"""Plots of main's history and of feature attributions, as deterministic PNG bytes.

Same rules as `mlci.report.plots` (whose renderer and colours they share): the Agg canvas only,
a fixed style, size and DPI, no metadata; names drawn as text come from PR data and are plain
text to matplotlib (no mathtext: `$` is escaped).
"""

from __future__ import annotations

from collections.abc import Sequence

from mlci.report.plots import BASE_COLOR, HEAD_COLOR, _render

SERIES_COLOR = "#444444"
PROMOTED_COLOR = "#1a7f37"


def _plain(text: str, limit: int = 40) -> str:
    """A label matplotlib shows verbatim: mathtext off (`$` escaped), one line, bounded."""
    line = " ".join(str(text).split())
    line = line if len(line) <= limit else line[: limit - 1] + "…"
    return line.replace("$", r"\$")


def trend(
    values: Sequence[float],
    labels: Sequence[str],
    *,
    title: str,
    marks: Sequence[tuple[int, str]] = (),
) -> bytes:
    """One metric along the branch's recorded runs (oldest left); `marks`: (run index, label)
    vertical lines, the promoted versions."""

    def draw(figure):
        ax = figure.add_subplot()
        xs = list(range(len(values)))
        ax.plot(xs, list(values), color=HEAD_COLOR, marker="o", markersize=3, linewidth=1.2)
        for index, label in marks:
            ax.axvline(index, color=PROMOTED_COLOR, linestyle="--", linewidth=1)
            ax.annotate(
                _plain(label, 40),
                (index, 1.0),
                xycoords=("data", "axes fraction"),
                rotation=90,
                va="top",
                ha="right",
                fontsize=7,
                color=PROMOTED_COLOR,
            )
        step = max(1, len(xs) // 8)
        ticks = xs[::step]
        ax.set_xticks(ticks, [_plain(labels[i], 12) for i in ticks], rotation=30, ha="right", fontsize=7)
        ax.set(title=_plain(title, 60), xlabel="recorded runs (commit), oldest first")

    return _render(draw, width=7.0, height=3.2)


def pr_trends(panels: Sequence[tuple[str, Sequence[float], float | None, float | None]]) -> bytes:
    """Small multiples, one per goal metric: main's last runs (dots), base (grey dashed line)
    and head (blue star, right of the runs)."""
    columns = min(3, max(1, len(panels)))
    rows = (len(panels) + columns - 1) // columns

    def draw(figure):
        for i, (name, values, base, head) in enumerate(panels):
            ax = figure.add_subplot(rows, columns, i + 1)
            xs = list(range(len(values)))
            ax.plot(xs, list(values), color=SERIES_COLOR, marker="o", markersize=2.5, linewidth=0.8, label="main")
            if base is not None:
                ax.axhline(base, color=BASE_COLOR, linestyle="--", linewidth=1, label="base")
            if head is not None:
                ax.plot([len(values)], [head], color=HEAD_COLOR, marker="*", markersize=11, linestyle="", label="head")
            ax.set_title(_plain(name, 30), fontsize=9)
            ax.set_xticks([])
            if i == 0:
                ax.legend(loc="best", fontsize=7)

    return _render(draw, width=3.2 * columns, height=2.4 * rows + 0.3)


def attributions(
    base: Sequence[tuple[str, float]] | None, head: Sequence[tuple[str, float]], *, top: int, title: str
) -> bytes:
    """Horizontal bars: the top features (by head's mean |SHAP|, then base's), base beside head."""
    import numpy as np

    head_values = dict(head)
    base_values = dict(base) if base is not None else None
    ranked = [f for f, _v in head[:top]]
    if base is not None:
        ranked += [f for f, _v in base[:top] if f not in ranked][: max(0, top - len(ranked))]
    names = list(reversed(ranked))

    def draw(figure):
        ax = figure.add_subplot()
        y = np.arange(len(names))
        height = 0.4 if base_values is not None else 0.8
        if base_values is not None:
            ax.barh(
                y + height / 2, [base_values.get(n, 0.0) for n in names], height=height, color=BASE_COLOR, label="base"
            )
            ax.barh(
                y - height / 2, [head_values.get(n, 0.0) for n in names], height=height, color=HEAD_COLOR, label="head"
            )
        else:
            ax.barh(y, [head_values.get(n, 0.0) for n in names], height=height, color=HEAD_COLOR, label="head")
        ax.set_yticks(y, [_plain(n, 30) for n in names])
        ax.set(xlabel="mean |SHAP| over the evaluation rows", title=_plain(title, 60))
        ax.legend(loc="lower right")

    return _render(draw, width=6.0, height=max(3.0, 0.3 * len(names) + 1.2))
