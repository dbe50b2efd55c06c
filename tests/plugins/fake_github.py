"""A fake GitHub REST API on 127.0.0.1, with GitHub's semantics for the endpoints mlci uses.

A real HTTP server (stdlib ThreadingHTTPServer in a thread), so the client's real httpx code,
headers, pagination and retries are exercised. It implements: issue comments (list with Link
pagination, create, get, update, delete; 422 on bodies over 65,536 characters), check runs,
commit statuses, pulls (list with state/head/base filters, get, create, update), PR reviews,
collaborator permission, and GitHub's error bodies (`{"message", "documentation_url"}`) and
rate-limit headers. Faults are injectable (`fail_next`; `echo_authorization`: an error body that
quotes the Authorization header, as some proxies do), comments can come from people
(`comment_as`, e.g. a maintainer's `/mlci train <sha>`), permissions can be withdrawn (`deny`),
and every request is logged (`requests`) so tests can assert what was sent, and where the
token went. A hostile server (issue 29): `answer_raw` makes one later request get arbitrary
bytes (any status, headers, content type, a body that is not JSON or not GitHub's shape),
`drip` one that sends its answer a byte at a time, `silence` one that never answers. For provenance (issue 25): workflow runs with their check suites (`add_workflow_run`,
`GET /actions/runs?check_suite_id=`; `actions_env` registers the job's run), check runs filed
under the first suite of their commit as GitHub does, made by GitHub Actions unless `as_app`
says another app, listed by `check_name`, `filter` and page, and `GET /repos/{o}/{r}`.

The API is served both at `/` and under `/api/v3` (the GitHub Enterprise Server prefix).
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

# One token per test process: attack tests look for it in every process on the machine, and a
# parallel worker's processes (another simulated machine) must not be found holding it.
TOKEN = f"ghs_fakeTOKENfor-mlci-tests-{os.getpid():08x}{secrets.token_hex(4)}"
COMMENT_LIMIT = 65536
DOCS = "https://docs.github.com/rest"
BOT = {
    "login": "github-actions[bot]",
    "id": 41898282,
    "node_id": "MDM6Qm90NDE4OTgyODI=",
    "type": "Bot",
    "html_url": "https://github.com/apps/github-actions",
}
# What a default GITHUB_TOKEN in a workflow with `permissions: {contents: read, pull-requests: write,
# checks: write, statuses: write}` may do; tests withdraw entries with `deny`.
DEFAULT_PERMISSIONS = {
    "contents": "write",
    "pull-requests": "write",
    "issues": "write",
    "checks": "write",
    "statuses": "write",
    "metadata": "read",
    "actions": "read",
}
ACTIONS_APP = {"id": 15368, "slug": "github-actions", "name": "GitHub Actions"}  # GITHUB_TOKEN's check runs


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, number: int) -> str:
    return f"{kind}_" + base64.b64encode(f"{kind}:{number}".encode()).decode().rstrip("=")


def _user(login: str, uid: int) -> dict:
    return {
        "login": login,
        "id": uid,
        "node_id": _node_id("U", uid),
        "type": "User",
        "html_url": f"https://github.com/{login}",
    }


@dataclass
class Logged:
    method: str
    path: str  # without the /api/v3 prefix
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str
    status: int = 0
    ghes: bool = False  # asked under the GitHub Enterprise Server prefix /api/v3


@dataclass
class Fault:
    status: int
    retry_after: str | None = None
    message: str = "Server Error"
    after_apply: bool = False  # the request takes effect, then the answer is lost (a 502 after the write)
    reset_in: int | None = None  # primary rate limit exhausted: x-ratelimit-remaining 0, reset in N seconds
    methods: tuple[str, ...] = ()  # empty: any


@dataclass
class RawAnswer:
    """What a hostile server sends instead of GitHub's answer to one request."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # Content-Type included (none if absent)
    drip: float = 0.0  # seconds between bytes of the whole answer, status line included
    silence: float = 0.0  # say nothing for this long (or until the client hangs up), then close


@dataclass
class FakeGitHub:
    """State of the fake API; the fixture resets it between tests."""

    url: str = ""  # API base URL (GitHub.com style)
    port: int = 0
    token: str = TOKEN
    owner: str = "octo"
    name: str = "models"
    permissions: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))
    comments: dict[int, dict] = field(default_factory=dict)  # id -> comment (with "_issue")
    check_runs: list[dict] = field(default_factory=list)
    statuses: list[dict] = field(default_factory=list)
    pulls: dict[int, dict] = field(default_factory=dict)
    reviews: dict[int, list[dict]] = field(default_factory=dict)
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> admin/maintain/write/triage/read
    faults: list[Fault] = field(default_factory=list)
    raw: dict[int, RawAnswer] = field(default_factory=dict)  # request index (in `requests`) -> hostile answer
    requests: list[Logged] = field(default_factory=list)
    rate_remaining: int = 5000
    echo_auth: list[int] = field(default_factory=list)  # next answers: this status, echoing Authorization
    # Provenance (issue 25): workflow runs, each with its check suite; the app whose token creates check runs.
    workflow_runs: list[dict] = field(default_factory=list)
    check_app: dict = field(default_factory=lambda: dict(ACTIONS_APP))
    default_branch: str = "main"
    _next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def repo(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def ghes_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v3"

    def reset(self) -> None:
        with self.lock:
            self.permissions = dict(DEFAULT_PERMISSIONS)
            self.comments.clear()
            self.check_runs.clear()
            self.statuses.clear()
            self.pulls.clear()
            self.reviews.clear()
            self.collaborators.clear()
            self.faults.clear()
            self.raw.clear()
            self.requests.clear()
            self.echo_auth.clear()
            self.workflow_runs.clear()
            self.check_app = dict(ACTIONS_APP)
            self.rate_remaining = 5000
            self.token = TOKEN

    # --- test controls ------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        status: int = 502,
        *,
        retry_after: int | str | None = None,
        after_apply: bool = False,
        methods: tuple[str, ...] = (),
    ) -> None:
        """The next `count` requests (of `methods`) answer `status` (403 = secondary rate limit)."""
        message = {
            403: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
            429: "API rate limit exceeded",
        }.get(status, "Server Error")
        for _ in range(count):
            self.faults.append(
                Fault(
                    status,
                    None if retry_after is None else str(retry_after),
                    message,
                    after_apply=after_apply,
                    methods=methods,
                )
            )

    def answer_raw(
        self,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str | None = "application/json; charset=utf-8",
        headers: dict[str, str] | None = None,
        at: int = 1,
    ) -> None:
        """The `at`-th request from now (1: the next) gets these bytes instead of GitHub's answer."""
        data = body.encode() if isinstance(body, str) else body
        extra = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
        self.raw[len(self.requests) + at - 1] = RawAnswer(status, data, extra)

    def drip(self, every: float, body: str = "[]", *, at: int = 1, count: int = 1) -> None:
        """`count` requests from the `at`-th on are answered (`body`, valid) one byte every `every` seconds."""
        for index in range(len(self.requests) + at - 1, len(self.requests) + at - 1 + count):
            self.raw[index] = RawAnswer(200, body.encode(), {"Content-Type": "application/json"}, drip=every)

    def silence(self, seconds: float, *, at: int = 1, count: int = 1) -> None:
        """`count` requests from the `at`-th on get no answer for `seconds` (or until the client hangs up)."""
        for index in range(len(self.requests) + at - 1, len(self.requests) + at - 1 + count):
            self.raw[index] = RawAnswer(silence=seconds)

    def exhaust_rate_limit(self, reset_in: int = 1) -> None:
        """The next request finds the primary rate limit used up (403, remaining 0, reset soon)."""
        self.faults.append(Fault(403, None, "API rate limit exceeded for installation ID 1.", reset_in=reset_in))

    def echo_authorization(self, *statuses: int) -> None:
        """The next answers are these statuses (401, 422, …) whose bodies quote the Authorization
        header, as some proxies and GitHub Enterprise Server versions do."""
        self.echo_auth.extend(statuses)

    def deny(self, permission: str) -> None:
        """Withdraw a token permission (e.g. 'checks'): its endpoints answer 403 like GitHub does."""
        self.permissions.pop(permission, None)

    def read_only(self) -> None:
        """A fork PR's token: read access to everything, write access to nothing."""
        self.permissions = {k: "read" for k in DEFAULT_PERMISSIONS}

    def add_comments(self, pr: int, bodies: list[str], user: dict | None = None) -> list[dict]:
        return [self._create_comment(pr, body, user or _user("someone", 7)) for body in bodies]

    def comment_as(self, pr: int, login: str, body: str) -> dict:
        """A comment written by `login` (a person), e.g. a maintainer's `/mlci train <sha>`."""
        return self._create_comment(pr, body, _user(login, 100 + len(login)))

    def issue_comments(self, pr: int) -> list[dict]:
        return sorted((c for c in self.comments.values() if c["_issue"] == pr), key=lambda c: c["id"])

    def add_pull(
        self,
        number: int,
        *,
        head_sha: str = "a" * 40,
        head_ref: str = "feature",
        base_ref: str = "main",
        head_owner: str | None = None,
        state: str = "open",
        labels: tuple[str, ...] = (),
    ) -> dict:
        pull = self._pull(
            number,
            title=f"PR {number}",
            body="",
            head_ref=head_ref,
            base_ref=base_ref,
            head_sha=head_sha,
            head_owner=head_owner or self.owner,
            state=state,
        )
        pull["labels"] = [{"name": label} for label in labels]
        self.pulls[number] = pull
        return pull

    def add_review(self, pr: int, login: str, state: str, commit_id: str) -> dict:
        review = {
            "id": self._new_id(),
            "node_id": "",
            "user": _user(login, 100 + len(login)),
            "body": "",
            "state": state,
            "commit_id": commit_id,
            "submitted_at": _now(),
            "html_url": f"https://github.com/{self.repo}/pull/{pr}#pullrequestreview-{self._next_id}",
            "author_association": "MEMBER",
        }
        review["node_id"] = _node_id("PRR", review["id"])
        self.reviews.setdefault(pr, []).append(review)
        return review

    def add_workflow_run(
        self, event: str, head_sha: str, head_branch: str | None, *, head_repo: str | None = None
    ) -> dict:
        """A GitHub Actions workflow run and its check suite (one suite per run, as on GitHub)."""
        rid, suite = self._new_id(), self._new_id()
        run = {
            "id": rid,
            "name": "mlci",
            "event": event,
            "head_branch": head_branch,
            "head_sha": head_sha,
            "path": ".github/workflows/mlci.yml",
            "status": "in_progress",
            "check_suite_id": suite,
            "html_url": f"https://github.com/{self.repo}/actions/runs/{rid}",
            "head_repository": {"full_name": head_repo or self.repo},
            "repository": {"full_name": self.repo},
        }
        self.workflow_runs.append(run)
        return run

    def as_app(self, slug: str) -> None:
        """Check runs created from now on belong to another GitHub App (its installation token)."""
        self.check_app = {"id": 900 + len(slug), "slug": slug, "name": slug}

    def log_text(self) -> str:
        """Everything the server received except the Authorization header (for leak checks)."""
        return "\n".join(
            f"{r.method} {r.path} {r.query} {r.body} "
            f"{ {k: v for k, v in r.headers.items() if k.lower() != 'authorization'} }"
            for r in self.requests
        )

    # --- model ----------------------------------------------------------------------------

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _create_comment(self, issue: int, body: str, user: dict) -> dict:
        cid = self._new_id()
        now = _now()
        comment = {
            "id": cid,
            "node_id": _node_id("IC", cid),
            "url": f"{self.url}/repos/{self.repo}/issues/comments/{cid}",
            "html_url": f"https://github.com/{self.repo}/pull/{issue}#issuecomment-{cid}",
            "issue_url": f"{self.url}/repos/{self.repo}/issues/{issue}",
            "body": body,
            "user": user,
            "created_at": now,
            "updated_at": now,
            "author_association": "NONE",
            "_issue": issue,
        }
        self.comments[cid] = comment
        return comment

    def _pull(
        self,
        number: int,
        *,
        title: str,
        body: str,
        head_ref: str,
        base_ref: str,
        head_sha: str,
        head_owner: str,
        state: str = "open",
        draft: bool = False,
    ) -> dict:
        head_repo = {
            "full_name": f"{head_owner}/{self.name}",
            "name": self.name,
            "owner": _user(head_owner, 3),
            "fork": head_owner != self.owner,
        }
        return {
            "id": 5000 + number,
            "node_id": _node_id("PR", number),
            "number": number,
            "state": state,
            "title": title,
            "body": body,
            "draft": draft,
            "locked": False,
            "merged": False,
            "url": f"{self.url}/repos/{self.repo}/pulls/{number}",
            "html_url": f"https://github.com/{self.repo}/pull/{number}",
            "user": _user(head_owner, 3),
            "created_at": _now(),
            "updated_at": _now(),
            "labels": [],
            "head": {"label": f"{head_owner}:{head_ref}", "ref": head_ref, "sha": head_sha, "repo": head_repo},
            "base": {
                "label": f"{self.owner}:{base_ref}",
                "ref": base_ref,
                "sha": "b" * 40,
                "repo": {"full_name": self.repo, "name": self.name, "owner": _user(self.owner, 2), "fork": False},
            },
        }


def _error(status: int, message: str, doc: str = DOCS, errors: list | None = None) -> tuple[int, dict]:
    body: dict[str, Any] = {"message": message, "documentation_url": doc}
    if errors:
        body["errors"] = errors
    body["status"] = str(status)
    return status, body


class _Handler(BaseHTTPRequestHandler):
    server_version = "GitHub.com"
    sys_version = ""
    state: FakeGitHub  # set on the subclass

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _reply(self, status: int, body: Any, extra: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        self.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        st = self.state
        st.rate_remaining = max(0, st.rate_remaining - 1)
        extra = dict(extra or {})
        self.send_header("x-ratelimit-limit", "5000")
        self.send_header("x-ratelimit-remaining", extra.pop("x-ratelimit-remaining", str(st.rate_remaining)))
        self.send_header("x-ratelimit-reset", extra.pop("x-ratelimit-reset", str(int(time.time()) + 3600)))
        self.send_header("x-ratelimit-used", str(5000 - st.rate_remaining))
        self.send_header("x-ratelimit-resource", "core")
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _handle(self) -> None:
        st = self.state
        parts = urlsplit(self.path)
        path = parts.path[len("/api/v3") :] if parts.path.startswith("/api/v3") else parts.path
        prefix = "/api/v3" if parts.path.startswith("/api/v3") else ""
        query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        entry = Logged(self.command, path, query, dict(self.headers.items()), raw, ghes=bool(prefix))
        with st.lock:
            hostile = st.raw.pop(len(st.requests), None)
            st.requests.append(entry)
        if hostile is not None:
            entry.status = hostile.status
            self._hostile(hostile)
            return
        with st.lock:
            status, body, extra = self._route(path, prefix, query, raw)
            entry.status = status
        self._reply(status, body, extra)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _handle

    def _hostile(self, answer: RawAnswer) -> None:
        """Send `answer` as it is, slowly, or not at all; stop as soon as the client hangs up."""
        self.close_connection = True
        if answer.silence:
            end = time.monotonic() + answer.silence
            while (left := end - time.monotonic()) > 0:
                readable, _, _ = select.select([self.connection], [], [], min(left, 0.2))
                try:
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        return  # the client hung up
                except OSError:
                    return
            return
        head = f"HTTP/1.1 {answer.status} Whatever\r\n".encode()
        headers = {"Content-Length": str(len(answer.body)), "Connection": "close", **answer.headers}
        head += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items()) + b"\r\n"
        data = head + answer.body
        try:
            if not answer.drip:
                self.wfile.write(data)
                return
            for byte in data:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(answer.drip)
        except OSError:
            return  # the client gave up (its deadline): a broken pipe here is the expected end

    def _route(self, path: str, prefix: str, query: dict, raw: str) -> tuple[int, Any, dict]:
        st = self.state
        auth = self.headers.get("Authorization", "")
        if st.echo_auth:
            status = st.echo_auth.pop(0)
            basic = "Basic " + base64.b64encode(f"x-access-token:{st.token}".encode()).decode()
            return (
                *_error(
                    status,
                    f"Bad credentials (received Authorization: {auth})",
                    errors=[
                        {
                            "message": f"header Authorization: {auth} rejected; git sent {basic}",
                            "field": auth,
                            "code": "invalid",
                        }
                    ],
                ),
                {},
            )
        if not auth:
            return (*_error(401, "Requires authentication"), {})
        if auth not in (f"Bearer {st.token}", f"token {st.token}"):
            return (*_error(401, "Bad credentials"), {})
        if (
            self.headers.get("Accept") != "application/vnd.github+json"
            or self.headers.get("X-GitHub-Api-Version") != "2022-11-28"
        ):
            return (*_error(400, "mlci tests: missing Accept / X-GitHub-Api-Version header"), {})
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            return (*_error(400, "Problems parsing JSON"), {})
        body = body if isinstance(body, dict) else {}
        fault = next((f for f in st.faults if not f.methods or self.command in f.methods), None)
        if fault is not None:
            st.faults.remove(fault)
            extra = {"retry-after": fault.retry_after} if fault.retry_after else {}
            if fault.reset_in is not None:
                extra.update(
                    {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + fault.reset_in)}
                )
            if fault.after_apply:
                self._dispatch(path, prefix, query, body)
            return (
                *_error(
                    fault.status, fault.message, "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
                ),
                extra,
            )
        return self._dispatch(path, prefix, query, body)

    def _forbidden(self, permission: str, level: str) -> tuple[int, Any, dict] | None:
        have = self.state.permissions.get(permission)
        if have == "write" or (level == "read" and have == "read"):
            return None
        return (
            *_error(
                403,
                "Resource not accessible by integration",
                "https://docs.github.com/rest/overview/permissions-required-for-github-apps",
            ),
            {"X-Accepted-GitHub-Permissions": f"{permission}={level}"},
        )

    def _page(
        self, items: list, query: dict, base_path: str, prefix: str, *, wrap: str | None = None
    ) -> tuple[int, Any, dict]:
        """One page of `items`, with GitHub's Link header; `wrap`: `{"total_count", wrap: [...]}` bodies."""
        per_page = min(100, max(1, int(query.get("per_page", ["30"])[0])))
        page = max(1, int(query.get("page", ["1"])[0]))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []
        keep = {k: v[0] for k, v in query.items() if k not in ("page", "per_page")}

        def url(n: int) -> str:
            return f"http://127.0.0.1:{self.state.port}{prefix}{base_path}?" + urlencode(
                {**keep, "per_page": per_page, "page": n}
            )

        if page < last:
            links += [f'<{url(page + 1)}>; rel="next"', f'<{url(last)}>; rel="last"']
        if page > 1:
            links += [f'<{url(1)}>; rel="first"', f'<{url(page - 1)}>; rel="prev"']
        page_items = [_public(i) for i in chunk]
        body = {"total_count": len(items), wrap: page_items} if wrap else page_items
        return 200, body, ({"Link": ", ".join(links)} if links else {})

    def _dispatch(self, path: str, prefix: str, query: dict, body: dict) -> tuple[int, Any, dict]:
        st = self.state
        m = re.fullmatch(r"/repos/([^/]+)/([^/]+)(/.*)?", path)
        if not m or (m.group(1), m.group(2)) != (st.owner, st.name):
            return (*_error(404, "Not Found"), {})
        rest = m.group(3) or ""
        method = self.command

        if rest == "/actions/runners/generate-jitconfig" and method == "POST":
            # A just-in-time runner: needs Administration write (tests grant it: permissions["administration"]);
            # names are unique among runners; the config (what the runner writes as .runner, .credentials,
            # .credentials_rsaparams) is new for every runner and names it.
            if denied := self._forbidden("administration", "write"):
                return denied
            name, labels, group = body.get("name"), body.get("labels"), body.get("runner_group_id")
            if not isinstance(name, str) or not name or not isinstance(group, int) or not isinstance(labels, list):
                return (*_error(422, "Invalid request: name, runner_group_id and labels are required"), {})
            if not 1 <= len(labels) <= 100 or not all(isinstance(x, str) and x for x in labels):
                return (*_error(422, "Invalid request: labels must be 1 to 100 non-empty strings"), {})
            taken = {
                json.loads(r.body or "{}").get("name")
                for r in st.requests
                if r.path == path and r.status == 201 and r.method == "POST"
            }
            if name in taken:
                return (*_error(409, f"Already exists - A runner with the name {name} already exists."), {})
            runner_id = st._new_id()
            runner = {"id": runner_id, "name": name, "os": "unknown", "status": "offline", "busy": False}
            runner["labels"] = [{"id": i, "name": x, "type": "custom"} for i, x in enumerate(labels, 1)]
            files = {
                ".runner": {"agentId": runner_id, "agentName": name, "poolId": group, "ephemeral": True},
                ".credentials": {"scheme": "OAuth", "data": {"clientId": f"client-{runner_id}"}},
                ".credentials_rsaparams": {
                    "d": base64.b64encode(f"key-{runner_id}-{time.time_ns()}".encode()).decode()
                },
            }
            encoded = {k: base64.b64encode(json.dumps(v).encode()).decode() for k, v in files.items()}
            return (
                201,
                {"runner": runner, "encoded_jit_config": base64.b64encode(json.dumps(encoded).encode()).decode()},
                {},
            )

        if mm := re.fullmatch(r"/issues/(\d+)/comments", rest):
            issue = int(mm.group(1))
            if method == "GET":
                return self._page(st.issue_comments(issue), query, path, prefix)
            if method == "POST":
                if denied := self._forbidden("pull-requests", "write"):
                    return denied
                return self._comment_body_check(body) or (
                    201,
                    _public(st._create_comment(issue, body["body"], BOT)),
                    {},
                )
        if mm := re.fullmatch(r"/issues/comments/(\d+)", rest):
            comment = st.comments.get(int(mm.group(1)))
            if comment is None:
                return (*_error(404, "Not Found"), {})
            if method == "GET":
                return 200, _public(comment), {}
            if denied := self._forbidden("pull-requests", "write"):
                return denied
            if method == "PATCH":
                if bad := self._comment_body_check(body):
                    return bad
                comment["body"] = body["body"]
                comment["updated_at"] = _now()
                return 200, _public(comment), {}
            if method == "DELETE":
                del st.comments[comment["id"]]
                return 204, None, {}
        if rest == "/issues" and method == "POST":
            if denied := self._forbidden("issues", "write"):
                return denied
            if not body.get("title"):
                return (
                    *_error(
                        422,
                        "Validation Failed",
                        errors=[{"resource": "Issue", "code": "missing_field", "field": "title"}],
                    ),
                    {},
                )
            return (*_error(422, "mlci tests: the fake does not create issues"), {})
        if rest == "/git/refs" and method == "POST":
            if denied := self._forbidden("contents", "write"):
                return denied
            missing = [k for k in ("ref", "sha") if not body.get(k)]
            if missing:
                return (
                    *_error(
                        422, "Invalid request.", errors=[" and ".join(f'"{k}"' for k in missing) + " weren't supplied."]
                    ),
                    {},
                )
            return (*_error(422, "Reference update failed"), {})  # the fake keeps no git objects
        if rest == "/check-runs" and method == "POST":
            if denied := self._forbidden("checks", "write"):
                return denied
            return self._create_check_run(body)
        if mm := re.fullmatch(r"/commits/([^/]+)/check-runs", rest):
            if denied := self._forbidden("checks", "read"):
                return denied
            runs = [
                r
                for r in reversed(st.check_runs)  # newest first
                if r["head_sha"] == mm.group(1) and (not query.get("check_name") or r["name"] == query["check_name"][0])
            ]
            if query.get("filter", ["latest"])[0] == "latest":  # GitHub's default: the newest per name and suite
                newest: dict[tuple, dict] = {}
                for r in runs:
                    newest.setdefault((r["name"], r["check_suite"]["id"]), r)
                runs = list(newest.values())
            return self._page(runs, query, path, prefix, wrap="check_runs")
        if rest == "" and method == "GET":
            return 200, {"full_name": st.repo, "name": st.name, "default_branch": st.default_branch}, {}
        if rest == "/actions/runs" and method == "GET":
            if denied := self._forbidden("actions", "read"):
                return denied
            found = [
                r
                for r in reversed(st.workflow_runs)
                if all(
                    str(r[key]) == query[param][0]
                    for param, key in (
                        ("check_suite_id", "check_suite_id"),
                        ("head_sha", "head_sha"),
                        ("event", "event"),
                    )
                    if param in query
                )
            ]
            return self._page(found, query, path, prefix, wrap="workflow_runs")
        if mm := re.fullmatch(r"/statuses/([0-9a-f]{40})", rest):
            if method != "POST":
                return (*_error(404, "Not Found"), {})
            if denied := self._forbidden("statuses", "write"):
                return denied
            if body.get("state") not in ("error", "failure", "pending", "success"):
                return (
                    *_error(
                        422, "Validation Failed", errors=[{"resource": "Status", "field": "state", "code": "invalid"}]
                    ),
                    {},
                )
            sid = st._new_id()
            status = {
                "id": sid,
                "node_id": _node_id("SC", sid),
                "state": body["state"],
                "description": body.get("description"),
                "target_url": body.get("target_url"),
                "context": body.get("context", "default"),
                "created_at": _now(),
                "updated_at": _now(),
                "url": f"{st.url}/repos/{st.repo}/statuses/{mm.group(1)}",
                "creator": BOT,
                "sha": mm.group(1),
            }
            st.statuses.append(status)
            return 201, status, {}
        if mm := re.fullmatch(r"/commits/([^/]+)/statuses", rest):
            return self._page([s for s in reversed(st.statuses) if s["sha"] == mm.group(1)], query, path, prefix)
        if rest == "/pulls":
            if method == "GET":
                return self._list_pulls(query, path, prefix)
            if method == "POST":
                if denied := self._forbidden("pull-requests", "write"):
                    return denied
                return self._create_pull(body)
        if mm := re.fullmatch(r"/pulls/(\d+)", rest):
            pull = st.pulls.get(int(mm.group(1)))
            if pull is None:
                return (*_error(404, "Not Found"), {})
            if method == "GET":
                return 200, pull, {}
            if method == "PATCH":
                if denied := self._forbidden("pull-requests", "write"):
                    return denied
                for key in ("title", "body", "state", "base"):
                    if key in body:
                        if key == "base":
                            pull["base"]["ref"] = body["base"]
                        elif key == "state" and body["state"] not in ("open", "closed"):
                            return (
                                *_error(
                                    422,
                                    "Validation Failed",
                                    errors=[{"resource": "PullRequest", "field": "state", "code": "invalid"}],
                                ),
                                {},
                            )
                        else:
                            pull[key] = body[key]
                pull["updated_at"] = _now()
                return 200, pull, {}
        if mm := re.fullmatch(r"/pulls/(\d+)/reviews", rest):
            if int(mm.group(1)) not in st.pulls:
                return (*_error(404, "Not Found"), {})
            if method == "GET":
                return self._page(st.reviews.get(int(mm.group(1)), []), query, path, prefix)
        if mm := re.fullmatch(r"/collaborators/([^/]+)/permission", rest):
            login = mm.group(1)
            if login not in st.collaborators:
                return (*_error(404, f"{login} is not a user"), {})
            level = st.collaborators[login]
            legacy = {"maintain": "write", "triage": "read"}.get(level, level)
            return 200, {"permission": legacy, "role_name": level, "user": _user(login, 100 + len(login))}, {}
        return (*_error(404, "Not Found"), {})

    def _comment_body_check(self, body: dict) -> tuple[int, Any, dict] | None:
        text = body.get("body")
        if not isinstance(text, str) or not text:
            return (
                *_error(
                    422,
                    "Validation Failed",
                    errors=[{"resource": "IssueComment", "code": "missing_field", "field": "body"}],
                ),
                {},
            )
        if len(text) > COMMENT_LIMIT:
            return (
                *_error(
                    422,
                    "Validation Failed",
                    errors=[
                        {
                            "resource": "IssueComment",
                            "code": "custom",
                            "field": "body",
                            "message": f"body is too long (maximum is {COMMENT_LIMIT} characters)",
                        }
                    ],
                    doc="https://docs.github.com/rest/issues/comments#create-an-issue-comment",
                ),
                {},
            )
        return None

    def _create_check_run(self, body: dict) -> tuple[int, Any, dict]:
        st = self.state
        missing = [k for k in ("name", "head_sha") if not body.get(k)]
        if missing:
            return (*_error(422, "Invalid request.", errors=[f'"{k}" wasn\'t supplied.' for k in missing]), {})
        output = body.get("output") or {}
        for key, limit in (("summary", 65535), ("text", 65535)):
            if len(output.get(key) or "") > limit:
                return (
                    *_error(
                        422,
                        "Invalid request.",
                        errors=[f"Only {limit} characters are allowed; {len(output[key])} were supplied."],
                    ),
                    {},
                )
        conclusion = body.get("conclusion")
        allowed = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out")
        if conclusion is not None and conclusion not in allowed:
            return (*_error(422, "Invalid request.", errors=[f"{conclusion} is not a member of {list(allowed)}"]), {})
        rid = st._new_id()
        run = {
            "id": rid,
            "node_id": _node_id("CR", rid),
            "head_sha": body["head_sha"],
            "name": body["name"],
            "status": "completed" if conclusion else body.get("status", "queued"),
            "conclusion": conclusion,
            "details_url": body.get("details_url"),
            "external_id": body.get("external_id", ""),
            "url": f"{st.url}/repos/{st.repo}/check-runs/{rid}",
            "html_url": f"https://github.com/{st.repo}/runs/{rid}",
            "started_at": _now(),
            "completed_at": _now() if conclusion else None,
            "output": {
                "title": output.get("title"),
                "summary": output.get("summary"),
                "text": output.get("text"),
                "annotations_count": 0,
            },
            "app": dict(st.check_app),
            "check_suite": {"id": self._suite_for(body["head_sha"])},
        }
        st.check_runs.append(run)
        return 201, run, {}

    def _suite_for(self, sha: str) -> int:
        """GitHub files a check run made through the API under the first check suite of its app on
        that commit (for GitHub Actions: the first workflow run of the commit); else a new suite."""
        st = self.state
        if st.check_app["slug"] == ACTIONS_APP["slug"]:
            for run in st.workflow_runs:
                if run["head_sha"] == sha:
                    return run["check_suite_id"]
        for run in st.check_runs:
            if run["head_sha"] == sha and run["app"]["slug"] == st.check_app["slug"]:
                return run["check_suite"]["id"]
        return st._new_id()

    def _list_pulls(self, query: dict, path: str, prefix: str) -> tuple[int, Any, dict]:
        st = self.state
        state = query.get("state", ["open"])[0]
        pulls = sorted(st.pulls.values(), key=lambda p: -p["number"])
        if state != "all":
            pulls = [p for p in pulls if p["state"] == state]
        if "head" in query:
            head = query["head"][0]
            if ":" not in head:  # GitHub: head must be user:ref-name; without owner it matches nothing
                pulls = []
            else:
                pulls = [p for p in pulls if p["head"]["label"] == head]
        if "base" in query:
            pulls = [p for p in pulls if p["base"]["ref"] == query["base"][0]]
        return self._page(pulls, query, path, prefix)

    def _create_pull(self, body: dict) -> tuple[int, Any, dict]:
        st = self.state
        missing = [k for k in ("head", "base") if not body.get(k)]
        if missing or not (body.get("title") or body.get("issue")):
            return (
                *_error(
                    422,
                    "Validation Failed",
                    errors=[
                        {"resource": "PullRequest", "code": "missing_field", "field": f} for f in (missing or ["title"])
                    ],
                ),
                {},
            )
        head = body["head"]
        owner, _, ref = head.rpartition(":")
        owner = owner or st.owner
        for p in st.pulls.values():
            if p["state"] == "open" and p["head"]["label"] == f"{owner}:{ref}" and p["base"]["ref"] == body["base"]:
                return (
                    *_error(
                        422,
                        "Validation Failed",
                        errors=[
                            {
                                "resource": "PullRequest",
                                "code": "custom",
                                "message": f"A pull request already exists for {owner}:{ref}.",
                            }
                        ],
                    ),
                    {},
                )
        number = max([0, *st.pulls, *(c["_issue"] for c in st.comments.values())]) + 1
        pull = st._pull(
            number,
            title=body.get("title", ""),
            body=body.get("body") or "",
            head_ref=ref,
            base_ref=body["base"],
            head_sha=body.get("_sha", "c" * 40),
            head_owner=owner,
            draft=bool(body.get("draft")),
        )
        st.pulls[number] = pull
        return 201, pull, {}


def _public(item: dict) -> dict:
    return {k: v for k, v in item.items() if not k.startswith("_")}


@pytest.fixture(scope="session")
def _fake_github_server():
    state = FakeGitHub()
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.port = server.server_address[1]
    state.url = f"http://127.0.0.1:{state.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_github(_fake_github_server: FakeGitHub) -> FakeGitHub:
    """The fake GitHub API, emptied for this test. `.url`, `.token`, `.repo`; see FakeGitHub."""
    _fake_github_server.reset()
    return _fake_github_server


def actions_env(
    fake: FakeGitHub,
    workdir,
    *,
    event: str = "pull_request",
    pr: int = 12,
    sha: str,
    fork: bool = False,
    labels: tuple[str, ...] = (),
    self_hosted: bool = False,
    token: str | None = TOKEN,
    ref: str | None = None,
    review_state: str | None = None,
) -> dict[str, str]:
    """The variables the Actions runner sets for a step, plus the event payload file they point to."""
    from pathlib import Path

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    head_repo = f"forker/{fake.name}" if fork else fake.repo
    payload: dict[str, Any] = {
        "repository": {"full_name": fake.repo, "default_branch": "main"},
        "sender": {"login": "someone"},
    }
    if event in ("pull_request", "pull_request_review"):
        payload.update(
            {
                "action": "synchronize" if event == "pull_request" else "submitted",
                "number": pr,
                "pull_request": {
                    "number": pr,
                    "labels": [{"name": label} for label in labels],
                    "head": {"sha": sha, "ref": "feature", "repo": {"full_name": head_repo}},
                    "base": {"sha": "b" * 40, "ref": "main", "repo": {"full_name": fake.repo}},
                },
            }
        )
        if event == "pull_request_review":
            payload["review"] = {"state": review_state or "approved", "commit_id": sha, "user": {"login": "maint"}}
    event_path = workdir / "event.json"
    event_path.write_text(json.dumps(payload))
    # The workflow run this job belongs to (its check suite files the job's check runs).
    branch = "feature" if event in ("pull_request", "pull_request_review") else (ref or "refs/heads/main")
    fake.add_workflow_run(event, sha, branch.removeprefix("refs/heads/"), head_repo=head_repo)
    for name in ("output", "summary"):
        (workdir / name).write_text("")
    (workdir / "temp").mkdir(exist_ok=True)
    env = {
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": fake.repo,
        "GITHUB_SHA": sha,
        "GITHUB_REF": ref or (f"refs/pull/{pr}/merge" if event == "pull_request" else "refs/heads/main"),
        "GITHUB_BASE_REF": "main" if event == "pull_request" else "",
        "GITHUB_HEAD_REF": "feature" if event == "pull_request" else "",
        "GITHUB_API_URL": fake.url,
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_RUN_ID": "4242",
        "GITHUB_OUTPUT": str(workdir / "output"),
        "GITHUB_STEP_SUMMARY": str(workdir / "summary"),
        "RUNNER_TEMP": str(workdir / "temp"),
        "RUNNER_ENVIRONMENT": "self-hosted" if self_hosted else "github-hosted",
    }
    if self_hosted:  # a runner from docs/runners.md's recipes; tests of a persistent one delete it
        env["MLCI_RUNNER_EPHEMERAL"] = "true"
    if token:
        env["GITHUB_TOKEN"] = token
    return env


def read_outputs(path) -> dict[str, str]:
    """Parse a $GITHUB_OUTPUT file the way the runner does (name=value and heredoc blocks)."""
    from pathlib import Path

    lines = Path(path).read_text().splitlines()
    outputs: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            key, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[key] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            outputs[key] = value
        i += 1
    return outputs
