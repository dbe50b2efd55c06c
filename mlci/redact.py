"""One redactor for every error, log line and published body: credentials never leave mlci.

GitHub (or a proxy, or GitHub Enterprise Server) may echo request headers in an error body,
git may print a remote URL with its userinfo, and a report may quote a stage's output. Rather
than trusting each call site, every text that leaves the process goes through `redact()`:

- the exact secrets mlci knows (the token it was given, registered with `register()`, plus
  every `*TOKEN*` variable of its environment at import time), and the forms they travel in:
  base64 of `x-access-token:<token>` (git's extraheader) and of `<token>` alone;
- whatever the source: `Authorization: Bearer|token|Basic …` values, URL userinfo
  (`https://user:secret@host`), and GitHub token shapes (`ghp_…`, `ghs_…`, `github_pat_…`).
"""

from __future__ import annotations

import base64
import io
import os
import re
import threading

MASK = "***"
_MIN_SECRET = 6  # shorter values (e.g. "1", "true") would mangle every text

_secrets: set[str] = set()
_lock = threading.Lock()

_AUTH_HEADER = re.compile(r"(?i)\b(authorization\s*[:=]\s*[\"']?)(bearer|token|basic)(\s+)[^\s\"',;}\]]+")
_BARE_SCHEME = re.compile(r"\b(Bearer|Basic|bearer|basic)(\s+)(?=[A-Za-z_\-.+/=]*[0-9])[A-Za-z0-9_\-.+/]{16,}=*")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s:@]*:[^/\s@]+@")
_GITHUB_TOKEN = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})")
_BARE_WORDS = ("Bearer", "Basic", "bearer", "basic")  # _BARE_SCHEME's alternatives, case as written
_GITHUB_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_")


def is_secret_name(name: str) -> bool:
    """Environment variables mlci treats as credentials: any name containing TOKEN."""
    return "TOKEN" in name.upper()


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    forms = {secret}
    for data in (b"x-access-token:" + raw, raw, b":" + raw):
        encoded = base64.b64encode(data).decode()
        forms.update({encoded, encoded.rstrip("=")})
    return {f for f in forms if len(f) >= _MIN_SECRET}


def register(secret: str | None) -> None:
    """Redact `secret` (and its encoded forms) from now on."""
    if secret and len(secret.strip()) >= _MIN_SECRET:
        with _lock:
            _secrets.update(_forms(secret.strip()))


def register_environment(environ: dict[str, str] | None = None) -> None:
    """Register the value of every `*TOKEN*` variable in `environ` (default: os.environ)."""
    for name, value in (os.environ if environ is None else environ).items():
        if is_secret_name(name):
            register(value)


def redact(text: str) -> str:
    """`text` with every known secret and every credential-shaped substring replaced by ***."""
    if not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)  # longest first: a form may contain another
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _AUTH_HEADER.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}{MASK}", text)
    # Each pattern below needs a literal it cannot match without: a 2 MB `--json` is searched
    # for the literal (a few ms) instead of being scanned by the pattern (~45 ms each).
    if any(word in text for word in _BARE_WORDS):
        text = _BARE_SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    if "://" in text and "@" in text:
        text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    if any(prefix in text for prefix in _GITHUB_PREFIXES):
        text = _GITHUB_TOKEN.sub(MASK, text)
    return text


class RedactingStream(io.TextIOBase):
    """A text stream that redacts every write: the CLI wraps stdout and stderr in it, so no
    line mlci prints (errors, warnings, notes, tables) can carry a credential, whoever wrote it."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        if isinstance(text, str):
            self._stream.write(redact(text))
        else:  # click probes with b"" to tell text from binary streams: answer as a text stream
            self._stream.write(text)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self):
        return getattr(self._stream, "encoding", "utf-8")

    @property
    def errors(self):
        return getattr(self._stream, "errors", "strict")


register_environment()
