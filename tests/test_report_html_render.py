"""report.html's renderer parses each distinct table cell once and still emits what markdown-it emits."""

from __future__ import annotations

from markdown_it import MarkdownIt

from mlci.report import html

# repeated cells with escapes, entities, code, emphasis, strikethrough and an image alt with an escape
CELLS = [r"a\*b &amp; ![al\*t](plots/x.png)", "`c` **d** ~~e~~", r"x\_y", "▲ improved ¹", "—"]
MARKDOWN = (
    "⚠️ **verdict**\n\n| metric | value |\n|---|---:|\n"
    + "".join(f"| {cell} | {CELLS[(i + 1) % len(CELLS)]} |\n" for i, cell in enumerate(CELLS * 40))
    + "\n"
    + CELLS[0]
    + "\n"
)


def test_each_distinct_inline_text_parsed_once_gives_markdown_its_html(tmp_path):
    plain = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough").render(MARKDOWN)
    page = html.render(MARKDOWN, tmp_path, status="warn")
    assert html._figures(html.sanitize(plain, tmp_path)).replace("<p>", '<p class="verdict warn">', 1) in page
    assert page.count("a*b &amp;amp;") == 0 and page.count("a*b &amp; ") == 81  # 40 rows × 2 columns + the paragraph
