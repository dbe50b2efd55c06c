"""Report images in a PR comment, for public and private repos alike, without a third-party host.

GitHub has no REST endpoint to upload a comment image, and a link to an outside image host
would leak private plots. So the PNGs that report.md references by relative path are committed
to a dedicated branch of the same repository (`mlci-assets`, config `ci.assets_branch`) and
the links are rewritten to `{server}/{repo}/blob/{commit}/{path}?raw=true`: readers who can
see the repo can see the image, nobody else can, and pinning the commit keeps old comments
showing the plots they were written with.

The commit is built with git plumbing in a temporary index (the working tree and the current
branch are never touched) and pushed; a concurrent push to the branch is merged by rebuilding
on the new tip and pushing again.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from mlci.errors import RemoteError

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


def _git(root: Path, *args: str, env: dict | None = None, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=root, env=env, input=stdin, capture_output=True)
    if done.returncode != 0:
        raise subprocess.CalledProcessError(done.returncode, args[0], done.stdout, done.stderr)
    return done.stdout.decode().strip()


def _build_commit(root: Path, files: dict[str, Path], parent: str | None, message: str, env: dict) -> str:
    with tempfile.TemporaryDirectory(prefix="mlci-assets-") as tmp:
        index_env = {**env, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if parent:
            _git(root, "read-tree", parent, env=index_env)
        for target, source in files.items():
            blob = _git(root, "hash-object", "-w", "--", str(source), env=index_env)
            _git(root, "update-index", "--add", "--cacheinfo", f"100644,{blob},{target}", env=index_env)
        tree = _git(root, "write-tree", env=index_env)
        args = ["commit-tree", tree, "-m", message] + (["-p", parent] if parent else [])
        return _git(root, *args, env=index_env)


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
    tracking = f"refs/mlci/{branch}"
    last = ""
    for _attempt in range(_ATTEMPTS):
        try:
            _git(root, "fetch", "--quiet", remote, f"+refs/heads/{branch}:{tracking}", env=env)
            parent = _git(root, "rev-parse", "--verify", tracking, env=env)
        except subprocess.CalledProcessError as exc:
            stderr = exc.stderr.decode(errors="replace")
            if "couldn't find remote ref" not in stderr.lower() and "needed a single revision" not in stderr.lower():
                last_line = (stderr.strip().splitlines() or ["git fetch failed"])[-1]
                raise RemoteError(
                    f"cannot fetch branch {branch} from {remote} ({last_line}); "
                    "check the remote and the token's `contents: write` permission"
                ) from None
            parent = None
        commit = _build_commit(root, files, parent, f"mlci: report images ({prefix})", env)
        try:
            _git(root, "push", "--quiet", remote, f"{commit}:refs/heads/{branch}", env=env)
        except subprocess.CalledProcessError as exc:
            last = exc.stderr.decode(errors="replace").strip()
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
    base = f"{server_url.rstrip('/')}/{repo}/blob/{commit}"

    def rewrite(match: re.Match) -> str:
        target = match.group(2)
        if target not in images:
            return match.group(0)
        return f"{match.group(1)}{base}/{prefix}/{Path(target).as_posix()}?raw=true{match.group(3)}"

    markdown = _MD_IMAGE.sub(rewrite, markdown)
    return _HTML_IMAGE.sub(rewrite, markdown), commit
