"""report.html: the same markdown, rendered to one self-contained file (images inline, base64).

markdown-it-py (already installed with rich) renders CommonMark plus GitHub tables; raw HTML
(`<details>`, `<sub>`) passes through as GitHub shows it. Image links relative to the report
directory become `data:` URIs, so the file can be mailed or opened anywhere.
"""

from __future__ import annotations

import base64
import html as html_lib
import re
from pathlib import Path

_STYLE = """
body { font: 14px/1.5 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #1f2328; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 10px; }
th { background: #f6f8fa; }
code, pre { background: #f6f8fa; border-radius: 4px; padding: 1px 4px; }
pre { padding: 10px; }
blockquote { color: #59636e; border-left: 4px solid #d0d7de; margin: 0.5em 0; padding: 0 1em; }
img { max-width: 100%; }
details { margin: 0.5em 0; }
"""

_IMG_SRC = re.compile(r'(<img\s[^>]*src=")([^"]+)(")')


def _inline_images(body: str, base_dir: Path) -> str:
    def replace(match: re.Match) -> str:
        src = html_lib.unescape(match.group(2))
        if src.startswith(("data:", "http:", "https:")) or ".." in Path(src).parts:
            return match.group(0)
        path = base_dir / src
        if not path.is_file():
            return match.group(0)
        mime = "image/png" if path.suffix.lower() == ".png" else "image/svg+xml" if path.suffix == ".svg" else "image/jpeg"
        encoded = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{match.group(1)}data:{mime};base64,{encoded}{match.group(3)}"

    return _IMG_SRC.sub(replace, body)


def render(markdown: str, base_dir: Path, *, title: str = "mlci report") -> str:
    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough").render(markdown)
    body = _inline_images(body, base_dir)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{html_lib.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
