"""`mlci record`: inspect, push and fetch the run records stored in git notes."""

from __future__ import annotations

import click

from mlci.cli.options import GIT_REF, here
from mlci.cli.output import emit_json, table


@click.group()
def record() -> None:
    """Run records stored in git (refs/notes/mlci)."""


@record.command("show")
@click.argument("rev", type=GIT_REF, default="HEAD")
@click.option("--json", "as_json", is_flag=True)
def show(rev: str, as_json: bool) -> None:
    """The records stored for REV (default HEAD)."""
    from mlci.store import baseline, gitrepo

    repo = gitrepo.open_repo(here())
    commit = gitrepo.resolve(repo, rev)
    records = baseline.records_for(repo, commit)
    if as_json:
        emit_json([r.to_dict() for r in records])
        return
    if not records:
        click.echo(f"no run records for {commit[:12]}; run `mlci run` (or `mlci record fetch`)")
        return
    rows = [
        [
            r.id,
            r.created_at,
            r.branch or "—",
            "yes" if r.dirty else "no",
            ", ".join(f"{k}={v:.4g}" for vals in r.metrics.values() for k, v in sorted(vals.items())),
        ]
        for r in records
    ]
    table(f"records for {commit[:12]}", ["id", "created", "branch", "dirty", "metrics"], rows)


@record.command("push")
@click.option("--remote", default="origin", show_default=True)
def push(remote: str) -> None:
    """Push run records to REMOTE, merging a concurrent writer's records first."""
    from mlci.store import baseline, gitrepo

    baseline.push(gitrepo.open_repo(here()), remote)
    click.echo(f"pushed {baseline.NOTES_REF} to {remote}")


@record.command("fetch")
@click.option("--remote", default="origin", show_default=True)
def fetch(remote: str) -> None:
    """Fetch run records from REMOTE and merge them with the local ones."""
    from mlci.store import baseline, gitrepo

    baseline.fetch(gitrepo.open_repo(here()), remote)
    click.echo(f"fetched {baseline.NOTES_REF} from {remote}")


@record.command("repair")
@click.argument("rev", type=GIT_REF, required=False)
@click.option("--json", "as_json", is_flag=True)
def repair(rev: str | None, as_json: bool) -> None:
    """Set aside unreadable run records (of REV, default every commit) in refs/notes/mlci-quarantine.

    Nothing is deleted: `git notes --ref=mlci-quarantine show COMMIT` shows what was moved. A
    refs/notes/mlci that is not a notes commit (a blob, a missing object) is set aside first
    (refs/notes/mlci-corrupt) and restored from its reflog, or removed when no good value is left.
    """
    from mlci.cli.output import warn
    from mlci.store import baseline, gitrepo, notesref

    repo = gitrepo.open_repo(here())
    fixed = notesref.repair(gitrepo.root(repo))
    if fixed:
        (warn if as_json else click.echo)(fixed)
    commit = gitrepo.resolve(repo, rev) if rev else None
    moved = baseline.repair(repo, commit)
    if as_json:
        emit_json([{"commit": c, "line": line, "reason": why} for c, line, why in moved])
        return
    for c, _line, why in moved:
        click.echo(f"set aside a record on {c[:12]}: {why.split('; ')[0]}")
    click.echo(f"{len(moved)} unreadable record(s) moved to {baseline.QUARANTINE_REF}")
