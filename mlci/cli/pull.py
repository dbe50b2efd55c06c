"""`mlci pull`: fetch the DVC-tracked inputs the pipeline needs, before it runs."""

from __future__ import annotations

import click

from mlci.cli.options import here
from mlci.cli.output import emit_json


@click.command()
@click.argument("targets", nargs=-1)
@click.option("-r", "--remote", default=None, help="DVC remote to pull from (default: the project's default).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def pull(targets: tuple[str, ...], remote: str | None, as_json: bool) -> None:
    """`dvc pull` of TARGETS (default: the `dvc add`-tracked inputs of the pipeline's stages).

    Exit 7 when the remote cannot be reached, 8 when it lacks an object this commit needs.
    """

    from mlci.workflows.pull import pull as do_pull

    result = do_pull(here(), list(targets), remote=remote)
    if as_json:
        emit_json(result.as_dict())
        return
    if not result.targets:
        click.echo(f"mlci pull: {result.output}")
        return
    remotes = f" from {', '.join(result.remotes)}" if result.remotes else ""
    click.echo(f"mlci pull: {', '.join(result.targets)}{remotes}")
    if result.output:
        click.echo(result.output)
