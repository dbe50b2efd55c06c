"""A throw-away `git worktree` of one commit, so that re-running it touches nothing of the user's.

`git worktree add --detach` checks the commit out in its own directory with its own HEAD and
index: the user's working tree, index, branches and stash stay exactly as they were. The
worktree is removed (`git worktree remove --force`, then `git worktree prune`) on the way out,
whether the body succeeded or raised, unless the caller asks to keep it.

A process killed inside (a cancelled job, `kill -9`) leaves its worktree registered and its
directory behind, which `git worktree prune` alone never forgets (the directory exists). So
each worktree's temp dir holds a lock file its process keeps locked (`flock`, released by the
kernel when the process dies), and the next `isolated()` removes every worktree of the repo
whose lock file nobody holds: only mlci's own, never a live one, never one kept on request.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlci import faults
from mlci.errors import GitError

_OWNER = "mlci-owner.lock"  # in the worktree's temp dir: locked while its process lives

if TYPE_CHECKING:
    import git


@contextmanager
def isolated(repo: git.Repo, commit: str, *, keep: bool = False, prefix: str = "mlci-worktree-") -> Iterator[Path]:
    """Yield the root of a detached worktree of `commit` in a new temp dir."""
    import git as gitlib

    prune_stale(repo)
    parent = Path(tempfile.mkdtemp(prefix=prefix))
    path = parent / "worktree"
    owner = open(parent / _OWNER, "w")  # held for the worktree's whole life
    fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        # No hooks: a post-checkout hook (dvc install, LFS, …) must not run against the user's setup.
        repo.git.execute(
            ["git", "-c", f"core.hooksPath={os.devnull}", "worktree", "add", "--detach", "--quiet", str(path), commit]
        )
    except gitlib.GitCommandError as exc:
        owner.close()
        shutil.rmtree(parent, ignore_errors=True)
        raise GitError(
            f"cannot check out {commit[:12]} into a worktree: {exc.stderr.strip() or exc}; "
            "fetch the commit (git fetch origin) and retry"
        ) from exc
    faults.checkpoint("worktree-added")
    try:
        yield path
    finally:
        if keep:  # kept on request: no longer mlci's to clean up
            (parent / _OWNER).unlink(missing_ok=True)
        owner.close()
        if not keep:
            _remove(repo, parent, path)


def prune_stale(repo: git.Repo) -> list[Path]:
    """Remove the worktrees of `repo` that a killed mlci left (lock file present, nobody holding
    it), then let git forget worktrees whose directory is gone; the removed paths."""
    import git as gitlib

    try:
        listing = repo.git.worktree("list", "--porcelain")
    except gitlib.GitCommandError:
        return []
    removed = []
    for line in listing.splitlines():
        if not line.startswith("worktree "):
            continue
        path = Path(line[len("worktree ") :])
        lock = path.parent / _OWNER
        if path.name != "worktree" or not path.parent.name.startswith("mlci-") or not lock.is_file():
            continue
        try:
            with open(lock, "a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: a live mlci is using it
                _remove(repo, path.parent, path)
        except OSError:
            continue
        removed.append(path)
    try:
        repo.git.worktree("prune")
    except gitlib.GitCommandError:
        pass
    return removed


def _remove(repo: git.Repo, parent: Path, path: Path) -> None:
    """Remove the worktree, its temp dir and git's record of it; never raises."""
    import git as gitlib

    try:
        repo.git.worktree("remove", "--force", "--force", str(path))
    except gitlib.GitCommandError:
        pass  # already gone or half-made: prune below forgets it once the directory is removed
    shutil.rmtree(parent, ignore_errors=True)
    try:
        repo.git.worktree("prune")
    except gitlib.GitCommandError:
        pass
