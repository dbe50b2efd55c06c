"""report.html: the report's markdown as one self-contained page (images inline, base64).

The one HTML writer. markdown-it-py renders the markdown (CommonMark + tables); its output is
then re-emitted through an allow-list: only the elements and attributes a report creates
survive, every text node and attribute value is escaped by markupsafe, and image sources must
be files of the report's own `plots/` directory (inlined as `data:` URIs). So even a string
that slipped past the markdown writer cannot become a `<script>`, a link or an event handler.
Status marks get a coloured label, so the verdict does not depend on an emoji font.
"""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

from markupsafe import Markup, escape

_STYLE = """
:root { --fail: #cf222e; --warn: #9a6700; --pass: #1a7f37; --muted: #59636e; --line: #d0d7de; }
body { font: 15px/1.55 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif; max-width: 1180px;
       margin: 1.5em auto; padding: 0 1.2em; color: #1f2328; }
h2 { border-bottom: 1px solid var(--line); padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid var(--line); padding: 4px 10px; }
th { background: #f6f8fa; }
td:not(:first-child) { font-variant-numeric: tabular-nums; }
code, pre { background: #f6f8fa; border-radius: 4px; padding: 1px 4px; }
pre { padding: 10px; }
blockquote { color: var(--muted); border-left: 4px solid var(--line); margin: 0.5em 0; padding: 0 1em; }
details { margin: 0.5em 0; } summary { cursor: pointer; color: var(--muted); }
.mark { display: inline-block; min-width: 1.3em; padding: 0 .35em; border-radius: 4px; color: #fff;
        font-weight: 600; text-align: center; font-size: 0.85em; }
.mark.fail { background: var(--fail); } .mark.warn { background: var(--warn); } .mark.pass { background: var(--pass); }
.up { color: var(--pass); } .down { color: var(--fail); font-weight: 600; } .noise { color: var(--muted); }
.verdict { border-left: 6px solid var(--muted); background: #f6f8fa; padding: .6em 1em; font-size: 1.05em; }
.verdict.fail { border-color: var(--fail); } .verdict.warn { border-color: var(--warn); }
.verdict.pass { border-color: var(--pass); }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 1em 1.5em; }
.plots figure { margin: 0; } .plots figcaption { font-weight: 600; margin-bottom: .3em; }
img { max-width: 100%; height: auto; }
"""

# element -> attributes it may keep (what markdown-it emits for a report, plus the report's own HTML)
_ALLOWED = {
    "h1": (),
    "h2": (),
    "h3": (),
    "h4": (),
    "p": (),
    "br": (),
    "hr": (),
    "strong": (),
    "em": (),
    "del": (),
    "code": (),
    "pre": (),
    "blockquote": (),
    "ul": (),
    "ol": ("start",),
    "li": (),
    "sub": (),
    "sup": (),
    "table": (),
    "thead": (),
    "tbody": (),
    "tr": (),
    "th": ("style",),
    "td": ("style",),
    "details": (),
    "summary": (),
    "img": ("src", "alt"),
}
_VOID = {"br", "hr", "img"}
_MARKS = {"❌": ("fail", "✗"), "⚠️": ("warn", "!"), "⚠": ("warn", "!"), "✅": ("pass", "✓")}
_MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


_LABELS = [
    (emoji, f'<span class="mark {status}" title="{status}">{label}</span>') for emoji, (status, label) in _MARKS.items()
]
_LABELS += [
    (arrow, f'<span class="{status}">{arrow}</span>')
    for arrow, status in (("▲ improved", "up"), ("▼ regressed", "down"), ("≈ no significant change", "noise"))
]
_LABEL_CHARS = frozenset(key[0] for key, _ in _LABELS)


def _mark_text(text: str) -> str:
    """Escape `text`; the report's status emoji become coloured labels (one scan when there are none)."""
    out = str(escape(text))
    if _LABEL_CHARS.isdisjoint(out):
        return out
    for key, label in _LABELS:
        out = out.replace(key, label)
    return out


class _Sanitizer(HTMLParser):
    """Re-emit allowed elements; drop every other tag (its text stays, escaped)."""

    def __init__(self, base_dir: Path):
        super().__init__(convert_charrefs=True)
        self.base_dir = base_dir.resolve()
        self.out: list[str] = []
        self.open: list[str] = []
        self.skip = 0  # inside <script>/<style>: drop the content too

    def _image(self, src: str) -> str | None:
        rel = Path(src)
        if rel.is_absolute() or ".." in rel.parts or ":" in src or rel.suffix.lower() not in _MIME:
            return None
        path = (self.base_dir / rel).resolve()
        if not path.is_file() or self.base_dir not in path.parents:
            return None
        return f"data:{_MIME[rel.suffix.lower()]};base64," + base64.b64encode(path.read_bytes()).decode("ascii")

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
            return
        if tag not in _ALLOWED:
            return
        kept = []
        for name, value in attrs:
            if name not in _ALLOWED[tag] or value is None:
                continue
            if tag == "img" and name == "src":
                value = self._image(value)
                if value is None:
                    return  # an image that is not one of the report's plots is left out
            if name == "style" and value not in ("text-align:right", "text-align:left", "text-align:center"):
                continue
            kept.append(f' {escape(name)}="{escape(value)}"')
        self.out.append(f"<{tag}{''.join(kept)}>")  # `tag` is a key of _ALLOWED: no escaping needed
        if tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag in self.open and tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
            return
        if tag not in self.open:
            return  # a close tag the report did not open (e.g. a stray </details>) is dropped
        while self.open:
            top = self.open.pop()
            self.out.append(f"</{top}>")
            if top == tag:
                break

    def handle_data(self, data):
        if not self.skip:
            self.out.append(_mark_text(data))

    def close(self):
        super().close()
        while self.open:
            self.out.append(f"</{self.open.pop()}>")


def sanitize(body: str, base_dir: Path) -> str:
    parser = _Sanitizer(base_dir)
    parser.feed(body)
    parser.close()
    return "".join(parser.out)


def _figures(body: str) -> str:
    """The Plots section's figures (caption paragraph + image paragraph) into a two-column grid."""
    import re

    figure = re.compile(r"<p><strong>([^<]*(?:<code>[^<]*</code>[^<]*)*)</strong></p>\s*<p>(<img [^>]*>)</p>\s*")
    blocks = re.compile(r"(?:" + figure.pattern + r")+")

    def grid(match):
        items = "".join(
            f"<figure><figcaption>{m.group(1)}</figcaption>{m.group(2)}</figure>"
            for m in figure.finditer(match.group(0))
        )
        return f'<div class="plots">{items}</div>\n'

    return blocks.sub(grid, body)


def _inline_once(state) -> None:
    """markdown-it's `inline` core rule, parsing each distinct inline text once per document.

    A 5,000-metric table repeats the same cells ("—", "▲ improved", "0.5000") thousands of
    times; the parse of an inline text depends only on the text and the document's env, so
    equal texts share one token list. The renderer only reads it; `text_join`, which mutates
    tokens, is done here once per distinct text (and disabled as a later rule).
    """
    parsed: dict[str, list] = {}
    for token in state.tokens:
        if token.type == "inline":
            children = parsed.get(token.content)
            if children is None:
                fresh: list = []
                state.md.inline.parse(token.content, state.md, state.env, fresh)
                children = parsed[token.content] = _joined(fresh)
            token.children = children


def _joined(tokens: list) -> list:
    """markdown-it's `text_join` on fresh tokens: escapes become text, adjacent texts merge."""
    out: list = []
    for token in tokens:
        if token.type == "text_special":
            token.type = "text"
        if token.children:
            token.children = _joined(token.children)
        if token.type == "text" and out and out[-1].type == "text":
            out[-1].content += token.content
        else:
            out.append(token)
    return out


def render(markdown: str, base_dir: Path, *, title: str = "mlci report", status: str | None = None) -> str:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
    md.core.ruler.at("inline", _inline_once)
    md.disable("text_join")
    raw = md.render(markdown)
    body = _figures(sanitize(raw, base_dir))
    if status in ("pass", "warn", "fail"):  # the first paragraph is the verdict line: give it its colour
        body = body.replace("<p>", f'<p class="verdict {status}">', 1)
    return str(
        Markup(
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            "<title>{}</title>\n<style>{}</style>\n</head>\n<body>\n{}</body>\n</html>\n"
        ).format(title, Markup(_STYLE), Markup(body))
    )
