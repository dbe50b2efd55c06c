"""Write a comparison's report files (report.md, report.json) into one directory."""

from __future__ import annotations

import json
from pathlib import Path

from mlci import atomicio
from mlci.compare import Comparison
from mlci.report import diff_markdown


def write(comparison: Comparison, out_dir: Path, *, root: Path) -> Path:
    """Returns the path of report.md."""
    out_dir.mkdir(parents=True, exist_ok=True)
    atomicio.write_text(out_dir / "report.json", json.dumps(comparison.to_dict(), indent=2, sort_keys=True) + "\n")
    markdown = out_dir / "report.md"
    atomicio.write_text(markdown, "## mlci report\n\n" + diff_markdown.render(comparison))
    return markdown
