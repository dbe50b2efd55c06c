"""Main's recorded history: the first-parent commits of a branch with their run records.

A branch's history is its first parents (the commits that were main's tip, one merge each),
oldest first. Reading it costs two git processes however long it is: one `git log` for the
walk, and the notes read in batch (`baseline.records_by_commit`: one `notes list`, one
`cat-file --batch`), never a process per commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlci.model.record import RunRecord
from mlci.store import baseline
from mlci.store.gitplumb import Plumb


@dataclass(frozen=True)
class Entry:
    """One first-parent commit and every run record stored for it (oldest first)."""

    commit: str
    committed_at: str  # ISO 8601, the committer date
    subject: str  # the commit message's first line (written by whoever merged: render escaped)
    records: list[RunRecord] = field(default_factory=list)


def first_parents(repo: Plumb, ref: str, *, limit: int | None = None) -> list[tuple[str, str, str]]:
    """(commit, committer date, subject) of `ref`'s first parents, oldest first; `limit`: the newest N."""
    args = ["log", "--first-parent", "--format=%H%x00%cI%x00%s", "--end-of-options", ref]
    if limit is not None:
        args.insert(2, f"--max-count={limit}")
    out = repo.run(*args)
    rows = []
    for line in out.splitlines():
        parts = line.split("\0")
        if len(parts) == 3:
            rows.append((parts[0], parts[1], parts[2]))
    rows.reverse()
    return rows


def recorded(repo: Plumb, ref: str, *, scan: int | None = None) -> list[Entry]:
    """The first-parent commits of `ref` (the newest `scan`, default all) that have a run record, oldest first."""
    walk = first_parents(repo, ref, limit=scan)
    by_commit = baseline.records_by_commit(repo, [c for c, _when, _subject in walk])
    return [Entry(commit, when, subject, by_commit[commit]) for commit, when, subject in walk if by_commit.get(commit)]
