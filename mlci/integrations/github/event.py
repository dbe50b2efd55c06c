"""What the Actions runner tells a step: the event, the repo, the PR, where outputs go.

Read once from the environment and `$GITHUB_EVENT_PATH` into a typed `Event`, so the rest of
`mlci ci` never touches `os.environ` or the payload's nesting.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from mlci.errors import ConfigError


@dataclass(frozen=True)
class Event:
    name: str  # GITHUB_EVENT_NAME: pull_request, push, pull_request_review, workflow_dispatch, …
    repo: str  # OWNER/NAME of the repository the workflow runs in
    sha: str  # GITHUB_SHA (for pull_request: the test-merge commit)
    ref: str = ""
    base_ref: str = ""
    head_ref: str = ""
    default_branch: str = ""
    pr: int | None = None
    pr_head_sha: str | None = None  # the commit a check run belongs on
    head_repo: str | None = None
    labels: tuple[str, ...] = ()
    review_state: str | None = None  # pull_request_review: "approved", "changes_requested", …
    action: str | None = None
    api_url: str = "https://api.github.com"
    server_url: str = "https://github.com"
    run_url: str | None = None
    runner_environment: str = "unknown"  # RUNNER_ENVIRONMENT; anything but github-hosted is self-hosted
    output_path: Path | None = None
    summary_path: Path | None = None
    runner_temp: Path | None = None
    payload: dict = field(default_factory=dict, repr=False)

    @property
    def is_fork(self) -> bool:
        """A PR whose head lives in another repository: its token is read-only."""
        return self.pr is not None and self.head_repo is not None and self.head_repo != self.repo

    @property
    def is_default_branch_push(self) -> bool:
        return self.name == "push" and bool(self.default_branch) and self.ref == f"refs/heads/{self.default_branch}"

    @property
    def self_hosted(self) -> bool:
        """Fail closed: only a runner that says it is GitHub-hosted counts as one."""
        return self.runner_environment != "github-hosted"

    @property
    def check_sha(self) -> str:
        return self.pr_head_sha or self.sha


def _path(env: Mapping[str, str], key: str) -> Path | None:
    value = env.get(key)
    return Path(value) if value else None


def from_env(environ: dict[str, str] | None = None) -> Event:
    """The current Actions event; a ConfigError when not run by GitHub Actions."""
    env = os.environ if environ is None else environ
    missing = [k for k in ("GITHUB_EVENT_NAME", "GITHUB_REPOSITORY", "GITHUB_SHA") if not env.get(k)]
    if missing:
        raise ConfigError(
            f"`mlci ci` runs inside GitHub Actions, but {', '.join(missing)} is not set; "
            "locally use `mlci run` and `mlci diff`"
        )
    payload: dict = {}
    event_path = env.get("GITHUB_EVENT_PATH")
    if event_path:
        try:
            payload = json.loads(Path(event_path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read the event payload {event_path} ({exc}); is this a GitHub Actions step?"
            ) from None
    pull = payload.get("pull_request") or {}
    repo = env["GITHUB_REPOSITORY"]
    repository = payload.get("repository") or {}
    number = pull.get("number") or payload.get("number")
    head = pull.get("head") or {}
    server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    run_id = env.get("GITHUB_RUN_ID")
    return Event(
        name=env["GITHUB_EVENT_NAME"],
        repo=repo,
        sha=env["GITHUB_SHA"],
        ref=env.get("GITHUB_REF", ""),
        base_ref=env.get("GITHUB_BASE_REF") or (pull.get("base") or {}).get("ref", ""),
        head_ref=env.get("GITHUB_HEAD_REF") or head.get("ref", ""),
        default_branch=repository.get("default_branch", ""),
        pr=int(number) if number else None,
        pr_head_sha=head.get("sha"),
        # a PR whose fork was deleted has head.repo null: treat it as a fork (read-only token)
        head_repo=((head.get("repo") or {}).get("full_name") or "(deleted fork)") if head else None,
        labels=tuple(label.get("name", "") for label in pull.get("labels") or []),
        review_state=(payload.get("review") or {}).get("state"),
        action=payload.get("action"),
        api_url=env.get("GITHUB_API_URL", "https://api.github.com"),
        server_url=server,
        run_url=f"{server}/{repo}/actions/runs/{run_id}" if run_id else None,
        runner_environment=env.get("RUNNER_ENVIRONMENT") or "unknown",
        output_path=_path(env, "GITHUB_OUTPUT"),
        summary_path=_path(env, "GITHUB_STEP_SUMMARY"),
        runner_temp=_path(env, "RUNNER_TEMP"),
        payload=payload,
    )
