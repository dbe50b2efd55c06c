"""`mlci gate`: the verdict of the goals in mlci.yaml, nothing rendered (`mlci.workflows.evaluate`)."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import base_option, config_option, here
from mlci.cli.output import emit_json


@click.command()
@base_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def gate(base_ref: str | None, config_path: Path | None, as_json: bool) -> None:
    """Apply the goals in mlci.yaml: exit 0 when they pass, 1 when one fails, 5 when there is nothing to check."""
    from mlci.errors import DataError, VerdictFailed
    from mlci.workflows.evaluate import evaluate

    verdict = evaluate(here(), base_ref=base_ref, config_path=config_path).verdict  # nothing rendered
    nothing = next((f for f in verdict.failures if f.kind == "nothing"), None)
    if nothing is not None:  # not a verdict: the metrics gave the gate no number to judge
        if as_json:
            emit_json(verdict.to_dict())
        raise DataError(nothing.message)
    if as_json:
        emit_json(verdict.to_dict())
    else:
        from mlci.report.terminal import finding_lines

        for line in finding_lines(verdict, multi=True):
            click.echo(line)
        click.echo(f"{verdict.mark} {verdict.summary()} ({verdict.checked} goal(s) checked)")
    if not verdict.passed:
        raise VerdictFailed(verdict.summary())
