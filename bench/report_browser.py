"""Look at a report in a real browser (headless Chromium): does report.html render, with no broken image?

    python bench/report_browser.py check REPORT_DIR [--png page.png]
    python bench/report_browser.py comment REPORT_DIR docs/img/pr-comment.png

`check` loads a copy of report.html with a probe script appended (the report itself carries
no script), lets Chromium lay it out, and reads back from the DOM: every <img> decoded
(naturalWidth > 0), the page not wider than the window, how tall it is. Exit 1 on a broken
image. `comment` renders the PR comment body (report.md as `mlci comment` would post it)
with cmark-gfm and a GitHub-like stylesheet, screenshots its first screen and saves it as
a small PNG (the README's screenshot). Needs `chromium` on PATH (apt-get install chromium).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = """
<script>
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,
                                                 width: i.naturalWidth}));
  const out = document.createElement("pre");
  out.id = "mlci-probe";
  out.textContent = JSON.stringify({images, scrollWidth: document.documentElement.scrollWidth,
                                    innerWidth: window.innerWidth, height: document.body.scrollHeight});
  document.body.appendChild(out);
});
</script>
"""

GITHUB_CSS = """
body { background: #fff; margin: 0; padding: 16px; font: 14px/1.5 -apple-system, "Segoe UI", "Noto Sans",
       "DejaVu Sans", Helvetica, Arial, sans-serif; color: #1f2328; }
.comment { max-width: 960px; border: 1px solid #d0d7de; border-radius: 6px; }
.header { background: #f6f8fa; border-bottom: 1px solid #d0d7de; padding: 8px 16px; color: #59636e;
          border-radius: 6px 6px 0 0; }
.header b { color: #1f2328; }
.markdown-body { padding: 16px; }
.markdown-body h2 { font-size: 1.5em; border-bottom: 1px solid #d1d9e0b3; padding-bottom: .3em; margin: 24px 0 16px; }
.markdown-body table { border-collapse: collapse; display: block; width: max-content; max-width: 100%; overflow: auto; }
.markdown-body th, .markdown-body td { border: 1px solid #d1d9e0; padding: 6px 13px; }
.markdown-body tr:nth-child(2n) { background: #f6f8fa; }
.markdown-body code { background: #818b981f; border-radius: 6px; padding: .2em .4em; font-size: 85%;
                      font-family: ui-monospace, SFMono-Regular, "DejaVu Sans Mono", monospace; }
.markdown-body sub { color: #59636e; }
.markdown-body summary { cursor: pointer; }
.markdown-body img { max-width: 100%; }
.markdown-body blockquote { color: #59636e; border-left: .25em solid #d1d9e0; margin: 0; padding: 0 1em; }
"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("no chromium on PATH: apt-get install chromium")


def _run(args: list[str]) -> str:
    command = [
        _chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--allow-file-access-from-files",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=180).stdout


def check(report_dir: Path, png: Path | None = None, width: int = 1280) -> dict:
    """Render report.html; returns the probe's findings (`broken`: alt texts of images not decoded)."""
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as scratch:
        probe = Path(scratch) / "probe.html"
        probe.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
        dom = _run([f"--window-size={width},1000", "--dump-dom", probe.as_uri()])
        if png is not None:
            _run([f"--window-size={width},1000", f"--screenshot={png}", (report_dir / "report.html").as_uri()])
    match = re.search(r'<pre id="mlci-probe">(.*?)</pre>', dom, re.DOTALL)
    if not match:
        return {"rendered": False, "broken": [], "images": 0}
    import html

    found = json.loads(html.unescape(match.group(1)))
    return {
        "rendered": True,
        "images": len(found["images"]),
        "broken": [i["alt"] for i in found["images"] if not i["ok"]],
        "overflows": found["scrollWidth"] > found["innerWidth"],
        "height": found["height"],
    }


def comment(report_dir: Path, out: Path, width: int = 1000, height: int = 960) -> Path:
    """A screenshot of the PR comment's first screen: GFM-rendered report.md, GitHub-like CSS."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    from mlci.integrations.github.comments import compose

    body, _trimmed = compose((report_dir / "report.md").read_text(encoding="utf-8"))
    rendered = cmarkgfm.github_flavored_markdown_to_html(body, options=Options.CMARK_OPT_UNSAFE)
    page = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><style>{GITHUB_CSS}</style></head><body>"
        "<div class='comment'><div class='header'><b>github-actions</b> bot commented</div>"
        f"<div class='markdown-body'>{rendered}</div></div></body></html>"
    )
    scratch = report_dir / "_comment.html"  # beside plots/, so relative image links resolve
    scratch.write_text(page, encoding="utf-8")
    try:
        raw = out.with_suffix(".raw.png")
        _run([f"--window-size={width},{height}", f"--screenshot={raw}", scratch.as_uri()])
    finally:
        scratch.unlink()
    from PIL import Image

    with Image.open(raw) as image:
        image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    raw.unlink()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check")
    p_check.add_argument("report_dir", type=Path)
    p_check.add_argument("--png", type=Path)
    p_comment = sub.add_parser("comment")
    p_comment.add_argument("report_dir", type=Path)
    p_comment.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "check":
        result = check(args.report_dir, args.png)
        print(json.dumps(result))
        return 0 if result["rendered"] and not result["broken"] else 1
    path = comment(args.report_dir, args.out)
    print(f"{path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
