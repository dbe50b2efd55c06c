"""Look at the `mlci history --html` dashboard in headless Chromium: images, console errors, requests.

    python bench/history_browser.py check SITE_DIR [--png page.png]

Loads a copy of SITE_DIR/index.html with a probe script put first in <head> (the page itself
carries no script): it records every error event (a script error, an image or stylesheet that
failed to load) and every console.error, then, once the page has loaded, writes back into the
DOM the images (decoded or not), the resources the page fetched (performance entries: any
URL that is not a `data:` or `file:` one would be an external request) and the errors. Exit 1
on a broken image, an error or an external request. Needs `chromium` (apt-get install chromium);
shares its command line with bench/report_browser.py.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check")
    p_check.add_argument("site", type=Path)
    p_check.add_argument("--png", type=Path)
    args = parser.parse_args()
    result = check(args.site, args.png)
    print(json.dumps(result))
    ok = result["rendered"] and not result["broken"] and not result["errors"] and not result["external"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
