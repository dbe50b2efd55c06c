"""Where the bundled templates live, installed or in a source checkout."""

from __future__ import annotations

from pathlib import Path


def templates_dir() -> Path:
    """`templates/` ships inside the wheel as `mlci/templates`; an editable install reads the repo's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / "example").is_dir():
            return candidate
    raise FileNotFoundError("mlci's bundled templates are missing; reinstall mlci")
