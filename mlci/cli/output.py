"""Shared CLI output: JSON for machines, rich tables for people, progress lines on stderr."""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any

import click


def emit_json(data: Any) -> None:
    """Strict JSON (RFC 8259): a NaN/±inf becomes "NaN"/"Infinity"/"-Infinity" (docs/commands.md)."""
    from mlci.model.numbers import dumps

    click.echo(dumps(data, indent=2))


def table(
    title: str | None,
    columns: list[str],
    rows: list[list[str]],
    *,
    right: AbstractSet[int] = frozenset(),
    keep: AbstractSet[int] = frozenset(),
) -> None:
    """A table on stdout, written as it is laid out (mlci.report.terminal.table_lines): no column
    is ever wrapped, so `keep` (columns that must not wrap: ids, times) holds for all of them."""
    from mlci.report.terminal import table_lines

    click.echo("\n".join(table_lines(title, columns, rows, right)))


def stage_progress(event) -> None:
    """Progress of `dvc repro`, one line per stage transition, on stderr."""
    if event.status == "started":
        click.echo(f"  ▶ stage {event.stage} running…", err=True)
    elif event.status == "ran":
        click.echo(f"  ✓ stage {event.stage} ran in {event.seconds:.1f}s", err=True)
    elif event.status == "skipped":
        click.echo(f"  ↷ stage {event.stage} unchanged, skipped", err=True)
    elif event.status == "restored":
        click.echo(f"  ↷ stage {event.stage} restored from DVC's run-cache", err=True)
    elif event.status == "failed":
        click.echo(f"  ✗ stage {event.stage} failed after {event.seconds:.1f}s", err=True)


def warn(message: str) -> None:
    from mlci.redact import redact

    click.echo(f"mlci: warning: {redact(message)}", err=True)


def print_comparison(comparison) -> None:
    from mlci.report.format import number, param, percent, signed, verdict_label
    from mlci.report.terminal import compared

    click.echo(compared(comparison))
    rows = [
        [
            m.name,
            m.file,
            number(m.base),
            number(m.head),
            signed(m.delta),
            percent(m.delta_rel),
            verdict_label(m),
        ]
        for m in comparison.metrics
    ]
    table(None, ["metric", "file", "base", "head", "Δ", "Δ %", "verdict"], rows, right={2, 3, 4, 5})
    if comparison.params:
        table(
            "params changed",
            ["param", "file", "base", "head"],
            [[p.name, p.file, param(p.base), param(p.head)] for p in comparison.params],
        )
    from mlci.report.terminal import plain

    for note in comparison.notes:
        click.echo(f"note: {plain(note)}")
    if any(m.judged and not m.tested for m in comparison.metrics):
        from mlci.report.format import UNTESTED_NOTE

        click.echo(f"note: {UNTESTED_NOTE}")
