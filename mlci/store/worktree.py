"""A throw-away `git worktree` of one commit, so that re-running it touches nothing of the user's.

`git worktree add --detach` checks the commit out in its own directory with its own HEAD and
index: the user's working tree, index, branches and stash stay exactly as they were. The
worktree is removed (`git worktree remove --force`, then `git worktree prune`) on the way out,
whether the body succeeded or raised, unless the caller asks to keep it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import GitError

if TYPE_CHECKING:
    import git


@contextmanager
def isolated(repo: git.Repo, commit: str, *, keep: bool = False, prefix: str = "mlci-worktree-") -> Iterator[Path]:
    """Yield the root of a detached worktree of `commit` in a new temp dir."""
    import git as gitlib

    parent = Path(tempfile.mkdtemp(prefix=prefix))
    path = parent / "worktree"
    try:
        # No hooks: a post-checkout hook (dvc install, LFS, …) must not run against the user's setup.
        repo.git.execute(
            ["git", "-c", f"core.hooksPath={os.devnull}", "worktree", "add", "--detach", "--quiet", str(path), commit]
        )
    except gitlib.GitCommandError as exc:
        shutil.rmtree(parent, ignore_errors=True)
        raise GitError(
            f"cannot check out {commit[:12]} into a worktree: {exc.stderr.strip() or exc}; "
            "fetch the commit (git fetch origin) and retry"
        ) from exc
    try:
        yield path
    finally:
        if not keep:
            _remove(repo, parent, path)


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
