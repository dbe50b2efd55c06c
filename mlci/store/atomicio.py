"""Write files whole or not at all: a crash never leaves a half-written report or record."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def mode_for_new_file() -> int:
    """What `open(path, "w")` would give: 0666 less the umask (mkstemp alone gives 0600)."""
    return 0o666 & ~_umask()


def write_bytes(path: Path, data: bytes) -> None:
    """Write `path` whole or not at all, with the mode the umask asks for."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            os.fchmod(handle.fileno(), mode_for_new_file())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


_STAGING = ".{name}.mlci-tmp-"


def check_replaceable(final: Path, owned: set[str], *, flag: str = "-o") -> None:
    """Refuse to swap out a directory holding anything but what we wrote there before.

    `swap_dir` replaces the whole directory: pointed at the repo (`-o .`) or at a folder
    with the user's files, it would delete them.
    """
    from mlci.errors import UsageError

    if not final.exists():
        return
    if not final.is_dir():
        raise UsageError(f"{flag} {final} is a file; pass a directory for the report")
    foreign = sorted(child.name for child in final.iterdir() if child.name not in owned)
    if foreign:
        shown = ", ".join(foreign[:3]) + (" …" if len(foreign) > 3 else "")
        raise UsageError(
            f"{flag} {final} holds files mlci did not write ({shown}); pass a new or empty directory, "
            "it is replaced whole"
        )


def staging_dir(final: Path) -> Path:
    """A fresh empty directory beside `final` (same filesystem, so `swap_dir` is a rename).

    Leftovers of a killed earlier attempt are removed first.
    """
    import shutil

    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(_STAGING.format(name=final.name) + "*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=_STAGING.format(name=final.name), dir=final.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    return tmp


def swap_dir(staged: Path, final: Path) -> None:
    """Put the finished `staged` directory at `final`: readers see the old whole or the new whole.

    The old directory is renamed aside, the new one renamed in, then the old one removed; a
    crash between the two renames leaves `final` missing (never mixed) and the aside copy.
    """
    import shutil

    aside = None
    if final.exists():
        aside = Path(tempfile.mkdtemp(prefix=_STAGING.format(name=final.name) + "old-", dir=final.parent))
        os.replace(final, aside / "previous")
    os.replace(staged, final)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


def discard_dir(staged: Path) -> None:
    import shutil

    shutil.rmtree(staged, ignore_errors=True)


@contextmanager
def replacing_dir(final: Path, owned: set[str], *, flag: str = "-o") -> Iterator[Path]:
    """Write a directory whole or not at all: yields a staging directory, swapped in at `final`
    when the block ends, discarded when it raises (a full disk leaves the old one as it was)."""
    check_replaceable(final, owned, flag=flag)
    staged = staging_dir(final)
    try:
        yield staged
    except BaseException:
        discard_dir(staged)
        raise
    swap_dir(staged, final)


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
