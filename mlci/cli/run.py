"""`mlci run`: the DVC pipeline, recorded in git notes."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import config_option, here
from mlci.cli.output import emit_json, stage_progress, table, warn


@click.command()
@config_option
@click.option("--force", is_flag=True, help="Re-run every stage even if its inputs did not change.")
@click.option("--no-record", is_flag=True, help="Do not store the run record in git notes.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
def run(config_path: Path | None, force: bool, no_record: bool, as_json: bool) -> None:
    """Run the DVC pipeline and record params, metrics, hashes and timings for HEAD."""
    from mlci.workflows.run import run as do_run

    record = do_run(here(), config_path=config_path, force=force, store=not no_record, on_event=stage_progress)
    for message in record.warnings:
        warn(message)
    if as_json:
        emit_json(record.to_dict())
        return
    ran = [s.name for s in record.stages if s.status == "ran"]
    click.echo(
        f"recorded run {record.id} for {record.commit[:12]}"
        f" ({len(ran)} stage(s) ran{': ' + ', '.join(ran) if ran else ', nothing changed'})"
    )
    rows = [[f, k, f"{v:.6g}"] for f, values in sorted(record.metrics.items()) for k, v in sorted(values.items())]
    table(None, ["file", "metric", "value"], rows, right={2})
