"""`mlci promote` and `mlci registry list|show|pull`: thin commands over `mlci.integrations.registry`."""

from __future__ import annotations

import os
from pathlib import Path

import click

from mlci.cli.options import PR_NUMBER, config_option
from mlci.cli.output import emit_json, table, warn


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
@click.option("--commit", default=None, metavar="REF", help="Promote the run recorded at REF (default: HEAD).")
@click.option(
    "--pr", type=PR_NUMBER, default=None, help="Check this PR's approval on GitHub (in Actions: the event's PR)."
)
@click.option("--force", is_flag=True, help="Promote without approval (local use; recorded in the version's metadata).")
@click.option("--allow-regression", is_flag=True, help="Promote although the run failed its gate (recorded).")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def promote(model, version, bump, stage, commit, pr, force, allow_regression, config_path, as_json) -> None:
    """Register the model of HEAD's run as a new version (GTO git tags or MLflow), optionally staged."""
    from mlci.workflows.promote import github_approval
    from mlci.workflows.promote import promote as do_promote

    pr = pr if pr is not None else _ci_pr()
    approval = github_approval(pr) if pr is not None else None
    result = do_promote(
        ".",
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
    )
    for message in result.warnings:
        warn(message)
    if as_json:
        emit_json(result.to_dict())
        return
    v = result.version
    ref = f"{v.name}@{v.version}"
    if result.created:
        click.echo(f"registered {ref} (sha256 {v.sha256[:12]}…, commit {v.commit[:12]}) in {v.backend}")
    else:
        click.echo(f"{ref} already holds this model (sha256 {v.sha256[:12]}…): nothing new registered")
    if result.stage_assigned:
        click.echo(f"assigned stage {result.stage}: {v.name}#{result.stage} -> {v.version}")


def _backend(config_path: Path | None):
    from mlci.integrations.registry import open_backend
    from mlci.store import config as config_mod
    from mlci.store import gitrepo

    repo = gitrepo.open_repo(".")
    root = gitrepo.root(repo)
    return open_backend(root, config_mod.load(root, config_path).section("registry"))


@click.group()
def registry() -> None:
    """List, inspect and download registered model versions."""


@registry.command("list")
@click.argument("name", required=False)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_versions(name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Every version (of NAME, or of all models) with its stages."""
    versions = _backend(config_path).versions(name)
    if as_json:
        emit_json([v.to_dict() for v in versions])
        return
    if not versions:
        click.echo("no registered versions yet; `mlci promote` registers one")
        return
    rows = [
        [v.name, v.version, ", ".join(v.stages), v.commit[:12], (v.sha256 or "?")[:12], v.created_at] for v in versions
    ]
    table(None, ["model", "version", "stages", "commit", "sha256", "created"], rows)


@registry.command("show")
@click.argument("ref")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(ref: str, config_path: Path | None, as_json: bool) -> None:
    """One version: REF is NAME, NAME@vX.Y.Z or NAME#stage."""
    from mlci.model.refs import parse

    v = _backend(config_path).resolve(parse(ref))
    if as_json:
        emit_json(v.to_dict())
        return
    meta = v.metadata
    rows = [
        ["version", f"{v.name}@{v.version}"],
        ["stages", ", ".join(v.stages) or "-"],
        ["commit", v.commit],
        ["sha256", v.sha256 or "unknown (registered without mlci)"],
        ["size", str(v.size or "?")],
        ["path", v.path],
        ["run record", str(meta.get("record", "-"))],
        ["approval", str(meta.get("approval", "-"))],
    ]
    for values in (meta.get("metrics") or {}).values():
        rows.extend(
            [[f"metric {k}", f"{val:.6g}" if isinstance(val, float) else str(val)] for k, val in sorted(values.items())]
        )
    table(None, ["field", "value"], rows)


@registry.command("card")
@click.argument("ref")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def card(ref: str, config_path: Path | None, as_json: bool) -> None:
    """The model card stored with REF (markdown): code, data, params, metrics with CIs, approval."""
    from mlci.model.refs import parse

    v = _backend(config_path).resolve(parse(ref))
    if as_json:
        emit_json({"name": v.name, "version": v.version, "card": v.card or None})
        return
    if not v.card:
        warn(f"{v.name}@{v.version} has no model card (registered by another tool or an older mlci)")
        return
    click.echo(v.card, nl=False)


@registry.command("pull")
@click.argument("ref")
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="Directory to write the model into (default: here).",
)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pull(ref: str, output: Path, config_path: Path | None, as_json: bool) -> None:
    """Download REF's model, verifying its sha256 (a corrupted artifact is refused, exit 8)."""
    from mlci.model.refs import parse

    pulled = _backend(config_path).pull(parse(ref), output.resolve())
    if as_json:
        emit_json({"version": pulled.version.to_dict(), "file": str(pulled.file), "sha256": pulled.sha256})
        return
    click.echo(
        f"pulled {pulled.version.name}@{pulled.version.version} to {pulled.file} (sha256 {pulled.sha256[:12]}… verified)"
    )
