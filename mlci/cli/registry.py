"""`mlci registry …`: thin commands over `mlci.integrations.registry`.

Reads (list, show, card, pull, history) never write to the registry; the lifecycle commands
(assign, unassign, deregister, deprecate) write the tags GTO writes (or MLflow's equivalent), and
`recover` settles what an interrupted write left.
"""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import ProjectPath, config_option, here
from mlci.cli.output import emit_json, table, warn


def _backend(config_path: Path | None):
    from mlci.integrations.registry import open_backend
    from mlci.store.project import Project

    project = Project.open(here(), config_path, pipeline=False)  # a registry read needs no pipeline
    return open_backend(project.root, project.config.registry)


def _note_pending(backend) -> None:
    """Reads leave an interrupted write alone; say that it is there and how to settle it."""
    pending = backend.pending()
    if pending:
        warn(
            f"an interrupted registry write left {', '.join(pending)}, not shown; "
            "`mlci registry recover` finishes or undoes it (so does the next promote)"
        )


@click.group()
def registry() -> None:
    """List, inspect, download and retire registered model versions."""


@registry.command("list")
@click.argument("name", required=False)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_versions(name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Every version (of NAME, or of all models) with its stages."""
    backend = _backend(config_path)
    versions = backend.versions(name)
    _note_pending(backend)
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
    """One version: REF is NAME, NAME@vX.Y.Z or NAME#stage (MLflow: NAME@alias, NAME/3, models:/…)."""
    backend = _backend(config_path)
    v = backend.resolve(backend.parse(ref))
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
    backend = _backend(config_path)
    v = backend.resolve(backend.parse(ref))
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
    type=ProjectPath(file_okay=False, path_type=Path),
    default=Path(here()),
    help="Directory to write the model into (default: here).",
)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pull(ref: str, output: Path, config_path: Path | None, as_json: bool) -> None:
    """Download REF's model, verifying its sha256 (a corrupted artifact is refused, exit 8)."""
    backend = _backend(config_path)
    pulled = backend.pull(backend.parse(ref), output.resolve())
    if as_json:
        emit_json({"version": pulled.version.to_dict(), "file": str(pulled.file), "sha256": pulled.sha256})
        return
    click.echo(
        f"pulled {pulled.version.name}@{pulled.version.version} to {pulled.file} (sha256 {pulled.sha256[:12]}… verified)"
    )


@registry.command("history")
@click.argument("name", required=False)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def history(name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Every registry event (of NAME), newest first, as `gto history` lists them."""
    backend = _backend(config_path)
    events = backend.history(name)
    _note_pending(backend)
    if as_json:
        emit_json([e.to_dict() for e in events])
        return
    if not events:
        click.echo("no registry events yet; `mlci promote` registers a version")
        return
    rows = [[e.timestamp, e.artifact, e.event, e.version or "-", e.stage or "-", e.commit[:12], e.ref] for e in events]
    table(None, ["timestamp", "model", "event", "version", "stage", "commit", "ref"], rows)


@registry.command("assign")
@click.argument("ref")
@click.argument("stage")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def assign(ref: str, stage: str, config_path: Path | None, as_json: bool) -> None:
    """Put the version REF names (NAME@vX.Y.Z, NAME#other-stage; MLflow NAME/3) in STAGE."""
    from mlci.model.refs import check_name

    backend = _backend(config_path)
    check_name(stage, "stage")
    version = backend.assign(backend.resolve(backend.parse(ref)), stage)
    if as_json:
        emit_json(version.to_dict())
        return
    click.echo(f"assigned stage {stage}: {version.name}#{stage} -> {version.version}")


def _stage_of(backend, ref: str, stage: str | None):
    """(version, stage) for `unassign`: REF names the stage (NAME#stage, MLflow NAME@alias), or a version plus STAGE."""
    from mlci.errors import UsageError

    parsed = backend.parse(ref)
    if parsed.stage and stage and stage != parsed.stage:
        raise UsageError(f"{ref} names stage '{parsed.stage}' but STAGE is '{stage}'; give one of them")
    stage = stage or parsed.stage
    if not stage:
        raise UsageError(f"which stage? write `mlci registry unassign {parsed.name}#STAGE` or `… {ref} STAGE`")
    return backend.resolve(parsed), stage


@registry.command("unassign")
@click.argument("ref")
@click.argument("stage", required=False)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def unassign(ref: str, stage: str | None, config_path: Path | None, as_json: bool) -> None:
    """Take a stage off a version: REF is NAME#stage (the version in it), or NAME@vX.Y.Z STAGE.

    GTO's rule applies: a version assigned the stage earlier, and not unassigned, holds it again."""
    backend = _backend(config_path)
    version, stage = _stage_of(backend, ref, stage)
    backend.unassign(version, stage)
    now = next((v for v in backend.versions(version.name) if stage in v.stages), None)
    if as_json:
        emit_json({"name": version.name, "version": version.version, "stage": stage, "now": now and now.version})
        return
    after = (
        f"{version.name}#{stage} is now {now.version} (its earlier assignment stands)" if now else "no version holds it"
    )
    click.echo(f"unassigned {stage} from {version.name}@{version.version}; {after}")


@registry.command("deregister")
@click.argument("ref")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def deregister(ref: str, config_path: Path | None, as_json: bool) -> None:
    """Retire one version (REF: NAME@vX.Y.Z; MLflow NAME/3, archived): no longer listed or resolved."""
    backend = _backend(config_path)
    parsed = backend.parse(ref)
    if parsed.version is None:
        from mlci.errors import UsageError

        raise UsageError(f"deregister needs one version: write {parsed.name}@vX.Y.Z (MLflow: {parsed.name}/3)")
    version = backend.resolve(parsed)
    backend.deregister(version)
    if as_json:
        emit_json({"name": version.name, "version": version.version, "deregistered": True})
        return
    click.echo(f"deregistered {version.name}@{version.version}")


@registry.command("deprecate")
@click.argument("name")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def deprecate(name: str, config_path: Path | None, as_json: bool) -> None:
    """Retire the whole model NAME (GTO's NAME@deprecated); registering a new version revives it."""
    backend = _backend(config_path)
    parsed = backend.parse(name)
    if parsed.version or parsed.stage:
        from mlci.errors import UsageError

        raise UsageError(f"deprecate takes a model name, not '{name}'; write `mlci registry deprecate {parsed.name}`")
    backend.deprecate(parsed.name)
    if as_json:
        emit_json({"name": parsed.name, "deprecated": True})
        return
    click.echo(f"deprecated {parsed.name}")


@registry.command("recover")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def recover(config_path: Path | None, as_json: bool) -> None:
    """Finish or undo what an interrupted registry write of this clone left (reads never do)."""
    done = _backend(config_path).recover()
    if as_json:
        emit_json(done.to_dict())
        return
    if not done.finished and not done.undone:
        click.echo("nothing to recover")
    if done.finished:
        click.echo(f"finished: pushed {', '.join(done.finished)}")
    if done.undone:
        click.echo(f"undone: deleted {', '.join(done.undone)} (incomplete, or taken meanwhile)")
