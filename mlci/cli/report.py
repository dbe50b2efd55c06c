"""`mlci report`: the markdown/html/json report with plots and CIs (`mlci.workflows.report`)."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import ProjectPath, base_option, config_option, here
from mlci.cli.output import emit_json, warn


@click.command()
@base_option
@config_option
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=ProjectPath(file_okay=False, path_type=Path),
    default=None,
    help="Directory for report.md, report.json, report.html and plots/ (default: ./mlci-report).",
)
@click.option(
    "--merge",
    "merge_dirs",
    multiple=True,
    type=ProjectPath(file_okay=False, exists=True, path_type=Path),
    metavar="DIR",
    help="Merge the reports in these directories (sweeps) into one, instead of building.",
)
@click.option("--json", "as_json", is_flag=True, help="Print report.json to stdout instead of the summary.")
def report(
    base_ref: str | None, config_path: Path | None, out_dir: Path | None, merge_dirs: tuple[Path, ...], as_json: bool
) -> None:
    """Write the PR report: metric table with 95 % CIs, gate verdict, plots, run facts."""
    if merge_dirs:
        from mlci.workflows.sweep import merge_reports

        merged = merge_reports(list(merge_dirs), out_dir or here() / "mlci-report", config_root=here())
        click.echo(f"merged report: {merged}")
        return
    from mlci.workflows.report import build

    result = build(here(), base_ref=base_ref, config_path=config_path, out_dir=out_dir)
    if as_json:
        import json

        emit_json(json.loads(result.json.read_text(encoding="utf-8")))
        return
    from mlci.report.terminal import plain

    for model in result.context.models:
        for note in model.evidence.notes:
            warn(plain(f"{model.name}: {note}"))
    for note in result.context.notes:
        warn(plain(note))
    from mlci.report.terminal import lines

    for line in lines(result):
        click.echo(line)
    click.echo(f"json:    {result.json}")
    click.echo(f"plots:   {len(result.images)} in {result.out_dir / 'plots'}")
