"""`mlci retrain`: re-run on the data now in the tree and decide whether a retrain PR is due."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import ProjectPath, config_option, here
from mlci.cli.output import emit_json


@click.command()
@click.option(
    "--against",
    default=None,
    metavar="REF",
    help="Compare with: `production` (the registry's model in registry.stage, default), "
    "a registry ref (churn#prod, churn@v1.2.0) or a git ref (main).",
)
@click.option(
    "--report-dir",
    type=ProjectPath(file_okay=False, path_type=Path),
    default=Path("mlci-retrain"),
    show_default=True,
    help="Where report.md, report.json and data_drift.png go.",
)
@config_option
@click.option("--force", is_flag=True, help="Re-run every stage even if its inputs did not change.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def retrain(against: str | None, report_dir: Path, config_path: Path | None, force: bool, as_json: bool) -> None:
    """Re-run the pipeline on the data now in the tree and decide whether to open a retrain PR.

    Exit 0 either way; the decision is printed (and, in GitHub Actions, written to the step
    outputs `open_pr` and `report`). Follow with `mlci pr create` when it says so.
    """
    import os

    from mlci.cli.output import stage_progress
    from mlci.workflows.retrain import retrain as do_retrain

    outcome = do_retrain(
        here(),
        against=against,
        report_dir=report_dir,
        config_path=config_path,
        force=force,
        on_event=None if as_json else stage_progress,
    )
    decision = outcome.decision
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        from mlci.integrations.github.outputs import write_outputs

        write_outputs(Path(output), {"open_pr": "true" if decision.open_pr else "false", "report": str(outcome.report)})
    if as_json:
        emit_json(outcome.to_dict())
        return
    for note in decision.notes:
        click.echo(f"note: {note}")
    if decision.open_pr:
        click.echo("open a retrain PR (`mlci pr create --body-file " + str(outcome.report) + "`) because:")
        for reason in decision.reasons:
            click.echo(f"  - {reason}")
    else:
        click.echo("no retrain PR: metrics and data stayed within the thresholds")
    click.echo(f"report: {outcome.report}")
