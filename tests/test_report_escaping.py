"""Escape by construction: hostile names and values from a real run cannot inject into a report.

A PR adds a DVC stage whose metrics and params carry crafted names and values (mentions,
`</details>`, links, `<script>`, newlines, `${{ … }}`), runs the pipeline for real, and the
report is built against main through a crafted base branch name. The comment body and
report.md are rendered with a real GFM renderer (cmark-gfm, raw HTML allowed as GitHub
allows it) and report.html is parsed with a real HTML parser: nothing crafted is live.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from mlci.integrations.github.comments import compose
from mlci.report import markdown as md
from mlci.workflows import report as reporting
from mlci.workflows import run
from tests.helpers import commit_all, git, invoke

EVIL = [
    "@octocat",
    "GH-7 a@b.example",
    "</details><h1>owned</h1>",
    "[x](http://e.invalid)",
    "<script>alert(1)</script>",
    "line\nbreak | cell",
    "${{ github.token }}",
    "![i](http://e.invalid/i.png)",
    "#123",
    "`tick` ``x",
    "[link=http://e.invalid]rich[/link] \x1b]8;;http://e.invalid\x07osc\x1b[31m",
]
EVIL_BRANCH = "evil/@octocat/<script>x</script>"

STAGE = """\
import json, yaml
params = yaml.safe_load(open("params.yaml"))["evil"]
json.dump({name: 0.5 + i / 100 for i, name in enumerate(params["names"])}, open("evil.json", "w"))
"""

# Elements a report may create, in GFM output and in report.html.
MARKDOWN_ELEMENTS = {
    "p",
    "strong",
    "em",
    "code",
    "pre",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "ul",
    "li",
    "details",
    "summary",
    "sub",
    "blockquote",
    "h2",
    "h3",
    "img",
    "br",
    "hr",
}
PAGE_ELEMENTS = MARKDOWN_ELEMENTS | {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "span",
    "div",
    "figure",
    "figcaption",
}


class Elements(HTMLParser):
    """Every element, whether close tags balance, and the text that is not inside code."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[str] = []
        self.unbalanced: list[str] = []
        self.live_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("br", "hr", "img", "meta"):
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.unbalanced.append(tag)
        else:
            self.stack.pop()

    def handle_data(self, data):
        if not {"code", "pre", "style", "title"} & set(self.stack):
            self.live_text.append(data)


def _parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    parser.close()
    return parser


@pytest.fixture(scope="module")
def hostile_report(_trained_example: Path, tmp_path_factory: pytest.TempPathFactory) -> reporting.ReportResult:
    import shutil

    root = tmp_path_factory.mktemp("hostile") / "repo"
    shutil.copytree(_trained_example, root, symlinks=True)
    git(root, "branch", EVIL_BRANCH, "main")
    git(root, "checkout", "-q", "-b", "pr/evil")
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["evil"] = {"names": EVIL, **{name: value for name, value in zip(EVIL, reversed(EVIL), strict=False)}}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "src" / "evil.py").write_text(STAGE)
    spec = yaml.safe_load((root / "dvc.yaml").read_text())
    spec["stages"]["evil"] = {
        "cmd": "python src/evil.py",
        "deps": ["src/evil.py"],
        "params": ["evil"],
        "metrics": [{"evil.json": {"cache": False}}],
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    config = yaml.safe_load((root / "mlci.yaml").read_text())
    config["metrics"] = ["metrics.json", "evil.json"]
    config["goals"]["@octocat"] = {"direction": "higher", "min": 0.9}  # a failing goal: its name is in the verdict
    (root / "mlci.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    commit_all(root, "Add a stage with hostile names")
    run.run(root)
    commit_all(root, "Run")
    return reporting.build(root, base_ref=EVIL_BRANCH, out_dir=root.parent / "report", resamples=50)


def test_the_hostile_names_really_reach_the_report(hostile_report: reporting.ReportResult):
    data = json.loads(hostile_report.json.read_text())
    names = {m["name"] for m in data["comparison"]["metrics"]}
    assert set(EVIL) <= names  # the attack is real: every crafted metric name is compared…
    assert {p["name"] for p in data["comparison"]["params"]} >= {f"evil.{n}" for n in EVIL if "." not in n}
    assert any("@octocat" in f["message"] for f in data["gate"]["findings"])  # …and one is in the verdict


@pytest.mark.parametrize("which", ["report.md", "comment body"])
def test_gfm_rendering_has_no_live_mention_link_html_or_broken_details(
    hostile_report: reporting.ReportResult, which: str
):
    import cmarkgfm
    from cmarkgfm.cmark import Options

    text = hostile_report.markdown.read_text()
    if which == "comment body":
        text, _trimmed = compose(text)
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    page = _parse(html)
    assert {tag for tag, _ in page.tags} <= MARKDOWN_ELEMENTS, {tag for tag, _ in page.tags} - MARKDOWN_ELEMENTS
    assert not page.unbalanced and not page.stack
    assert all(attrs.get("src", "").startswith("plots/") for tag, attrs in page.tags if tag == "img")
    live = "".join(page.live_text)
    assert not re.search(r"@[A-Za-z0-9]", live)  # no mention outside code (GitHub links none in code)
    assert not re.search(r"#[0-9]|GH-[0-9]", live)  # no issue reference
    assert "://" not in live and "www." not in live  # no autolink


def test_every_table_row_keeps_its_columns(hostile_report: reporting.ReportResult):
    """GFM drops surplus cells silently, so check content: a split cell shifts the verdict/file column."""
    import cmarkgfm

    from mlci.report.format import VERDICT_MARKS

    html = cmarkgfm.github_flavored_markdown_to_html(hostile_report.markdown.read_text())
    checked = 0
    for table in re.findall(r"<table>.*?</table>", html, re.DOTALL):
        header = re.findall(r"<th[^>]*>(.*?)</th>", table.split("</thead>")[0])
        for row in re.findall(r"<tbody>.*?</tbody>", table, re.DOTALL)[0].split("</tr>")[:-1]:
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.DOTALL)
            assert len(cells) == len(header), row
            if header[-1] == "verdict":
                assert re.sub(r"<[^>]+>| \(.*| ᴺ", "", cells[-1]) in VERDICT_MARKS.values(), row
                checked += 1
            if header[:2] == ["param", "file"]:
                assert cells[1] == "params.yaml", row
                checked += 1
    assert checked >= 2 * len(EVIL)


def test_report_html_has_no_script_and_no_element_the_report_did_not_create(hostile_report: reporting.ReportResult):
    page = _parse(hostile_report.html.read_text())
    assert {tag for tag, _ in page.tags} <= PAGE_ELEMENTS, {tag for tag, _ in page.tags} - PAGE_ELEMENTS
    assert not page.unbalanced
    assert not [name for _tag, attrs in page.tags for name in attrs if name.startswith("on") or name == "href"]
    assert all(attrs["src"].startswith("data:image/png;base64,") for tag, attrs in page.tags if tag == "img")


def test_the_markdown_writer_escapes_each_attack_on_its_own():
    import cmarkgfm

    for value in EVIL:
        line = f"- {md.text(value)} {md.code(value)}\n\n" + "\n".join(
            md.table(["a", "b"], "ll", [[md.text(value), md.code(value)]])
        )
        html = cmarkgfm.github_flavored_markdown_to_html(line)
        page = _parse(html)
        assert {tag for tag, _ in page.tags} <= {"ul", "li", "code", "table", "thead", "tbody", "tr", "th", "td"}, value
        assert len(re.findall(r"<td\b", html)) == 2, value


@pytest.mark.parametrize("command", [("diff",), ("report", "-o", "terminal-report"), ("gate",)])
def test_terminal_output_carries_no_escape_sequence_or_rich_markup(
    hostile_report: reporting.ReportResult, command: tuple[str, ...]
):
    root = hostile_report.context.root
    result = invoke(root, *command, "--base", EVIL_BRANCH)
    assert result.exit_code in (0, 1), result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "@octocat" in result.stdout  # shown, as text
    if command[0] != "gate":  # (the gate names only the failing @octocat goal)
        assert "[link=http://e.invalid]rich[/link]" in result.stdout  # printed literally, not as a hyperlink


def test_the_data_section_renders_hostile_table_column_and_category_names_inert(tmp_path: Path):
    """Column names and category values come from the PR's data files: a drifted table whose
    every name and value is an attack renders through GFM with nothing live."""
    import cmarkgfm
    import numpy as np
    import pyarrow as pa
    from cmarkgfm.cmark import Options

    from mlci.analysis import drift, profile
    from mlci.report import data_section as section

    rng = np.random.default_rng(7)
    names = [n for n in EVIL if "\n" not in n] + ["line\nbreak"]

    def table(shift: float, categories: list[str]) -> dict:
        columns = {name: rng.normal(shift, 1.0, 500) for name in names}
        columns["<script>cat</script>"] = rng.choice(categories, 500)
        return profile.profile_table(pa.table(columns), path=EVIL_BRANCH, fmt="parquet")

    base = {EVIL_BRANCH: table(0.0, ["a", "b"])}
    head = {EVIL_BRANCH: table(1.5, EVIL)}
    comparison = drift.compare_profiles(base, head)
    assert comparison.findings  # the attack is real: the crafted columns drifted and are reported
    text = section.render_markdown(comparison)
    assert "@octocat" in text  # shown (as inert text)
    page = _parse(cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE))
    assert {tag for tag, _ in page.tags} <= MARKDOWN_ELEMENTS, {tag for tag, _ in page.tags} - MARKDOWN_ELEMENTS
    assert not page.unbalanced and not page.stack
    live = "".join(page.live_text)
    assert not re.search(r"@[A-Za-z0-9]", live)
    assert not re.search(r"#[0-9]|GH-[0-9]", live)
    assert "://" not in live and "www." not in live
