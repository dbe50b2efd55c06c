"""The `mlci diff --md` table: the compact form of a comparison."""

from __future__ import annotations

from mlci.compare import Comparison
from mlci.report.format import VERDICT_MARKS, number, param, percent, signed


def render(comparison: Comparison) -> str:
    base = comparison.base_commit[:12] if comparison.base_commit else "—"
    lines = [
        f"Comparing `{comparison.head_commit[:12]}`{' (uncommitted changes)' if comparison.head_dirty else ''}"
        f" with `{base}` (merge-base with `{comparison.base_ref}`, values from {comparison.base_source}).",
        "",
        "| metric | file | base | head | Δ | Δ % | verdict |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for m in comparison.metrics:
        lines.append(
            f"| {m.name} | {m.file} | {number(m.base)} | {number(m.head)} | {signed(m.delta)} | "
            f"{percent(m.delta_rel)} | {VERDICT_MARKS[m.verdict]} |"
        )
    if comparison.params:
        lines += ["", "| param | file | base | head |", "|---|---|---|---|"]
        for p in comparison.params:
            lines.append(f"| {p.name} | {p.file} | {param(p.base)} | {param(p.head)} |")
    for note in comparison.notes:
        lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"
