"""`mlci ci`: what the GitHub Action runs (admit, run, publish phases over `mlci.workflows.ci`)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mlci.cli.options import GIT_REF, ProjectPath, config_option, here
from mlci.cli.output import emit_json, warn


@click.command()
@config_option
@click.option(
    "--base", "base_ref", type=GIT_REF, default=None, metavar="REF", help="Compare with REF (default: the PR's base)."
)
@click.option("--comment-id", default=None, help="Sticky comment id (default: ci.comment_id or 'mlci').")
@click.option(
    "--fail-on-regression",
    default=None,
    type=click.Choice(["true", "false"], case_sensitive=False),
    help="Fail the step (exit 1) when the gate fails (default: ci.fail_on_regression or true).",
)
@click.option(
    "--publisher",
    default="mlci",
    show_default=True,
    type=click.Choice(["mlci", "cml"]),
    help="Who posts the PR comment: mlci itself, or an installed CML CLI.",
)
@click.option(
    "--phase",
    default="all",
    show_default=True,
    type=click.Choice(["all", "admit", "verify", "train", "run", "publish"]),
    help="admit (token: fork gate); verify, train (no token: the PR training job of the split); "
    "run (no token), publish (token): the single-job steps, same-repository PRs only.",
)
@click.option(
    "--admitted-sha",
    default=None,
    metavar="SHA",
    help="verify/train: the head SHA the admit job admitted (its head-sha output); the workspace must be it.",
)
@click.option(
    "--bundle-dir",
    type=ProjectPath(file_okay=False, path_type=Path),
    default=None,
    help="train: write the report bundle here (default: $RUNNER_TEMP/mlci/bundle).",
)
@click.option(
    "--admit-nonce",
    envvar="MLCI_ADMIT_NONCE",
    default=None,
    metavar="NONCE",
    help="run/publish: the admit step's admit-nonce output (default: $MLCI_ADMIT_NONCE).",
)
@click.option(
    "--baseline-trust",
    envvar="MLCI_BASELINE_TRUST",
    default=None,
    metavar="JSON",
    help="train: the admit job's baseline-trust output (the base records main's CI run published).",
)
@click.option(
    "--records",
    "records_file",
    envvar="MLCI_RECORDS",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="train: import the run records from FILE (the admit job's records-path artifact) instead of "
    "fetching them from origin, which a private repository refuses without a token.",
)
@click.option(
    "--single-job",
    is_flag=True,
    help="admit: this job goes on to run and publish (refused for fork PRs; checks write permissions).",
)
@click.option(
    "--state-dir",
    type=ProjectPath(file_okay=False, path_type=Path),
    default=None,
    help="Where phases hand over their state (default: $RUNNER_TEMP/mlci/state).",
)
@click.option(
    "--runner-environment",
    default=None,
    type=click.Choice(["self-hosted", "github-hosted"]),
    help="Judge fork admission for this kind of runner (default: $RUNNER_ENVIRONMENT; unset: self-hosted).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def ci(
    config_path: Path | None,
    base_ref: str | None,
    comment_id: str | None,
    fail_on_regression: str | None,
    publisher: str,
    phase: str,
    state_dir: Path | None,
    runner_environment: str | None,
    admitted_sha: str | None,
    bundle_dir: Path | None,
    admit_nonce: str | None,
    single_job: bool,
    baseline_trust: str | None,
    records_file: Path | None,
    as_json: bool,
) -> None:
    """Inside GitHub Actions: run, report, comment, check, summarise, gate (what the action runs)."""
    from mlci.runner import tokenenv
    from mlci.workflows.ci import ci as do_ci

    environ = dict(os.environ)
    if runner_environment:
        environ["RUNNER_ENVIRONMENT"] = runner_environment
    token = tokenenv.token(environ)
    for name in tokenenv.secret_names(environ):  # the pipeline runs the PR's code: it never sees the token
        os.environ.pop(name, None)
        environ.pop(name, None)
    result = do_ci(
        here(),
        environ=environ,
        config_path=config_path,
        base_ref=base_ref,
        comment_id=comment_id,
        fail_on_regression=fail_on_regression,
        publisher=publisher,
        phase=phase,
        token=token,
        state_dir=state_dir,
        admit_nonce=admit_nonce,
        admitted_sha=admitted_sha,
        bundle_dir=bundle_dir,
        single_job=single_job,
        baseline_trust=baseline_trust,
        records_file=records_file,
        on_note=None if as_json else warn,
    )
    if as_json:
        emit_json(
            {
                "event": result.event,
                "action": result.action,
                "verdict": result.verdict,
                "report_path": str(result.report_path) if result.report_path else None,
                "comment_url": result.comment_url,
                "check": result.check_kind,
                "notes": result.notes,
                "promotion": result.promotion.to_dict() if result.promotion is not None else None,
                "exit_code": result.exit_code,
            }
        )
    else:
        click.echo(f"mlci ci: {result.event} → {result.action}, verdict {result.verdict}")
        if result.report_path:
            click.echo(f"report:  {result.report_path}")
        if result.comment_url:
            click.echo(f"comment: {result.comment_url}")
    if result.exit_code:
        click.echo("mlci: the gate failed (exit 1); see the report", err=True)
        raise SystemExit(result.exit_code)
