"""Shared CLI output: JSON for machines, rich tables for people, progress lines on stderr."""

from __future__ import annotations

import json
from collections.abc import Set as AbstractSet
from typing import Any

import click


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def table(
    title: str | None,
    columns: list[str],
    rows: list[list[str]],
    *,
    right: AbstractSet[int] = frozenset(),
    keep: AbstractSet[int] = frozenset(),
) -> None:
    """A table on stdout; rich draws it, falling back to plain text when not a terminal.
    `keep`: columns never wrapped (ids, times); the others fold to fit."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from mlci.report.terminal import plain

    grid = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for i, name in enumerate(columns):
        grid.add_column(name, justify="right" if i in right else "left", overflow="fold", no_wrap=i in keep)
    for row in rows:
        grid.add_row(*(Text(plain(cell)) for cell in row))  # names from PR code: no rich markup, no escapes
    Console(soft_wrap=False, width=max(100, Console().width)).print(grid)


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
