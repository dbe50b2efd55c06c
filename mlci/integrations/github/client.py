"""A thin GitHub REST client on httpx: retries that respect GitHub's rate limits, pagination,
one-line errors, and creates that are safe to retry.

Why not a generic retry library: a POST that timed out or got a 502 may still have landed,
and re-sending it blindly posts a second comment. `create()` therefore asks "did it land?"
(a caller-supplied re-check, e.g. re-listing comments for our marker) before every re-send,
which tenacity/urllib3's Retry cannot do. The token lives in one private attribute, is sent
only in the Authorization header and never appears in a message, log line or repr.
"""

from __future__ import annotations

import email.utils
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlci import __version__
from mlci import redact as redact_mod
from mlci.errors import GitHubError, RemoteError, UsageError

if TYPE_CHECKING:
    import httpx

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100

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


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text.strip()[:200]
    return str(data.get("message", "")) if isinstance(data, dict) else ""


def _validation_details(response: httpx.Response) -> str:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return ""
    parts = []
    for error in errors:
        if isinstance(error, dict):
            parts.append(error.get("message") or " ".join(str(error.get(k, "")) for k in ("field", "code")).strip())
        else:
            parts.append(str(error))
    return "; ".join(p for p in parts if p)


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

    def _send(self, method: str, url: str, *, params: dict | None = None, json: Any = None) -> httpx.Response:
        import httpx

        json = _redacted(json)  # nothing we publish carries a credential, whoever wrote it
        try:
            return self._http.request(
                method, url, params=params, json=json, headers={"Authorization": f"Bearer {self._token}"}
            )
        except httpx.TransportError as exc:
            raise GitHubError(
                f"cannot reach GitHub at {self.api_url} ({type(exc).__name__}); check GITHUB_API_URL and the network",
                status=0,
            ) from None

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
        """
        waited = 0.0
        last: GitHubError | None = None
        for attempt in range(self.retry.attempts):
            if attempt and landed is not None:
                found = landed()
                if found is not None:
                    return found
            response: httpx.Response | None
            try:
                response = self._send(method, path, params=params, json=json)
            except GitHubError as exc:
                response, last = None, exc
            else:
                retryable = response.status_code >= 500 or _is_secondary_limit(response)
                if not retryable:
                    if response.status_code >= 400:
                        raise self._error(method, path, response)
                    return response
                last = self._error(method, path, response)
            wait = self._wait_for(response, attempt)
            if attempt + 1 >= self.retry.attempts or waited + wait > self.retry.max_wait:
                break
            if self.retry.on_wait is not None:
                self.retry.on_wait(
                    f"{last.message}; waiting {wait:.0f}s before retry {attempt + 1} of {self.retry.attempts - 1}"
                )
            self.retry.sleep(wait)
            waited += wait
        assert last is not None
        raise GitHubError(
            f"{last.message} (gave up after {attempt + 1} attempt(s), {waited:.0f}s of waiting)",
            status=last.status,
            github_message=last.github_message,
        )

    def _error(self, method: str, path: str, response: httpx.Response) -> GitHubError:
        status = response.status_code
        message = _message(response)
        where = f"{method} {path}"
        if status == 401:
            text = (
                f"GitHub rejected the token (401 {message or 'Bad credentials'}) on {where}; "
                "pass a valid token (GITHUB_TOKEN / the action's github-token input)"
            )
        elif status == 403 and not _is_secondary_limit(response):
            needed = response.headers.get("x-accepted-github-permissions", "")
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

    # --- conveniences -------------------------------------------------------------------

    def get(self, path: str, params: dict | None = None) -> Any:
        return self.request("GET", path, params=params).json()

    def patch(self, path: str, json: Any) -> Any:
        return self.request("PATCH", path, json=json).json()

    def create(self, path: str, json: Any, *, landed: Callable[[], Any] | None = None) -> Any:
        """POST that is never applied twice when `landed` can tell that an earlier try took effect."""
        answer = self.request("POST", path, json=json, landed=landed)
        return answer.json() if hasattr(answer, "json") else answer

    def paginate(self, path: str, params: dict | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following `Link: rel="next"` with per_page=100."""
        response = self.request("GET", path, params={**(params or {}), "per_page": PER_PAGE})
        while True:
            data = response.json()
            items = data if isinstance(data, list) else next((v for v in data.values() if isinstance(v, list)), [])
            yield from items
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return
            if not next_url.startswith(self.api_url):
                raise GitHubError(
                    f"GitHub's next-page link points outside {self.api_url}; refusing to follow it", status=0
                )
            response = self.request("GET", next_url[len(self.api_url) :])


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
