"""A thin GitHub REST client on httpx: retries that respect GitHub's rate limits, pagination,
one-line errors, and creates that are safe to retry.

Why not a generic retry library: a POST that timed out or got a 502 may still have landed,
and re-sending it blindly posts a second comment. `create()` therefore asks "did it land?"
(a caller-supplied re-check, e.g. re-listing comments for our marker) before every re-send,
which tenacity/urllib3's Retry cannot do. The token lives in one private attribute, is sent
only in the Authorization header and never appears in a message, log line or repr.

A server cannot hold mlci or feed it something else (issue 29): every request has a total
deadline (connect, send and the whole answer; httpx's own timeouts are per read, so a server
dripping a byte every few seconds would otherwise hold it forever), each call with its retries
a total budget, answers are capped in size, and an answer that is not the JSON the call
expects (an HTML page, a redirect, a scalar, an object where a list belongs, an item without
its `id`…) is a one-line GitHubError (exit 7) naming the request, never a traceback.
"""

from __future__ import annotations

import email.utils
import json as json_mod
import math
import os
import re
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlci import __version__
from mlci import redact as redact_mod
from mlci.errors import GitHubError, RemoteError, UsageError

if TYPE_CHECKING:
    import httpx

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100
REQUEST_DEADLINE = 20.0  # seconds for one request, connect to last byte (GitHub itself gives up at 10 s)
RETRY_BUDGET = 40.0  # seconds for one call with its retries, not counting the waits GitHub asks for
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a page of 100 check runs with 65 KB texts is ~13 MB
MAX_PAGES = 1000  # 100,000 items: no PR has that many comments; a `next` link that never ends is refused

# Which workflow `permissions:` entry an endpoint needs, for 403 messages when GitHub does not
# say (it usually does, in X-Accepted-GitHub-Permissions).
_PERMISSION_BY_PATH = (
    ("/check-runs", "checks: write"),
    ("/statuses/", "statuses: write"),
    ("/issues/", "pull-requests: write"),
    ("/pulls", "pull-requests: write"),
    ("/collaborators/", "metadata: read"),
    ("/git/", "contents: write"),
)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying: at most `attempts` tries and `max_wait` seconds of sleeping."""

    attempts: int = 6
    max_wait: float = 300.0  # room for a few of GitHub's one-minute secondary-limit waits
    backoff: float = 1.0  # first back-off when GitHub names no wait; doubles each time
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time  # "now" for x-ratelimit-reset and HTTP-date Retry-After
    secondary_wait: float = 60.0  # GitHub: without retry-after, wait at least a minute
    on_wait: Callable[[str], None] | None = None  # told why and how long before each wait (the CLI prints it)
    # Read when the policy is made (tests shorten them): one request's total deadline, and the
    # time one call may spend failing (attempts with no usable answer, 5xx and their back-offs).
    deadline: float = field(default_factory=lambda: REQUEST_DEADLINE)
    budget: float = field(default_factory=lambda: RETRY_BUDGET)
    monotonic: Callable[[], float] = time.monotonic  # measures deadlines and the budget


def _is_secondary_limit(response: httpx.Response) -> bool:
    if response.status_code not in (403, 429):
        return False
    if response.status_code == 429 or "retry-after" in response.headers:
        return True
    if response.headers.get("x-ratelimit-remaining") == "0":
        return True
    return "rate limit" in _message(response).lower()


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _retry_after(text: str, now: float) -> float | None:
    """`Retry-After` as seconds from `now` (delta-seconds or an HTTP date); None when absent or unparseable."""
    text = text.strip()
    if not text:
        return None
    seconds = _number(text)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return max(0.0, parsed.timestamp() - now)


_SPACE = re.compile(r"[\s\x00-\x1f\x7f]+")
_TITLE = re.compile(r"<title[^>]*>([^<]{0,300})", re.IGNORECASE)


def _one_line(text: str, limit: int = 200) -> str:
    """Text from a server as one short line: whitespace and control characters collapsed, cut."""
    text = _SPACE.sub(" ", text[: limit * 4]).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decoded(response: httpx.Response) -> Any:
    """The answer's JSON, or raises ValueError (RecursionError too: `[[[[…` a million deep)."""
    try:
        return json_mod.loads(response.content)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def _message(response: httpx.Response) -> str:
    try:
        data = _decoded(response)
    except ValueError:
        text = response.content[:4096].decode("utf-8", "replace")
        title = _TITLE.search(text)
        return _one_line(title.group(1) if title else text)
    return _one_line(str(data.get("message", ""))) if isinstance(data, dict) else ""


def _validation_details(response: httpx.Response) -> str:
    try:
        data = _decoded(response)
    except ValueError:
        return ""
    errors = data.get("errors") if isinstance(data, dict) else None
    parts = []
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            parts.append(error.get("message") or " ".join(str(error.get(k, "")) for k in ("field", "code")).strip())
        else:
            parts.append(str(error))
    return _one_line("; ".join(str(p) for p in parts[:5] if p), 300)


# --- what an answer must look like -------------------------------------------------------------
#
# A shape is a type (`dict`: any JSON object, `str`, `int`, `bool`, `list`) or a dict of
# key -> shape for an object with those keys; a key ending in "?" may be missing or null.
# Only what mlci reads is named: GitHub adds fields all the time.

Shape = Any
OBJECT: Shape = dict
CONTAINER: Shape = (dict, list)  # `get`'s default: an object or a list, never a scalar or null
_KINDS = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "an integer",
    bool: "true or false",
    CONTAINER: "an object or a list",
}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, float):
        return "a number"
    return _KINDS.get(type(value), type(value).__name__)


def _problem(value: Any, shape: Shape, at: str) -> str | None:
    """Why `value` does not have `shape` (naming the field, e.g. "`head.sha` is missing"), or None."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{f'`{at}`' if at else 'the answer'} is {_kind(value)}, not an object"
        for key, inner in shape.items():
            optional = key.endswith("?")
            name = key.rstrip("?")
            where = f"{at}.{name}" if at else name
            if value.get(name) is None:
                if optional:
                    continue
                return f"`{where}` is missing"
            problem = _problem(value[name], inner, where)
            if problem:
                return problem
        return None
    ok = isinstance(value, shape) and not (shape is int and isinstance(value, bool))
    if ok:
        return None
    return f"{f'`{at}`' if at else 'the answer'} is {_kind(value)}, not {_KINDS.get(shape, str(shape))}"


class _Refused(GitHubError):
    """An answer refused for what it is (too big), not for want of one: not worth another try."""


class _Watchdog:
    """Shuts the client's sockets down when a request passes its deadline.

    httpx's timeouts are per read: a server that sends one byte every few seconds never trips
    them. A timer thread shutting the socket down wakes the blocked read at once (the request
    then fails with a transport error, and `fired` says why).
    """

    def __init__(self, seconds: float, sockets: weakref.WeakSet, lock: threading.Lock):
        self.fired = False
        self._sockets, self._lock = sockets, lock
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True

    def _fire(self) -> None:
        self.fired = True
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> _Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


class GitHubClient:
    """REST calls against `api_url` (GitHub.com or GitHub Enterprise Server) with `token`."""

    def __init__(
        self, token: str | None, *, api_url: str | None = None, retry: RetryPolicy | None = None, timeout: float = 30.0
    ):
        import httpx

        if not token:
            raise RemoteError(
                "no GitHub token: set GITHUB_TOKEN (in a workflow: pass `github-token: ${{ secrets.GITHUB_TOKEN }}`)"
            )
        self.api_url = (api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self.retry = retry or RetryPolicy()
        self._token = token
        self._timeout = timeout  # per connect / read, never more than what is left of the deadline
        self._until: float | None = None  # the budget of the call in progress (a `landed` lookup shares it)
        self._sockets: weakref.WeakSet = weakref.WeakSet()  # every socket this client opened, for the watchdog
        self._sockets_lock = threading.Lock()
        redact_mod.register(token)
        self._http = httpx.Client(
            base_url=self.api_url,
            timeout=timeout,
            headers={
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": API_VERSION,
                "User-Agent": f"mlci/{__version__}",
            },
        )

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r}, token=***)"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- requests ---------------------------------------------------------------------

    def _trace(self, event: str, info: dict) -> None:
        """httpcore's trace hook: remember each new connection's socket (plain, then TLS)."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            stream = info.get("return_value")
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                with self._sockets_lock:
                    self._sockets.add(sock)

    def _send(
        self, method: str, url: str, *, params: dict | None = None, json: Any = None, deadline: float
    ) -> httpx.Response:
        """One attempt, connect to last byte within `deadline` seconds, the answer read whole (capped)."""
        import httpx

        where = f"{method} {_path_only(url)}"
        json = _redacted(json)  # nothing we publish carries a credential, whoever wrote it
        try:
            request = self._http.build_request(
                method,
                url,
                params=params,
                json=json,
                headers={"Authorization": f"Bearer {self._token}"},
                timeout=httpx.Timeout(min(self._timeout, deadline)),
                extensions={"trace": self._trace},
            )
        except (httpx.InvalidURL, ValueError) as exc:
            raise GitHubError(f"cannot ask GitHub {where}: {_one_line(str(exc))}", status=0) from None
        watchdog = _Watchdog(deadline, self._sockets, self._sockets_lock)
        body = bytearray()
        try:
            with watchdog:
                response = self._http.send(request, stream=True)
                try:
                    for chunk in response.iter_bytes():
                        body += chunk
                        if len(body) > MAX_ANSWER_BYTES:
                            raise _Refused(
                                f"GitHub's answer to {where} is over {MAX_ANSWER_BYTES // 2**20} MiB; "
                                "check GITHUB_API_URL",
                                status=0,
                            )
                finally:
                    response.close()
        except httpx.HTTPError as exc:
            if watchdog.fired:
                raise self._deadline_error(where, deadline) from None
            raise GitHubError(
                f"cannot reach GitHub at {self.api_url} ({type(exc).__name__} on {where}); "
                "check GITHUB_API_URL and the network",
                status=0,
            ) from None
        if watchdog.fired:  # the answer may look complete after the shutdown: it is not to be trusted
            raise self._deadline_error(where, deadline)
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(response.status_code, headers=headers, content=bytes(body), request=request)

    def _deadline_error(self, where: str, deadline: float) -> GitHubError:
        return GitHubError(
            f"GitHub at {self.api_url} did not answer {where} within {deadline:.0f}s "
            f"(each request's deadline is {self.retry.deadline:.0f}s); check GITHUB_API_URL and the network",
            status=0,
        )

    def _wait_for(self, response: httpx.Response | None, attempt: int) -> float:
        """Seconds GitHub asks us to wait, else its one-minute rule for secondary limits, else back-off.

        Headers come from GitHub or a proxy and may be garbage (`Retry-After: soon`): an
        unparseable one is ignored, never an exception.
        """
        backoff = self.retry.backoff * (2**attempt)
        if response is None or response.status_code >= 500:
            return backoff
        now = self.retry.clock()
        retry_after = _retry_after(response.headers.get("retry-after", ""), now)
        if retry_after is not None:
            return retry_after
        if response.headers.get("x-ratelimit-remaining") == "0":
            reset = _number(response.headers.get("x-ratelimit-reset", ""))
            if reset is not None:
                return max(0.0, reset - now) + 1.0
        if _is_secondary_limit(response):
            return max(self.retry.secondary_wait, backoff)
        return backoff

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict | None = None,
        json: Any = None,
        landed: Callable[[], Any] | None = None,
    ) -> httpx.Response:
        """One call, retried on 5xx, 429, secondary rate limits and network errors.

        For non-idempotent calls pass `landed`: before each re-send it is asked whether the
        earlier attempt took effect after all; a non-None answer is returned instead of re-sending.

        The call ends within the policy's `budget` seconds plus the waits GitHub asked for (its
        rate limits, bounded by `max_wait`); a `landed` lookup runs inside the same budget.
        """
        outermost = self._until is None
        if outermost:
            self._until = self.retry.monotonic() + self.retry.budget
        try:
            return self._request(method, path, params=params, json=json, landed=landed)
        finally:
            if outermost:
                self._until = None

    def _request(
        self, method: str, path: str, *, params: dict | None, json: Any, landed: Callable[[], Any] | None
    ) -> httpx.Response:
        assert self._until is not None
        waited = 0.0
        last: GitHubError | None = None
        attempt = 0
        for attempt in range(self.retry.attempts):
            if attempt and landed is not None:
                found = landed()
                if found is not None:
                    return found
            left = self._until - self.retry.monotonic()
            if left <= 0:
                break
            response: httpx.Response | None
            try:
                response = self._send(method, path, params=params, json=json, deadline=min(self.retry.deadline, left))
            except _Refused:
                raise
            except GitHubError as exc:
                response, last = None, exc
            else:
                retryable = response.status_code >= 500 or _is_secondary_limit(response)
                if not retryable:
                    if response.status_code >= 400:
                        raise self._error(method, path, response)
                    if not 200 <= response.status_code < 300:
                        raise self._unexpected_status(method, path, response)
                    return response
                last = self._error(method, path, response)
            wait = self._wait_for(response, attempt)
            told = response is not None and response.status_code < 500  # a rate limit: GitHub named the wait
            if attempt + 1 >= self.retry.attempts or waited + wait > self.retry.max_wait:
                break
            if not told and self.retry.monotonic() + wait + min(1.0, self.retry.deadline) > self._until:
                break  # the budget would be spent before another attempt could finish
            if self.retry.on_wait is not None and last is not None:
                self.retry.on_wait(
                    f"{last.message}; waiting {wait:.0f}s before retry {attempt + 1} of {self.retry.attempts - 1}"
                )
            self.retry.sleep(wait)
            waited += wait
            if told:
                self._until += wait
        if last is None:
            raise GitHubError(
                f"no time left to ask GitHub {method} {_path_only(path)} (the retry budget of "
                f"{self.retry.budget:.0f}s is spent)",
                status=0,
            )
        raise GitHubError(
            f"{last.message} (gave up after {attempt + 1} attempt(s), {waited:.0f}s of waiting)",
            status=last.status,
            github_message=last.github_message,
        )

    def _unexpected_status(self, method: str, path: str, response: httpx.Response) -> GitHubError:
        """A 1xx/3xx final answer: mlci follows no redirect (the token would travel with it)."""
        status = response.status_code
        where = f"{method} {_path_only(path)}"
        location = response.headers.get("location", "")
        moved = f" (to {_one_line(location, 120)})" if location else ""
        return GitHubError(
            f"GitHub answered {status}{moved} to {where}; mlci does not follow redirects: check GITHUB_API_URL "
            "and the repository name (a renamed repository moves)",
            status=status,
        )

    def _error(self, method: str, path: str, response: httpx.Response) -> GitHubError:
        status = response.status_code
        message = _message(response)
        where = f"{method} {_path_only(path)}"
        if status == 401:
            text = (
                f"GitHub rejected the token (401 {message or 'Bad credentials'}) on {where}; "
                "pass a valid token (GITHUB_TOKEN / the action's github-token input)"
            )
        elif status == 403 and not _is_secondary_limit(response):
            needed = _one_line(response.headers.get("x-accepted-github-permissions", ""), 120)
            permission = (
                ", ".join(p.replace("=", ": ") for p in needed.split(",") if p)
                if needed
                else next((perm for key, perm in _PERMISSION_BY_PATH if key in path), "the needed")
            )
            text = (
                f"the token may not {where} (403 {message or 'Forbidden'}); grant `{permission}` "
                "in the workflow's `permissions:` block"
            )
        elif status == 404:
            text = (
                f"{where} not found (404): check the repository name and number, and that the token "
                "can see the repository"
            )
        elif status == 422:
            details = _validation_details(response)
            text = f"GitHub refused {where} (422 {message or 'Validation Failed'}{': ' + details if details else ''})"
        elif status == 403 or status == 429:
            text = f"GitHub rate limit on {where} ({status} {message or 'rate limited'})"
        else:
            text = f"GitHub answered {status} to {where}{': ' + message if message else ''}"
        return GitHubError(text, status=status, github_message=message)

    # --- answers --------------------------------------------------------------------------

    def _json(self, method: str, path: str, response: httpx.Response, shape: Shape) -> Any:
        """The answer's JSON, checked against `shape`; anything else is one line naming the request."""
        where = f"{method} {_path_only(path)}"
        hint = "check GITHUB_API_URL (a proxy or login page may answer in GitHub's place)"
        if not response.content.strip():
            raise GitHubError(f"GitHub answered {where} with {response.status_code} and no content; {hint}", status=0)
        media = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
            raise GitHubError(
                f"GitHub answered {where} with {_one_line(media, 60) or 'no content type'}, not JSON; {hint}",
                status=0,
            )
        try:
            data = _decoded(response)
        except ValueError as exc:
            raise GitHubError(
                f"GitHub's answer to {where} is not valid JSON ({_one_line(str(exc), 80)}); {hint}", status=0
            ) from None
        problem = _problem(data, shape, "")
        if problem:
            raise GitHubError(f"GitHub's answer to {where} is not what mlci expects: {problem}; {hint}", status=0)
        return data

    # --- conveniences -------------------------------------------------------------------

    def get(self, path: str, params: dict | None = None, *, shape: Shape = CONTAINER) -> Any:
        return self._json("GET", path, self.request("GET", path, params=params), shape)

    def patch(self, path: str, json: Any, *, shape: Shape = OBJECT) -> Any:
        return self._json("PATCH", path, self.request("PATCH", path, json=json), shape)

    def create(self, path: str, json: Any, *, landed: Callable[[], Any] | None = None, shape: Shape = OBJECT) -> Any:
        """POST that is never applied twice when `landed` can tell that an earlier try took effect."""
        import httpx

        answer = self.request("POST", path, json=json, landed=landed)
        return self._json("POST", path, answer, shape) if isinstance(answer, httpx.Response) else answer

    def paginate(
        self, path: str, params: dict | None = None, *, key: str | None = None, item: Shape = OBJECT
    ) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: rel="next"` with per_page=100.

        The answer is a list, or (`key`) an object holding the list under `key` (check runs,
        workflow runs); each item must have the shape `item`.
        """
        shape: Shape = list if key is None else {key: list}
        url = path
        response = self.request("GET", url, params={**(params or {}), "per_page": PER_PAGE})
        seen = {url}
        for _page in range(MAX_PAGES):
            data = self._json("GET", url, response, shape)
            items = data if key is None else data[key]
            for index, value in enumerate(items):
                problem = _problem(value, item, "")
                if problem:
                    problem = problem.replace("the answer", "it")
                    raise GitHubError(
                        f"GitHub's answer to GET {_path_only(url)} is not what mlci expects: item {index + 1} "
                        f"of the list: {problem}; check GITHUB_API_URL",
                        status=0,
                    )
            yield from items
            try:
                next_url = response.links.get("next", {}).get("url")
            except (ValueError, IndexError, KeyError):
                next_url = None
            if not next_url:
                return
            if not next_url.startswith(self.api_url + "/"):
                raise GitHubError(
                    f"GitHub's next-page link points outside {self.api_url}; refusing to follow it", status=0
                )
            url = next_url[len(self.api_url) :]
            if url in seen:
                raise GitHubError(
                    f"GitHub's pages of GET {_path_only(path)} link back to a page already read", status=0
                )
            seen.add(url)
            response = self.request("GET", url)
        raise GitHubError(f"GET {_path_only(path)} has more than {MAX_PAGES} pages; mlci stopped reading", status=0)


def _path_only(url: str) -> str:
    """A request's path for messages: no query string, no host, cut to a readable length."""
    return _one_line(url.split("?", 1)[0], 160)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_mod.redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


def split_repo(repo: str) -> tuple[str, str]:
    owner, sep, name = (repo or "").partition("/")
    if not sep or not owner or not name or "/" in name:
        raise UsageError(f"repository {repo!r} is not OWNER/NAME; pass --repo OWNER/NAME or set GITHUB_REPOSITORY")
    return owner, name


def from_env(
    environ: Mapping[str, str] | None = None, *, token: str | None = None, retry: RetryPolicy | None = None
) -> GitHubClient:
    """A client for the Actions environment: GITHUB_API_URL and GITHUB_TOKEN (or GH_TOKEN)."""
    env = os.environ if environ is None else environ
    return GitHubClient(
        token or env.get("GITHUB_TOKEN") or env.get("GH_TOKEN"), api_url=env.get("GITHUB_API_URL"), retry=retry
    )
