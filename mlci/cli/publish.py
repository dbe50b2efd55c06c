"""`mlci publish`: post a PR training job's report bundle (`mlci.workflows.publish`), running no PR code."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mlci.cli.options import config_option, here
from mlci.cli.output import emit_json, warn


@click.command()
@click.option(
    "--bundle",
    "bundle_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The training job's bundle directory (its downloaded artifact), read strictly as data.",
)
@config_option
@click.option("--comment-id", default=None, help="Sticky comment id (default: ci.comment_id or 'mlci').")
@click.option(
    "--fail-on-regression",
    default=None,
    type=click.Choice(["true", "false"], case_sensitive=False),
    help="Exit 1 when the gate failed (default: ci.fail_on_regression or true).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def publish(
    bundle_dir: Path, config_path: Path | None, comment_id: str | None, fail_on_regression: str | None, as_json: bool
) -> None:
    """Inside GitHub Actions: validate a PR's report bundle, then comment, check, summarise, share its record."""
    from mlci.runner import tokenenv
    from mlci.workflows.publish import publish as do_publish

    environ = dict(os.environ)
    result = do_publish(
        here(),
        bundle_dir=bundle_dir,
        environ=environ,
        config_path=config_path,
        comment_id=comment_id,
        fail_on_regression=fail_on_regression,
        token=tokenenv.token(environ),
        on_note=None if as_json else warn,
    )
    if as_json:
        emit_json(
            {
                "pr": result.pr,
                "head_sha": result.head_sha,
                "verdict": result.verdict,
                "comment_url": result.comment_url,
                "check": result.check_kind,
                "record_shared": result.record_shared,
                "model_stored": result.model_stored,
                "notes": result.notes,
                "exit_code": result.exit_code,
            }
        )
    else:
        click.echo(f"mlci publish: PR #{result.pr} at {result.head_sha[:12]}, verdict {result.verdict}")
        if result.comment_url:
            click.echo(f"comment: {result.comment_url}")
    if result.exit_code:
        click.echo("mlci: the gate failed (exit 1); see the report", err=True)
        raise SystemExit(result.exit_code)
