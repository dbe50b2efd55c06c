"""A hostile or broken GitHub (issue 29): every HTTP call mlci makes, answered with what GitHub never
sends, fails in one line with exit 7 (GitHubError) naming the request, never a traceback, and a
server that drips or stays silent cannot hold mlci past the documented deadline and budget.

The families are generated: each flow lists the requests it makes (asserted, so a fault cannot
land on another request than named), and every malformed answer is sent in place of each.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from mlci.errors import GitHubError
from mlci.integrations.github import admission, checks, comments, preflight, provenance, pulls, reviews
from mlci.integrations.github import client as client_mod
from mlci.integrations.github.client import GitHubClient, RetryPolicy
from tests.test_promote import registry_repo  # noqa: F401  (fixture)
from tests.test_retrain import cloned  # noqa: F401  (fixture)

HEAD = "d" * 40


@dataclass(frozen=True)
class Bad:
    """One answer GitHub never sends: status, body, content type (None: no header)."""

    id: str
    body: bytes | str
    status: int = 200
    content_type: str | None = "application/json; charset=utf-8"
    headers: tuple[tuple[str, str], ...] = ()


# Bad for every call: not JSON, not a JSON container, or not an answer at all.
MALFORMED = [
    Bad(
        "html-200",
        "<!DOCTYPE html><html><head><title>Sign in</title></head><body>\r\nlogin</body></html>",
        200,
        "text/html",
    ),
    Bad("truncated-json", '{"id": 1, "html_url": "https://x/1", "body": "repo'),
    Bad("open-brace", "{"),
    Bad("json-string", '"hello"'),
    Bad("json-null", "null"),
    Bad("json-number", "42"),
    Bad("empty-200", ""),
    Bad("text-plain-json", '{"id": 1}', content_type="text/plain"),
    Bad("no-content-type", '{"id": 1}', content_type=None),
    Bad("deep-nesting", "[" * 200_000 + "]" * 200_000),
    Bad("huge-integer", '{"id": ' + "9" * 5000 + "}"),
    Bad("redirect-301", "", 301, None, (("Location", "https://evil.example/steal?next=1"),)),
    Bad("redirect-302-json", '{"message": "moved"}', 302, headers=(("Location", "/elsewhere"),)),
]
# For a list endpoint: an object instead, items that are not objects, items without what mlci reads.
FOR_LISTS = [
    Bad("object-not-list", '{"message": "ok", "documentation_url": "https://x"}'),
    Bad("non-object-items", '[1, "two", null, [3]]'),
    Bad("wrong-field-types", '[{"id": "1", "html_url": 5, "body": 7, "user": "bot", "head": "main", "number": "1"}]'),
]
# For a call answered by one object: a list (e.g. to a POST), an object without the fields mlci reads.
FOR_OBJECTS = [
    Bad("list-to-object-call", '[{"id": 1, "html_url": "https://x/1", "number": 1}]'),
    Bad("object-missing-fields", '{"unexpected": true}'),
    Bad("field-of-wrong-type", '{"id": "12", "html_url": null, "number": true, "head": {"sha": 5, "ref": []}}'),
]
FAMILIES = {"list": MALFORMED + FOR_LISTS, "object": MALFORMED + FOR_OBJECTS, "any-object": MALFORMED + FOR_OBJECTS[:1]}


def client_for(fake, **policy) -> GitHubClient:
    retry = RetryPolicy(**{"attempts": 3, "backoff": 0.01, "sleep": lambda s: None, **policy})
    return GitHubClient(fake.token, api_url=fake.url, retry=retry)


def send(fake, bad: Bad, at: int) -> None:
    fake.answer_raw(bad.body, status=bad.status, content_type=bad.content_type, headers=dict(bad.headers), at=at)


# --- flows: what each library entry point asks, in order ----------------------------------------


@dataclass(frozen=True)
class Flow:
    id: str
    setup: Callable  # (fake) -> None
    run: Callable  # (client, fake) -> result
    requests: tuple[tuple[str, str, str], ...]  # (method, path piece, answer kind) of each request, in order


def _pr(fake, *, approved: bool = True) -> None:
    fake.add_pull(9, head_sha=HEAD)
    fake.collaborators["maint"] = "maintain"
    if approved:
        fake.add_review(9, "maint", "APPROVED", HEAD)


def _record():
    from mlci.model.record import RunRecord

    return RunRecord(commit=HEAD, branch="main", dirty=False, params={}, metrics={"metrics.json": {"auc": 0.9}})


def _has_our_comment(fake) -> None:
    fake.add_comments(12, [f"{comments.marker()}\nold"], user={"login": "github-actions[bot]", "type": "Bot", "id": 1})


FLOWS = [
    Flow(
        "comment-create",
        lambda fake: None,
        lambda c, fake: comments.upsert(c, fake.repo, 12, "report"),
        (("GET", "/issues/12/comments", "list"), ("POST", "/issues/12/comments", "object")),
    ),
    Flow(
        "comment-update",
        _has_our_comment,
        lambda c, fake: comments.upsert(c, fake.repo, 12, "new report"),
        (("GET", "/issues/12/comments", "list"), ("PATCH", "/issues/comments/", "object")),
    ),
    Flow(
        "pr-open",
        lambda fake: None,
        lambda c, fake: pulls.open_or_update(c, fake.repo, branch="mlci/retrain", base="main", title="t", body="b"),
        (("GET", "/pulls", "list"), ("POST", "/pulls", "object")),
    ),
    Flow(
        "pr-update",
        lambda fake: fake.add_pull(3, head_sha=HEAD, head_ref="mlci/retrain"),
        lambda c, fake: pulls.open_or_update(c, fake.repo, branch="mlci/retrain", base="main", title="new", body="b"),
        (("GET", "/pulls", "list"), ("PATCH", "/pulls/3", "object")),
    ),
    Flow(
        "check-publish",
        lambda fake: None,
        lambda c, fake: checks.publish(c, fake.repo, HEAD, conclusion="success", title="t", summary="s"),
        (("POST", "/check-runs", "object"),),
    ),
    Flow(
        "status-fallback",
        lambda fake: fake.deny("checks"),
        lambda c, fake: checks.publish(c, fake.repo, HEAD, conclusion="success", title="t", summary="s"),
        (("POST", "/check-runs", "object"), ("POST", f"/statuses/{HEAD}", "any-object")),
    ),
    Flow(
        "approval",
        _pr,
        lambda c, fake: reviews.approval(c, fake.repo, 9),
        (
            ("GET", "/pulls/9", "object"),
            ("GET", "/pulls/9/reviews", "list"),
            ("GET", "/collaborators/maint/permission", "any-object"),
        ),
    ),
    Flow(
        "admission",
        lambda fake: (_pr(fake, approved=False), fake.comment_as(9, "maint", f"/mlci train {HEAD}")),
        lambda c, fake: admission.admit(c, fake.repo, 9, event_head_sha=HEAD, workspace_head=HEAD),
        (
            ("GET", "/pulls/9", "object"),
            ("GET", "/pulls/9/reviews", "list"),
            ("GET", "/issues/9/comments", "list"),
            ("GET", "/collaborators/maint/permission", "any-object"),
        ),
    ),
]
CASES = [
    pytest.param(flow, position, bad, id=f"{flow.id}-{position}-{bad.id}")
    for flow in FLOWS
    for position, (_method, _piece, kind) in enumerate(flow.requests, start=1)
    for bad in FAMILIES[kind]
]


def _assert_one_line_naming(exc: GitHubError, fake, method: str, suffix: str) -> None:
    message = exc.message
    assert exc.exit_code == 7
    assert "\n" not in message and "\r" not in message and len(message) < 500, message
    assert re.search(rf"{method} /repos/\S*{re.escape(suffix)}", message), message
    assert fake.token not in message and "Traceback" not in message


@pytest.mark.timeout(30)
def test_each_flow_makes_the_requests_it_names(fake_github):
    """The control: with GitHub's real answers, each flow works and asks exactly what it lists."""
    for flow in FLOWS:
        fake_github.reset()
        flow.setup(fake_github)
        flow.run(client_for(fake_github), fake_github)
        asked = [(r.method, r.path) for r in fake_github.requests]
        assert len(asked) == len(flow.requests), (flow.id, asked)
        for (method, path), (want_method, suffix, _kind) in zip(asked, flow.requests, strict=True):
            assert method == want_method and suffix in path, (flow.id, asked)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("flow,position,bad", CASES)
def test_a_malformed_answer_to_any_request_is_one_line_exit_7(fake_github, flow: Flow, position: int, bad: Bad):
    flow.setup(fake_github)
    send(fake_github, bad, position)
    with pytest.raises(GitHubError) as caught:
        flow.run(client_for(fake_github), fake_github)
    method, suffix, _kind = flow.requests[position - 1]
    hit = fake_github.requests[position - 1]
    assert hit.method == method and suffix in hit.path  # the fault hit the request named
    _assert_one_line_naming(caught.value, fake_github, method, suffix)
    assert len(fake_github.requests) == position  # nothing was asked (or written) after it


@pytest.mark.timeout(30)
@pytest.mark.parametrize("bad", FAMILIES["list"], ids=lambda b: b.id)
def test_provenance_fails_closed_on_a_malformed_answer_naming_it(fake_github, bad: Bad):
    """`verify` never raises for what GitHub answers: the record is unverified, and the reason says why."""
    send(fake_github, bad, 1)
    verdict = provenance.verify(client_for(fake_github), fake_github.repo, _record())
    assert not verdict.verified
    assert "GET /repos/octo/models/commits/" in verdict.reason or "list the commit's check runs" in verdict.reason
    assert "\n" not in verdict.reason


@pytest.mark.timeout(30)
@pytest.mark.parametrize("bad", [b for b in MALFORMED if b.status >= 300], ids=lambda b: b.id)
def test_a_permission_probe_answered_by_a_redirect_is_exit_7(fake_github, bad: Bad):
    send(fake_github, bad, 1)
    with pytest.raises(GitHubError) as caught:
        preflight.check(client_for(fake_github), fake_github.repo, "push", pr=None, can_write=True)
    _assert_one_line_naming(caught.value, fake_github, "POST", "/git/refs")


@pytest.mark.timeout(30)
def test_a_redirect_is_not_followed_so_the_token_stays_home(fake_github):
    send(fake_github, Bad("301", "", 301, None, (("Location", f"{fake_github.url}/elsewhere"),)), 1)
    with pytest.raises(GitHubError, match=r"answered 301 \(to .*/elsewhere\)"):
        comments.find(client_for(fake_github), fake_github.repo, 12)
    assert [r.path for r in fake_github.requests] == [f"/repos/{fake_github.repo}/issues/12/comments"]


@pytest.mark.timeout(30)
def test_a_next_page_link_back_to_a_read_page_is_refused(fake_github):
    page = f"{fake_github.url}/repos/{fake_github.repo}/issues/12/comments?per_page=100&page=1"
    link = (("Link", f'<{page}>; rel="next"'),)
    for at in (1, 2):
        send(fake_github, Bad("loop", "[]", headers=link), at)
    with pytest.raises(GitHubError, match="link back to a page already read"):
        comments.find(client_for(fake_github), fake_github.repo, 12)
    assert len(fake_github.requests) == 2


@pytest.mark.timeout(30)
def test_an_answer_over_the_size_cap_is_refused(fake_github, monkeypatch):
    monkeypatch.setattr(client_mod, "MAX_ANSWER_BYTES", 1000)
    send(fake_github, Bad("big", "[" + ",".join(['{"id": 1}'] * 500) + "]"), 1)
    with pytest.raises(GitHubError, match=r"answer to GET /repos/octo/models/issues/12/comments is over"):
        comments.find(client_for(fake_github), fake_github.repo, 12)
    assert len(fake_github.requests) == 1  # not asked again: the next answer would be as big


@pytest.mark.timeout(30)
def test_the_control_a_well_formed_answer_with_extra_fields_is_accepted(fake_github):
    body = '[{"id": 5, "html_url": "https://x/5", "body": "hi", "user": {"type": "User"}, "new_field": [1]}]'
    send(fake_github, Bad("ok", body, content_type="application/vnd.github+json"), 1)
    assert comments.find(client_for(fake_github), fake_github.repo, 12) is None


# --- deadline and budget ------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_a_server_dripping_a_byte_at_a_time_fails_at_the_request_deadline(fake_github):
    fake_github.drip(0.2, count=10)  # each byte well within httpx's 30 s read timeout
    client = client_for(fake_github, deadline=1.0, budget=60.0)
    started = time.monotonic()
    with pytest.raises(GitHubError, match=r"did not answer GET /repos/octo/models/issues/12/comments within 1s"):
        comments.find(client, fake_github.repo, 12)
    elapsed = time.monotonic() - started
    assert len(fake_github.requests) == 3  # every attempt got its own deadline: 3 x 1 s
    assert 2.9 <= elapsed < 6.0, elapsed


@pytest.mark.timeout(30)
def test_a_silent_server_fails_within_the_retry_budget(fake_github):
    fake_github.silence(60, count=20)
    client = GitHubClient(
        fake_github.token,
        api_url=fake_github.url,
        retry=RetryPolicy(attempts=10, backoff=0.2, deadline=1.0, budget=2.5),
    )
    started = time.monotonic()
    with pytest.raises(GitHubError) as caught:
        comments.find(client, fake_github.repo, 12)
    elapsed = time.monotonic() - started
    # the budget (2.5 s), far from 10 attempts x the deadline (10 s+); slack for a loaded machine
    assert elapsed < 2.5 + 3.0, elapsed
    # the deadline's watchdog, or on a loaded machine httpx's own read timeout just before it
    assert "did not answer" in caught.value.message or "ReadTimeout" in caught.value.message
    assert 2 <= len(fake_github.requests) < 10 and "gave up after" in caught.value.message


@pytest.mark.timeout(30)
def test_a_create_whose_lookup_hangs_shares_the_creates_budget(fake_github):
    """The lost-answer lookup (`landed`) runs inside the create's budget, not a fresh one."""
    fake_github.fail_next(1, 502, methods=("POST",))
    fake_github.silence(60, at=3, count=20)  # GET (find), POST -> 502, then the lookups say nothing
    client = GitHubClient(
        fake_github.token, api_url=fake_github.url, retry=RetryPolicy(attempts=6, backoff=0.1, deadline=1.0, budget=3)
    )
    started = time.monotonic()
    with pytest.raises(GitHubError):
        comments.upsert(client, fake_github.repo, 12, "report")
    assert time.monotonic() - started < 3 + 3.0  # the budget (3 s); slack for a loaded machine
    assert not fake_github.issue_comments(12)


@pytest.mark.timeout(30)
def test_rate_limit_waits_do_not_count_against_the_budget(fake_github):
    """The control: GitHub's own 'wait a minute' is honoured even with a budget shorter than the wait."""
    fake_github.fail_next(2, 403)  # secondary limit, no retry-after: a minute each
    sleeps: list[float] = []
    client = GitHubClient(
        fake_github.token, api_url=fake_github.url, retry=RetryPolicy(sleep=sleeps.append, deadline=1.0, budget=2.0)
    )
    client.get(f"/repos/{fake_github.repo}/issues/1/comments")
    assert sleeps == [60.0, 60.0] and fake_github.requests[-1].status == 200


def test_the_documented_defaults():
    """docs/commands.md states these numbers: a request's deadline and a call's retry budget."""
    from pathlib import Path

    policy = RetryPolicy()
    assert (policy.deadline, policy.budget) == (client_mod.REQUEST_DEADLINE, client_mod.RETRY_BUDGET) == (20.0, 40.0)
    docs = (Path(__file__).parent.parent / "docs" / "commands.md").read_text()
    assert "20 s" in docs and "40 s" in docs and "request deadline" in docs.lower()


# --- through the CLI: exit 7, one line on stderr, no traceback -----------------------------------


def _one_error_line(result, code: int = 7) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlci: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


CLI_COMMENT = [
    pytest.param(update, position, bad, id=f"{'update' if update else 'create'}-{position}-{bad.id}")
    for update in (False, True)
    for position, kind in ((1, "list"), (2, "object"))
    for bad in FAMILIES[kind]
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("update,position,bad", CLI_COMMENT)
def test_mlci_comment_given_a_malformed_answer_exits_7_in_one_line(gh_env, tmp_path, update, position, bad):
    from tests.helpers import invoke

    if update:
        _has_our_comment(gh_env)
    (tmp_path / "report.md").write_text("## report\n")
    send(gh_env, bad, position)
    result = invoke(tmp_path, "comment", "--pr", "12", "--body-file", str(tmp_path / "report.md"))
    line = _one_error_line(result)
    assert ("GET" if position == 1 else "PATCH" if update else "POST") in line
    assert gh_env.token not in result.output
    assert len(gh_env.issue_comments(12)) == (1 if update else 0)  # nothing posted twice, nothing half-done


# A few answers of each kind through the heavier commands; every answer x request is above.
SAMPLE = {kind: [bads[0], bads[3], bads[4], bads[11], bads[-1]] for kind, bads in FAMILIES.items()}


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "position,bad",
    [
        pytest.param(position, bad, id=f"{position}-{bad.id}")
        for position, kind in ((1, "list"), (2, "object"), (3, "list"), (4, "object"))
        for bad in SAMPLE[kind]
    ],
)
def test_mlci_pr_create_given_a_malformed_answer_exits_7_in_one_line(cloned, fake_github, position, bad):
    from tests.helpers import invoke

    root, _origin = cloned
    (root / "mlci-retrain").mkdir()
    (root / "mlci-retrain" / "report.md").write_text("report\n")
    (root / "data.csv").write_text("a,b\n1,2\n3,4\n")  # fresh data: something to propose
    send(fake_github, bad, position)
    env = {"GITHUB_TOKEN": fake_github.token, "GITHUB_API_URL": fake_github.url, "GITHUB_REPOSITORY": fake_github.repo}
    result = invoke(root, "pr", "create", "--body-file", "mlci-retrain/report.md", env=env)
    _one_error_line(result)
    assert [r.method for r in fake_github.requests][: position + 1][-2:] != ["POST", "POST"]  # no second create


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "position,bad",
    [
        pytest.param(position, bad, id=f"{position}-{bad.id}")
        for position, kind in ((1, "object"), (2, "list"), (3, "any-object"), (4, "list"))
        for bad in SAMPLE[kind][:3]
    ],
)
def test_mlci_promote_pr_given_a_malformed_answer_fails_in_one_line(registry_repo, fake_github, position, bad):
    """Approval lookups (1-3) fail with exit 7; the provenance lookup (4) fails closed: refused (8), naming it."""
    from tests.helpers import git, invoke
    from tests.test_promote import _github_env, pr_branch, published_by_pr_run

    head = pr_branch(registry_repo)
    published_by_pr_run(fake_github, registry_repo, head)
    fake_github.add_pull(7, head_sha=head)
    fake_github.collaborators["alice"] = "write"
    fake_github.add_review(7, "alice", "APPROVED", head)
    send(fake_github, bad, position)
    tags_before = git(registry_repo, "tag", "--list")
    result = invoke(registry_repo, "promote", "--pr", "7", "--stage", "staging", env=_github_env(fake_github))
    line = _one_error_line(result, 7 if position < 4 else 8)
    if position == 4:
        assert "check runs" in line and "GitHub" in line, line
    assert git(registry_repo, "tag", "--list") == tags_before  # nothing registered


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_with_the_default_numbers_a_server_dripping_every_10s_fails_within_the_budget(gh_env, tmp_path):
    """Issue 29's drip (a byte every 10 s) with mlci's defaults: 20 s per request, 40 s in all."""
    gh_env.drip(10.0, count=10)
    (tmp_path / "report.md").write_text("report\n")
    from tests.helpers import invoke

    started = time.monotonic()
    result = invoke(tmp_path, "comment", "--pr", "12", "--body-file", str(tmp_path / "report.md"))
    elapsed = time.monotonic() - started
    line = _one_error_line(result)
    assert "did not answer GET" in line and "gave up after 2 attempt(s)" in line, line
    assert client_mod.RETRY_BUDGET - 2 <= elapsed <= client_mod.RETRY_BUDGET + 3, elapsed
