"""Fork PRs reach a self-hosted runner's pipeline only at the exact commit a maintainer approved.

`mlci ci --phase admit` is the gate the action runs before any PR code: these tests run it
against a real repo and the fake GitHub (comments, reviews, collaborator permissions, the PR).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import commit_all, git, invoke
from tests.plugins.fake_github import actions_env, read_outputs


@pytest.fixture
def fork_pr(trained_repo: Path, fake_github) -> Path:
    git(trained_repo, "checkout", "-q", "-b", "feature")
    (trained_repo / "NOTES.md").write_text("a fork's change\n")
    commit_all(trained_repo, "Fork change")
    fake_github.add_pull(12, head_sha=head(trained_repo), head_owner="forker", labels=("safe-to-train",))
    fake_github.collaborators.update({"maint": "write", "reader": "read"})
    return trained_repo


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def admit(root: Path, fake_github, tmp_path: Path, *, action: str = "labeled", **kwargs):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(root), fork=True, labels=("safe-to-train",), **kwargs)
    payload = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
    payload["action"] = action
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload))
    result = invoke(root, "ci", "--phase", "admit", env=env)
    return result, read_outputs(env["GITHUB_OUTPUT"]).get("admitted")


def test_a_maintainers_train_comment_naming_the_head_admits_it(fork_pr, fake_github, tmp_path):
    fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)}")
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


def test_a_labelled_fork_pr_pushed_to_after_the_approval_is_refused(fork_pr, fake_github, tmp_path):
    approved = head(fork_pr)
    fake_github.comment_as(12, "maint", f"/mlci train {approved}")
    (fork_pr / "src" / "train.py").write_text("import os; os.system('curl evil')\n")
    pushed = commit_all(fork_pr, "Sneak in a change after the review")
    fake_github.pulls[12]["head"]["sha"] = pushed  # the synchronize event: label still on the PR
    result, admitted = admit(fork_pr, fake_github, tmp_path, action="synchronize", self_hosted=True)
    assert result.exit_code == 3
    assert admitted == "false"
    assert approved[:12] in result.stderr and pushed[:12] in result.stderr
    assert f"/mlci train {pushed}" in result.stderr  # how to approve the new head


def test_the_label_alone_does_not_admit(fork_pr, fake_github, tmp_path):
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and admitted == "false"
    assert "no maintainer approved this commit" in result.stderr


def test_a_train_comment_by_someone_without_write_access_does_not_admit(fork_pr, fake_github, tmp_path):
    fake_github.comment_as(12, "reader", f"/mlci train {head(fork_pr)}")
    fake_github.comment_as(12, "forker", f"/mlci train {head(fork_pr)}")
    result, _ = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and "no write access" in result.stderr


def test_a_short_sha_does_not_admit(fork_pr, fake_github, tmp_path):
    fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)[:12]}")
    result, _ = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3


def test_a_writers_review_approving_the_head_admits_it(fork_pr, fake_github, tmp_path):
    fake_github.add_review(12, "maint", "APPROVED", head(fork_pr))
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


def test_a_push_after_the_event_is_refused_even_when_the_event_head_was_approved(fork_pr, fake_github, tmp_path):
    fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)}")
    fake_github.pulls[12]["head"]["sha"] = "c" * 40  # pushed while this run was queued
    result, _ = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and "pushed to since this run started" in result.stderr


def test_a_checkout_that_is_not_the_approved_head_is_refused(fork_pr, fake_github, tmp_path):
    approved = head(fork_pr)
    fake_github.comment_as(12, "maint", f"/mlci train {approved}")
    env = actions_env(fake_github, tmp_path / "runner", sha=approved, fork=True, self_hosted=True)
    (fork_pr / "NOTES.md").write_text("checked out something else\n")
    commit_all(fork_pr, "Another commit")
    result = invoke(fork_pr, "ci", "--phase", "admit", env=env)
    assert result.exit_code == 3 and "is not the PR head" in result.stderr


def test_an_unknown_runner_environment_counts_as_self_hosted(fork_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(fork_pr), fork=True)
    del env["RUNNER_ENVIRONMENT"]
    result = invoke(fork_pr, "ci", "--phase", "admit", env=env)
    assert result.exit_code == 3 and "RUNNER_ENVIRONMENT=unknown" in result.stderr


def test_a_fork_on_a_github_hosted_runner_needs_no_approval(fork_pr, fake_github, tmp_path):
    result, admitted = admit(fork_pr, fake_github, tmp_path)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


def test_the_run_phase_refuses_without_an_admission(fork_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(fork_pr), fork=True, self_hosted=True)
    result = invoke(fork_pr, "ci", "--phase", "run", env=env)
    assert result.exit_code == 2 and "--phase admit" in result.stderr
    assert not (Path(env["RUNNER_TEMP"]) / "mlci" / "report").exists()
