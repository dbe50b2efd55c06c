"""Run records stored in git, next to the commits they measured.

Records live as git notes under `refs/notes/mlci`: one note per commit, one JSON record per
line. That gives us, with no server: records that travel with `git push`/`git fetch` on any
forge, and a conflict-free merge for concurrent writers, because git's `cat_sort_uniq`
notes strategy concatenates both sides' lines (two main-branch runs never lose a record).
"""

from __future__ import annotations

import os
import tempfile
import time
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import (
    CorruptRecordWarning,
    DataError,
    GitCommandError,
    GitError,
    NewerSchema,
    RemoteError,
    StorageError,
    from_git_failure,
)
from mlci.model.record import RunRecord
from mlci.store import gitsafe, notesref
from mlci.store.gitplumb import Plumb

if TYPE_CHECKING:
    import git

NOTES_REF = "refs/notes/mlci"
QUARANTINE_REF = "refs/notes/mlci-quarantine"  # lines `mlci record repair` set aside
_REMOTE_TRACKING = "refs/notes/mlci-remote"
_PUSH_ATTEMPTS = 5
_SHARE_REF = "refs/notes/mlci-share"  # scratch: the remote's records plus one
_WRITTEN_HERE = "mlci-written-records"  # in the git dir: "id sha256" of each record this clone wrote


def _notes(repo: git.Repo, *args: str, **kwargs) -> str:
    return repo.git.notes(f"--ref={NOTES_REF}", *args, **kwargs)


@contextmanager
def notes_lock(repo: git.Repo):
    """Serialise read-modify-write of the notes ref between processes sharing this clone.

    `git notes add -f` replaces a commit's whole note, so two writers that both read, then
    both write, would lose one record; an exclusive flock on a file in the git dir makes the
    read-and-write one step. The lock dies with its process, so a killed writer frees it.
    """
    import fcntl

    path = Path(repo.common_dir) / "mlci-notes.lock"
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _raw_lines(repo: git.Repo | Plumb, commit: str) -> list[str]:
    if isinstance(repo, Plumb):
        return _lines(repo.note_texts(NOTES_REF, [commit]).get(commit, ""))
    import git

    try:
        text = _notes(repo, "show", commit)
    except git.GitCommandError:
        notesref.check(str(repo.working_tree_dir))  # no note, or no readable notes ref at all (issue 29)
        return []
    return _lines(text)


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _note_texts(repo: git.Repo | Plumb, commits: list[str] | None = None) -> dict[str, str]:
    """commit -> note text for many commits in two git processes (`notes list`, `cat-file --batch`)."""
    if isinstance(repo, Plumb):
        return repo.note_texts(NOTES_REF, commits)
    with Plumb(str(repo.working_tree_dir)) as plumb:
        return plumb.note_texts(NOTES_REF, commits)


def _warn_bad(commit: str, bad: list[tuple[str, str]]) -> None:
    for _line, why in bad:
        warnings.warn(
            CorruptRecordWarning(
                f"skipped an unreadable run record on commit {commit[:12]} ({why.split('; ')[0]}); "
                f"run `mlci record repair {commit[:12]}` to set it aside"
            ),
            stacklevel=3,
        )


def _records_in(commit: str, text: str) -> list[RunRecord]:
    records, bad = _parse_lines(commit, _lines(text))
    _warn_bad(commit, bad)
    return sorted(records, key=lambda r: r.created_at)


def _parse_lines(
    commit: str, lines: list[str], *, newer: list[str] | None = None
) -> tuple[list[RunRecord], list[tuple[str, str]]]:
    """(records, [(line, why)]) for one commit's note lines; `newer` collects a newer mlci's lines."""
    records, bad = [], []
    for line in lines:
        try:
            record = RunRecord.from_json(line)
        except NewerSchema as exc:
            if newer is None:
                bad.append((line, exc.message))
            else:
                newer.append(line)
            continue
        except DataError as exc:
            bad.append((line, exc.message))
            continue
        if record.commit != commit:
            bad.append((line, f"run record {record.id} names commit {record.commit[:12]}, not this one"))
            continue
        records.append(record)
    return records, bad


def records_for(repo: git.Repo | Plumb, commit: str) -> list[RunRecord]:
    """All records for `commit`, oldest first; unreadable lines are skipped with a warning."""
    records, bad = _parse_lines(commit, _raw_lines(repo, commit))
    _warn_bad(commit, bad)
    return sorted(records, key=lambda r: r.created_at)


def records_by_commit(repo: git.Repo | Plumb, commits: list[str] | None = None) -> dict[str, list[RunRecord]]:
    """commit -> its records (oldest first) for `commits` (default: every noted commit), read in batch."""
    return {c: _records_in(c, text) for c, text in _note_texts(repo, commits).items()}


def save(repo: git.Repo, record: RunRecord) -> None:
    """Add `record` to its commit's note; existing lines (even unreadable ones) are kept."""
    with notes_lock(repo):
        _write(repo, record.commit, _raw_lines(repo, record.commit) + [record.to_json()])
        _remember(repo, record)


def attach_gate(repo: git.Repo, record: RunRecord, gate: dict, evidence: dict | None = None) -> RunRecord:
    """Store the gate verdict in `record`'s own line, so `mlci promote` can refuse a failed run,
    and the metrics' confidence intervals (`extra["evidence"]`) for the promoted version's card."""
    record.gate = gate
    if evidence is not None:
        record.extra["evidence"] = evidence
    with notes_lock(repo):
        lines = []
        for line in _raw_lines(repo, record.commit):
            parsed, _bad = _parse_lines(record.commit, [line])
            lines.append(record.to_json() if parsed and parsed[0].id == record.id else line)
        if record.to_json() not in lines:
            lines.append(record.to_json())
        _write(repo, record.commit, lines)
        _remember(repo, record)
    return record


def _remember(repo: git.Repo, record: RunRecord) -> None:
    """Note that this clone wrote `record` as it now is: a fetched note never lands here (issue 25)."""
    with open(Path(repo.common_dir) / _WRITTEN_HERE, "a", encoding="utf-8") as handle:
        handle.write(f"{record.id} {record.digest()}\n")


def written_here(repo: git.Repo, record: RunRecord) -> bool:
    """Whether `mlci run` (or a gate) in this clone wrote exactly `record`, rather than a fetch
    bringing it in: without GitHub to ask, the only records a local `mlci promote` can vouch for.
    (Inside CI, where PR code shares the clone, this says nothing: CI verifies through GitHub.)"""
    try:
        lines = (Path(repo.common_dir) / _WRITTEN_HERE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return False
    return f"{record.id} {record.digest()}" in lines


def repair(repo: git.Repo, commit: str | None = None) -> list[tuple[str, str, str]]:
    """Move unreadable lines out of the notes (of `commit`, or of every commit) into
    `refs/notes/mlci-quarantine`, so nothing is destroyed; returns (commit, line, why).
    Records of a newer schema stay: they are valid for the mlci that wrote them."""
    import git

    if commit is None:
        try:
            listing = _notes(repo, "list")
        except git.GitCommandError:
            return []
        commits = [line.split()[1] for line in listing.splitlines() if len(line.split()) == 2]
    else:
        commits = [commit]
    removed: list[tuple[str, str, str]] = []
    with notes_lock(repo):
        for c in commits:
            lines = _raw_lines(repo, c)
            _records, bad = _parse_lines(c, lines, newer=[])  # a newer mlci's records are not damage
            if not bad:
                continue
            bad_lines = {line for line, _why in bad}
            keep = [line for line in lines if line not in bad_lines]
            _write(repo, c, sorted(bad_lines), ref=QUARANTINE_REF, keep_existing=True)
            if keep:
                _write(repo, c, keep)
            else:
                _notes(repo, "remove", c)
            removed.extend((c, line, why) for line, why in bad)
    return removed


def _write(repo: git.Repo, commit: str, lines: list[str], *, ref: str = NOTES_REF, keep_existing: bool = False) -> None:
    import git

    if keep_existing:
        try:
            lines = repo.git.notes(f"--ref={ref}", "show", commit).splitlines() + lines
        except git.GitCommandError:
            pass
    fd, tmp = tempfile.mkstemp(prefix="mlci-note-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(sorted({line for line in lines if line.strip()})) + "\n")
        for _attempt in range(_PUSH_ATTEMPTS):
            try:
                repo.git.notes(f"--ref={ref}", "add", "-f", "-F", tmp, commit)
                return
            except git.GitCommandError as exc:
                failure = from_git_failure("notes add", exc.status, str(exc.stderr or ""))
                if isinstance(failure, StorageError):  # a full disk, not a lock: exit 9 (issue 29)
                    raise StorageError(f"cannot store the run record in {ref}: {failure.message}") from None
                if "lock" not in str(exc).lower():
                    raise GitError(f"cannot store the run record in {ref}: {exc.stderr.strip()}") from exc
                time.sleep(0.05 * (_attempt + 1))
        raise GitError(f"{ref} stayed locked by another git process; retry `mlci run`")
    finally:
        os.unlink(tmp)


def _trusted(record: RunRecord, trusted: Mapping[str, str] | None) -> bool:
    """No `trusted` map: every record; else only records whose id maps to their own digest."""
    return trusted is None or trusted.get(record.id) == record.digest()


def latest(
    repo: git.Repo | Plumb, commit: str, *, clean_only: bool = False, trusted: Mapping[str, str] | None = None
) -> RunRecord | None:
    """The newest record at `commit`; `trusted` (id -> sha256): only those records, exactly as verified."""
    records = [r for r in records_for(repo, commit) if not (clean_only and r.dirty) and _trusted(r, trusted)]
    return records[-1] if records else None


def baseline_for(repo: git.Repo | Plumb, commit: str, *, trusted: Mapping[str, str] | None = None) -> RunRecord | None:
    """The record a PR compares against: the newest run of a clean tree at `commit` (of the
    `trusted` ones, when given: a newer note anyone could have pushed must not win, issue 25)."""
    return latest(repo, commit, clean_only=True, trusted=trusted)


def all_records(repo: git.Repo | Plumb) -> list[RunRecord]:
    """Every stored record (for `reproduce pr/N`, listings); oldest first."""
    records = [r for found in records_by_commit(repo).values() for r in found]
    return sorted(records, key=lambda r: r.created_at)


def _remote_session(repo: git.Repo, remote: str):
    """Where fetch/push/share run their git: hardened when the caller handed git a credential
    (`repo.git.custom_environment(**gitauth.auth_env(...))`), see mlci.store.gitsafe."""
    if remote not in [r.name for r in repo.remotes]:
        raise GitError(f"no remote named '{remote}'; add one (git remote add {remote} URL) or pass --remote")
    environ = {**os.environ, **repo.git.environment()}
    return gitsafe.session(str(repo.working_tree_dir), remote, environ, common_dir=repo.common_dir)


def fetch(repo: git.Repo, remote: str = "origin") -> None:
    """Bring the remote's records in and merge them with ours, losing neither side's."""
    with _remote_session(repo, remote) as session:
        _fetch(repo, session, remote)


def _fetch(repo: git.Repo, session: gitsafe.Session, remote: str) -> None:
    try:
        session.git("fetch", "--quiet", session.remote, f"+{NOTES_REF}:{_REMOTE_TRACKING}")
    except GitCommandError as exc:
        if "couldn't find remote ref" in exc.stderr.lower():
            return  # nobody pushed records yet
        raise RemoteError(f"cannot fetch {NOTES_REF} from {remote}: {exc.stderr.strip()}") from exc
    session.land(_REMOTE_TRACKING)
    try:
        session.workspace("rev-parse", "--verify", "--quiet", NOTES_REF)
    except GitCommandError:
        session.workspace("update-ref", NOTES_REF, _REMOTE_TRACKING)
        return
    with notes_lock(repo):
        try:
            session.workspace(
                "notes", f"--ref={NOTES_REF}", "merge", "--strategy=cat_sort_uniq", "--quiet", _REMOTE_TRACKING
            )
        except GitCommandError as exc:
            raise GitError(f"cannot merge {remote}'s run records into {NOTES_REF}: {exc.stderr.strip()}") from exc


def push(repo: git.Repo, remote: str = "origin") -> None:
    """Publish our records; a concurrent writer's push is merged in and the push retried."""
    with _remote_session(repo, remote) as session:
        try:
            session.workspace("rev-parse", "--verify", "--quiet", NOTES_REF)
        except GitCommandError:
            return  # nothing recorded yet
        last = ""
        for _attempt in range(_PUSH_ATTEMPTS):
            session.sync(NOTES_REF)
            try:
                session.git("push", "--quiet", session.remote, f"{NOTES_REF}:{NOTES_REF}")
                return
            except GitCommandError as exc:
                last = exc.stderr.strip()
                if "rejected" not in last and "fetch first" not in last and "non-fast-forward" not in last:
                    raise RemoteError(f"cannot push {NOTES_REF} to {remote}: {last}") from exc
                _fetch(repo, session, remote)
    raise RemoteError(f"{NOTES_REF} on {remote} kept moving after {_PUSH_ATTEMPTS} merges: {last}; retry later")


def share(repo: git.Repo, record: RunRecord, remote: str = "origin") -> None:
    """Push `record` onto the remote's records, and nothing else from this clone.

    The PR publish step runs after the PR's code, which could have written notes for any commit
    (a forged baseline for main): so the remote's notes are fetched into a scratch ref, this one
    record is added there, and only that is pushed. With a credential all of it happens in
    mlci's scratch repository (mlci.store.gitsafe), and git hooks are off for the push either way.
    """
    last = ""
    with _remote_session(repo, remote) as session:
        try:
            for _attempt in range(_PUSH_ATTEMPTS):
                try:
                    session.git("fetch", "--quiet", session.remote, f"+{NOTES_REF}:{_SHARE_REF}")
                except GitCommandError as exc:
                    if "couldn't find remote ref" not in exc.stderr.lower():
                        raise RemoteError(f"cannot fetch {NOTES_REF} from {remote}: {exc.stderr.strip()}") from exc
                    session.git("update-ref", "-d", _SHARE_REF)  # nobody pushed records yet: start empty
                _add_note(session, record.commit, record.to_json(), _SHARE_REF)
                try:
                    session.git(
                        "-c",
                        f"core.hooksPath={os.devnull}",
                        "push",
                        "--quiet",
                        session.remote,
                        f"{_SHARE_REF}:{NOTES_REF}",
                    )
                    return
                except GitCommandError as exc:
                    last = exc.stderr.strip()
                    if "rejected" not in last and "fetch first" not in last and "non-fast-forward" not in last:
                        raise RemoteError(f"cannot push {NOTES_REF} to {remote}: {last}") from exc
            raise RemoteError(f"{NOTES_REF} on {remote} kept moving after {_PUSH_ATTEMPTS} tries: {last}; retry later")
        finally:
            try:
                session.git("update-ref", "-d", _SHARE_REF)
            except GitCommandError:
                pass


def _add_note(session: gitsafe.Session, commit: str, line: str, ref: str) -> None:
    """Add `line` to `commit`'s note under `ref` in the session's repository, keeping its lines."""
    try:
        lines = session.git("notes", f"--ref={ref}", "show", commit).splitlines()
    except GitCommandError:
        lines = []
    text = "\n".join(sorted({entry for entry in [*lines, line] if entry.strip()})) + "\n"
    for _attempt in range(_PUSH_ATTEMPTS):
        try:
            session.git("notes", f"--ref={ref}", "add", "-f", "-F", "-", commit, stdin=text.encode())
            return
        except GitCommandError as exc:
            if "lock" not in exc.stderr.lower():
                raise GitError(f"cannot store the run record in {ref}: {exc.stderr.strip()}") from exc
            time.sleep(0.05 * (_attempt + 1))
    raise GitError(f"{ref} stayed locked by another git process; retry `mlci run`")


def same_inputs(
    repo: git.Repo | Plumb, commit: str, matches, *, depth: int = 50, trusted: Mapping[str, str] | None = None
) -> RunRecord | None:
    """The baseline of a commit nobody ran: the newest clean record, on `commit` or its nearest
    ancestor (up to `depth` back), whose pipeline inputs `matches` says are `commit`'s own.

    Following the quick start, `mlci run` records A and the user then commits `dvc.lock` as
    B: B's deps, params and code are A's, so A's numbers are B's numbers.
    """
    if isinstance(repo, Plumb):
        ancestors = (repo.run_ok("rev-list", f"--max-count={depth}", commit) or "").split()
    else:
        import git

        try:
            ancestors = repo.git.rev_list(f"--max-count={depth}", commit).split()
        except git.GitCommandError:
            return None
    by_commit = records_by_commit(repo, ancestors)
    for sha in (a for a in ancestors if a in by_commit):
        for record in reversed(by_commit[sha]):
            if not record.dirty and record.deps and _trusted(record, trusted) and matches(record):
                return record
    return None


@dataclass
class Gap:
    """First-parent commits between the newest recorded one (`anchor`) and a new head."""

    anchor: str | None  # the newest commit before head with a clean record; None: none within reach
    to_record: list[str] = field(default_factory=list)  # oldest first, at most `limit`
    skipped: list[str] = field(default_factory=list)  # older gap commits left unrecorded (over the limit)


def unrecorded(repo: git.Repo, head: str, *, limit: int, scan: int = 200) -> Gap:
    """The main commits a baseline run never recorded (GitHub cancelled their pending runs).

    Walks `head`'s first parents back to the newest commit with a clean record. With no
    record within `scan` commits (a first baseline, or notes not fetched) nothing is
    backfilled: that would re-run the whole history. The newest `limit` gap commits are
    recorded (they are the likeliest PR bases); older ones are reported as skipped.
    """
    import git as gitlib

    try:
        listed = repo.git.rev_list("--first-parent", f"--max-count={scan}", f"{head}~1").split()
    except gitlib.GitCommandError:
        return Gap(None)  # a root commit (no parent) or a shallow clone: nothing before head here
    recorded = records_by_commit(repo, listed)
    gap: list[str] = []
    for commit in listed:
        if any(not r.dirty for r in recorded.get(commit, [])):
            keep = gap[: max(limit, 0)]
            return Gap(commit, list(reversed(keep)), list(reversed(gap[len(keep) :])))
        gap.append(commit)
    return Gap(None)
