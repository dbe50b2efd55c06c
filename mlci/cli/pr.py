"""`mlci pr`: pull requests mlci opens itself (the scheduled retrain)."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import GIT_REF, ProjectPath, here
from mlci.cli.output import emit_json, warn


@click.group()
def pr() -> None:
    """Pull requests opened by mlci (the scheduled retrain)."""


@pr.command("create")
@click.option(
    "--branch",
    default="mlci/retrain",
    show_default=True,
    help="Head branch, force-pushed each time (one open PR per branch).",
)
@click.option(
    "--base", "base_branch", type=GIT_REF, default=None, help="Base branch (default: the repository's default branch)."
)
@click.option("--title", default="mlci: retrain on fresh data", show_default=True)
@click.option(
    "--body-file",
    type=ProjectPath(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Markdown for the PR body and the report comment (e.g. mlci-report/report.md).",
)
@click.option("--message", default="mlci: retrain on fresh data", show_default=True, help="Commit message.")
@click.option("--remote", default="origin", show_default=True)
@click.option(
    "--repo", "repo_slug", envvar="GITHUB_REPOSITORY", default=None, help="owner/name (default: $GITHUB_REPOSITORY)."
)
@click.option("--json", "as_json", is_flag=True)
def create(
    branch: str,
    base_branch: str | None,
    title: str,
    body_file: Path | None,
    message: str,
    remote: str,
    repo_slug: str | None,
    as_json: bool,
) -> None:
    """Commit the working tree's changes to BRANCH, push it and open (or update) its one PR.

    The token comes from $GITHUB_TOKEN (never printed); the API from $GITHUB_API_URL.
    """
    from mlci.errors import DataError
    from mlci.store.safeyaml import read_text
    from mlci.workflows.retrain import publish_pr

    body = read_text(body_file, f"--body-file {body_file}", DataError) if body_file else ""
    result = publish_pr(
        here(),
        branch=branch,
        base=base_branch,
        title=title,
        body=body,
        message=message,
        remote=remote,
        repo_slug=repo_slug,
    )
    if as_json:
        emit_json(result.to_dict())
        return
    for note in result.notes:
        warn(note)
    click.echo(f"{result.action} PR #{result.number}: {result.url}")
