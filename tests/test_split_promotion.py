"""A split PR run (admit -> train -> publish, templates/workflows/pr.yml) through to the registry.

The three jobs of the PR workflow run the way the runner runs them (tests/plugins/actions_runner.py),
each on its own clone of one origin (the loopback smart-HTTP git server, which like a private
GitHub repository answers nothing without the token) and one loopback GitHub API. Then a
maintainer approves the head, and promote.yml's `mlci promote` runs in the review job: it must
promote exactly the record the PR's run produced, whose `mlci` check the publish job created.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import git
from tests.plugins.actions_runner import run_job
from tests.plugins.fake_github import actions_env
from tests.test_approval_e2e import _approve, _clone, _job_env, _open_pr, _origin_record, team  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
PR_TEMPLATE = ROOT / "templates" / "workflows" / "pr.yml"


def split_pr_run(fake_github, origin, auth: dict, tmp_path: Path, pr_head: str) -> dict:
    """The PR workflow's three jobs, each on a fresh machine; returns what crossed between them."""
    quiet = {"GITHUB_SERVER_URL": origin.server_url, "GIT_TERMINAL_PROMPT": "0"}
    artifacts: dict[str, Path] = {}

    admit_ws = _clone(origin, auth, tmp_path / "admit-job", pr_head)
    admit = run_job(
        PR_TEMPLATE, "admit", admit_ws, {**actions_env(fake_github, tmp_path / "admit", sha=pr_head), **quiet}
    )
    assert admit.rc == 0, admit.mlci.log
    assert admit.outputs["head-sha"] == pr_head

    train_ws = _clone(origin, auth, tmp_path / "train-job", pr_head)
    train_env = {**actions_env(fake_github, tmp_path / "train", sha=pr_head, self_hosted=True), **quiet}
    needs = {"admit": {"result": "success", "outputs": admit.outputs}}
    train = run_job(PR_TEMPLATE, "train", train_ws, train_env, needs=needs, artifacts=artifacts)
    assert train.rc == 0, train.mlci.log
    assert "mlci-bundle" in artifacts

    base = tmp_path / "publish-job"  # the base branch only, as actions/checkout of the base SHA gives
    subprocess.run(
        ["git", "clone", "-q", "--single-branch", "--branch", "main", origin.url, str(base)], check=True, env=auth
    )
    publish_env = {**actions_env(fake_github, tmp_path / "publish", sha=pr_head), **quiet}
    publish = run_job(
        PR_TEMPLATE,
        "publish",
        base,
        publish_env,
        needs={"train": {"result": "success", "outputs": {}}},
        artifacts=artifacts,
    )
    assert publish.rc == 0, publish.mlci.log
    return {"admit": admit, "train": train, "publish": publish, "artifacts": artifacts, "train_ws": train_ws}


def promote_in(workspace: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlci", "promote", "--stage", "staging", "--json"],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
    )


def test_an_approval_of_a_split_pr_run_promotes_the_record_its_publish_job_bound(team, fake_github, tmp_path):
    seed, origin, auth = team
    pr_head = _open_pr(seed, auth)
    run = split_pr_run(fake_github, origin, auth, tmp_path, pr_head)
    record = _origin_record(origin, pr_head)  # the publish job pushed the head's record

    _approve(fake_github, pr_head)
    # The review job runs where the model's bytes are: the training machine's workspace (the
    # bundle carries no model yet). What it promotes must be the record the check vouches for.
    review_env = _job_env(fake_github, origin, tmp_path / "runner-review", event="pull_request_review", sha=pr_head)
    done = promote_in(run["train_ws"], review_env)
    assert done.returncode == 0, done.stderr
    promoted = json.loads(done.stdout)
    assert promoted["created"] and promoted["version"]["commit"] == pr_head
    assert promoted["version"]["metadata"]["record"] == record["id"]
    assert promoted["version"]["metadata"]["provenance"]["verified"] is True
    assert promoted["version"]["sha256"] == record["artifacts"]["model"]["sha256"]
    assert git(origin.bare, "tag", "--list")  # the registry tags reached the origin
    [check] = [c for c in fake_github.check_runs if c["head_sha"] == pr_head]
    assert record["id"] in (check["output"].get("text") or ""), "the publish job's check names the record"
