"""`mlci diff`: every metric and param of this branch versus its merge-base (light: no GitPython)."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import base_option, config_option, here
from mlci.cli.output import emit_json, print_comparison


@click.command()
@base_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (schema in the README).")
@click.option("--md", "as_md", is_flag=True, help="A markdown table.")
def diff(base_ref: str | None, config_path: Path | None, as_json: bool, as_md: bool) -> None:
    """Show what this branch did to every metric and param versus its base."""
    from mlci.workflows.diff import diff as do_diff

    if as_json and as_md:
        raise click.UsageError("--json and --md are exclusive; pick one")
    comparison = do_diff(here(), base_ref=base_ref, config_path=config_path)
    if as_json:
        emit_json(comparison.to_dict())
    elif as_md:
        from mlci.report.diff_markdown import render

        click.echo(render(comparison), nl=False)
    else:
        print_comparison(comparison)
