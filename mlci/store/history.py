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


def recorded(repo: Plumb, ref: str, *, last: int | None = None) -> list[Entry]:
    """The first-parent commits of `ref` that have a run record, oldest first.

    `last`: only the newest `last` commits with a clean record, and the one before them (what
    their changed params are measured against): notes are then read newest first, in chunks,
    and the walk stops there, so `--last 20` of a long history parses 21 notes, not all.
    """
    walk = first_parents(repo, ref)
    listing = repo.notes_list(baseline.NOTES_REF)
    noted = [row for row in walk if row[0] in listing]
    if last is None:
        by_commit = baseline.records_by_commit(repo, [c for c, _when, _subject in noted])
        return [Entry(c, when, subject, by_commit[c]) for c, when, subject in noted if by_commit.get(c)]
    found: list[Entry] = []
    clean = 0
    chunk = last + 1
    position = len(noted)
    while position > 0 and clean < last + 1:
        rows = noted[max(0, position - chunk) : position]
        position -= len(rows)
        by_commit = baseline.records_by_commit(repo, [c for c, _when, _subject in rows])
        for c, when, subject in reversed(rows):
            records = by_commit.get(c)
            if not records:
                continue
            if clean < last + 1:
                found.append(Entry(c, when, subject, records))
                clean += any(not r.dirty for r in records)
    found.reverse()
    return found
