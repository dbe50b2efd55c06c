"""The one markdown writer: every user-controlled string reaches a report through here.

Metric, param, table and column names, values, branch names, notes and gate findings come
from PR code and data, so they are hostile. GitHub renders a comment with GFM and then links
`@user` mentions, `#123` references and bare URLs in the text it produced, so escaping has
to defeat the markdown parser *and* those filters:

* `text(s)`: prose. Newlines become spaces; `& < >` become entities; every other markdown
  punctuation is backslash-escaped (no emphasis, links, images, tables, headings, lists);
  `@`, `#<digit>`, `GH-<digit>`, `://` and `www.` get an invisible word joiner (U+2060) so GitHub links
  nothing. Code spans the *caller* wrote (balanced single backticks) stay code spans.
* `code(s)`: a name or value shown verbatim in a code span (no mention, reference or link is
  made inside code); the fence is longer than any backtick run inside.
* `cell(s)`: a table cell (one line, `|` escaped the way GFM tables read it).
* `html_text(s)`: text inside raw HTML the report writes (`<summary>`), escaped by markupsafe.

Callers pass raw strings; nothing else in the report escapes by hand.
"""

from __future__ import annotations

import re

JOINER = "\u2060"  # WORD JOINER: invisible, breaks GitHub's mention/reference/autolink patterns
_PUNCT = set("\\`*_[]!|~+-=.{}$^'\"")  # escaped with a backslash outside code spans
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_PIPE = re.compile(r"(?<!\\)((?:\\\\)*)\|")  # a pipe after an even number of backslashes
_LINKY = re.compile(
    r"(@)|(#)(?=[0-9])|(:)(?=//)|(?<![A-Za-z0-9])(www)(?=\.)|(?<![A-Za-z0-9])(GH-)(?=[0-9])", re.IGNORECASE
)


def one_line(value: object) -> str:
    """Any value as one line: line separators become spaces, other control characters U+FFFD."""
    line = re.sub(r"[\r\n\u2028\u2029\x0b\x0c\x85]+", " ", str(value))
    return re.sub(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]", "\ufffd", line)


def _defuse(text: str) -> str:
    """Break GitHub's post-render linkers (mentions, #refs, autolinks) with an invisible joiner."""
    return _LINKY.sub(lambda m: m.group(0) + JOINER, text)


def _escape_plain(text: str) -> str:
    out = []
    for ch in _defuse(text):
        if ch in _HTML:
            out.append(_HTML[ch])
        elif ch in _PUNCT:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def text(value: object, *, keep_code: bool = True) -> str:
    """Prose safe in any markdown context (paragraph, list item, table cell, heading).

    With `keep_code`, balanced single-backtick spans stay code spans (as mlci's own
    messages use them); their content is inert there. Stray backticks are escaped.
    """
    line = one_line(value)
    if not keep_code:
        return _prose(line)
    parts, last = [], 0
    for match in _CODE_SPAN.finditer(line):
        parts.append(_prose(line[last : match.start()]))
        parts.append(code(match.group(1)))
        last = match.end()
    parts.append(_prose(line[last:]))
    return "".join(parts)


def _prose(segment: str) -> str:
    """Escape, but leave `.`, quotes and `-` readable where they cannot start a block."""
    escaped = _escape_plain(segment)
    for plain in (".", "'", '"', "-", "=", "+", "{", "}", "^"):
        escaped = escaped.replace("\\" + plain, plain)
    escaped = re.sub(r"(?<=[A-Za-z0-9])\\_(?=[A-Za-z0-9])", "_", escaped)  # intraword _ is never emphasis
    # A leading block marker ("- ", "+ ", "1. ", "= ", "# ") would start a list or heading.
    match = re.match(r"^(\s*)([-+=#]|\d+[.)](?=\s|$))", escaped)
    if match:
        lead, marker = match.groups()
        escaped = lead + (marker[:-1] + "\\" + marker[-1]) + escaped[match.end() :]
    return escaped


def code(value: object) -> str:
    """`value` verbatim as an inline code span (one line)."""
    body = one_line(value)
    if not body:
        return "` `"
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if body.startswith("`") or body.endswith("`") or (body.startswith(" ") and body.endswith(" ")) else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def cell(markdown: str) -> str:
    """Already-escaped inline markdown as one table cell: GFM splits cells on any `|` not escaped."""
    return _PIPE.sub(lambda m: m.group(1) + "\\|", one_line(markdown))


def row(*cells: str) -> str:
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def table(head: list[str], align: str, rows: list[list[str]]) -> list[str]:
    """Lines of a GFM table; `align` is one char per column: l(eft) or r(ight)."""
    rule = "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"
    return [row(*head), rule, *(row(*r) for r in rows)]


def html_text(value: object) -> str:
    """Text inside raw HTML the report writes (`<summary>…</summary>`): markupsafe-escaped, defused."""
    from markupsafe import escape

    return _defuse(str(escape(one_line(value))))


def html_code(value: object) -> str:
    """A name inside raw HTML: `<code>` (no mention or link is made inside code)."""
    from markupsafe import escape

    return f"<code>{escape(one_line(value))}</code>"


def details(summary_html: str, body: list[str]) -> list[str]:
    """A folded block; `summary_html` must come from `html_text`/`html_code` (already escaped)."""
    return [f"<details><summary>{summary_html}</summary>", "", *body, "", "</details>"]
