"""Preflight: `mlci ci` checks the token's permissions before any training, and creates nothing doing so."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.integrations.github import preflight
from mlci.integrations.github.client import GitHubClient, RetryPolicy
from tests.helpers import git, invoke, pr_branch
from tests.plugins.fake_github import actions_env


def client(fake) -> GitHubClient:
    return GitHubClient(fake.token, api_url=fake.url, retry=RetryPolicy(sleep=lambda s: None))


def writes(fake) -> list:
    return [(r.method, r.path, r.status) for r in fake.requests if r.method != "GET" and r.status < 400]


def test_a_fully_permitted_token_passes_and_the_probes_create_nothing(fake_github):
    result = preflight.check(client(fake_github), fake_github.repo, "pull_request", pr=12, can_write=True)
    assert result.ok and result.degraded == ()
    assert fake_github.issue_comments(12) == [] and fake_github.check_runs == [] and fake_github.statuses == []
    assert writes(fake_github) == []  # every probe was answered 422: permitted, refused as invalid


def test_a_read_all_token_is_missing_the_pr_writes(fake_github):
    fake_github.read_only()  # `permissions: read-all`
    result = preflight.check(client(fake_github), fake_github.repo, "pull_request", pr=12, can_write=True)
    assert result.missing == ("pull-requests: write", "checks: write")
    assert result.degraded == (
        "no `contents: write`: report images on the assets branch and pushing this PR's run "
        "record (an approval then promotes it without retraining) will be skipped",
    )


def test_statuses_write_is_enough_for_the_verdict_when_checks_are_denied(fake_github):
    fake_github.deny("checks")
    result = preflight.check(client(fake_github), fake_github.repo, "pull_request", pr=12, can_write=True)
    assert result.ok and "commit status" in result.degraded[0]


def test_a_push_to_main_needs_contents_write_for_the_records(fake_github):
    fake_github.permissions["contents"] = "read"
    result = preflight.check(client(fake_github), fake_github.repo, "push", pr=None, can_write=True)
    assert result.missing == ("contents: write",)


def test_an_approval_needs_reviews_read_and_contents_write_for_git_tags_but_not_for_mlflow(fake_github):
    fake_github.permissions["contents"] = "read"
    gto = preflight.check(client(fake_github), fake_github.repo, "pull_request_review", pr=12, can_write=True)
    mlflow = preflight.check(
        client(fake_github), fake_github.repo, "pull_request_review", pr=12, can_write=True, registry_backend="mlflow"
    )
    assert gto.missing == ("contents: write",) and mlflow.ok


def test_a_fork_pr_needs_no_write_permission(fake_github):
    fake_github.read_only()
    result = preflight.check(client(fake_github), fake_github.repo, "pull_request", pr=12, can_write=False)
    assert result.ok and fake_github.requests == []


def test_the_error_names_the_exact_permissions_lines(fake_github):
    from mlci.errors import RemoteError

    with pytest.raises(RemoteError) as info:
        preflight.require(preflight.Preflight(("pull-requests: write", "checks: write"), ()), "pull_request")
    assert info.value.exit_code == 7
    assert "`pull-requests: write`; `checks: write`" in info.value.message


def test_ci_with_a_read_all_token_fails_before_training_with_exit_7(_trained_example, fake_github, tmp_path):
    root = pr_branch(_trained_example, tmp_path / "repo", "feature", {"train.n_estimators": 3}, "Needs training")
    lock_before = (root / "dvc.lock").read_text()
    fake_github.read_only()
    env = actions_env(fake_github, tmp_path / "runner", sha=git(root, "rev-parse", "HEAD"))
    result = invoke(root, "ci", env=env)
    assert result.exit_code == 7, result.output
    assert "permissions:" in result.stderr and "`pull-requests: write`; `checks: write`" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert (root / "dvc.lock").read_text() == lock_before  # the pipeline never ran
    assert git(root, "status", "--porcelain") == ""
    assert fake_github.issue_comments(12) == [] and fake_github.check_runs == [] and fake_github.statuses == []
    assert not Path(env["RUNNER_TEMP"], "mlci", "report").exists()


def test_issues_write_alone_is_enough_for_the_pr_comment(fake_github):
    fake_github.permissions["pull-requests"] = "read"  # GitHub accepts either for issue comments
    result = preflight.check(client(fake_github), fake_github.repo, "pull_request", pr=12, can_write=True)
    assert result.ok and result.degraded == ()


def test_the_probes_never_touch_the_comment_endpoints(fake_github):
    preflight.check(client(fake_github), fake_github.repo, "pull_request", pr=12, can_write=True)
    assert [r.path for r in fake_github.requests if "/comments" in r.path] == []
