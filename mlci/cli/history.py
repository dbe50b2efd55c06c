"""`mlci history`: main's recorded runs, oldest first (`mlci.workflows.history`)."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import GIT_REF, ProjectPath, config_option, here
from mlci.cli.output import emit_json, table

_WIDE = 8  # up to this many metrics get a column each; more share one column


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (schema in docs/history.md).")
@click.option(
    "--html",
    "html_dir",
    type=ProjectPath(file_okay=False, path_type=Path),
    default=None,
    metavar="DIR",
    help="Write a static dashboard (index.html and plots/) into DIR: one trend chart per goal metric.",
)
@click.option("--last", type=click.IntRange(min=1), default=None, metavar="N", help="Only the newest N recorded runs.")
@click.option(
    "--branch",
    type=GIT_REF,
    default=None,
    metavar="REF",
    help="Walk this branch's first parents (default: the default branch).",
)
@click.option("--metric", default=None, metavar="NAME", help="Only this metric (`auc`, or `metrics.json:auc`).")
@config_option
def history(
    as_json: bool,
    html_dir: Path | None,
    last: int | None,
    branch: str | None,
    metric: str | None,
    config_path: Path | None,
) -> None:
    """Show the recorded runs of the default branch: commit, time, metrics and changed params."""
    from mlci.workflows import history as workflow

    if html_dir is not None:
        found, index = workflow.dashboard(
            here(), html_dir, branch=branch, last=last, metric=metric, config_path=config_path
        )
        if as_json:
            emit_json({**found.to_dict(), "html": str(index)})
        else:
            click.echo(f"dashboard of {len(found.runs)} run(s) of {found.ref}: {index}")
        return
    found = workflow.history(here(), branch=branch, last=last, metric=metric)
    if as_json:
        emit_json(found.to_dict())
        return
    if not found.runs:
        click.echo(
            f"no recorded runs on {found.ref} ({found.commit[:12]}); run `mlci run` there, or `mlci record fetch`"
        )
        return
    _print(found)


def _print(found) -> None:
    """The runs as a table (a column per metric, or one for them all when there are many), then
    the params each run changed, one line per run that changed any."""
    from mlci.report.format import number, param

    names = sorted({k for r in found.runs for k in r.metrics})
    wide = len(names) <= _WIDE
    columns = ["commit", "recorded", *(names if wide else ["metrics"])]
    rows = []
    for run in found.runs:
        values = [number(run.metrics.get(n)) for n in names]
        cells = values if wide else [", ".join(f"{n}={v}" for n, v in zip(names, values, strict=True) if v != "—")]
        rows.append([run.commit[:12], run.created_at[:16].replace("T", " "), *cells])
    right = set(range(2, 2 + len(names))) if wide else set()
    title = f"{len(found.runs)} recorded run(s) of {found.ref}, oldest first"
    table(title, columns, rows, right=right, keep={0, 1, *right})
    changed = [r for r in found.runs if r.changed]
    if changed:
        from mlci.report.terminal import plain

        click.echo("params changed:")
        for run in changed:
            click.echo(f"  {run.commit[:12]}  " + plain(", ".join(f"{k}={param(v)}" for k, v in run.changed.items())))
