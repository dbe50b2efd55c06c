"""`mlci history --html DIR`: a static dashboard of the branch's recorded runs.

One page (index.html) and its plots: one trend chart per goal metric with the promoted
versions marked, and the table of runs. The page is markdown rendered by `mlci.report.html`,
so it is escaped and sanitized exactly like report.html (commit subjects, metric and param
names are data), its images are inlined, and it links to nothing outside itself: it can be
published as is (GitHub Pages, an artifact, a file on disk).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlci.report import format as fmt
from mlci.report import markdown as md
from mlci.store import atomicio

PLOTS_DIR = "plots"
OWNED = {"index.html", PLOTS_DIR}
_WIDE = 8


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.") or "metric"


def _when(iso: str) -> str:
    return iso[:10] if len(iso) >= 10 else iso


def write(
    out_dir: Path, ref: str, runs: Sequence[Any], metrics: Sequence[tuple[str, str, str]], promoted: Sequence[Any]
) -> Path:
    """Draw the charts into `out_dir/plots` and write `out_dir/index.html`.

    `runs`: mlci.analysis.history.Run, oldest first; `metrics`: (model, metric key, direction)
    to chart; `promoted`: mlci.workflows.history.Promoted versions on the branch.
    """
    from mlci.report import history_plots, html

    out_dir.mkdir(parents=True, exist_ok=True)
    index = {r.commit: i for i, r in enumerate(runs)}
    marks: list[tuple[int, str]] = []
    for p in promoted:
        at = index.get(p.on_branch) if p.on_branch else None
        if at is not None:
            stages = f" ({', '.join(p.stages)})" if p.stages else ""
            marks.append((at, f"{p.name} {p.version}{stages}"))
    lines = [f"# mlci history of {md.code(ref)}", ""]
    if runs:
        first, last = runs[0], runs[-1]
        lines.append(
            f"{len(runs)} recorded run(s), from {_when(first.created_at)} ({md.code(first.commit[:12])}) "
            f"to {_when(last.created_at)} ({md.code(last.commit[:12])}), oldest first."
        )
    else:
        lines.append("No recorded runs on this branch yet: `mlci run` on it (CI's baseline workflow) records them.")
    if promoted:
        shown = [
            f"{md.code(f'{p.name} {p.version}')}"
            + (f" ({md.text(', '.join(p.stages))})" if p.stages else "")
            + f" at {md.code(p.commit[:12])}"
            for p in promoted
        ]
        lines += ["", "Promoted versions (registry tags, dashed green lines): " + ", ".join(shown) + "."]
    labels = [r.commit[:7] for r in runs]
    for model, key, direction in metrics:
        values = [(i, r.metrics[key]) for i, r in enumerate(runs) if key in r.metrics]
        if not values:
            continue
        title = key + (f" ({model})" if model else "")
        rel = f"{PLOTS_DIR}/trend-{_slug(model)}-{_slug(key)}.png" if model else f"{PLOTS_DIR}/trend-{_slug(key)}.png"
        kept = {i for i, _v in values}
        series_marks = [(sum(1 for k in kept if k < at), label) for at, label in marks]
        png = history_plots.trend(
            [v for _i, v in values], [labels[i] for i, _v in values], title=title, marks=series_marks
        )
        atomicio.write_bytes(out_dir / rel, png)
        latest = values[-1][1]
        numbers = [v for _i, v in values]
        better = {"higher": "higher is better", "lower": "lower is better"}.get(direction, "no direction")
        lines += [
            "",
            f"## {md.text(title)}",
            "",
            f"![{md.text(title)}]({rel})",
            "",
            f"latest {fmt.number(latest)} · range {fmt.number(min(numbers))}–{fmt.number(max(numbers))} "
            f"over {len(numbers)} run(s) · {better}",
        ]
    lines += ["", "## Runs", "", *_table(runs)]
    page = html.render("\n".join(lines) + "\n", out_dir, title=f"mlci history of {ref}")
    target = out_dir / "index.html"
    atomicio.write_text(target, page)
    return target


def _table(runs: Sequence[Any]) -> list[str]:
    if not runs:
        return ["No runs."]
    names = sorted({k for r in runs for k in r.metrics})
    wide = len(names) <= _WIDE
    head = ["commit", "recorded", "subject", *(names if wide else ["metrics"]), "params changed"]
    rows = []
    for r in reversed(runs):  # newest first: what a reader looks for
        values = [fmt.number(r.metrics.get(n)) for n in names]
        cells = values if wide else ["; ".join(f"{n} {v}" for n, v in zip(names, values, strict=True) if v != "—")]
        changed = ", ".join(f"{k} {fmt.param(v)}" for k, v in r.changed.items())
        rows.append(
            [
                md.code(r.commit[:12]),
                md.text(r.created_at),
                md.text(r.subject),
                *map(md.text, cells),
                md.text(changed) or "—",
            ]
        )
    align = "lll" + ("r" * len(names) if wide else "l") + "l"
    return ["Newest first.", "", *md.table([md.text(h) for h in head], align, rows)]
