"""`mlci comment`: one sticky comment per id, found on any page, edited in place, trimmed to fit."""

from __future__ import annotations

import json
import subprocess

import pytest

from mlci.errors import RemoteError
from mlci.integrations.github import comments
from mlci.integrations.github.client import GitHubClient, RetryPolicy
from tests.helpers import invoke


def post(tmp_path, body: str, *args: str):
    path = tmp_path / "report.md"
    path.write_text(body)
    return invoke(tmp_path, "comment", "--pr", "12", "--body-file", str(path), *args)


def test_first_comment_is_created_with_the_hidden_marker(gh_env, tmp_path):
    result = post(tmp_path, "## report one\n")
    assert result.exit_code == 0, result.output
    [comment] = gh_env.issue_comments(12)
    assert comment["body"].startswith("<!-- mlci:comment id=mlci -->\n")
    assert "## report one" in comment["body"]
    assert comment["html_url"] in result.output


def test_second_post_updates_the_same_comment(gh_env, tmp_path):
    post(tmp_path, "first\n")
    result = post(tmp_path, "second\n")
    assert result.exit_code == 0 and "updated" in result.output
    [comment] = gh_env.issue_comments(12)
    assert "second" in comment["body"] and "first" not in comment["body"]
    assert [r.method for r in gh_env.requests if "comments" in r.path].count("PATCH") == 1


def test_the_old_comment_is_found_on_page_three(gh_env, tmp_path):
    gh_env.add_comments(12, [f"chatter {i}" for i in range(230)])
    ours = gh_env.add_comments(12, [f"{comments.marker()}\nold report"])[0]
    gh_env.add_comments(12, ["later chatter"])
    result = post(tmp_path, "new report\n")
    assert result.exit_code == 0, result.output
    assert gh_env.comments[ours["id"]]["body"].endswith("new report\n")
    assert len(gh_env.issue_comments(12)) == 232
    pages = [r.query.get("page", ["1"])[0] for r in gh_env.requests if r.method == "GET"]
    assert pages == ["1", "2", "3"]


def test_comments_with_different_ids_are_kept_apart(gh_env, tmp_path):
    post(tmp_path, "model a\n", "--id", "model-a")
    post(tmp_path, "model b\n", "--id", "model-b")
    post(tmp_path, "model a again\n", "--id", "model-a")
    bodies = [c["body"] for c in gh_env.issue_comments(12)]
    assert len(bodies) == 2
    assert "model a again" in bodies[0] and "model b" in bodies[1]


def test_unchanged_report_makes_no_write(gh_env, tmp_path):
    post(tmp_path, "same\n")
    result = post(tmp_path, "same\n", "--json")
    assert json.loads(result.stdout)["action"] == "unchanged"
    assert [r.method for r in gh_env.requests].count("PATCH") == 0


def test_a_body_over_githubs_limit_is_trimmed_not_refused(gh_env, tmp_path):
    body = "## report\n\n| metric | value |\n|---|---|\n" + "".join(f"| m{i} | {i} |\n" for i in range(20000))
    assert len(body) > 200_000
    result = post(tmp_path, body)
    assert result.exit_code == 0, result.output
    [comment] = gh_env.issue_comments(12)
    assert len(comment["body"]) <= 65536
    assert comment["body"].startswith(comments.marker()) and "| m0 | 0 |" in comment["body"]
    assert "trimmed" in result.output
    post(tmp_path, body + "more\n")  # still found after trimming: one comment
    assert len(gh_env.issue_comments(12)) == 1


def test_a_lost_create_answer_does_not_make_a_second_comment(gh_env):
    gh_env.fail_next(1, 502, after_apply=True, methods=("POST",))
    client = GitHubClient(gh_env.token, api_url=gh_env.url, retry=RetryPolicy(sleep=lambda s: None))
    result = comments.upsert(client, gh_env.repo, 12, "report\n")
    assert len(gh_env.issue_comments(12)) == 1
    assert result.id == gh_env.issue_comments(12)[0]["id"]


def test_transient_failures_then_success_still_leave_one_comment(gh_env, tmp_path):
    post(tmp_path, "first\n")
    gh_env.fail_next(2, 502)
    client = GitHubClient(gh_env.token, api_url=gh_env.url, retry=RetryPolicy(sleep=lambda s: None))
    comments.upsert(client, gh_env.repo, 12, "second\n")
    assert len(gh_env.issue_comments(12)) == 1 and "second" in gh_env.issue_comments(12)[0]["body"]


def test_missing_token_is_one_line_exit_7(gh_env, tmp_path, monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN")
    result = post(tmp_path, "x\n")
    assert result.exit_code == 7
    assert "no GitHub token" in result.stderr and "Traceback" not in result.output


def test_bad_repository_name_is_a_usage_line(gh_env, tmp_path):
    result = post(tmp_path, "x\n", "--repo", "not-a-repo")
    assert result.exit_code == 2 and "OWNER/NAME" in result.stderr


def test_invalid_comment_id_is_refused(gh_env, tmp_path):
    result = post(tmp_path, "x\n", "--id", "has space -->")
    assert result.exit_code == 2 and "comment id" in result.stderr
    assert gh_env.requests == []


# --- report images on the assets branch ----------------------------------------------------------

from mlci.integrations.github import assets  # noqa: E402
from tests.helpers import git  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


@pytest.fixture
def repo_with_origin(git_repo, tmp_path):
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(git_repo, "remote", "add", "origin", str(origin))
    git(git_repo, "push", "-q", "origin", "main")
    report = tmp_path / "report"
    (report / "plots").mkdir(parents=True)
    (report / "plots" / "auc.png").write_bytes(PNG)
    (report / "roc.png").write_bytes(PNG[::-1])
    markdown = (
        '## report\n![AUC](plots/auc.png)\n<img src="roc.png" width="300">\n'
        "![external](https://example.invalid/x.png)\n![missing](nope.png)\n"
    )
    return git_repo, origin, report, markdown


def test_images_are_pushed_to_the_assets_branch_and_linked_by_commit(repo_with_origin):
    root, origin, report, markdown = repo_with_origin
    rewritten, commit = assets.publish(root, markdown, report, repo="octo/models", prefix="pr-12/abc123")
    base = f"https://github.com/octo/models/blob/{commit}/pr-12/abc123"
    assert f"![AUC]({base}/plots/auc.png?raw=true)" in rewritten
    assert f'<img src="{base}/roc.png?raw=true" width="300">' in rewritten
    assert "https://example.invalid/x.png" in rewritten and "(nope.png)" in rewritten
    assert git(origin, "rev-parse", "refs/heads/mlci-assets") == commit
    shown = subprocess.run(
        ["git", "show", f"{commit}:pr-12/abc123/plots/auc.png"], cwd=origin, capture_output=True, check=True
    ).stdout
    assert shown == PNG


def test_publishing_images_leaves_the_working_tree_and_branch_alone(repo_with_origin):
    root, origin, report, markdown = repo_with_origin
    before = git(root, "rev-parse", "HEAD")
    assets.publish(root, markdown, report, repo="octo/models", prefix="pr-1/a")
    assert git(root, "status", "--porcelain") == ""
    assert git(root, "rev-parse", "HEAD") == before and git(root, "branch", "--show-current") == "main"


def test_later_images_are_added_on_top_of_earlier_ones(repo_with_origin):
    root, origin, report, markdown = repo_with_origin
    _, first = assets.publish(root, markdown, report, repo="octo/models", prefix="pr-1/a")
    _, second = assets.publish(root, markdown, report, repo="octo/models", prefix="pr-2/b", branch="mlci-assets")
    assert git(origin, "rev-parse", f"{second}^") == first
    files = git(origin, "ls-tree", "-r", "--name-only", second).splitlines()
    assert "pr-1/a/plots/auc.png" in files and "pr-2/b/roc.png" in files


def test_enterprise_server_links_use_the_server_url_and_a_configured_branch(repo_with_origin):
    root, origin, report, markdown = repo_with_origin
    rewritten, commit = assets.publish(
        root,
        markdown,
        report,
        repo="octo/models",
        prefix="p",
        server_url="https://ghe.example.invalid/",
        branch="ml-plots",
    )
    assert f"https://ghe.example.invalid/octo/models/blob/{commit}/p/plots/auc.png?raw=true" in rewritten
    assert git(origin, "rev-parse", "refs/heads/ml-plots") == commit


def test_no_local_images_means_no_push(repo_with_origin):
    root, origin, report, _ = repo_with_origin
    text, commit = assets.publish(root, "no pictures\n", report, repo="octo/models", prefix="p")
    assert (text, commit) == ("no pictures\n", None)
    assert "mlci-assets" not in git(origin, "branch", "--list")


def test_push_credentials_travel_in_the_environment_never_in_git_config(repo_with_origin):
    from mlci.integrations.github.gitauth import auth_env

    root, origin, report, markdown = repo_with_origin
    env = auth_env("ghs_secret-value", "https://github.com", {})
    assert "ghs_secret-value" not in str(env)  # base64 inside an extraheader, as actions/checkout does
    assets.publish(root, markdown, report, repo="octo/models", prefix="p", extra_env=env)
    config = (root / ".git" / "config").read_text()
    assert "extraheader" not in config and env["GIT_CONFIG_VALUE_0"] not in config


def test_unreachable_origin_is_a_one_line_remote_error(repo_with_origin, tmp_path):
    from mlci.errors import RemoteError

    root, origin, report, markdown = repo_with_origin
    git(root, "remote", "set-url", "origin", str(tmp_path / "gone.git"))
    with pytest.raises(RemoteError, match="cannot fetch branch mlci-assets from origin"):
        assets.publish(root, markdown, report, repo="octo/models", prefix="p")


# --- the check run ---------------------------------------------------------------------------------

from mlci.integrations.github import checks  # noqa: E402


def test_check_run_summary_is_trimmed_to_githubs_65535_limit(fake_github):
    client = GitHubClient(fake_github.token, api_url=fake_github.url, retry=RetryPolicy(sleep=lambda s: None))
    long = "## report\n" + "".join(f"| m{i} | {i} |\n" for i in range(20000))
    result = checks.publish(
        client,
        fake_github.repo,
        "a" * 40,
        conclusion="failure",
        title="mlci: gate failed",
        summary=long,
        details_url="https://github.com/octo/models/actions/runs/1",
    )
    [run] = fake_github.check_runs
    assert result.kind == "check-run" and run["conclusion"] == "failure" and run["name"] == "mlci"
    assert len(run["output"]["summary"]) <= 65535 and run["output"]["summary"].startswith("## report")
    assert "actions/runs/1" in run["output"]["summary"]  # the trim note links the full report


def test_without_checks_permission_the_verdict_becomes_a_commit_status(fake_github):
    fake_github.deny("checks")
    client = GitHubClient(fake_github.token, api_url=fake_github.url, retry=RetryPolicy(sleep=lambda s: None))
    result = checks.publish(client, fake_github.repo, "a" * 40, conclusion="failure", title="gate failed", summary="x")
    assert result.kind == "status" and "checks: write" in result.fallback_reason
    assert [(s["context"], s["state"]) for s in fake_github.statuses] == [("mlci", "failure")]


def test_without_checks_or_statuses_permission_the_error_names_the_permission(fake_github):
    fake_github.deny("checks")
    fake_github.deny("statuses")
    client = GitHubClient(fake_github.token, api_url=fake_github.url, retry=RetryPolicy(sleep=lambda s: None))
    with pytest.raises(RemoteError, match="statuses: write"):
        checks.publish(client, fake_github.repo, "a" * 40, conclusion="success", title="ok", summary="x")


def test_a_marker_pasted_by_a_person_does_not_capture_the_bots_comment(gh_env, tmp_path):
    post(tmp_path, "first\n")  # posted as github-actions[bot]
    [impostor] = gh_env.add_comments(12, [f"{comments.marker()}\nquoted by a reviewer"])
    gh_env.comments[1] = {**gh_env.comments.pop(impostor["id"]), "id": 1}  # and listed before ours
    assert gh_env.issue_comments(12)[0]["id"] == 1
    post(tmp_path, "second\n")
    assert gh_env.comments[1]["body"].endswith("quoted by a reviewer")
    assert sum("second" in c["body"] for c in gh_env.issue_comments(12)) == 1


def test_images_that_cannot_be_published_become_a_pointer_to_the_artifact(repo_with_origin):
    _root, _origin, report, markdown = repo_with_origin
    text = assets.without_local_images(markdown, report)
    assert "_(plot `plots/auc.png`: in the report artifact)_" in text
    assert "_(plot `roc.png`: in the report artifact)_" in text and "<img" not in text
    assert "https://example.invalid/x.png" in text and "(nope.png)" in text


def test_a_check_run_whose_create_answer_was_lost_is_found_not_created_twice(fake_github):
    fake_github.fail_next(1, 502, after_apply=True, methods=("POST",))  # GitHub created it, then a 502
    client = GitHubClient(fake_github.token, api_url=fake_github.url, retry=RetryPolicy(sleep=lambda s: None))
    result = checks.publish(client, fake_github.repo, "a" * 40, conclusion="success", title="ok", summary="x")
    [run] = fake_github.check_runs
    assert result.kind == "check-run" and result.url == run["html_url"]
    assert [r.method for r in fake_github.requests] == ["POST", "GET"]  # looked up, not re-sent


def test_an_earlier_runs_check_on_the_same_commit_does_not_count_as_this_runs_create(fake_github):
    client = GitHubClient(fake_github.token, api_url=fake_github.url, retry=RetryPolicy(sleep=lambda s: None))
    checks.publish(client, fake_github.repo, "a" * 40, conclusion="failure", title="first", summary="x")
    fake_github.fail_next(1, 502, methods=("POST",))  # this time the create really failed
    checks.publish(client, fake_github.repo, "a" * 40, conclusion="success", title="second", summary="y")
    assert [r["conclusion"] for r in fake_github.check_runs] == ["failure", "success"]
