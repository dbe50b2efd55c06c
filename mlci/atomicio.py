"""Write files whole or not at all: a crash never leaves a half-written report or record."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path


def write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def sha256(path: Path) -> str:
    """Digest of a file, or of a directory as the digest of its sorted (relative path, digest) list."""
    if path.is_dir():
        outer = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            outer.update(f"{child.relative_to(path).as_posix()}\0{sha256(child)}\n".encode())
        return outer.hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
