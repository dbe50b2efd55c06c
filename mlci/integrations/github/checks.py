"""The `mlci` check on the commit: a check run, or a commit status when checks are not writable.

The check's conclusion is the gate, so branch protection can require it. Workflows whose
token lacks `checks: write` (GitHub answers 403 "Resource not accessible by integration")
still get a visible verdict through a commit status, which needs only `statuses: write`.

The check also binds the run record the CI run published (`record=`): its id, commit and
digest go into `output.text`, a field only mlci writes (the summary carries PR-controlled
report text). Only a GitHub App can create a check run, and one created with a workflow's
GITHUB_TOKEN is GitHub Actions' (`app.slug == "github-actions"`): that is the evidence
`mlci.integrations.github.provenance` looks for before a record is trusted.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlci.model.record import RunRecord

from mlci.errors import GitHubError
from mlci.integrations.github.client import GitHubClient, split_repo

CHECK_NAME = "mlci"
SUMMARY_LIMIT = 65535
CONCLUSIONS = ("success", "failure", "neutral")
_STATUS_STATE = {"success": "success", "failure": "failure", "neutral": "success"}
_BINDING = re.compile(r"^<!-- mlci-record (\{[^\n]*\}) -->$", re.MULTILINE)
_HEX40, _HEX64 = re.compile(r"[0-9a-f]{40}"), re.compile(r"[0-9a-f]{64}")
# What mlci reads of a check run (GitHub's answer is checked against it: exit 7 otherwise).
CHECK_RUN = {
    "id": int,
    "html_url": str,
    "name?": str,
    "head_sha?": str,
    "external_id?": str,
    "output?": {"text?": str},
    "app?": {"slug?": str},
    "check_suite?": {"id?": int},
}


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
    record: RunRecord | None = None,
) -> CheckResult:
    """Create a completed check run `name` on `sha`; fall back to a commit status on 403.

    `record`: the run record this CI run published for `sha` (exactly as shared: digest after
    the gate is attached); its identity goes into `output.text`. A status cannot carry it."""
    if conclusion not in CONCLUSIONS:
        raise ValueError(f"conclusion must be one of {CONCLUSIONS}, got {conclusion!r}")
    from mlci.integrations.github.limits import fit_comment

    owner, repo_name = split_repo(repo)
    output = {
        "title": title[:255],
        "summary": fit_comment(summary, limit=SUMMARY_LIMIT, full_report_url=details_url),
    }
    if record is not None:
        if record.commit != sha:
            raise ValueError(f"run record {record.id} is for {record.commit[:12]}, not the check's commit {sha[:12]}")
        output["text"] = binding_text(record)
    payload = {"name": name, "head_sha": sha, "status": "completed", "conclusion": conclusion, "output": output}
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
            shape=CHECK_RUN,
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
    for run in client.paginate(
        f"/repos/{owner}/{repo_name}/commits/{sha}/check-runs", {"check_name": name}, key="check_runs", item=CHECK_RUN
    ):
        if run.get("external_id") == external_id and run.get("name") == name:
            return run
    return None


def binding_text(record: RunRecord) -> str:
    """The check's `output.text`: the record's identity, for people and, hidden, for `bindings`."""
    identity = {"id": record.id, "commit": record.commit, "sha256": record.digest()}
    return (
        f"Run record `{record.id}` at `{record.commit}`, sha256 `{identity['sha256']}` "
        "(the record this run published to refs/notes/mlci).\n\n"
        f"<!-- mlci-record {json.dumps(identity, sort_keys=True)} -->\n"
    )


def bindings(text: str | None) -> list[dict[str, str]]:
    """The record identities a check's `output.text` names (malformed lines are ignored)."""
    found = []
    for match in _BINDING.finditer(text or ""):
        try:
            data = json.loads(match.group(1))
        except ValueError:
            continue
        if (
            isinstance(data, dict)
            and set(data) == {"id", "commit", "sha256"}
            and all(isinstance(v, str) for v in data.values())
            and _HEX40.fullmatch(data["commit"])
            and _HEX64.fullmatch(data["sha256"])
        ):
            found.append(data)
    return found
