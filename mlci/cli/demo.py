"""`mlci demo`: the whole PR loop on the bundled example, offline."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import ProjectPath
from mlci.cli.output import emit_json, print_comparison, stage_progress


@click.command()
@click.option(
    "--dir",
    "directory",
    type=ProjectPath(path_type=Path),
    default=None,
    help="Where to build the demo repo (default: a new temp dir).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def demo(directory: Path | None, as_json: bool) -> None:
    """Run the whole PR loop on the bundled example: offline, no GitHub."""
    from mlci.workflows.demo import demo as do_demo

    def step(message: str) -> None:
        click.echo(f"• {message}", err=True)

    result = do_demo(directory, on_step=step, on_event=stage_progress)
    if as_json:
        emit_json(
            {
                "directory": str(result.directory),
                "report": str(result.report),
                "comparison": result.comparison.to_dict(),
                "gate": result.gate,
                "artifacts": {k: str(v) for k, v in result.artifacts.items()},
            }
        )
        return
    from mlci.report.terminal import lines

    print_comparison(result.comparison)
    click.echo("")
    for line in lines(result.built):
        click.echo(line)
    click.echo(f"demo repo: {result.directory}")
    for name, path in result.artifacts.items():
        click.echo(f"{name + ':':<10} {path}")
