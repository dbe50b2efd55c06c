"""`mlci registry list|show|card|pull`: thin commands over `mlci.integrations.registry`."""

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
    type=ProjectPath(file_okay=False, path_type=Path),
    default=Path(here()),
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
