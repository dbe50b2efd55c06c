"""May this pull request's code run on a self-hosted runner? Decided before any of it runs.

A fork's code is admitted only for the exact commit a maintainer approved: an issue comment
`/mlci train <40-hex head SHA>` by a user with write access, or an APPROVED review whose
`commit_id` is the head SHA by such a user. Labels are only a trigger: a label stays on the PR
across pushes, so by itself it would admit every later push unreviewed. The SHA must be the
PR's head *now* (asked through the API, so a push after the event is caught) and the commit
checked out in the workspace must be that head (or the test-merge commit built on it).
Short SHAs are refused: a prefix can be brute-forced into a colliding commit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlci.integrations.github.client import GitHubClient, split_repo
from mlci.integrations.github.reviews import can_write

TRAIN_COMMAND = re.compile(r"^\s*/mlci\s+train\s+([0-9a-fA-F]{7,40})\b", re.MULTILINE)
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class Admission:
    admitted: bool
    head_sha: str | None
    reason: str  # one line: why (not)
    approver: str | None = None


def approval_for(client: GitHubClient, repo: str, pr: int, head_sha: str) -> tuple[str | None, str]:
    """(who approved `head_sha`, how) — or (None, what was found instead)."""
    owner, name = split_repo(repo)
    writers: dict[str, bool] = {}
    other_shas: list[str] = []
    outsiders: list[str] = []
    for comment in client.paginate(f"/repos/{owner}/{name}/issues/{pr}/comments"):
        login = (comment.get("user") or {}).get("login")
        for match in TRAIN_COMMAND.finditer(comment.get("body") or ""):
            sha = match.group(1).lower()
            if not login:
                continue
            if sha != head_sha:
                other_shas.append(sha)
                continue
            if can_write(client, owner, name, login, writers):
                return login, f"`/mlci train {head_sha}` by {login}"
            outsiders.append(login)
    for review in client.paginate(f"/repos/{owner}/{name}/pulls/{pr}/reviews"):
        login = (review.get("user") or {}).get("login")
        if (
            login
            and review.get("state") == "APPROVED"
            and review.get("commit_id") == head_sha
            and can_write(client, owner, name, login, writers)
        ):
            return login, f"review approving {head_sha[:12]} by {login}"
    if outsiders:
        return None, f"only {outsiders[0]}, who has no write access, asked to train it"
    if other_shas:
        return None, f"the approval names {other_shas[-1][:12]}, not the head {head_sha[:12]} (pushed since)"
    return None, "no maintainer approved this commit"


def admit(
    client: GitHubClient,
    repo: str,
    pr: int,
    *,
    event_head_sha: str | None,
    workspace_head: str | None,
    workspace_parents: tuple[str, ...] = (),
) -> Admission:
    """The admission of fork PR `pr` at its current head (see module docstring)."""
    current = client.get(f"/repos/{split_repo(repo)[0]}/{split_repo(repo)[1]}/pulls/{pr}")["head"]["sha"]
    if not FULL_SHA.match(current or ""):
        return Admission(False, None, f"GitHub gave no usable head SHA for PR #{pr}")
    if event_head_sha and event_head_sha != current:
        return Admission(
            False,
            current,
            f"PR #{pr} was pushed to since this run started (event head "
            f"{event_head_sha[:12]}, now {current[:12]}); the newer run decides",
        )
    test_merge = len(workspace_parents) == 2 and workspace_parents[1] == current  # refs/pull/N/merge: base, head
    if workspace_head and current != workspace_head and not test_merge:
        return Admission(
            False,
            current,
            f"the checked-out commit {workspace_head[:12]} is not the PR head "
            f"{current[:12]} (nor a merge of it); check out the PR head",
        )
    approver, how = approval_for(client, repo, pr, current)
    if approver is None:
        return Admission(False, current, how)
    return Admission(True, current, f"approved: {how}", approver)
