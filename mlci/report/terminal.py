"""The report's first screen as plain terminal lines (`mlci report`, `mlci demo`).

Same content as the markdown's first screen: the verdict, each failing and warning goal with
its numbers, what changed (and whether deltas are paired), the metrics that moved with their
CIs, and where report.md / report.html are. Names come from PR code, so control characters
(ANSI escapes that could rewrite the terminal) are replaced before anything is shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from typing import Any

from mlci.report import format as fmt

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def plain(value: object) -> str:
    """One line with no control characters (ESC, CR, BEL, newlines …)."""
    return _CONTROL.sub("?", str(value))


def _ci(m: Any) -> str:
    interval = m.interval
    if interval is not None and interval.ci_low is not None:
        return f", 95 % CI [{fmt.signed(interval.ci_low)}, {fmt.signed(interval.ci_high)}]"
    if m.note and m.verdict not in ("new", "removed", "unchanged"):
        return f"; no interval: {plain(m.note)}"
    return ""


def table_lines(
    title: str | None, columns: list[str], rows: list[list[str]], right: AbstractSet[int] = frozenset()
) -> Iterator[str]:
    """A table as rich draws one without edges (`┃` header, `╇` rule, `│` cells), in one pass
    over the cells: linear in the rows, where rich's layout took 30 s for 5,000 of them. Cells are
    made plain (no control characters, no markup) and padded by their terminal width."""
    from rich.cells import cell_len

    cells = [[plain(c) for c in row] for row in rows]
    widths = [cell_len(name) for name in columns]
    for row in cells:
        for i, cell in enumerate(row):
            length = cell_len(cell) if not cell.isascii() else len(cell)
            if length > widths[i]:
                widths[i] = length

    def line(values: list[str], sep: str) -> str:
        parts = []
        for i, value in enumerate(values):
            pad = " " * (widths[i] - (len(value) if value.isascii() else cell_len(value)))
            parts.append(f" {pad}{value} " if i in right else f" {value}{pad} ")
        return sep.join(parts).rstrip()

    if title:
        yield plain(title)
    yield line(list(columns), "┃")
    yield "╇".join("━" * (w + 2) for w in widths)
    for row in cells:
        yield line(row, "│")


SCREEN_ROWS = 40  # lines of each kind a terminal's first screen shows; the rest are counted


def finding_lines(gate: Any, multi: bool, *, indent: str = "") -> list[str]:
    """Failing goals, then warnings, each list cut at SCREEN_ROWS with a count of the rest."""
    out = []
    for mark, found, rest in (("✗", gate.failures, "failing"), ("⚠", gate.warnings, "warning")):
        for finding in found[:SCREEN_ROWS]:
            out.append(f"{indent}{mark} {plain(finding.model) + ': ' if multi else ''}{plain(finding.message)}")
        if len(found) > SCREEN_ROWS:
            out.append(f"{indent}{mark} … and {len(found) - SCREEN_ROWS:,} more {rest} finding(s) (--json lists all)")
    return out


def compared(c: Any) -> str:
    """What was compared with what, and how the base was chosen (GitHub's merge commit is not a head)."""
    dirty = " (+ uncommitted changes)" if c.head_dirty else ""
    if c.merge_of:
        head = (
            f"merge of head {c.merge_of[0][:12]} into {c.merge_of[1][:12]} (GitHub's merge commit {c.head_commit[:12]})"
        )
    else:
        head = f"head {c.head_commit[:12]}"
    base = c.base_commit[:12] if c.base_commit else "none"
    how = f"; {plain(c.base_how)}" if c.base_how else ""
    return f"{head}{dirty} vs base {base} (merge-base with {plain(c.base_ref)}{how}; values from {c.base_source})"


def lines(result: Any) -> list[str]:
    """The first screen of a `mlci.workflows.report.ReportResult`, for stdout."""
    from mlci.report.builder import evaluation_changed

    ctx = result.context
    gate = result.gate
    multi = len(ctx.models) > 1
    out = [f"{gate.mark} {gate.summary()}"]
    out += finding_lines(gate, multi, indent="  ")
    out.append(f"compared: {compared(ctx.comparison)}")
    changed = []
    if ctx.comparison.params:
        changed.append(
            "params "
            + ", ".join(
                f"{plain(p.name)} {plain(fmt.param(p.base))} → {plain(fmt.param(p.head))}"
                for p in ctx.comparison.params[:4]
            )
            + (" …" if len(ctx.comparison.params) > 4 else "")
        )
    changed += [f"{i.kind} {plain(i.describe())}" for i in ctx.inputs[:4]]
    out.append("what changed: " + ("; ".join(changed) if changed else "no params, code or data input"))
    if evaluation_changed(ctx):
        out.append("  ⚠ evaluation set changed: deltas are not paired (two-sample bootstrap)")
    moved = [(model, m) for model in ctx.models for m in model.metrics if m.verdict != "unchanged"]
    for model, m in moved[:SCREEN_ROWS]:
        who = f"{plain(model.name)}/" if multi else ""
        out.append(
            f"  {fmt.verdict_label(m):<24} {who}{plain(m.name)}: {fmt.number(m.base)} → "
            f"{fmt.number(m.head)} (Δ {fmt.signed(m.delta)}{_ci(m)})"
        )
    if len(moved) > SCREEN_ROWS:
        out.append(f"  … and {len(moved) - SCREEN_ROWS:,} more metric(s) that moved: see the report")
    out.append(f"report:  {result.markdown}")
    out.append(f"html:    {result.html}")
    return out
