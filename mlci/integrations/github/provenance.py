"""Is this run record the one a CI run published? Asked of GitHub's REST API, not of git.

A record is a line in a git note, and anyone who can push `refs/notes/mlci` can write one: a
newer note with another model digest used to become main's baseline, or the model an approval
registered. What a note pusher cannot make is a check run: only a GitHub App can create one,
and one created with a workflow's GITHUB_TOKEN belongs to GitHub Actions. When mlci publishes
a record it creates the `mlci` check on the record's commit naming the record's id and digest
(`checks.binding_text`); a record is verified when such a check exists, by GitHub Actions, on
that commit, naming exactly this record's digest. For a baseline (main's record) the check's
check suite must also belong to a workflow run triggered by a `push` to the default branch.

What this does not prove: who wrote the workflow that made the check. Any workflow run in the
repository with `checks: write` can create a check run on any commit, and GitHub files a check
created through the API under the first check suite of that commit, so the check-suite test
narrows the window (a pull_request run's check on a PR head is refused as a baseline) but a
writer who runs their own workflow can still forge. docs/baselines.md says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mlci.errors import GitHubError
from mlci.integrations.github import checks
from mlci.integrations.github.client import GitHubClient, split_repo
from mlci.model.record import RunRecord

ACTIONS_APP = "github-actions"  # the app of every check run made with a workflow's GITHUB_TOKEN
# What mlci reads of a workflow run (GitHub's answer is checked against it: unverified otherwise).
WORKFLOW_RUN = {"event?": str, "head_branch?": str, "head_sha?": str, "head_repository?": {"full_name?": str}}


@dataclass(frozen=True)
class Verdict:
    """Whether `record_id` (sha256 `digest`) is bound to a CI run, and why not (one line)."""

    verified: bool
    reason: str
    record_id: str = ""
    commit: str = ""
    digest: str = ""
    check_url: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "verified": self.verified,
            "reason": self.reason,
            "record": self.record_id,
            "commit": self.commit,
            "sha256": self.digest,
            "check": self.check_url,
        }


def _cannot(exc: GitHubError, what: str, permission: str) -> str:
    if exc.status == 403 and "rate limit" not in exc.message.lower():
        return f"the token may not {what} (grant `{permission}` to the job)"
    return f"cannot {what}: {exc.message}"


def _default_branch(client: GitHubClient, owner: str, name: str) -> str | None:
    try:
        data = client.get(f"/repos/{owner}/{name}", shape={"default_branch?": str})
    except GitHubError:
        return None
    branch = data.get("default_branch")
    return branch if isinstance(branch, str) and branch else None


def _push_to(run: dict, branch: str, commit: str, repo: str) -> bool:
    """A workflow run triggered by a push of `commit` to `branch` of `repo` itself (not a fork)."""
    head_repo = (run.get("head_repository") or {}).get("full_name") or repo
    return (
        run.get("event") == "push"
        and run.get("head_branch") == branch
        and run.get("head_sha") == commit
        and str(head_repo).lower() == repo.lower()
    )


def verify(
    client: GitHubClient,
    repo: str,
    record: RunRecord,
    *,
    require_default_branch: bool = False,
    default_branch: str | None = None,
) -> Verdict:
    """Look for the `mlci` check that binds `record` (see the module docstring); never raises for
    what GitHub answers: a failed lookup is an unverified record, with the reason."""
    owner, name = split_repo(repo)
    digest = record.digest()

    def verdict(ok: bool, reason: str, url: str | None = None) -> Verdict:
        return Verdict(ok, reason, record.id, record.commit, digest, url)

    try:
        runs = list(
            client.paginate(
                f"/repos/{owner}/{name}/commits/{record.commit}/check-runs",
                {"check_name": checks.CHECK_NAME, "filter": "all"},
                key="check_runs",
                item=checks.CHECK_RUN,
            )
        )
    except GitHubError as exc:
        return verdict(False, _cannot(exc, "list the commit's check runs", "checks: read"))
    bound: list[dict] = []
    refused: list[str] = []
    for run in runs:
        if not isinstance(run, dict) or run.get("name") != checks.CHECK_NAME or run.get("head_sha") != record.commit:
            continue
        named = [b for b in checks.bindings((run.get("output") or {}).get("text")) if b["id"] == record.id]
        if not named:
            continue
        slug = (run.get("app") or {}).get("slug")
        if slug != ACTIONS_APP:
            refused.append(
                f"the only `mlci` check naming it was made by the app {str(slug)[:40]!r}, not GitHub Actions"
            )
        elif not any(b["sha256"] == digest and b["commit"] == record.commit for b in named):
            refused.append(
                f"its CI run published other content (sha256 {named[0]['sha256'][:12]}…, this record has "
                f"{digest[:12]}…): the record was changed after the run"
            )
        else:
            bound.append(run)
    if not bound:
        why = refused[0] if refused else "no `mlci` check run by GitHub Actions on that commit names it"
        return verdict(False, why)
    if not require_default_branch:
        url = bound[0].get("html_url")
        return verdict(True, f"published by the CI run of check {url}", url)

    branch = default_branch or _default_branch(client, owner, name)
    if branch is None:
        return verdict(False, "cannot tell the repository's default branch", bound[0].get("html_url"))
    for run in bound:
        url = run.get("html_url")
        suite = (run.get("check_suite") or {}).get("id")
        if suite is None:
            refused.append("its check belongs to no check suite (no workflow run)")
            continue
        try:
            workflow_runs = list(
                client.paginate(
                    f"/repos/{owner}/{name}/actions/runs",
                    {"check_suite_id": suite},
                    key="workflow_runs",
                    item=WORKFLOW_RUN,
                )
            )
        except GitHubError as exc:
            return verdict(False, _cannot(exc, "read the workflow run behind its check", "actions: read"), url)
        if any(isinstance(w, dict) and _push_to(w, branch, record.commit, repo) for w in workflow_runs):
            return verdict(True, f"published by a push-to-{branch} run (check {url})", url)
        seen = ", ".join(
            sorted(
                {f"{w.get('event')} on {str(w.get('head_branch'))[:60]}" for w in workflow_runs if isinstance(w, dict)}
            )
        )
        refused.append(f"its check comes from a {seen or 'no'} workflow run, not a push to {branch}")
    return verdict(False, refused[-1], bound[0].get("html_url"))


def verify_all(
    client: GitHubClient, repo: str, records: Iterable[RunRecord], *, require_default_branch: bool = False
) -> list[Verdict]:
    """`verify` for several records, asking for the default branch once."""
    owner, name = split_repo(repo)
    branch = _default_branch(client, owner, name) if require_default_branch else None
    return [
        verify(client, repo, r, require_default_branch=require_default_branch, default_branch=branch) for r in records
    ]
