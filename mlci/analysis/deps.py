"""Which DVC dependencies (code, data, params files) changed between base and head."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci.analysis.compare import Comparison
from mlci.store import dvcfile, gitrepo


@dataclass
class DepChange:
    path: str
    base: str | None
    head: str | None
    change: str  # "changed" | "added" | "removed"


def dep_changes(repo: Any, root: Path, comparison: Comparison) -> list[DepChange]:
    """DVC deps whose hash differs between base and head (records first, else dvc.lock)."""
    if comparison.base_commit is None:
        return []
    if comparison.base_record is not None and comparison.base_record.deps:
        base = comparison.base_record.deps
    else:
        commit = comparison.base_commit
        texts = dvcfile.locks(root, show=lambda p: gitrepo.show(repo, commit, p))
        source = f"dvc.lock at base {commit[:12]}"
        base = dvcfile.lock_hashes(root, texts, source=source)[0] if texts else {}
    if comparison.head_record is not None and comparison.head_record.deps:
        head = comparison.head_record.deps
    else:
        head = dvcfile.lock_hashes(root)[0]
    changes = []
    for path in sorted(set(base) | set(head)):
        b, h = base.get(path), head.get(path)
        if b == h:
            continue
        changes.append(DepChange(path, b, h, "added" if b is None else "removed" if h is None else "changed"))
    return changes
