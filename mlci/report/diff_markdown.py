"""The `mlci diff --md` table: the compact form of a comparison (names escaped by `markdown`)."""

from __future__ import annotations

from mlci.analysis.compare import Comparison, MetricDelta
from mlci.report import markdown as md
from mlci.report.format import UNTESTED_NOTE, number, param, percent, signed, verdict_label


def metrics_table(metrics: list[MetricDelta], base: str = "base", head: str = "head") -> list[str]:
    """The compact metric table `mlci diff --md` and the retrain report share (names escaped)."""
    return md.table(
        ["metric", "file", base, head, "Δ", "Δ %", "verdict"],
        "llrrrrl",
        [
            [
                md.text(m.name, keep_code=False),
                md.text(m.file, keep_code=False),
                number(m.base),
                number(m.head),
                signed(m.delta),
                percent(m.delta_rel),
                verdict_label(m),
            ]
            for m in metrics
        ],
    )


def what_was_compared(c: Comparison) -> str:
    """`head H vs base B (merge-base with main: how main was chosen)`; GitHub's merge commit is
    never called the head: `merge of head H into B (GitHub's merge commit M)`."""
    dirty = " (+ uncommitted changes)" if c.head_dirty else ""
    if c.merge_of:
        head = (
            f"merge of head `{_short(c.merge_of[0])}` into `{_short(c.merge_of[1])}` "
            f"(GitHub's merge commit `{_short(c.head_commit)}`){dirty}"
        )
    else:
        head = f"head `{_short(c.head_commit)}`{dirty}"
    how = f", {md.text(c.base_how)}" if c.base_how else ""
    return f"{head} vs base `{_short(c.base_commit)}` (merge-base with {md.code(c.base_ref)}{how})"


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "none"


def render(comparison: Comparison) -> str:
    lines = [
        f"Comparing {what_was_compared(comparison)}, values from {md.text(comparison.base_source)}.",
        "",
        *metrics_table(comparison.metrics),
    ]
    if comparison.params:
        lines += [
            "",
            *md.table(
                ["param", "file", "base", "head"],
                "llll",
                [
                    [
                        md.text(p.name, keep_code=False),
                        md.text(p.file, keep_code=False),
                        md.code(param(p.base)),
                        md.code(param(p.head)),
                    ]
                    for p in comparison.params
                ],
            ),
        ]
    for note in comparison.notes:
        lines += ["", f"> {md.text(note)}"]
    if any(m.judged and not m.tested for m in comparison.metrics):
        lines += ["", f"> {md.text(UNTESTED_NOTE)}"]
    return "\n".join(lines) + "\n"
