"""`mlci init`: mlci.yaml, the example pipeline and the workflow templates."""

from __future__ import annotations

import click

from mlci.cli.options import here


@click.command()
@click.option(
    "--example",
    is_flag=False,
    flag_value="lightgbm",
    default=None,
    type=click.Choice(["lightgbm", "torch"]),
    help="Also write an example DVC pipeline: lightgbm (the default) or torch (PyTorch + DVCLive).",
)
@click.option(
    "--workflows",
    is_flag=True,
    help="Also install the GitHub workflows (PR training, baseline) into .github/workflows/.",
)
@click.option(
    "--runner",
    type=click.Choice(["gpu", "cpu"]),
    default="gpu",
    show_default=True,
    help="With --workflows: train on your self-hosted GPU runner, or on GitHub-hosted ubuntu-latest (CPU).",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(example: str | None, workflows: bool, runner: str, force: bool) -> None:
    """Scaffold mlci.yaml (and with --example a whole pipeline) into this git repo."""
    from mlci.workflows.scaffold import init as do_init
    from mlci.workflows.scaffold import undecided

    written = do_init(here(), example=example, force=force, workflows=workflows, runner=runner)
    for path in written:
        click.echo(f"wrote {path}")
    if "mlci.yaml" in written and not example:
        from mlci.workflows.scaffold import unfound

        for line in unfound(here()):
            click.echo(f"mlci: warning: {line}", err=True)
        names = undecided(here())
        if names:
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            click.echo(f"no direction known for {shown}: shown as changed until you give each a goal in mlci.yaml")
    if not written:
        click.echo("nothing to write: everything is already in place")
