"""Configured paths stay inside the repository, checked where the file is read.

mlci.yaml's paths are checked when it loads (mlci.store.config), but the pipeline runs PR
code after that, and a stage may leave a symlink where a metrics file or data table should
be. So each read checks again, following links: anything that resolves outside the
repository is refused with one line, and nothing outside it is ever read into a record.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mlci.errors import MlciError


def escapes(root: Path, rel: str) -> bool:
    """Whether `rel` (absolute, `..`, or through a symlink) leads outside `root`."""
    if "\0" in rel or Path(rel).is_absolute():
        return True
    base = root.resolve()
    try:
        resolved = (root / rel).resolve()
    except (RuntimeError, OSError):  # a symlink loop: it leads nowhere, not outside
        return False
    return resolved != base and base not in resolved.parents


def inside(root: Path, rel: str, shown: str, error: type[MlciError]) -> Path:
    """`root / rel`, refused (one line, `error`) when it leads outside the repository."""
    if escapes(root, rel):
        raise error(f"{shown} leads outside the repository; use a file inside it (no absolute path, '..' or link out)")
    return root / rel


def check_tree(root: Path, rel: str, shown: str, error: type[MlciError], limit: int = 100_000) -> None:
    """`rel` and, when a directory (a parquet dataset), everything under it: inside the repository
    and plain files only (a FIFO would block the reader forever). `os.stat`/`lstat` only."""
    path = inside(root, rel, shown, error)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return  # the reader says it is missing, in its own words
    except OSError as exc:
        raise error(f"cannot read {shown}: {exc.strerror}; fix the path or the link") from None
    if stat.S_ISREG(info.st_mode):
        return
    if not stat.S_ISDIR(info.st_mode):
        raise error(f"{shown} is not a regular file (a pipe, socket or device); make it a plain file")
    seen = 0
    for folder, dirs, files in os.walk(path, followlinks=False):
        for name in dirs + files:
            seen += 1
            if seen > limit:
                raise error(f"{shown} holds over {limit:,} entries; point mlci.yaml at a smaller dataset")
            entry = Path(folder) / name
            rel_entry = os.path.relpath(entry, root)
            if escapes(root, rel_entry):
                raise error(f"{shown}: {name} leads outside the repository; replace the link with the file")
            try:
                mode = os.stat(entry).st_mode
            except OSError:
                continue  # a dangling link: the reader reports what it cannot read
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise error(f"{shown}: {name} is not a regular file (a pipe, socket or device); remove it")
