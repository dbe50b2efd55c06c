"""`mlci comment`: create or update mlci's one comment on a PR."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mlci.cli.options import PR_NUMBER, ProjectPath
from mlci.cli.output import emit_json, warn


@click.command()
@click.option("--pr", "pr", type=PR_NUMBER, required=True, help="Pull request number.")
@click.option("--repo", default=None, metavar="OWNER/NAME", help="Repository (default: $GITHUB_REPOSITORY).")
@click.option(
    "--body-file",
    type=ProjectPath(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="Markdown to post (e.g. report.md); '-' is not accepted.",
)
@click.option(
    "--id",
    "comment_id",
    default="mlci",
    show_default=True,
    help="Which sticky comment: one per id, so two models/workflows keep separate comments.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def comment(pr: int, repo: str | None, body_file: Path, comment_id: str, as_json: bool) -> None:
    """Create or update mlci's one comment on a PR (token from $GITHUB_TOKEN)."""
    from mlci.errors import DataError
    from mlci.integrations.github import client as client_mod
    from mlci.integrations.github import comments
    from mlci.integrations.github.client import split_repo
    from mlci.store.safeyaml import read_text

    repo = repo or os.environ.get("GITHUB_REPOSITORY", "")
    split_repo(repo)
    body = read_text(body_file, f"--body-file {body_file}", DataError)  # binary, huge or a FIFO: one line
    with client_mod.from_env() as client:
        result = comments.upsert(client, repo, pr, body, comment_id=comment_id)
    if as_json:
        emit_json({"action": result.action, "id": result.id, "url": result.url, "trimmed": result.trimmed})
        return
    click.echo(f"{result.action} comment {result.url}")
    if result.trimmed:
        warn("the body was longer than GitHub allows (65,536 characters) and was trimmed")
