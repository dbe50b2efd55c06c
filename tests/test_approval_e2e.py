"""A pull request from first push to the registry, as three separate GitHub jobs run it.

Three clones of one origin (the loopback smart-HTTP git server that, like GitHub, refuses
anonymous pushes) and one loopback GitHub API: the PR job trains and publishes (admit, run
without the token, publish), the review job promotes the approved head from a fresh checkout
without training, the merge job records main and promotes main's model. The registry is then
read back with GTO itself (`gto show --json`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import commit_all, git, set_param
from tests.plugins.fake_github import actions_env


def _job_env(fake_github, origin, workdir: Path, **event) -> dict[str, str]:
    return {
        **os.environ,
        **actions_env(fake_github, workdir, **event),
        "GITHUB_SERVER_URL": origin.server_url,
        "GIT_TERMINAL_PROMPT": "0",
    }


def _clone(origin, auth: dict, dest: Path, ref: str) -> Path:
    """What actions/checkout with `persist-credentials: false` leaves: no notes, no tags' notes, no token."""
    subprocess.run(["git", "clone", "-q", origin.url, str(dest)], check=True, env=auth, capture_output=True)
    git(dest, "checkout", "-q", "--detach", ref)
    for key, value in (("user.name", "ci"), ("user.email", "ci@example.com")):
        git(dest, "config", key, value)
    return dest


def _mlci(root: Path, env: dict, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "mlci", *args, "--json"], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _ci_job(root: Path, env: dict) -> dict:
    """The action's three steps: admit and publish hold the token, the pipeline step does not; the
    later steps get the admit step's nonce output, as action.yml passes it."""
    from tests.plugins.fake_github import read_outputs

    _mlci(root, env, "ci", "--phase", "admit")
    env = {**env, "MLCI_ADMIT_NONCE": read_outputs(env["GITHUB_OUTPUT"])["admit-nonce"]}
    no_token = {k: v for k, v in env.items() if k not in ("GITHUB_TOKEN", "GH_TOKEN")}
    _mlci(root, no_token, "ci", "--phase", "run")
    return _mlci(root, env, "ci", "--phase", "publish")


def _origin_record(origin, sha: str) -> dict:
    [line] = git(origin.bare, "notes", "--ref=mlci", "show", sha).splitlines()  # one job ran there: one record
    return json.loads(line)


def _open_pr(seed: Path, auth: dict) -> str:
    """The author pushes a PR branch that changes the model; returns its head."""
    git(seed, "checkout", "-q", "-b", "feature")
    set_param(seed, "train.n_estimators", 80)
    pr_head = commit_all(seed, "More trees")
    subprocess.run(["git", "push", "-q", "origin", "feature"], cwd=seed, check=True, env=auth)
    return pr_head


def _approve(fake_github, pr_head: str) -> dict:
    fake_github.add_pull(12, head_sha=pr_head)
    fake_github.collaborators["maint"] = "write"
    return fake_github.add_review(12, "maint", "APPROVED", pr_head)


@pytest.fixture
def team(_trained_example: Path, fake_github, git_http_origin, tmp_path: Path):
    """A team's repo on the origin: the example pipeline, a DVC remote in `.dvc/config`, promotion
    on approval and on main, main's run recorded and pushed."""
    from mlci.integrations.github.gitauth import auth_env
    from mlci.workflows.run import run

    git_http_origin.token = fake_github.token  # one token for the API and the git origin, as on GitHub
    auth = {**os.environ, **auth_env(fake_github.token, git_http_origin.server_url, {}), "GIT_TERMINAL_PROMPT": "0"}
    seed = tmp_path / "seed"
    shutil.copytree(_trained_example, seed, symlinks=True)
    subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "add", "-d", "storage", str(tmp_path / "dvc-storage")],
        cwd=seed,
        check=True,
        capture_output=True,
    )
    with open(seed / "mlci.yaml", "a", encoding="utf-8") as handle:
        handle.write("registry:\n  promote_on: both\n  stage: staging\n")
    commit_all(seed, "Store models in the team's DVC remote; promote on approval and on main")
    run(seed)
    git(seed, "remote", "add", "origin", git_http_origin.url)
    subprocess.run(["git", "push", "-q", "origin", "main", "refs/notes/mlci"], cwd=seed, check=True, env=auth)
    return seed, git_http_origin, auth


def test_an_approved_pr_promotes_the_bytes_its_run_recorded_and_the_merge_promotes_main(team, fake_github, tmp_path):
    seed, origin, auth = team
    pr_head = _open_pr(seed, auth)

    # Job 1, pull_request: a fresh checkout of the PR head trains, comments, shares its run.
    pr_job = _clone(origin, auth, tmp_path / "pr-job", pr_head)
    published = _ci_job(pr_job, _job_env(fake_github, origin, tmp_path / "runner-pr", sha=pr_head))
    assert published["verdict"] == "success"
    record = _origin_record(origin, pr_head)
    assert (record["commit"], record["pr"]) == (pr_head, 12)
    model = record["artifacts"]["model"]
    assert fake_github.issue_comments(12), "the PR got its report"

    review = _approve(fake_github, pr_head)  # a maintainer approves the head

    # Job 2, pull_request_review: promote.yml's steps on another machine (no DVC cache, no notes).
    review_job = _clone(origin, auth, tmp_path / "review-job", pr_head)
    review_env = _job_env(fake_github, origin, tmp_path / "runner-review", event="pull_request_review", sha=pr_head)
    promoted = _mlci(review_job, review_env, "promote", "--stage", "staging")
    assert promoted["created"] and promoted["version"]["commit"] == pr_head
    assert promoted["version"]["sha256"] == model["sha256"]  # exactly the bytes the PR run recorded
    assert promoted["version"]["metadata"]["approval"]["reviewer"] == "maint"
    assert promoted["version"]["metadata"]["record"] == record["id"]  # its run, not a retraining
    assert [
        json.loads(line)["id"] for line in git(review_job, "notes", "--ref=mlci", "show", pr_head).splitlines()
    ] == [record["id"]]
    version = promoted["version"]["version"]

    # Job 3, push to main after the merge: records main and promotes main's model.
    git(seed, "checkout", "-q", "main")
    git(seed, "merge", "-q", "--no-ff", "feature", "-m", "Merge pull request #12 from feature")
    merged = git(seed, "rev-parse", "HEAD")
    subprocess.run(["git", "push", "-q", "origin", "main"], cwd=seed, check=True, env=auth)
    merge_job = _clone(origin, auth, tmp_path / "merge-job", merged)
    merge_env = _job_env(
        fake_github, origin, tmp_path / "runner-merge", event="push", sha=merged, ref="refs/heads/main"
    )
    on_main = _ci_job(merge_job, merge_env)
    main_record = _origin_record(origin, merged)
    assert on_main["action"] == "promote"
    assert on_main["promotion"]["version"]["sha256"] == main_record["artifacts"]["model"]["sha256"]

    # What GTO itself reads from a fresh clone of the origin.
    reader = tmp_path / "reader"
    subprocess.run(["git", "clone", "-q", origin.url, str(reader)], check=True, env=auth, capture_output=True)
    gto = str(Path(sys.executable).parent / "gto")
    registry = json.loads(
        subprocess.run([gto, "show", "--json"], cwd=reader, check=True, capture_output=True, text=True).stdout
    )
    assert registry["churn"]["stage"]["staging"] == on_main["promotion"]["version"]["version"]
    versions = {
        v["version"]: v
        for v in json.loads(
            subprocess.run(
                [gto, "show", "churn", "--json"], cwd=reader, check=True, capture_output=True, text=True
            ).stdout
        )
    }
    assert versions[version]["commit_hexsha"] == pr_head
    # The audit trail travels with the version: its card, read back from the origin's tags.
    card = subprocess.run(
        [sys.executable, "-m", "mlci", "registry", "card", f"churn@{version}"],
        cwd=reader,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"**Approved by** `maint` on `{review['submitted_at']}` at commit `{pr_head}`" in card.stdout
    assert f"**Run record:** `{record['id']}`" in card.stdout
    stored = (
        tmp_path
        / "dvc-storage"
        / "files"
        / "md5"
        / record["outs"]["models/model.txt"][:2]
        / record["outs"]["models/model.txt"][2:]
    )
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == model["sha256"]


def test_an_approval_of_an_unshared_run_fails_with_the_fix_and_registers_nothing(team, fake_github, tmp_path):
    seed, origin, auth = team
    pr_head = _open_pr(seed, auth)  # its PR job never ran (or could not push)
    _approve(fake_github, pr_head)
    review_job = _clone(origin, auth, tmp_path / "review-job", pr_head)
    env = _job_env(fake_github, origin, tmp_path / "runner-review", event="pull_request_review", sha=pr_head)
    done = subprocess.run(
        [sys.executable, "-m", "mlci", "promote"], cwd=review_job, env=env, capture_output=True, text=True
    )
    assert done.returncode == 8
    assert f"no run record for {pr_head[:12]}" in done.stderr and "Traceback" not in done.stderr
    assert git(origin.bare, "tag", "--list") == ""
