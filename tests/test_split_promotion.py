"""A split PR run (admit -> train -> publish, templates/workflows/pr.yml) through to the registry.

The three jobs of the PR workflow run the way the runner runs them (tests/plugins/actions_runner.py),
each on its own clone of one origin (the loopback smart-HTTP git server, which like a private
GitHub repository answers nothing without the token) and one loopback GitHub API. Then a
maintainer approves the head, and promote.yml's `mlci promote` runs in the review job: it must
promote exactly the record the PR's run produced, whose `mlci` check the publish job created.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

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
        PR_TEMPLATE,
        "admit",
        admit_ws,
        {**actions_env(fake_github, tmp_path / "admit", sha=pr_head), **quiet},
        artifacts=artifacts,
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


def _dvc_object(tmp_path: Path, md5: str) -> Path:
    return tmp_path / "dvc-storage" / "files" / "md5" / md5[:2] / md5[2:]


def test_an_approval_of_a_split_pr_run_promotes_the_bytes_its_training_job_produced(team, fake_github, tmp_path):
    """The publish job binds the record (its `mlci` check names it) and stores the bundle's model in
    the team's DVC remote; the review job, on yet another machine, promotes exactly those bytes."""
    seed, origin, auth = team
    pr_head = _open_pr(seed, auth)
    run = split_pr_run(fake_github, origin, auth, tmp_path, pr_head)
    record = _origin_record(origin, pr_head)  # the publish job pushed the head's record
    model = record["artifacts"]["model"]
    md5 = record["outs"][model["path"]]
    bundled = run["artifacts"]["mlci-bundle"] / "model" / Path(model["path"]).name
    assert hashlib.sha256(bundled.read_bytes()).hexdigest() == model["sha256"]  # the train job bundled it

    review = _approve(fake_github, pr_head)
    # promote.yml's job: a fresh GitHub-hosted VM, a checkout of the approved head, no DVC cache.
    review_ws = _clone(origin, auth, tmp_path / "review-job", pr_head)
    assert not (review_ws / model["path"]).exists()
    review_env = _job_env(fake_github, origin, tmp_path / "runner-review", event="pull_request_review", sha=pr_head)
    done = promote_in(review_ws, review_env)
    assert done.returncode == 0, done.stderr
    promoted = json.loads(done.stdout)
    assert promoted["created"] and promoted["version"]["commit"] == pr_head
    assert promoted["version"]["metadata"]["record"] == record["id"]  # its run, not a retraining
    assert promoted["version"]["metadata"]["provenance"]["verified"] is True
    assert promoted["version"]["sha256"] == model["sha256"]
    [check] = [c for c in fake_github.check_runs if c["head_sha"] == pr_head]
    assert record["id"] in (check["output"].get("text") or ""), "the publish job's check names the record"

    # What GTO itself reads from a fresh clone of the origin, and the bytes behind that version.
    reader = tmp_path / "reader"
    subprocess.run(["git", "clone", "-q", origin.url, str(reader)], check=True, env=auth, capture_output=True)
    gto = str(Path(sys.executable).parent / "gto")
    versions = json.loads(
        subprocess.run([gto, "show", "churn", "--json"], cwd=reader, check=True, capture_output=True, text=True).stdout
    )
    [version] = [v for v in versions if v["version"] == promoted["version"]["version"]]
    assert version["commit_hexsha"] == pr_head
    card = subprocess.run(
        [sys.executable, "-m", "mlci", "registry", "card", f"churn@{version['version']}"],
        cwd=reader,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"**Approved by** `maint` on `{review['submitted_at']}` at commit `{pr_head}`" in card.stdout
    stored = _dvc_object(tmp_path, md5)  # the publish job (which has no model of its own) stored it
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == model["sha256"]
