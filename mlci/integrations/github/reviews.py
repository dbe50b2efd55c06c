"""Is this PR approved, at its current head, by someone who may merge it?

Used by `mlci promote` on `pull_request_review` events: a promotion must follow an approval of
the exact code being promoted (a later push makes an earlier approval stale), and only reviews
from users with write access count (anyone can leave an "Approve" review on a public repo).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlci.errors import GitHubError
from mlci.integrations.github import pulls
from mlci.integrations.github.client import GitHubClient, split_repo

WRITE_LEVELS = ("admin", "maintain", "write")
# Review states that replace a user's earlier verdict; COMMENTED/PENDING do not.
_VERDICT_STATES = ("APPROVED", "CHANGES_REQUESTED", "DISMISSED")
# What mlci reads of a review and of a collaborator's permission (answers are checked: exit 7 otherwise).
REVIEW = {"user?": {"login?": str}, "state?": str, "commit_id?": str, "submitted_at?": str, "html_url?": str}
PERMISSION = {"permission?": str, "role_name?": str}


@dataclass(frozen=True)
class Approval:
    approved: bool
    reviewer: str | None
    commit_id: str | None  # the commit the approval was given on
    head_sha: str  # the PR's current head
    reason: str  # one line saying why (not) approved
    approved_at: str | None = None  # the approving review's submitted_at (the audit trail's "when")
    review_url: str | None = None  # the approving review's html_url


def can_write(client: GitHubClient, owner: str, name: str, login: str, cache: dict[str, bool]) -> bool:
    """Whether `login` has write, maintain or admin on the repository (asked once per login)."""
    if login not in cache:
        try:
            answer = client.get(f"/repos/{owner}/{name}/collaborators/{login}/permission", shape=PERMISSION)
        except GitHubError as exc:
            if exc.status != 404:
                raise
            answer = {}
        levels = {answer.get("permission"), answer.get("role_name")}
        cache[login] = any(level in WRITE_LEVELS for level in levels)
    return cache[login]


def current_reviews(reviews: Iterable[dict]) -> dict[str, dict]:
    """Each reviewer's current verdict: their latest APPROVED, CHANGES_REQUESTED or DISMISSED review.

    `reviews` in GitHub's order (oldest first). A COMMENTED or PENDING review leaves the verdict as
    it was, so approving and then requesting changes means not approved. Promotion and fork
    admission both judge by this.
    """
    current: dict[str, dict] = {}
    for review in reviews:
        login = (review.get("user") or {}).get("login")
        if login and review.get("state") in _VERDICT_STATES:
            current[login] = review  # later reviews win
    return current


def requesting_changes(
    client: GitHubClient, owner: str, name: str, current: dict[str, dict], writers: dict[str, bool]
) -> list[str]:
    """Writers whose current verdict asks for changes: each blocks until they approve or are dismissed.

    A user without write access cannot block (anyone can review a public repository).
    """
    return [
        login
        for login, review in current.items()
        if review.get("state") == "CHANGES_REQUESTED" and can_write(client, owner, name, login, writers)
    ]


def approval(client: GitHubClient, repo: str, pr: int) -> Approval:
    """The PR's approval state: each writer's latest verdicting review, judged at the current head."""
    owner, name = split_repo(repo)
    head_sha = client.get(f"/repos/{owner}/{name}/pulls/{pr}", shape=pulls.HEAD)["head"]["sha"]
    latest = current_reviews(client.paginate(f"/repos/{owner}/{name}/pulls/{pr}/reviews", item=REVIEW))
    writers: dict[str, bool] = {}
    stale = outsider = None
    blocking = requesting_changes(client, owner, name, latest, writers)
    if blocking:
        return Approval(
            False,
            blocking[0],
            latest[blocking[0]].get("commit_id"),
            head_sha,
            f"{blocking[0]} requested changes; promotion needs their approval",
        )
    for login, review in latest.items():
        if review["state"] != "APPROVED":
            continue
        if not can_write(client, owner, name, login, writers):
            outsider = outsider or login
            continue
        if review.get("commit_id") != head_sha:
            stale = stale or (login, review.get("commit_id"))
            continue
        return Approval(
            True,
            login,
            head_sha,
            head_sha,
            f"approved by {login} at {head_sha[:12]}",
            approved_at=review.get("submitted_at"),
            review_url=review.get("html_url"),
        )
    if stale:
        return Approval(
            False,
            stale[0],
            stale[1],
            head_sha,
            f"{stale[0]} approved {str(stale[1])[:12]}, but the PR head is now {head_sha[:12]}; "
            "re-approve the current head",
        )
    if outsider:
        return Approval(
            False,
            outsider,
            None,
            head_sha,
            f"only {outsider} approved, who has no write access; a maintainer must approve",
        )
    return Approval(False, None, None, head_sha, f"PR #{pr} has no approval at its head {head_sha[:12]}")
