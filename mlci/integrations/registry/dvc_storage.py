"""Model bytes in a DVC remote, addressed by DVC's object id (the file's md5).

Uploading goes through DVC itself (`DataCloud.push` of the object, so S3, GCS, Azure… work
through DVC's plugins), and is then *read back* from the remote and hashed: a tag or a
registry version is only ever created for bytes the remote demonstrably holds.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mlci.errors import RegistryError, RemoteError, StorageError
from mlci.store.atomicio import mode_for_new_file

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Digests:
    sha256: str
    md5: str
    size: int


def file_digests(path: Path) -> Digests:
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0  # noqa: S324 - md5 is DVC's object id, not security
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return Digests(sha.hexdigest(), md5.hexdigest(), size)


@contextmanager
def _dvc(root: Path):
    try:
        from dvc.repo import Repo
    except ImportError as exc:  # pragma: no cover - dvc is a core dependency
        raise RegistryError("DVC is not installed; pip install dvc") from exc
    import sqlite3

    from dvc.exceptions import NotDvcRepoError

    try:
        repo = Repo(str(root))
    except NotDvcRepoError:
        raise RegistryError(
            f"{root} is not a DVC project; run `dvc init` and add a remote (dvc remote add -d NAME DIR)"
        ) from None
    except sqlite3.OperationalError as exc:  # DVC's state databases on a full (or read-only) disk
        raise StorageError(
            f"DVC cannot open its state in {root} ({exc}); free some space (or fix the permissions) and retry"
        ) from None
    try:
        yield repo
    finally:
        repo.close()


def _remote_odb(repo, remote: str | None):
    from dvc.config import NoRemoteError

    try:
        return repo.cloud.get_remote_odb(remote, "push")
    except NoRemoteError:
        raise RegistryError(
            "no DVC remote to store the model in; add one: dvc remote add -d storage /path/or/s3://bucket "
            "(or set registry.remote in mlci.yaml)"
        ) from None
    except Exception as exc:  # noqa: BLE001 - DVC's config errors have many types
        raise RegistryError(
            f"DVC remote {remote or '(default)'} is unusable: {exc}; fix it with `dvc remote modify`"
        ) from exc


def _remote_digests(odb, md5: str) -> Digests | None:
    path = odb.oid_to_path(md5)
    try:
        if not odb.fs.exists(path):
            return None
        sha, check, size = hashlib.sha256(), hashlib.md5(), 0  # noqa: S324
        with odb.fs.open(path, "rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                sha.update(block)
                check.update(block)
                size += len(block)
    except OSError as exc:
        raise RemoteError(f"cannot read {odb.fs.unstrip_protocol(path)} back from the DVC remote: {exc}") from exc
    return Digests(sha.hexdigest(), check.hexdigest(), size)


def upload(root: Path, file: Path, digests: Digests, remote: str | None) -> str:
    """Push `file` (object `digests.md5`) to the remote and prove it arrived; returns its URL."""
    from dvc_data.hashfile.hash_info import HashInfo

    with _dvc(root) as repo:
        odb = _remote_odb(repo, remote)
        url = odb.fs.unstrip_protocol(odb.oid_to_path(digests.md5))
        if _remote_digests(odb, digests.md5) == digests:
            return url  # already there, intact
        cached = Path(repo.cache.local.oid_to_path(digests.md5))
        try:
            if cached.is_file():
                repo.cloud.push([HashInfo("md5", digests.md5)], remote=remote)
            if _remote_digests(odb, digests.md5) != digests:
                # not cached, or the remote held a damaged copy DVC's index skipped: write it whole
                from dvc_objects.fs.local import LocalFileSystem

                odb.add(str(file), LocalFileSystem(), digests.md5, check_exists=False)
        except RegistryError:
            raise
        except Exception as exc:  # noqa: BLE001 - network and auth failures of any DVC plugin
            raise RemoteError(f"cannot upload the model to the DVC remote {url}: {exc}") from exc
        found = _remote_digests(odb, digests.md5)
        if found != digests:
            got = "nothing" if found is None else f"sha256 {found.sha256[:12]}…"
            raise RegistryError(
                f"the DVC remote holds {got} at {url} after the upload, expected sha256 {digests.sha256[:12]}…; "
                "nothing was registered, check the remote and retry"
            )
        return url


def _write_all(fd: int, block: bytes, path: str) -> None:
    """Write `block` whole; a local failure (disk full, quota) is a StorageError, not the remote's fault."""
    view = memoryview(block)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except OSError as exc:
            raise StorageError.from_os_error(OSError(exc.errno, exc.strerror, path)) from None


def download(root: Path, md5: str, remote: str | None, target: Path, *, sha256: str | None) -> Digests:
    """Fetch object `md5` into `target`, whole and verified, or raise and leave nothing."""
    with _dvc(root) as repo:
        odb = _remote_odb(repo, remote)
        path = odb.oid_to_path(md5)
        url = odb.fs.unstrip_protocol(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            sha, check, size = hashlib.sha256(), hashlib.md5(), 0  # noqa: S324
            try:
                # unbuffered: a full local disk fails in _write_all (exit 9), never in a flush at close
                with os.fdopen(fd, "wb", buffering=0) as out, odb.fs.open(path, "rb") as handle:
                    os.fchmod(out.fileno(), mode_for_new_file())  # a deploy user must be able to read it
                    for block in iter(lambda: handle.read(_BLOCK), b""):
                        _write_all(out.fileno(), block, tmp)
                        sha.update(block)
                        check.update(block)
                        size += len(block)
            except FileNotFoundError:
                raise RegistryError(
                    f"the DVC remote has no object {md5} ({url}); was the model pushed? re-run mlci promote"
                ) from None
            except OSError as exc:
                raise RemoteError(f"cannot download {url}: {exc}") from exc
            got = Digests(sha.hexdigest(), check.hexdigest(), size)
            if got.md5 != md5 or (sha256 is not None and got.sha256 != sha256):
                expected = f"sha256 {sha256[:12]}…" if sha256 else f"md5 {md5[:12]}…"
                raise RegistryError(
                    f"integrity check failed for {url}: expected {expected}, got sha256 {got.sha256[:12]}…; "
                    "the stored artifact is corrupted, re-promote the model from its commit"
                )
            os.replace(tmp, target)
            tmp = ""
            return got
        finally:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
