"""Look at the `mlci history --html` dashboard in headless Chromium: images, console errors, requests.

    python bench/history_browser.py check SITE_DIR [--png page.png]
    python bench/history_browser.py shot SITE_DIR docs/img/history-dashboard.png
    python bench/history_browser.py section REPORT_DIR docs/img/report-history.png

Loads a copy of SITE_DIR/index.html with a probe script put first in <head> (the page itself
carries no script): it records every error event (a script error, an image or stylesheet that
failed to load) and every console.error, then, once the page has loaded, writes back into the
DOM the images (decoded or not), the resources the page fetched (performance entries: any
URL that is not a `data:` or `file:` one would be an external request) and the errors. Exit 1
on a broken image, an error or an external request. `shot` and `section` save the docs'
screenshots (the dashboard's first screen; a report's "History of main" and "Feature
attributions" sections as report.html draws them), as small 64-colour PNGs. Needs `chromium`
(apt-get install chromium); shares its command line with bench/report_browser.py.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from report_browser import _run  # noqa: E402 - the same Chromium flags as the report check

PROBE = """<script>
window.__mlciErrors = [];
window.addEventListener("error", (e) => {
  const t = e.target;
  window.__mlciErrors.push(e.message || (t && (t.src || t.href)) || "error");
}, true);
const __mlciConsoleError = console.error;
console.error = (...args) => { window.__mlciErrors.push(args.join(" ")); __mlciConsoleError(...args); };
window.addEventListener("load", () => {
  const images = [...document.images].map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0}));
  const resources = performance.getEntriesByType("resource").map(r => r.name);
  const out = document.createElement("pre");
  out.id = "mlci-probe";
  out.textContent = JSON.stringify({images, resources, errors: window.__mlciErrors,
                                    scrollWidth: document.documentElement.scrollWidth,
                                    innerWidth: window.innerWidth});
  document.body.appendChild(out);
});
</script>"""


def check(site: Path, png: Path | None = None, width: int = 1280, height: int = 1000) -> dict:
    """Render site/index.html; returns what the probe saw (`external`: requests leaving the page)."""
    page = (site / "index.html").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(dir=site) as scratch:  # inside the site: relative paths resolve the same
        probe = Path(scratch) / "probe.html"
        probe.write_text(page.replace("<head>", "<head>\n" + PROBE, 1), encoding="utf-8")
        dom = _run([f"--window-size={width},{height}", "--dump-dom", probe.as_uri()])
    if png is not None:
        _run([f"--window-size={width},{height}", f"--screenshot={png}", (site / "index.html").as_uri()])
    match = re.search(r'<pre id="mlci-probe">(.*?)</pre>', dom, re.DOTALL)
    if not match:
        return {"rendered": False, "images": 0, "broken": [], "errors": [], "external": []}
    found = json.loads(html.unescape(match.group(1)))
    return {
        "rendered": True,
        "images": len(found["images"]),
        "broken": [i["alt"] for i in found["images"] if not i["ok"]],
        "errors": found["errors"],
        "external": [r for r in found["resources"] if not r.startswith(("data:", "file:"))],
        "overflows": found["scrollWidth"] > found["innerWidth"],
    }


def _small_png(raw: Path, out: Path) -> Path:
    from PIL import Image

    with Image.open(raw) as image:
        image.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    raw.unlink()
    return out


def shot(site: Path, out: Path, width: int = 1100, height: int = 1250) -> Path:
    raw = out.with_suffix(".raw.png")
    _run([f"--window-size={width},{height}", f"--screenshot={raw}", (site / "index.html").as_uri()])
    return _small_png(raw, out)


def section(report_dir: Path, out: Path, width: int = 1100, height: int = 1400) -> Path:
    """The report's history and attribution sections, rendered by report.html's own renderer."""
    from mlci.report import html as report_html

    text = (report_dir / "report.md").read_text(encoding="utf-8")
    start = text.index("## History of ")
    end = text.index("\n## ", text.index("## Feature attributions"))
    page = report_html.render(text[start:end], report_dir, title="mlci report: history and attributions")
    scratch = report_dir / "_sections.html"
    scratch.write_text(page, encoding="utf-8")
    raw = out.with_suffix(".raw.png")
    try:
        _run([f"--window-size={width},{height}", f"--screenshot={raw}", scratch.as_uri()])
    finally:
        scratch.unlink()
    return _small_png(raw, out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check")
    p_check.add_argument("site", type=Path)
    p_check.add_argument("--png", type=Path)
    for name in ("shot", "section"):
        p = sub.add_parser(name)
        p.add_argument("source", type=Path)
        p.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command in ("shot", "section"):
        path = (shot if args.command == "shot" else section)(args.source, args.out)
        print(f"{path} ({path.stat().st_size:,} bytes)")
        return 0
    result = check(args.site, args.png)
    print(json.dumps(result))
    ok = result["rendered"] and not result["broken"] and not result["errors"] and not result["external"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
