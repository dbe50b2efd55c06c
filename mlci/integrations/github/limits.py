"""Fit a report into the size a destination accepts, dropping the least important parts first.

GitHub refuses a comment body over 65,536 characters (422) and truncates a job summary over
1 MiB. Rather than let either fail, the report is shortened in a fixed, documented order and a
note saying so (with a link to the full report, when there is one) is appended:

1. folded ``<details>`` blocks (unchanged metrics, long lists), last one first;
2. plots: markdown images (``![..](..)``) and ``<img>`` tags;
3. whole lines from the end (the summary line and the metric table come first in a report,
   so they survive longest); an open code fence is closed;
4. as a last resort, characters from the end.

Hidden markers (lines that are only an HTML comment, e.g. the sticky comment's marker) are
kept in steps 1-3 wherever they are, so a trimmed comment is still found and updated.
The comment limit counts characters (as GitHub does for comment bodies); the summary limit
counts UTF-8 bytes (as the runner does for `$GITHUB_STEP_SUMMARY`).
"""

from __future__ import annotations

import re
from collections.abc import Callable

COMMENT_LIMIT = 65536
SUMMARY_LIMIT = 1024 * 1024

_DETAILS = re.compile(r"<details\b.*?</details>\s*\n?", re.DOTALL | re.IGNORECASE)
_IMAGE_LINE = re.compile(r"^.*(!\[[^\]]*\]\([^)]*\)|<img\b[^>]*>).*$\n?", re.MULTILINE | re.IGNORECASE)
_MARKER = re.compile(r"^\s*<!--.*-->\s*$")

FOLDED_NOTE = "_(folded section left out to fit the size limit)_\n"
PLOT_NOTE = "_(plot left out to fit the size limit)_"


def _note(full_report_url: str | None, what: str) -> str:
    where = f"[full report]({full_report_url})" if full_report_url else "the full report (`mlci report`, CI artifact)"
    return f"\n\n---\n> ✂️ This {what} was shortened to fit its size limit; see {where}.\n"


def _chars(text: str) -> int:
    return len(text)


def _utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def _drop_details(text: str, fits: Callable[[str], bool]) -> str:
    blocks = list(_DETAILS.finditer(text))
    for block in reversed(blocks):
        if fits(text):
            break
        markers = "".join(line + "\n" for line in block.group(0).splitlines() if _MARKER.match(line))
        text = text[: block.start()] + markers + FOLDED_NOTE + text[block.end() :]
    return text


def _drop_images(text: str, fits: Callable[[str], bool]) -> str:
    matches = list(_IMAGE_LINE.finditer(text))
    for match in reversed(matches):
        if fits(text):
            break
        ending = "\n" if match.group(0).endswith("\n") else ""
        text = text[: match.start()] + PLOT_NOTE + ending + text[match.end() :]
    return text


def _drop_lines(text: str, fits: Callable[[str], bool]) -> str:
    lines = text.splitlines(keepends=True)
    content = [i for i, line in enumerate(lines) if not _MARKER.match(line)]

    def assemble(count: int) -> str:
        """The first `count` content lines (markers between them in place), then later markers."""
        end = content[count - 1] + 1 if count else 0
        joined = "".join(lines[:end])
        if joined.count("```") % 2:
            joined += "\n```\n"
        tail = [line for line in lines[end:] if _MARKER.match(line)]
        if tail and joined and not joined.endswith("\n"):
            joined += "\n"
        return joined + "".join(tail)

    lo, hi = 0, len(content)  # binary search for the most leading lines that fit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(assemble(mid)):
            lo = mid
        else:
            hi = mid - 1
    return assemble(lo)


def _fit(markdown: str, limit: int, measure: Callable[[str], int], url: str | None, what: str) -> str:
    if measure(markdown) <= limit:
        return markdown
    note = _note(url, what)
    budget = limit - measure(note)

    def fits(text: str) -> bool:
        return measure(text) <= budget

    text = markdown
    for step in (_drop_details, _drop_images, _drop_lines):
        text = step(text, fits)
        if fits(text):
            return text.rstrip("\n") + note
    # A single line longer than the limit, or a note longer than the limit: cut characters.
    while text and not fits(text):
        text = text[: max(0, len(text) - max(1, measure(text) - budget))]
    result = text + note
    while measure(result) > limit:
        result = result[:-1]
    return result


def fit_comment(markdown: str, *, limit: int = COMMENT_LIMIT, full_report_url: str | None = None) -> str:
    """`markdown` unchanged if it has at most `limit` characters, else trimmed (see module doc)."""
    return _fit(markdown, limit, _chars, full_report_url, "comment")


def fit_summary(markdown: str, *, limit: int = SUMMARY_LIMIT) -> str:
    """`markdown` unchanged if it has at most `limit` UTF-8 bytes, else trimmed (see module doc)."""
    return _fit(markdown, limit, _utf8_bytes, None, "summary")
