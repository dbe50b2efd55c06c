"""Is `refs/notes/mlci` a notes ref at all? Checked before work, repaired on request.

git reads a notes ref that points at a blob, at a missing object or at garbage as "no notes"
for some commands and as a fatal error for others: `mlci diff` used to say "no run records",
and `mlci run` trained fully and only then failed to store its record (issue 29). So readers
ask `problem()` when git finds no note, `mlci run` calls `check()` before the pipeline, and
`mlci record repair` calls `repair()`: the bad value is kept aside (`refs/notes/mlci-corrupt`,
when it names an object), and the ref is restored from its reflog (the newest earlier value
that is a readable notes commit) or, with no such value, removed, so records start afresh.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from mlci.errors import GitError

NOTES_REF = "refs/notes/mlci"
ASIDE_REF = "refs/notes/mlci-corrupt"
_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, errors="replace", check=False)


def _loose_value(git_dir: Path, ref: str) -> str | None:
    try:
        return (git_dir / ref).read_text(encoding="utf-8", errors="replace").strip()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _kind(cwd: Path, sha: str) -> str | None:
    """The object's type, or None when the repository does not have it."""
    found = _git(cwd, "cat-file", "-t", sha)
    return found.stdout.strip() if found.returncode == 0 else None


def _readable_notes(cwd: Path, sha: str) -> bool:
    """A commit whose tree git can list: what `git notes` can read."""
    return _kind(cwd, sha) == "commit" and _git(cwd, "ls-tree", "--name-only", f"{sha}^{{tree}}").returncode == 0


def _git_dir(cwd: Path) -> Path:
    found = _git(cwd, "rev-parse", "--git-common-dir")
    path = Path(found.stdout.strip() or ".git")
    return path if path.is_absolute() else cwd / path


def problem(cwd: Path | str, ref: str = NOTES_REF) -> str | None:
    """What is wrong with `ref` (one phrase), or None when it is absent or a readable notes commit."""
    cwd = Path(cwd)
    listed = _git(cwd, "for-each-ref", "--format=%(refname) %(objectname)", ref)
    sha = next(
        (
            line.split()[1]
            for line in listed.stdout.splitlines()
            if line.split()[:1] == [ref] and len(line.split()) == 2
        ),
        None,
    )
    if sha is None:
        loose = _loose_value(_git_dir(cwd), ref)
        if listed.returncode != 0 and "missing object" in listed.stderr:
            sha = re.search(r"missing object ([0-9a-f]+)", listed.stderr)
            return f"points at {sha.group(1)[:12] if sha else 'an object'}, an object this repository does not have"
        if loose is not None and not _SHA.match(loose) and not loose.startswith("ref: "):
            return f"holds {loose[:40]!r}, not an object name"
        return None
    kind = _kind(cwd, sha)
    if kind is None:
        return f"points at {sha[:12]}, an object this repository does not have"
    if kind != "commit":
        return f"points at a {kind} ({sha[:12]}), not a notes commit"
    if not _readable_notes(cwd, sha):
        return f"points at commit {sha[:12]} whose tree is missing"
    return None


def check(cwd: Path | str, ref: str = NOTES_REF) -> None:
    """Raise a GitError (exit 4) naming the repair when `ref` is corrupt; fine when absent."""
    why = problem(cwd, ref)
    if why:
        raise GitError(
            f"{ref} is corrupt: it {why}; run `mlci record repair` to set it aside "
            "(it restores the last good value from the reflog, or starts the records afresh)"
        )


def _reflog_values(git_dir: Path, ref: str) -> list[str]:
    """The values `ref` held, newest first, from its reflog file (readable with the ref broken)."""
    try:
        lines = (git_dir / "logs" / ref).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    values = []
    for line in reversed(lines):
        parts = line.split(" ", 2)
        if len(parts) == 3 and _SHA.match(parts[1]) and parts[1] not in values and set(parts[1]) != {"0"}:
            values.append(parts[1])
    return values


def repair(cwd: Path | str, ref: str = NOTES_REF) -> str | None:
    """Set a corrupt `ref` aside and restore its last good value (or remove it); what was done, in
    one line, or None when the ref was fine."""
    cwd = Path(cwd)
    why = problem(cwd, ref)
    if why is None:
        return None
    git_dir = _git_dir(cwd)
    listed = _git(cwd, "for-each-ref", "--format=%(objectname)", ref).stdout.split()
    current = listed[0] if listed else (_loose_value(git_dir, ref) or "")
    kept = ""
    if _SHA.match(current) and _kind(cwd, current) is not None:
        if _git(cwd, "update-ref", "-m", "mlci record repair: set aside", ASIDE_REF, current).returncode == 0:
            kept = f", kept as {ASIDE_REF}"
    if not _SHA.match(current):  # a loose ref file git cannot parse: git will neither move nor delete it
        _unlink(git_dir, ref)
    good = next((v for v in _reflog_values(git_dir, ref) if v != current and _readable_notes(cwd, v)), None)
    if good is not None:
        done = _git(cwd, "update-ref", "-m", "mlci record repair: restored from the reflog", ref, good)
        if done.returncode == 0:
            return f"{ref} {why}{kept}; restored {good[:12]}, its last good value, from the reflog"
    if _git(cwd, "update-ref", "-d", ref).returncode != 0:
        _unlink(git_dir, ref)
    return f"{ref} {why}{kept}; no earlier good value in its reflog, so it was removed: records start afresh"


def _unlink(git_dir: Path, ref: str) -> None:
    try:
        (git_dir / ref).unlink(missing_ok=True)
    except OSError as exc:
        raise GitError(f"cannot remove the corrupt {ref} ({exc.strerror}); delete {git_dir / ref}") from None
