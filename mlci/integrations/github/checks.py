"""The `mlci` check on the commit: a check run, or a commit status when checks are not writable.

The check's conclusion is the gate, so branch protection can require it. Workflows whose
token lacks `checks: write` (GitHub answers 403 "Resource not accessible by integration")
still get a visible verdict through a commit status, which needs only `statuses: write`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from mlci.errors import GitHubError
from mlci.integrations.github.client import GitHubClient, split_repo

CHECK_NAME = "mlci"
SUMMARY_LIMIT = 65535
CONCLUSIONS = ("success", "failure", "neutral")
_STATUS_STATE = {"success": "success", "failure": "failure", "neutral": "success"}


@dataclass(frozen=True)
class CheckResult:
    kind: str  # "check-run" | "status"
    conclusion: str
    url: str | None
    fallback_reason: str = ""  # why a status was posted instead of a check run


def publish(
    client: GitHubClient,
    repo: str,
    sha: str,
    *,
    conclusion: str,
    title: str,
    summary: str,
    name: str = CHECK_NAME,
    details_url: str | None = None,
) -> CheckResult:
    """Create a completed check run `name` on `sha`; fall back to a commit status on 403."""
    if conclusion not in CONCLUSIONS:
        raise ValueError(f"conclusion must be one of {CONCLUSIONS}, got {conclusion!r}")
    from mlci.integrations.github.limits import fit_comment

    owner, repo_name = split_repo(repo)
    payload = {
        "name": name,
        "head_sha": sha,
        "status": "completed",
        "conclusion": conclusion,
        "output": {
            "title": title[:255],
            "summary": fit_comment(summary, limit=SUMMARY_LIMIT, full_report_url=details_url),
        },
    }
    if details_url:
        payload["details_url"] = details_url
    # A 502 after GitHub created the run must not create a second one: each publish carries its
    # own external_id, and before re-sending we look for a run on `sha` that has it.
    external_id = f"mlci-{uuid.uuid4().hex}"
    payload["external_id"] = external_id
    try:
        run = client.create(
            f"/repos/{owner}/{repo_name}/check-runs",
            payload,
            landed=lambda: find(client, repo, sha, name=name, external_id=external_id),
        )
        return CheckResult("check-run", conclusion, run.get("html_url"))
    except GitHubError as exc:
        if exc.status != 403:
            raise
        reason = exc.message
    status = {"state": _STATUS_STATE[conclusion], "context": name, "description": title[:140]}
    if details_url:
        status["target_url"] = details_url
    client.create(
        f"/repos/{owner}/{repo_name}/statuses/{sha}", status
    )  # a status is idempotent: same context, same state
    return CheckResult("status", conclusion, details_url, fallback_reason=reason)


def find(client: GitHubClient, repo: str, sha: str, *, name: str, external_id: str) -> dict | None:
    """The check run `name` on `sha` that carries `external_id`, if one exists."""
    owner, repo_name = split_repo(repo)
    for run in client.paginate(f"/repos/{owner}/{repo_name}/commits/{sha}/check-runs", {"check_name": name}):
        if run.get("external_id") == external_id and run.get("name") == name:
            return run
    return None
