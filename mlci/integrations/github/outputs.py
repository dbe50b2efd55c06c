"""The files the Actions runner reads after a step: step outputs ($GITHUB_OUTPUT) and the job summary.

One writer for both, so every value is redacted and multi-line values can never inject
another output (a random heredoc delimiter, GitHub's documented form).
"""

from __future__ import annotations

import uuid
from pathlib import Path


def _append(path: Path | None, text: str) -> None:
    """Append to a runner file (outputs, job summary): everything published is redacted."""
    from mlci.redact import redact

    if path is None:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(redact(text))


def write_outputs(path: Path | None, outputs: dict[str, str]) -> None:
    """Append step outputs to $GITHUB_OUTPUT; multi-line values use a random heredoc delimiter."""
    lines = []
    for key, value in outputs.items():
        value = "" if value is None else str(value)
        if "\n" in value or "\r" in value:
            delimiter = f"mlci_{uuid.uuid4().hex}"
            lines.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            lines.append(f"{key}={value}\n")
    _append(path, "".join(lines))


def write_summary(path: Path | None, markdown: str) -> None:
    from mlci.integrations.github.limits import fit_summary

    _append(path, fit_summary(markdown.rstrip("\n") + "\n"))
