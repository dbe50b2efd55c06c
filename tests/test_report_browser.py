"""report.html in a real browser (headless Chromium, via bench/report_browser.py): it renders, every image decodes.

Skipped where no Chromium is installed (`apt-get install chromium`).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from mlci.report import builder
from tests.test_report import multi_repo  # noqa: F401 - the fixture: a binary and a regression model

pytestmark = pytest.mark.skipif(not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
                                reason="no Chromium on PATH")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))


def test_report_html_renders_with_every_plot_decoded(multi_repo: Path, tmp_path: Path):  # noqa: F811
    import report_browser

    result = builder.build(multi_repo, base_ref="main", out_dir=tmp_path / "out", resamples=50)
    seen = report_browser.check(result.out_dir, png=tmp_path / "page.png")
    assert seen["rendered"] and seen["images"] == len(result.images) >= 6
    assert seen["broken"] == [] and seen["overflows"] is False
    assert (tmp_path / "page.png").read_bytes().startswith(b"\x89PNG")


def test_report_html_has_the_markdowns_content(multi_repo: Path, tmp_path: Path):  # noqa: F811
    result = builder.build(multi_repo, base_ref="main", out_dir=tmp_path / "out", resamples=50, plots=False)
    text, page = result.markdown.read_text(), result.html.read_text()
    headings = re.findall(r"^##+ (.*)$", text, re.MULTILINE)
    assert len(re.findall(r"<h[23]>", page)) == len(headings)
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    assert page.count("<tr>") == len(rows)
    assert page.count("<details>") == text.count("<details>")
    assert '<p class="verdict fail">' in page and 'class="mark fail"' in page  # colour, not only an emoji
