"""Run records as a file: how the split's training job, which holds no credential, gets the
baseline records of a private repository.

The training job runs the PR's code and has no token, so it can fetch `refs/notes/mlci` only
from a public repository. The admit job (a read token, runs no PR code) has fetched them: it
writes the records the training job may compare with, as JSON lines (`export`), into a file
it uploads as an artifact. Those are the records of the merge-base and of its nearest
ancestors (what `mlci diff` may choose: `baseline.baseline_for`, `baseline.same_inputs`), then
of the PR's own commits (earlier runs' stage timings), nearest first, up to `LIMIT_BYTES`.

The training job imports the file strictly as data (`load`) before it chooses its base: the
PR's code ran in that job before (its requirements' install), so the file may be anything.
It must be a regular file (opened with O_NOFOLLOW) of at most `LIMIT_BYTES`; each line must
be a JSON object that `RunRecord.from_dict` accepts, for a commit this checkout has. Anything
else is skipped, one note per line. The records are written as notes with git's hooks and
user/system config off (`gitsafe.plumbing`), next to the lines already there, and are never
marked as written by this clone. Which of them is trusted as a baseline is still decided by
provenance (the admit job's baseline-trust output), not by this file.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mlci.errors import DataError, GitCommandError, MlciError
from mlci.model.record import RunRecord
from mlci.store import atomicio, baseline, gitsafe
from mlci.store.gitplumb import Plumb

LIMIT_BYTES = 16 * 1024 * 1024  # the whole file, checked before a byte is read
DEPTH = 50  # ancestors of the merge-base, as far back as `baseline.same_inputs` looks
_NOTES_SHOWN = 5  # skipped lines named one by one; the rest are counted
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Exported:
    path: Path
    records: int
    left_out: int  # records over the size limit (the farthest from the merge-base)


@dataclass(frozen=True)
class Imported:
    records: int
    commits: int
    skipped: int


def export(root: Path, head: str, base: str, target: Path, *, depth: int = DEPTH, limit: int = LIMIT_BYTES) -> Exported:
    """Write the records of `base`'s nearest `depth` ancestors (itself first), then of the commits
    of `head` not in `base`, one JSON line each, nearest first, into `target` (at most `limit`)."""
    with Plumb(root) as plumb:
        ancestors = (plumb.run_ok("rev-list", f"--max-count={depth}", base) or "").split()
        own = (plumb.run_ok("rev-list", f"--max-count={depth}", head, "--not", base) or "").split()
        commits = list(dict.fromkeys([*ancestors, *own]))
        found = baseline.records_by_commit(plumb, commits)
    lines: list[str] = []
    size = left_out = 0
    for sha in commits:
        for record in reversed(found.get(sha, [])):
            line = record.to_json() + "\n"
            if size + len(line.encode("utf-8")) > limit:
                left_out += 1
                continue
            lines.append(line)
            size += len(line.encode("utf-8"))
    atomicio.write_text(target, "".join(lines))
    return Exported(target, len(lines), left_out)


def _read(path: Path, limit: int) -> bytes:
    """The file's bytes: a regular file, opened without following a link, size checked on the descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise DataError(f"cannot open it ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DataError("it is not a regular file")
        if info.st_size > limit:
            raise DataError(f"it is {info.st_size} bytes, over the {limit}-byte limit")
        chunks, left = [], limit + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise DataError(f"it grew over the {limit}-byte limit while it was read")
    return data


def _parse(line: bytes) -> RunRecord:
    try:
        data = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DataError("not UTF-8 JSON (or a number or nesting too large)") from None
    if not isinstance(data, dict):
        raise DataError(f"a JSON {type(data).__name__}, not an object")
    record = RunRecord.from_dict(data)
    if not _SHA.fullmatch(record.commit):
        raise DataError(f"run record {record.id} names no full commit SHA")
    return record


def _existing(root: Path, commits: list[str]) -> set[str]:
    """Which of `commits` (checked 40-hex SHAs) are commits of this checkout."""
    if not commits:
        return set()
    out = gitsafe.plumbing(
        root, ["cat-file", "--batch-check"], stdin="".join(f"{c}^{{commit}}\n" for c in commits).encode()
    )
    answers = [answer.split() for answer in out.splitlines()]
    return {c for c, parts in zip(commits, answers, strict=False) if parts[:2] == [c, "commit"]}


def load(root: Path, path: Path, note: Callable[[str], None], *, limit: int = LIMIT_BYTES) -> Imported:
    """Import the records file at `path` into this checkout's refs/notes/mlci (see the module
    docstring); every line it cannot use is a note, and a file it cannot read at all is one."""
    shown = str(path)[:200]
    try:
        data = _read(path, limit)
    except DataError as exc:
        note(f"the run records file {shown} is refused: {exc.message}; comparing with the records in this checkout")
        return Imported(0, 0, 0)
    records: list[RunRecord] = []
    skipped: list[str] = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(_parse(line))
        except DataError as exc:
            skipped.append(f"line {number}: {exc.message}")
    known = _existing(root, sorted({r.commit for r in records}))
    for record in records:
        if record.commit not in known:
            skipped.append(f"run record {record.id} is for {record.commit[:12]}, a commit this checkout does not have")
    wanted = [r for r in records if r.commit in known]
    by_commit: dict[str, list[str]] = {}
    for record in wanted:
        by_commit.setdefault(record.commit, []).append(record.to_json())
    for commit, lines in sorted(by_commit.items()):
        try:
            _add(root, commit, lines)
        except MlciError as exc:
            skipped.append(f"the records of {commit[:12]} were not stored ({exc.message})")
            wanted = [r for r in wanted if r.commit != commit]
    for why in skipped[:_NOTES_SHOWN]:
        note(f"the run records file {shown}: skipped {why}")
    if len(skipped) > _NOTES_SHOWN:
        note(f"the run records file {shown}: skipped {len(skipped) - _NOTES_SHOWN} more line(s)")
    return Imported(len(wanted), len({r.commit for r in wanted}), len(skipped))


def _add(root: Path, commit: str, lines: list[str]) -> None:
    """`lines` into `commit`'s note, next to its lines (hooks and user/system config off)."""
    ref = f"--ref={baseline.NOTES_REF}"
    try:
        old = gitsafe.plumbing(root, ["notes", ref, "show", commit]).splitlines()
    except GitCommandError:
        old = []
    text = "\n".join(sorted({entry for entry in [*old, *lines] if entry.strip()})) + "\n"
    try:
        gitsafe.plumbing(root, ["notes", ref, "add", "-f", "-F", "-", commit], stdin=text.encode("utf-8"))
    except GitCommandError as exc:
        raise DataError(exc.stderr.strip()[:200] or "git notes failed") from None
