"""`mlci reproduce`: re-run a recorded commit in a fresh worktree and compare its numbers."""

from __future__ import annotations

import click

from mlci.cli.options import GIT_REF, FiniteFloat, here
from mlci.cli.output import emit_json, stage_progress, table

_ENV_ROWS_SHOWN = 15


@click.command()
@click.argument("rev", type=GIT_REF, default="HEAD")
@click.option(
    "--tolerance",
    type=FiniteFloat(0),
    default=None,
    metavar="REL",
    help="Relative tolerance for every metric (0.01 = 1 %); overrides mlci.yaml. Default: exact.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable result (schema in the README).")
@click.option("--keep", is_flag=True, help="Keep the worktree and print its path.")
def reproduce(rev: str, tolerance: float | None, as_json: bool, keep: bool) -> None:
    """Re-run REV (default HEAD, or pr/N) from scratch and check its recorded numbers.

    \b
    Exit codes: 0 reproduced, 1 a metric or the model digest differs,
    2 cannot reproduce (no record, data unavailable, pipeline failed).
    """
    from mlci.errors import CannotReproduce, VerdictFailed
    from mlci.workflows.reproduce import failure_dict
    from mlci.workflows.reproduce import reproduce as do_reproduce

    try:
        result = do_reproduce(here(), rev, tolerance=tolerance, keep=keep, on_event=stage_progress)
    except CannotReproduce as exc:
        if as_json:
            emit_json(failure_dict(rev, exc))
        raise
    if as_json:
        emit_json(result.to_dict())
    else:
        print_reproduction(result)
    if not result.reproduced:
        raise VerdictFailed(result.summary())


def print_reproduction(result) -> None:
    from mlci.report.format import signed

    def number(value: float | None) -> str:  # full precision: a reproduction is judged to the last digit
        return "—" if value is None else f"{value:.10g}"

    record = result.record
    pr = f", PR #{record.pr}" if record.pr is not None else ""
    click.echo(
        f"reproducing {result.commit[:12]} (record {record.id} of {record.created_at}{pr}) "
        f"in a fresh worktree: {result.seconds:.1f}s"
    )
    rows = []
    for m in result.metrics:
        tol = "exact" if m.tolerance == 0 else f"±{m.tolerance:.3g} rel ({m.tolerance_source})"
        rows.append(
            [
                m.name if len(result.metrics) == len({x.name for x in result.metrics}) else f"{m.file}:{m.name}",
                number(m.recorded),
                number(m.reproduced),
                signed(m.delta),
                tol,
                "✓" if m.within else "✗",
            ]
        )
    if result.model is not None:
        digest = result.model
        if digest.checked:
            mark = "✓" if digest.match else "✗"
        else:
            mark = "= (not required)" if digest.match else "≠ (not required)"
        rows.append(
            [
                f"model digest ({digest.path})",
                digest.recorded[:12],
                digest.reproduced[:12] if digest.reproduced else "missing",
                "",
                "exact",
                mark,
            ]
        )
    table(None, ["metric", "recorded", "reproduced", "Δ", "tolerance", "within tolerance"], rows, right={1, 2, 3})
    if result.environment:
        shown = result.environment[:_ENV_ROWS_SHOWN]
        table(
            "environment differences (recorded run → this machine)",
            ["what", "recorded", "now"],
            [[d.key, d.recorded, d.current] for d in shown],
        )
        if len(result.environment) > len(shown):
            click.echo(f"… and {len(result.environment) - len(shown)} more (see --json)")
    else:
        click.echo("environment: same Python, packages and devices as the recorded run")
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.worktree is not None:
        click.echo(f"worktree kept at {result.worktree} (remove it: git worktree remove --force {result.worktree})")
    if result.reproduced:
        click.echo(result.summary())
