"""The GitHub client against a real HTTP server: headers, retries, pagination, errors, secrecy."""

from __future__ import annotations

import re

import pytest

from mlci.errors import GitHubError, RemoteError
from mlci.integrations.github.client import GitHubClient, RetryPolicy
from mlci.integrations.github.reviews import approval


def client_for(
    fake, *, attempts: int = 6, max_wait: float = 30.0, sleeps: list | None = None, api_url: str | None = None
) -> GitHubClient:
    record = sleeps if sleeps is not None else []
    return GitHubClient(
        fake.token,
        api_url=api_url or fake.url,
        retry=RetryPolicy(attempts=attempts, max_wait=max_wait, backoff=0.01, sleep=record.append),
    )


def test_requests_carry_githubs_headers_and_a_bearer_token(fake_github):
    client_for(fake_github).get(f"/repos/{fake_github.repo}/issues/1/comments")
    headers = {k.lower(): v for k, v in fake_github.requests[0].headers.items()}
    assert headers["accept"] == "application/vnd.github+json"
    assert headers["x-github-api-version"] == "2022-11-28"
    assert headers["authorization"] == f"Bearer {fake_github.token}"


def test_api_url_comes_from_github_api_url_so_enterprise_server_works(fake_github, monkeypatch):
    monkeypatch.setenv("GITHUB_API_URL", fake_github.ghes_url)
    client = GitHubClient(fake_github.token, retry=RetryPolicy(sleep=lambda s: None))
    assert client.api_url == fake_github.ghes_url
    fake_github.add_comments(3, ["x"] * 150)
    assert len(list(client.paginate(f"/repos/{fake_github.repo}/issues/3/comments"))) == 150
    assert len(fake_github.requests) == 2 and all(r.ghes for r in fake_github.requests)


def test_pagination_follows_link_next_with_100_per_page(fake_github):
    fake_github.add_comments(7, [f"c{i}" for i in range(250)])
    bodies = [c["body"] for c in client_for(fake_github).paginate(f"/repos/{fake_github.repo}/issues/7/comments")]
    assert bodies == [f"c{i}" for i in range(250)]
    pages = [r for r in fake_github.requests if r.method == "GET"]
    assert len(pages) == 3
    assert all(r.query["per_page"] == ["100"] for r in pages)


def test_transient_502s_are_retried_until_success(fake_github):
    fake_github.fail_next(2, 502)
    sleeps: list[float] = []
    client_for(fake_github, sleeps=sleeps).get(f"/repos/{fake_github.repo}/issues/1/comments")
    assert [r.status for r in fake_github.requests] == [502, 502, 200]
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # exponential back-off


def test_secondary_rate_limit_403_waits_as_told_by_retry_after(fake_github):
    fake_github.fail_next(1, 403, retry_after=1)
    sleeps: list[float] = []
    client_for(fake_github, sleeps=sleeps).get(f"/repos/{fake_github.repo}/issues/1/comments")
    assert sleeps == [1.0]


def test_429_is_retried_with_retry_after(fake_github):
    fake_github.fail_next(1, 429, retry_after=1)
    sleeps: list[float] = []
    client_for(fake_github, sleeps=sleeps).get(f"/repos/{fake_github.repo}/issues/1/comments")
    assert sleeps == [1.0] and fake_github.requests[-1].status == 200


def test_exhausted_primary_rate_limit_waits_until_the_reset_time(fake_github):
    fake_github.exhaust_rate_limit(reset_in=2)
    sleeps: list[float] = []
    client_for(fake_github, sleeps=sleeps).get(f"/repos/{fake_github.repo}/issues/1/comments")
    assert len(sleeps) == 1 and 1.0 <= sleeps[0] <= 3.5
    assert [r.status for r in fake_github.requests] == [403, 200]


def test_every_response_carries_rate_limit_headers(fake_github):
    import httpx

    answer = httpx.get(
        f"{fake_github.url}/repos/{fake_github.repo}/pulls",
        headers={
            "Authorization": f"Bearer {fake_github.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        },
    )
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(answer.headers)
    unauthorised = httpx.get(f"{fake_github.url}/repos/{fake_github.repo}/pulls")
    assert unauthorised.status_code == 401 and "x-ratelimit-remaining" in unauthorised.headers
    assert set(unauthorised.json()) >= {"message", "documentation_url"}


def test_retries_stop_after_the_attempt_bound(fake_github):
    fake_github.fail_next(10, 503)
    with pytest.raises(GitHubError, match="gave up after 3 attempt"):
        client_for(fake_github, attempts=3).get(f"/repos/{fake_github.repo}/issues/1/comments")
    assert len(fake_github.requests) == 3


def test_retries_stop_when_the_total_wait_would_pass_its_cap(fake_github):
    fake_github.fail_next(5, 403, retry_after=50)
    sleeps: list[float] = []
    with pytest.raises(GitHubError, match="rate limit"):
        client_for(fake_github, max_wait=60, sleeps=sleeps).get(f"/repos/{fake_github.repo}/issues/1/comments")
    assert sleeps == [50.0]


def test_a_create_whose_answer_was_lost_is_not_sent_twice(fake_github):
    fake_github.fail_next(1, 502, after_apply=True, methods=("POST",))
    client = client_for(fake_github)
    path = f"/repos/{fake_github.repo}/issues/5/comments"

    def landed():
        return next((c for c in client.paginate(path) if c["body"] == "hello"), None)

    comment = client.create(path, {"body": "hello"}, landed=landed)
    assert comment["body"] == "hello"
    assert len(fake_github.issue_comments(5)) == 1
    assert [r.method for r in fake_github.requests] == ["POST", "GET"]


def test_bad_token_is_one_line_naming_401_and_never_the_token(fake_github):
    client = GitHubClient("ghp_wrong-token-value", api_url=fake_github.url, retry=RetryPolicy(sleep=lambda s: None))
    with pytest.raises(GitHubError) as caught:
        client.get(f"/repos/{fake_github.repo}/pulls/1")
    assert caught.value.status == 401 and caught.value.exit_code == 7
    assert "401" in caught.value.message and "token" in caught.value.message
    assert "ghp_wrong-token-value" not in caught.value.message + repr(client)


def test_missing_permission_names_the_permission_to_grant(fake_github):
    fake_github.deny("checks")
    with pytest.raises(GitHubError, match=r"403 Resource not accessible by integration.*`checks: write`"):
        client_for(fake_github).create(f"/repos/{fake_github.repo}/check-runs", {"name": "mlci", "head_sha": "a" * 40})


def test_unknown_repository_is_a_404_one_liner(fake_github):
    with pytest.raises(GitHubError, match="not found \\(404\\)"):
        client_for(fake_github).get("/repos/someone/else/pulls/1")


def test_validation_failure_shows_githubs_reason(fake_github):
    with pytest.raises(GitHubError, match="422 Validation Failed: body is too long"):
        client_for(fake_github).create(f"/repos/{fake_github.repo}/issues/1/comments", {"body": "x" * 70000})


def test_no_token_is_a_clear_error_before_any_request(fake_github):
    with pytest.raises(RemoteError, match="no GitHub token"):
        GitHubClient("", api_url=fake_github.url)
    assert fake_github.requests == []


def test_unreachable_server_is_a_remote_error_not_a_traceback():
    client = GitHubClient("t", api_url="http://127.0.0.1:9", retry=RetryPolicy(attempts=2, sleep=lambda s: None))
    with pytest.raises(GitHubError, match="cannot reach GitHub"):
        client.get("/repos/a/b/pulls/1")


def test_repr_hides_the_token(fake_github):
    assert fake_github.token not in repr(client_for(fake_github))


# --- reviews -----------------------------------------------------------------------------

HEAD = "d" * 40


def test_approval_by_a_writer_at_the_current_head_counts(fake_github):
    fake_github.add_pull(9, head_sha=HEAD)
    fake_github.collaborators["maint"] = "maintain"
    fake_github.add_review(9, "maint", "APPROVED", HEAD)
    result = approval(client_for(fake_github), fake_github.repo, 9)
    assert result.approved and result.reviewer == "maint" and result.commit_id == HEAD == result.head_sha


def test_approval_carries_the_reviews_time_and_link(fake_github):
    fake_github.add_pull(9, head_sha=HEAD)
    fake_github.collaborators["maint"] = "maintain"
    review = fake_github.add_review(9, "maint", "APPROVED", HEAD)
    result = approval(client_for(fake_github), fake_github.repo, 9)
    assert result.approved_at == review["submitted_at"] and result.review_url == review["html_url"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", result.approved_at)


def test_approval_of_an_older_commit_is_stale(fake_github):
    fake_github.add_pull(9, head_sha=HEAD)
    fake_github.collaborators["maint"] = "write"
    fake_github.add_review(9, "maint", "APPROVED", "e" * 40)
    result = approval(client_for(fake_github), fake_github.repo, 9)
    assert not result.approved and "re-approve" in result.reason


def test_approval_from_a_user_without_write_access_does_not_count(fake_github):
    fake_github.add_pull(9, head_sha=HEAD)
    fake_github.collaborators["drive-by"] = "read"
    fake_github.add_review(9, "drive-by", "APPROVED", HEAD)
    assert not approval(client_for(fake_github), fake_github.repo, 9).approved


def test_a_later_changes_requested_replaces_an_approval(fake_github):
    fake_github.add_pull(9, head_sha=HEAD)
    fake_github.collaborators["maint"] = "admin"
    fake_github.add_review(9, "maint", "APPROVED", HEAD)
    fake_github.add_review(9, "maint", "COMMENTED", HEAD)
    fake_github.add_review(9, "maint", "CHANGES_REQUESTED", HEAD)
    result = approval(client_for(fake_github), fake_github.repo, 9)
    assert not result.approved and "requested changes" in result.reason


def test_token_never_reaches_the_server_outside_the_authorization_header(fake_github):
    client = client_for(fake_github)
    fake_github.fail_next(1, 502)
    client.create(f"/repos/{fake_github.repo}/issues/1/comments", {"body": "b"})
    assert fake_github.token not in fake_github.log_text()


# --- rate limits and unparseable headers (issue 14, scope 7) ------------------------------------


def clocked_client(fake, *, now: float, sleeps: list, messages: list | None = None, max_wait: float = 300.0):
    """A client whose clock reads `now` and whose sleep records the wait instead of sleeping."""
    return GitHubClient(
        fake.token,
        api_url=fake.url,
        retry=RetryPolicy(
            attempts=6,
            max_wait=max_wait,
            backoff=1.0,
            sleep=sleeps.append,
            clock=lambda: now,
            on_wait=None if messages is None else messages.append,
        ),
    )


def test_secondary_limit_without_retry_after_waits_at_least_a_minute(fake_github):
    fake_github.fail_next(2, 403)  # "You have exceeded a secondary rate limit", no retry-after
    sleeps: list[float] = []
    messages: list[str] = []
    clocked_client(fake_github, now=0.0, sleeps=sleeps, messages=messages).get(
        f"/repos/{fake_github.repo}/issues/1/comments"
    )
    assert sleeps == [60.0, 60.0]
    assert fake_github.requests[-1].status == 200
    assert len(messages) == 2 and "secondary rate limit" in messages[0] and "waiting 60s" in messages[0]


def test_secondary_limit_waits_are_bounded_by_the_total_cap(fake_github):
    fake_github.fail_next(10, 403)
    sleeps: list[float] = []
    with pytest.raises(GitHubError, match=r"gave up after 3 attempt\(s\), 120s of waiting"):
        clocked_client(fake_github, now=0.0, sleeps=sleeps, max_wait=150.0).get(
            f"/repos/{fake_github.repo}/issues/1/comments"
        )
    assert sleeps == [60.0, 60.0]


def test_primary_limit_waits_until_the_reset_time_on_the_clients_clock(fake_github):
    fake_github.exhaust_rate_limit(reset_in=1000)
    sleeps: list[float] = []
    now = float(int(__import__("time").time()))  # the fake stamps reset = its now + 1000
    clocked_client(fake_github, now=now, sleeps=sleeps, max_wait=2000).get(
        f"/repos/{fake_github.repo}/issues/1/comments"
    )
    assert len(sleeps) == 1 and 1000.0 <= sleeps[0] <= 1003.0


def test_unparseable_retry_after_falls_back_to_a_minute_not_an_exception(fake_github):
    fake_github.fail_next(1, 403, retry_after="soon")
    sleeps: list[float] = []
    clocked_client(fake_github, now=0.0, sleeps=sleeps).get(f"/repos/{fake_github.repo}/issues/1/comments")
    assert sleeps == [60.0] and fake_github.requests[-1].status == 200


def test_retry_after_as_an_http_date_is_measured_on_the_clients_clock(fake_github):
    fake_github.fail_next(1, 429, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    sleeps: list[float] = []
    clocked_client(fake_github, now=1445412450.0, sleeps=sleeps).get(f"/repos/{fake_github.repo}/issues/1/comments")
    assert sleeps == [30.0]  # 07:28:00 is 1445412480


def test_a_5xx_still_backs_off_exponentially_not_by_a_minute(fake_github):
    fake_github.fail_next(2, 502)
    sleeps: list[float] = []
    clocked_client(fake_github, now=0.0, sleeps=sleeps).get(f"/repos/{fake_github.repo}/issues/1/comments")
    assert sleeps == [1.0, 2.0]
