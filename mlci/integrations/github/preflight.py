"""Check, before any training, that the token may do what this event will need.

Why probes: an Actions token cannot list its own permissions, and a missing one used to
surface only after the whole training run. GitHub checks a token's permission before it
validates the request body, so a write request with an empty body answers 403 "Resource not
accessible by integration" (with `X-Accepted-GitHub-Permissions`) when the permission is
missing and 422 when it is there: the probe learns the answer and creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlci.errors import GitHubError, RemoteError
from mlci.integrations.github.client import GitHubClient, split_repo

NO_SHA = "0" * 40  # a commit that never exists: any status posted to it would be refused anyway


@dataclass(frozen=True)
class Need:
    """One permission an event needs: the `permissions:` line, why, and the probe request."""

    line: str  # e.g. "checks: write"
    why: str
    method: str
    path: str  # with {owner}, {repo}, {pr}
    alternative: Need | None = None  # enough when this one is missing (a check falls back to a status)
    required: bool = True  # False: missing means a degraded run (a note), not a failure
    degrades: bool = False  # the alternative works, but less well (worth a note)


# PR comments are issue comments: GitHub accepts `pull-requests: write` or `issues: write`. The
# probes go to the create-PR / create-issue endpoints (same permissions, empty body), so a
# probe is never mistaken for, or counted as, a comment.
_COMMENT = Need(
    "pull-requests: write",
    "the PR comment",
    "POST",
    "/repos/{owner}/{repo}/pulls",
    alternative=Need("issues: write", "the PR comment", "POST", "/repos/{owner}/{repo}/issues"),
)
_CHECK = Need(
    "checks: write",
    "the mlci check",
    "POST",
    "/repos/{owner}/{repo}/check-runs",
    alternative=Need(
        "statuses: write", "the mlci commit status", "POST", f"/repos/{{owner}}/{{repo}}/statuses/{NO_SHA}"
    ),
    degrades=True,
)
_CONTENTS = Need(
    "contents: write", "pushing run records (git notes) and registry tags", "POST", "/repos/{owner}/{repo}/git/refs"
)
_ASSETS = Need(
    "contents: write",
    "report images on the assets branch and pushing this PR's run record (an "
    "approval then promotes it without retraining)",
    "POST",
    "/repos/{owner}/{repo}/git/refs",
    required=False,
)
_REVIEWS = Need("pull-requests: read", "reading the PR's reviews", "GET", "/repos/{owner}/{repo}/pulls/{pr}/reviews")


def needs(event_name: str, *, can_write: bool, registry_backend: str | None) -> list[Need]:
    """What `mlci ci` will ask of the token for this event."""
    if event_name == "pull_request":
        return [_COMMENT, _CHECK, _ASSETS] if can_write else []
    if event_name == "push":
        return [_CONTENTS]
    if event_name == "pull_request_review":
        return [_REVIEWS, _CONTENTS] if registry_backend != "mlflow" else [_REVIEWS]
    return []


@dataclass(frozen=True)
class Preflight:
    missing: tuple[str, ...]  # permissions: lines whose absence fails the run
    degraded: tuple[str, ...]  # notes: what will be skipped for want of an optional permission

    @property
    def ok(self) -> bool:
        return not self.missing


def _allowed(client: GitHubClient, need: Need, owner: str, repo: str, pr: int | None) -> bool:
    path = need.path.format(owner=owner, repo=repo, pr=pr or 0)
    try:
        client.request(need.method, path, json={} if need.method != "GET" else None)
    except GitHubError as exc:
        if exc.status == 403 and "rate limit" not in exc.message:
            return False
        if exc.status == 422 or (exc.status == 404 and need.method == "GET"):
            return True  # past the permission check: the empty body (or a PR number not yet visible) was refused
        raise
    return True


def check(
    client: GitHubClient,
    repo_full: str,
    event_name: str,
    *,
    pr: int | None,
    can_write: bool,
    registry_backend: str | None = None,
) -> Preflight:
    """Probe each permission the event needs; nothing is created."""
    owner, repo = split_repo(repo_full)
    missing: list[str] = []
    degraded: list[str] = []
    seen: dict[str, bool] = {}
    for need in needs(event_name, can_write=can_write, registry_backend=registry_backend):
        if need.line not in seen:
            seen[need.line] = _allowed(client, need, owner, repo, pr)
        if seen[need.line]:
            continue
        alt = need.alternative
        if alt is not None and _allowed(client, alt, owner, repo, pr):
            if need.degrades:
                degraded.append(f"no `{need.line}`: {alt.why} is posted instead of {need.why}")
            continue
        if not need.required:
            degraded.append(f"no `{need.line}`: {need.why} will be skipped")
        elif need.line not in missing:
            missing.append(need.line)
    return Preflight(tuple(missing), tuple(degraded))


def require(result: Preflight, event_name: str) -> None:
    """Fail with the exact `permissions:` lines to add (exit 7, a RemoteError)."""
    if result.ok:
        return
    lines = ", ".join(result.missing)
    raise RemoteError(
        f"the token lacks {lines} for `{event_name}`; add to the job's `permissions:` block: "
        + "; ".join(f"`{line}`" for line in result.missing)
        + " (checked before training; nothing was run)"
    )
