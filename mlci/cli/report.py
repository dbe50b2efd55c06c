"""`mlci report` (markdown/html/json report with plots and CIs) and `mlci gate` (exit 0/1)."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import base_option, config_option
from mlci.cli.output import emit_json, warn


@click.command()
@base_option
@config_option
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for report.md, report.json, report.html and plots/ (default: ./mlci-report).",
)
@click.option(
    "--merge",
    "merge_dirs",
    multiple=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
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

        merged = merge_reports(list(merge_dirs), out_dir or Path("mlci-report"))
        click.echo(f"merged report: {merged}")
        return
    from mlci.workflows.report import build

    result = build(".", base_ref=base_ref, config_path=config_path, out_dir=out_dir)
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


@click.command()
@base_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
def gate(base_ref: str | None, config_path: Path | None, as_json: bool) -> None:
    """Apply the goals in mlci.yaml: exit 0 when they pass, 1 when one fails."""
    from mlci.errors import VerdictFailed
    from mlci.workflows.evaluate import evaluate

    verdict = evaluate(".", base_ref=base_ref, config_path=config_path).verdict  # nothing rendered
    if as_json:
        emit_json(verdict.to_dict())
    else:
        from mlci.report.terminal import plain

        for finding in verdict.failures:
            click.echo(f"✗ {plain(finding.model)}: {plain(finding.message)}")
        for finding in verdict.warnings:
            click.echo(f"⚠ {plain(finding.model)}: {plain(finding.message)}")
        click.echo(f"{verdict.mark} {verdict.summary()} ({verdict.checked} goal(s) checked)")
    if not verdict.passed:
        raise VerdictFailed(verdict.summary())
