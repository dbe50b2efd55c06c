"""`mlci comment`: one sticky comment per id, found on any page, edited in place, trimmed to fit."""

from __future__ import annotations

import json

import pytest

from mlci.github import comments
from mlci.github.client import GitHubClient, RetryPolicy
from tests.helpers import invoke


@pytest.fixture
def gh_env(fake_github, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", fake_github.url)
    monkeypatch.setenv("GITHUB_TOKEN", fake_github.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", fake_github.repo)
    return fake_github


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
