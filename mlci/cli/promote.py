"""`mlci promote`: register the model of a run, after its approval or merge."""

from __future__ import annotations

import os

import click

from mlci.cli.options import GIT_REF, PR_NUMBER, config_option, here
from mlci.cli.output import emit_json, warn


def _ci_pr() -> int | None:
    """The PR number of the running GitHub Actions event, if it is about a PR."""
    if os.environ.get("GITHUB_ACTIONS") != "true":
        return None
    from mlci.integrations.github.event import from_env

    return from_env().pr


_STEPS = {
    "uploaded": "model bytes uploaded and verified (sha256 read back)",
    "numbered": "version number chosen",
    "tags-created": "registry tags created",
    "pushed": "registry tags pushed",
    "version-created": "MLflow version created",
}


def _progress(step: str) -> None:
    if step == "tag-created":
        return  # between two tags of one set: a crash-test seam, not news
    click.echo(f"  · {_STEPS.get(step, step)}", err=True)


@click.command()
@click.option(
    "--model", default=None, metavar="NAME", help="Model to promote (default: the one in mlci.yaml / dvc.yaml)."
)
@click.option("--version", "version", default=None, metavar="vX.Y.Z", help="Exact version to register.")
@click.option(
    "--bump",
    type=click.Choice(["major", "minor", "patch"]),
    default=None,
    help="Bump the latest version (default: patch; the first version is v0.0.1).",
)
@click.option("--stage", default=None, help="Also assign this stage (default: registry.stage in mlci.yaml).")
@click.option(
    "--commit", type=GIT_REF, default=None, metavar="REF", help="Promote the run recorded at REF (default: HEAD)."
)
@click.option(
    "--pr", type=PR_NUMBER, default=None, help="Check this PR's approval on GitHub (in Actions: the event's PR)."
)
@click.option("--force", is_flag=True, help="Promote without approval (local use; recorded in the version's metadata).")
@click.option("--allow-regression", is_flag=True, help="Promote although the run failed its gate (recorded).")
@click.option(
    "--unverified",
    is_flag=True,
    help="Promote a run record without checking on GitHub that its CI run published it (recorded).",
)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def promote(model, version, bump, stage, commit, pr, force, allow_regression, unverified, config_path, as_json) -> None:
    """Register the model of HEAD's run as a new version (GTO git tags or MLflow), optionally staged.

    The run record must be the one its CI run published: checked on GitHub with GITHUB_TOKEN and
    GITHUB_REPOSITORY; without them pass --unverified (or --force), which the version records."""
    from mlci.workflows.promote import github_approval, github_verifier
    from mlci.workflows.promote import promote as do_promote

    pr = pr if pr is not None else _ci_pr()
    approval = github_approval(pr) if pr is not None else None
    result = do_promote(
        here(),
        model=model,
        version=version,
        bump=bump,
        stage=stage,
        force=force,
        allow_regression=allow_regression,
        approval=approval,
        commit=commit,
        config_path=config_path,
        on_step=None if as_json else _progress,
        verify=github_verifier(),
        unverified=unverified,
    )
    for message in result.warnings:
        warn(message)
    if as_json:
        emit_json(result.to_dict())
        return
    v = result.version
    ref = f"{v.name}@{v.version}"
    digest = (v.sha256 or "?")[:12]
    if result.created:
        click.echo(f"registered {ref} (sha256 {digest}…, commit {v.commit[:12]}) in {v.backend}")
    else:
        click.echo(f"{ref} already holds this model (sha256 {digest}…): nothing new registered")
    if result.stage_assigned:
        click.echo(f"assigned stage {result.stage}: {v.name}#{result.stage} -> {v.version}")
