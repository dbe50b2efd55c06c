"""Report images in a PR comment, for public and private repos alike, without a third-party host.

GitHub has no REST endpoint to upload a comment image, and a link to an outside image host
would leak private plots. So the PNGs that report.md references by relative path are committed
to a dedicated branch of the same repository (`mlci-assets`, config `ci.assets_branch`) and
the links are rewritten to `{server}/{repo}/blob/{commit}/{path}?raw=true`: readers who can
see the repo can see the image, nobody else can, and pinning the commit keeps old comments
showing the plots they were written with.

The commit is built with git plumbing in a temporary index (the working tree and the current
branch are never touched) and pushed; a concurrent push to the branch is merged by rebuilding
on the new tip and pushing again. With the token, all of it runs in mlci's scratch repository
(mlci.store.gitsafe): no hook, filter or fsmonitor the PR's code planted in the workspace runs.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from mlci.errors import GitCommandError, GitError, RemoteError
from mlci.store import gitsafe

DEFAULT_BRANCH = "mlci-assets"
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")
_MD_IMAGE = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
_HTML_IMAGE = re.compile(r"(<img\b[^>]*?\bsrc=\")([^\"]+)(\")", re.IGNORECASE)
_HTML_IMAGE_TAG = re.compile(r"<img\b[^>]*?\bsrc=\"([^\"]+)\"[^>]*>", re.IGNORECASE)
_ATTEMPTS = 5


def local_images(markdown: str, report_dir: Path) -> list[str]:
    """Relative image paths in `markdown` that exist under `report_dir` (links, not URLs)."""
    found = []
    for pattern in (_MD_IMAGE, _HTML_IMAGE):
        for match in pattern.finditer(markdown):
            target = match.group(2)
            if (
                re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE)
                or target.startswith(("/", "#"))
                or ".." in Path(target).parts
            ):
                continue
            if target.lower().endswith(_IMAGE_SUFFIXES) and (report_dir / target).is_file() and target not in found:
                found.append(target)
    return found


def without_local_images(markdown: str, report_dir: Path) -> str:
    """Replace local image links (which a comment cannot show) by a short pointer to the artifact."""
    images = local_images(markdown, report_dir)

    def pointer(target: str, original: str) -> str:
        return f"_(plot `{target}`: in the report artifact)_" if target in images else original

    markdown = _HTML_IMAGE_TAG.sub(lambda m: pointer(m.group(1), m.group(0)), markdown)
    return _MD_IMAGE.sub(lambda m: pointer(m.group(2), m.group(0)), markdown)


def _build_commit(session: gitsafe.Session, files: dict[str, Path], parent: str | None, message: str) -> str:
    with tempfile.TemporaryDirectory(prefix="mlci-assets-") as tmp:
        index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if parent:
            session.git("read-tree", parent, env=index)
        for target, source in files.items():
            blob = session.git("hash-object", "-w", "--no-filters", "--", str(source), env=index)
            session.git("update-index", "--add", "--cacheinfo", f"100644,{blob},{target}", env=index)
        tree = session.git("write-tree", env=index)
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        return session.git(*args, env=index)


def publish(
    root: Path,
    markdown: str,
    report_dir: Path,
    *,
    repo: str,
    prefix: str,
    server_url: str = "https://github.com",
    branch: str = DEFAULT_BRANCH,
    remote: str = "origin",
    extra_env: dict[str, str] | None = None,
) -> tuple[str, str | None]:
    """Push the report's images to `branch` under `prefix/` and return (rewritten markdown, commit).

    Returns the markdown unchanged (and None) when it references no local image.
    """
    images = local_images(markdown, report_dir)
    if not images:
        return markdown, None
    env = {
        **os.environ,
        **(extra_env or {}),
        "GIT_AUTHOR_NAME": os.environ.get("GIT_AUTHOR_NAME", "mlci"),
        "GIT_AUTHOR_EMAIL": os.environ.get("GIT_AUTHOR_EMAIL", "mlci@users.noreply.github.com"),
        "GIT_COMMITTER_NAME": os.environ.get("GIT_COMMITTER_NAME", "mlci"),
        "GIT_COMMITTER_EMAIL": os.environ.get("GIT_COMMITTER_EMAIL", "mlci@users.noreply.github.com"),
    }
    prefix = prefix.strip("/")
    files = {f"{prefix}/{Path(rel).as_posix()}": report_dir / rel for rel in images}
    try:
        commit = _push_images(root, files, env, prefix=prefix, branch=branch, remote=remote)
    except GitCommandError as exc:  # a local step (hash-object, commit-tree, the scratch repository)
        raise GitError(f"cannot build the report images commit: {exc.stderr.strip() or exc}") from None
    base = f"{server_url.rstrip('/')}/{repo}/blob/{commit}"

    def rewrite(match: re.Match) -> str:
        target = match.group(2)
        if target not in images:
            return match.group(0)
        return f"{match.group(1)}{base}/{prefix}/{Path(target).as_posix()}?raw=true{match.group(3)}"

    markdown = _MD_IMAGE.sub(rewrite, markdown)
    return _HTML_IMAGE.sub(rewrite, markdown), commit


def _push_images(
    root: Path, files: dict[str, Path], env: dict[str, str], *, prefix: str, branch: str, remote: str
) -> str:
    """Commit `files` on top of the remote branch's tip and push; rebuild on a newer tip if rejected."""
    tracking = f"refs/mlci/{branch}"
    last = ""
    with gitsafe.session(root, remote, env) as session:  # hardened: extra_env carries the token
        for _attempt in range(_ATTEMPTS):
            try:
                session.git("fetch", "--quiet", session.remote, f"+refs/heads/{branch}:{tracking}")
                parent: str | None = session.git("rev-parse", "--verify", tracking)
            except GitCommandError as exc:
                stderr = exc.stderr.lower()
                if "couldn't find remote ref" not in stderr and "needed a single revision" not in stderr:
                    last_line = (exc.stderr.strip().splitlines() or ["git fetch failed"])[-1]
                    raise RemoteError(
                        f"cannot fetch branch {branch} from {remote} ({last_line}); "
                        "check the remote and the token's `contents: write` permission"
                    ) from None
                parent = None
            commit = _build_commit(session, files, parent, f"mlci: report images ({prefix})")
            try:
                session.git("push", "--quiet", session.remote, f"{commit}:refs/heads/{branch}")
            except GitCommandError as exc:
                last = exc.stderr.strip()
                if any(word in last for word in ("rejected", "fetch first", "non-fast-forward")):
                    continue  # someone else pushed images meanwhile: rebuild on their tip
                raise RemoteError(
                    f"cannot push report images to branch {branch} on {remote} "
                    f"({last.splitlines()[-1] if last else 'git push failed'}); "
                    "grant `contents: write` or set ci.assets_branch"
                ) from None
            break
        else:
            raise RemoteError(f"branch {branch} on {remote} kept moving; report images not published ({last[:200]})")
        session.land(tracking)  # the workspace keeps the branch's history, as a plain fetch would
    return commit
