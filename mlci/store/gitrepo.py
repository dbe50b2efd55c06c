"""The git facts mlci needs: where the repo is, what HEAD is, what the base of a PR is.

Every failure here is a `GitError` that says how to get unstuck (commit first, fetch the
history, name an existing ref), because these are the first errors a new user meets.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.errors import GitError

if TYPE_CHECKING:
    import git

RunOk = Callable[..., "str | None"]  # run git with these arguments: stripped stdout, or None when git says no


def open_repo(path: Path | str = ".", *, allow_empty: bool = False) -> git.Repo:
    """The repository containing `path`, which must have at least one commit (unless `allow_empty`)."""
    import git

    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(
            f"{Path(path).resolve()} is not inside a git repository; cd into your project or run `git init`"
        ) from None
    if repo.bare:
        raise GitError(f"{repo.git_dir} is a bare repository; run mlci in a clone with a working tree")
    if not allow_empty and not repo.head.is_valid():
        raise GitError(
            "the repository has no commits yet; commit your project first (git add -A && git commit -m init)"
        )
    return repo


def root(repo: git.Repo) -> Path:
    assert repo.working_tree_dir is not None  # open_repo refuses bare repositories
    return Path(repo.working_tree_dir)


def head_commit(repo: git.Repo) -> str:
    return repo.head.commit.hexsha


def current_branch(repo: git.Repo) -> str | None:
    """The checked-out branch; on a detached HEAD (CI checkouts) the CI's branch name, if known."""
    if not repo.head.is_detached:
        return repo.active_branch.name
    return os.environ.get("GITHUB_HEAD_REF") or os.environ.get("CI_COMMIT_REF_NAME") or None


def changed_paths(repo: git.Repo) -> list[str]:
    """Paths modified, staged or untracked relative to HEAD (ignored files excluded)."""
    out = repo.git.status("--porcelain", "-z", "--untracked-files=all")
    paths = []
    entries = out.split("\0")
    i = 0
    while i < len(entries):
        entry = entries[i]
        i += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            i += 1  # the rename's source follows as its own entry
        paths.append(path)
    return paths


def uncommitted(repo: git.Repo, ignore: AbstractSet[str] = frozenset()) -> list[str]:
    """Changed paths that are not pipeline outputs (`ignore`): the inputs a commit doesn't explain."""

    def produced(path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in ignore)

    return [p for p in changed_paths(repo) if not produced(p)]


def _run_ok(repo: git.Repo) -> RunOk:
    """GitPython's way of running git, in the shape the shared facts below take."""
    import git

    def run_ok(*args: str) -> str | None:
        try:
            return repo.git.execute(["git", *args]).strip()
        except git.GitCommandError:
            return None

    return run_ok


def commit_of(repo: git.Repo, ref: str) -> str | None:
    """The commit `ref` names, by git's own parser, or None (any string: option-like, `@{-99}`, a tree)."""
    return commit_of_by(_run_ok(repo), ref)


def commit_of_by(run_ok: RunOk, ref: str) -> str | None:
    """`commit_of` over any way of running git (GitPython here, plain processes in gitplumb)."""
    if not ref or "\0" in ref or "\n" in ref:
        return None
    return run_ok("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}") or None


def resolve(repo: git.Repo, ref: str) -> str:
    """A commit SHA for `ref`, trying `origin/<ref>` when only the remote branch exists."""
    return resolve_by(lambda candidate: commit_of(repo, candidate), ref)


def resolve_by(commit_of: Callable[[str], str | None], ref: str) -> str:
    """`resolve` over any commit lookup (GitPython's here, plain git's in `mlci.store.gitplumb`)."""
    for candidate in (ref, f"origin/{ref}"):
        found = commit_of(candidate)
        if found:
            return found
    raise GitError(
        f"unknown base ref '{ref}'; pass --base with an existing branch, tag or commit (git fetch origin {ref}?)"
    )


def default_branch(repo: git.Repo) -> str:
    """The repo's default branch: origin/HEAD's target, else main/master (local or remote)."""
    return default_branch_by(_run_ok(repo))


def default_branch_by(run_ok: RunOk) -> str:
    target = run_ok("symbolic-ref", "--short", "refs/remotes/origin/HEAD")
    if target:
        return target
    refs = set(
        (
            run_ok(
                "for-each-ref",
                "--format=%(refname)",
                "refs/heads/main",
                "refs/heads/master",
                "refs/remotes/*/main",
                "refs/remotes/*/master",
            )
            or ""
        ).split()
    )
    remotes = (run_ok("remote") or "").split()
    for name in ("main", "master"):
        if f"refs/heads/{name}" in refs:
            return name
        if remotes[:1] == ["origin"] and f"refs/remotes/origin/{name}" in refs:
            return f"origin/{name}"
    raise GitError("cannot tell the default branch (no main or master); pass --base REF")


def default_base(repo: git.Repo) -> tuple[str, str]:
    """The ref a local comparison means by "main", and how it was chosen (see `default_base_by`)."""
    return default_base_by(_run_ok(repo))


def default_base_by(run_ok: RunOk) -> tuple[str, str]:
    """(ref, how it was chosen): the local default branch when it exists, else origin's.

    In a clone, origin/main is upstream's history; the user's own commits (the quick start's
    step 3, a local main the PR branched from) are on the local branch of the same name, which
    is what "compare with main" means here. CI passes the PR's base explicitly.
    """
    branch = default_branch_by(run_ok)
    if branch.startswith("origin/"):
        local = branch.removeprefix("origin/")
        if run_ok("rev-parse", "--verify", "--quiet", f"refs/heads/{local}"):
            return local, f"the local default branch {local}"
        return branch, f"origin's default branch (no local {local})"
    return branch, f"the local default branch {branch}"


_GITHUB_MERGE = re.compile(r"Merge ([0-9a-f]{40}) into ([0-9a-f]{40})")


def github_merge(repo: git.Repo, commit: str) -> tuple[str, str] | None:
    """(PR head, PR base) when `commit` is GitHub's test merge of a PR (see `github_merge_by`)."""
    return github_merge_by(_run_ok(repo), commit)


def github_merge_by(run_ok: RunOk, commit: str) -> tuple[str, str] | None:
    """(PR head, PR base) when `commit` is the merge commit GitHub builds for a PR
    (`refs/pull/N/merge`, what a default `actions/checkout` of a PR gives): two parents, base
    then head, and the message "Merge <head> into <base>". Such a commit is not the head a
    reviewer approves, so reports and records must not call it the head."""
    shown = run_ok("show", "-s", "--format=%P%n%s", commit)
    if not shown:
        return None
    parents, _, subject = shown.partition("\n")
    found = _GITHUB_MERGE.fullmatch(subject.strip())
    if found is None or parents.split() != [found.group(2), found.group(1)]:
        return None
    return found.group(1), found.group(2)


def merge_base(repo: git.Repo, head: str, base: str) -> str:
    """The commit the PR forked from; deepens a shallow clone from its remote when it must."""
    return merge_base_by(_run_ok(repo), head, base)


def merge_base_by(run_ok: RunOk, head: str, base: str) -> str:
    if head == base:  # a commit is its own merge base: no process
        return head
    found = run_ok("merge-base", head, base)
    if found:
        return found
    if run_ok("rev-parse", "--is-shallow-repository") == "true":
        remote = (run_ok("remote") or "").split()
        if remote and run_ok("fetch", "--unshallow", "--quiet", remote[0]) is not None:
            found = run_ok("merge-base", head, base)
            if found:
                return found
        raise GitError(
            "this shallow clone lacks the base commit; use actions/checkout with `fetch-depth: 0` "
            "or run `git fetch --unshallow`"
        )
    raise GitError(f"{head[:12]} and {base[:12]} share no history; pass --base with a branch this one forked from")


def show(repo: git.Repo, commit: str, path: str) -> str | None:
    """The text of `path` as committed at `commit`, or None when it is not in that commit."""
    import git

    try:
        return repo.git.show(f"{commit}:{path}")
    except git.GitCommandError:
        return None


def merge_drift(repo: git.Repo, base: str, head: str) -> tuple[list[str], bool] | None:
    """What merging `head` into `base` would change beyond `head` itself: (paths, conflicted).

    None when the merge result is `head`'s own tree (the evaluated code is what would merge).
    The reviewer approves the head; this says when the merged code differs from what was run.
    """
    import git

    try:
        out = repo.git.merge_tree(
            "--write-tree", "--name-only", "--no-messages", base, head, with_extended_output=True, with_exceptions=False
        )
    except git.GitCommandError:  # git < 2.38 has no --write-tree: say nothing rather than guess
        return None
    status, stdout, _stderr = out
    lines = stdout.splitlines()
    if status not in (0, 1) or not lines:
        return None
    if status == 1:  # conflicts: the conflicted paths follow the tree id
        return sorted({line for line in lines[1:] if line}), True
    tree = lines[0].strip()
    if tree == repo.git.rev_parse(f"{head}^{{tree}}").strip():
        return None
    changed = repo.git.diff("--name-only", "-z", head, tree).split("\0")
    return sorted(p for p in changed if p), False
