"""The `mlci diff --md` table: the compact form of a comparison (names escaped by `markdown`)."""

from __future__ import annotations

from mlci.analysis.compare import Comparison, MetricDelta
from mlci.report import markdown as md
from mlci.report.format import VERDICT_MARKS, number, param, percent, signed


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
                VERDICT_MARKS[m.verdict],
            ]
            for m in metrics
        ],
    )


def render(comparison: Comparison) -> str:
    base = comparison.base_commit[:12] if comparison.base_commit else "—"
    dirty = " (uncommitted changes)" if comparison.head_dirty else ""
    lines = [
        (
            f"Comparing `{comparison.head_commit[:12]}`{dirty} with `{base}` (merge-base with "
            f"{md.code(comparison.base_ref)}, values from {md.text(comparison.base_source)})."
        ),
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
    return "\n".join(lines) + "\n"
