"""The report bundle: what the PR training job hands to the publishing job, read strictly as data.

The training job runs the PR's code and holds no token; the publishing job holds the token and
runs no PR code. The only thing that crosses is this directory (uploaded as an artifact), so
everything in it is written by code the PR controls. `read()` therefore trusts nothing: a fixed
set of names, regular files only (no symlink, device, FIFO or hard link), every size bounded
before anything is read, each file opened with O_NOFOLLOW and read once into memory, the
manifest's sha256 checked against those bytes, the run record validated as any note would be,
report.json shape-checked and images checked by their magic bytes. The caller uses the bytes
returned, never the paths, so nothing can change between the check and the use.

The model file the run recorded may travel too (`model/<file name>`, one single-file model), so
that an approval promotes exactly the bytes this run produced (issue 14): it has its own size
limit (`Limits.model_bytes`, 2 GiB) and is never read whole into memory. It is streamed through
an O_NOFOLLOW descriptor into a private file of the reader's (`scratch`), hashed on the way, and
accepted only when its sha256 equals both the manifest's and the run record's
(`artifacts[role].sha256`, and its md5 the record's DVC `outs` entry); the caller uploads that
private copy, never the bundle's path.

Layout:
    manifest.json   {"format": "mlci-bundle", "version": 1, "pr", "head_sha", "base_sha",
                     "event", "files": {name: {"size", "sha256"}}}
    report.md report.json record.json [report.html] [plots/<name>.png|.jpg|.jpeg|.gif|.svg|.webp]
    [model/<file name of the recorded model>]
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.errors import DataError
from mlci.model.record import RunRecord
from mlci.store import atomicio

FORMAT = "mlci-bundle"
VERSION = 1
MANIFEST = "manifest.json"
REQUIRED = ("report.md", "report.json", "record.json")
OPTIONAL = ("report.html",)
PLOTS_DIR = "plots"
MODEL_DIR = "model"
IMAGE_MAGIC = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".gif": (b"GIF87a", b"GIF89a"),
    ".webp": (b"RIFF",),
    ".svg": (b"<",),
}
_PLOT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA = re.compile(r"[0-9a-f]{40}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_BLOCK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """Bounds checked from `lstat` before a byte is read (an artifact is attacker-sized)."""

    file_bytes: int = 32 * 1024 * 1024
    total_bytes: int = 128 * 1024 * 1024
    files: int = 256
    manifest_bytes: int = 1024 * 1024
    model_bytes: int = 2 * 1024 * 1024 * 1024  # the one model file: its own limit, outside total_bytes


@dataclass(frozen=True)
class Claims:
    """What the bundle says it is about; the publisher checks each against GitHub, never trusts it."""

    pr: int
    head_sha: str
    base_sha: str
    event: str


@dataclass(frozen=True)
class BundledModel:
    """The run's model file, verified and copied out of the bundle into the reader's private file."""

    name: str  # its bundle name, model/<file name>
    file: Path  # the private copy (in the reader's scratch directory): the only path to use
    role: str  # its artifact role in the record ("model", "model:<name>")
    path: str  # the artifact's path in the repository, as the record names it
    size: int
    sha256: str
    md5: str


@dataclass
class Bundle:
    claims: Claims
    record: RunRecord
    markdown: str  # report.md, decoded (not yet sanitised for publishing)
    report: dict[str, Any]  # report.json, shape-checked
    files: dict[str, bytes] = field(default_factory=dict)  # every verified file, by its bundle name
    model: BundledModel | None = None  # the model's verified private copy, when the bundle carries one

    def images(self) -> dict[str, bytes]:
        return {name: data for name, data in self.files.items() if name.startswith(PLOTS_DIR + "/")}


def _allowed(name: str) -> bool:
    if name in REQUIRED or name in OPTIONAL:
        return True
    head, sep, leaf = name.partition("/")
    if head == MODEL_DIR:
        return sep == "/" and _model_leaf(leaf)
    return (
        head == PLOTS_DIR
        and sep == "/"
        and bool(_PLOT_NAME.fullmatch(leaf))
        and ".." not in leaf
        and Path(leaf).suffix.lower() in IMAGE_MAGIC
    )


def _model_leaf(leaf: str) -> bool:
    return bool(_PLOT_NAME.fullmatch(leaf)) and ".." not in leaf


def model_name(path: str) -> str | None:
    """The bundle name of a recorded model file (`model/<file name>`), None when its name cannot be one."""
    leaf = Path(path).name
    return f"{MODEL_DIR}/{leaf}" if _model_leaf(leaf) else None


def _is_model(name: str) -> bool:
    return name.startswith(MODEL_DIR + "/")


def _stream(fd: int, into, limit: int) -> tuple[int, str, str]:
    """Copy descriptor `fd` into the binary file `into` block by block, never more than `limit` + 1
    bytes (so an oversize file shows as such): (size, sha256, md5)."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0  # noqa: S324 - md5 is DVC's object id, not security
    while size <= limit and (chunk := os.read(fd, min(_BLOCK, limit + 1 - size))):
        size += len(chunk)
        sha.update(chunk)
        md5.update(chunk)
        into.write(chunk)
    return size, sha.hexdigest(), md5.hexdigest()


def write(bundle_dir: Path, report_dir: Path, claims: Claims, record: RunRecord, *, model: Path | None = None) -> Path:
    """Fill a fresh `bundle_dir` from a report directory: the report files, the plots the bundle
    format accepts, the run record, `model` (the recorded model file, as `model/<its name>`), and
    the manifest of them all (sizes and sha256)."""
    if bundle_dir.is_dir() and not bundle_dir.is_symlink():
        shutil.rmtree(bundle_dir)
    elif bundle_dir.is_symlink() or bundle_dir.exists():
        bundle_dir.unlink()
    (bundle_dir / PLOTS_DIR).mkdir(parents=True)
    names: list[str] = []
    for name in (*REQUIRED, *OPTIONAL):
        source = report_dir / name
        if name == "record.json":
            atomicio.write_text(bundle_dir / name, record.to_json() + "\n")
        elif source.is_file() and not source.is_symlink():
            shutil.copyfile(source, bundle_dir / name)
        else:
            continue
        names.append(name)
    plots = report_dir / PLOTS_DIR
    if plots.is_dir() and not plots.is_symlink():
        for image in sorted(plots.iterdir()):
            name = f"{PLOTS_DIR}/{image.name}"
            if _allowed(name) and image.is_file() and not image.is_symlink():
                shutil.copyfile(image, bundle_dir / name)
                names.append(name)
    files = {}
    if model is not None:
        bundled = model_name(model.name)
        if bundled is None:
            raise ValueError(f"{model.name} cannot be a bundle name")
        (bundle_dir / MODEL_DIR).mkdir()
        fd = os.open(model, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            with open(bundle_dir / bundled, "xb") as out:
                size, sha256, _md5 = _stream(fd, out, Limits().model_bytes)
        finally:
            os.close(fd)
        files[bundled] = {"size": size, "sha256": sha256}
    for name in names:
        data = (bundle_dir / name).read_bytes()
        files[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "pr": claims.pr,
        "head_sha": claims.head_sha,
        "base_sha": claims.base_sha,
        "event": claims.event,
        "files": files,
    }
    atomicio.write_text(bundle_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return bundle_dir


# --- reading: every check raises one DataError line ---------------------------------------------


def _refuse(bundle_dir: Path, why: str) -> DataError:
    return DataError(f"the mlci bundle {bundle_dir} is refused: {why}; nothing was published")


def _inventory(bundle_dir: Path, limits: Limits) -> dict[str, int]:
    """name -> size of every entry, refusing anything but regular files at the expected names."""
    try:
        top = os.lstat(bundle_dir)
    except OSError:
        raise _refuse(bundle_dir, "it does not exist (download the training job's artifact there)") from None
    if not stat.S_ISDIR(top.st_mode):
        raise _refuse(bundle_dir, "it is not a directory (a symlink or a file)")
    found: dict[str, int] = {}
    total = 0

    def visit(directory: Path, prefix: str) -> None:
        nonlocal total
        with os.scandir(directory) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                name = prefix + entry.name
                info = entry.stat(follow_symlinks=False)
                shown = json.dumps(name)[1:-1][:120]
                if stat.S_ISLNK(info.st_mode):
                    raise _refuse(bundle_dir, f"{shown} is a symbolic link")
                if stat.S_ISDIR(info.st_mode):
                    if prefix or entry.name not in (PLOTS_DIR, MODEL_DIR):
                        raise _refuse(bundle_dir, f"unexpected directory {shown}")
                    visit(Path(entry.path), entry.name + "/")
                    continue
                if not stat.S_ISREG(info.st_mode):
                    raise _refuse(bundle_dir, f"{shown} is not a regular file")
                if info.st_nlink != 1:
                    raise _refuse(bundle_dir, f"{shown} is a hard link ({info.st_nlink} names)")
                if name != MANIFEST and not _allowed(name):
                    raise _refuse(
                        bundle_dir, f"unexpected file {shown} (a bundle holds only report, plot and model files)"
                    )
                if _is_model(name) and any(_is_model(other) for other in found):
                    raise _refuse(bundle_dir, f"{shown} is a second model file (a bundle carries one model)")
                limit = (
                    limits.manifest_bytes
                    if name == MANIFEST
                    else limits.model_bytes
                    if _is_model(name)
                    else limits.file_bytes
                )
                if info.st_size > limit:
                    raise _refuse(bundle_dir, f"{shown} is {info.st_size} bytes, over the {limit}-byte limit")
                if not _is_model(name):  # the model has its own limit
                    total += info.st_size
                if total > limits.total_bytes:
                    raise _refuse(bundle_dir, f"its files add up to over {limits.total_bytes} bytes")
                found[name] = info.st_size
                if len(found) > limits.files + 1:
                    raise _refuse(bundle_dir, f"it holds more than {limits.files} files")

    visit(bundle_dir, "")
    return found


def _open(bundle_dir: Path, name: str, size: int) -> int:
    """A descriptor of one bundle file, opened without following links and re-checked on it."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(bundle_dir / name, flags)
    except OSError as exc:
        raise _refuse(bundle_dir, f"{name} cannot be opened ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size != size:
        os.close(fd)
        raise _refuse(bundle_dir, f"{name} changed while it was being checked")
    return fd


def _read(bundle_dir: Path, name: str, size: int) -> bytes:
    """One file's bytes, read once into memory from a checked descriptor."""
    fd = _open(bundle_dir, name, size)
    try:
        chunks, left = [], size + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) != size:
        raise _refuse(bundle_dir, f"{name} changed while it was being read")
    return data


def _json(bundle_dir: Path, name: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _refuse(bundle_dir, f"{name} is not valid UTF-8 JSON") from None


def _claims(bundle_dir: Path, manifest: Any) -> tuple[Claims, dict[str, dict[str, Any]]]:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise _refuse(bundle_dir, f"{MANIFEST} is not an mlci bundle manifest")
    if manifest.get("version") != VERSION:
        raise _refuse(bundle_dir, f"{MANIFEST} has version {manifest.get('version')!r}, this mlci reads {VERSION}")
    pr, head, base, event = (manifest.get(k) for k in ("pr", "head_sha", "base_sha", "event"))
    if isinstance(pr, bool) or not isinstance(pr, int) or pr <= 0:
        raise _refuse(bundle_dir, f"{MANIFEST} has no valid PR number")
    if not isinstance(head, str) or not _SHA.fullmatch(head):
        raise _refuse(bundle_dir, f"{MANIFEST} has no valid head_sha")
    if not isinstance(base, str) or not (base == "" or _SHA.fullmatch(base)):
        raise _refuse(bundle_dir, f"{MANIFEST} has an invalid base_sha")
    if event != "pull_request":
        raise _refuse(bundle_dir, f"{MANIFEST} names the event {str(event)[:40]!r}, not pull_request")
    files = manifest.get("files")
    if not isinstance(files, dict):
        raise _refuse(bundle_dir, f"{MANIFEST} has no file list")
    for name, entry in files.items():
        if not isinstance(name, str) or not _allowed(name):
            raise _refuse(bundle_dir, f"{MANIFEST} lists an unexpected name {json.dumps(name)[:120]}")
        size, digest = (entry.get("size"), entry.get("sha256")) if isinstance(entry, dict) else (None, None)
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise _refuse(bundle_dir, f"{MANIFEST} has no valid size for {name}")
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise _refuse(bundle_dir, f"{MANIFEST} has no valid sha256 for {name}")
    return Claims(pr, head, base, event), files


def _check_report(bundle_dir: Path, report: Any) -> dict[str, Any]:
    """report.json as `mlci report` writes it (schema 1): the fields the publisher reads."""

    def bad(why: str) -> DataError:
        return _refuse(bundle_dir, f"report.json {why}")

    if not isinstance(report, dict) or report.get("schema") != 1:
        raise bad("is not an mlci report (schema 1)")
    gate, comparison = report.get("gate"), report.get("comparison")
    if not isinstance(gate, dict) or not isinstance(gate.get("passed"), bool):
        raise bad("has no gate verdict")
    if not isinstance(gate.get("status"), str) or not isinstance(gate.get("summary"), str):
        raise bad("has a malformed gate")
    if not isinstance(comparison, dict) or not isinstance(comparison.get("summary"), dict):
        raise bad("has no comparison summary")
    for verdict, count in comparison["summary"].items():
        if not isinstance(verdict, str) or isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise bad("has a malformed comparison summary")
    if not isinstance(report.get("summary"), dict) or not isinstance(report.get("notes", []), list):
        raise bad("has a malformed summary")
    return report


def _model(bundle_dir: Path, name: str, size: int, listed: dict[str, Any], record: RunRecord, scratch: Path):
    """The model file, streamed into a private file of `scratch` while hashed, and accepted only
    when it is the model the run record names: same sha256 as the manifest's and the record's."""
    leaf = name.split("/", 1)[1]
    roles = [(role, a) for role, a in sorted(record.artifacts.items()) if role.startswith("model")]
    matches = [(role, a) for role, a in roles if Path(a.path).name == leaf]
    if len(matches) != 1:
        raise _refuse(bundle_dir, f"{name} is not a model file the run record names")
    role, artifact = matches[0]
    scratch.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = _open(bundle_dir, name, size)
    try:
        with tempfile.NamedTemporaryFile(dir=scratch, prefix="model-", delete=False) as out:
            copy = Path(out.name)
            got, sha256, md5 = _stream(fd, out, size)
    finally:
        os.close(fd)
    try:
        if got != size:
            raise _refuse(bundle_dir, f"{name} changed while it was being read")
        if sha256 != listed["sha256"]:
            raise _refuse(bundle_dir, f"{name} does not match its sha256 in the manifest")
        if sha256 != artifact.sha256 or size != artifact.size:
            raise _refuse(
                bundle_dir,
                f"{name} is not the model the run record names (sha256 {sha256[:12]}…, the record's "
                f"{artifact.path} is {artifact.sha256[:12]}…)",
            )
        outs = record.outs.get(artifact.path)
        if outs is not None and outs != md5:
            raise _refuse(bundle_dir, f"{name} is not the DVC object the run record names for {artifact.path}")
    except DataError:
        copy.unlink()
        raise
    return BundledModel(name, copy, role, artifact.path, size, sha256, md5)


def read(bundle_dir: Path | str, limits: Limits | None = None, *, scratch: Path | None = None) -> Bundle:
    """Validate `bundle_dir` and return its contents; a DataError (one line) on anything off.

    A model file is copied into `scratch` (a private directory the caller removes; by default a
    fresh one from `tempfile.mkdtemp`), the only place its bytes are used from."""
    bundle_dir = Path(bundle_dir)
    limits = limits or Limits()
    found = _inventory(bundle_dir, limits)
    if MANIFEST not in found:
        raise _refuse(bundle_dir, f"it has no {MANIFEST}")
    claims, listed = _claims(bundle_dir, _json(bundle_dir, MANIFEST, _read(bundle_dir, MANIFEST, found[MANIFEST])))
    present = set(found) - {MANIFEST}
    if extra := sorted(present - set(listed)):
        raise _refuse(bundle_dir, f"{json.dumps(extra[0])[:120]} is not in the manifest")
    if missing := sorted(set(listed) - present):
        raise _refuse(bundle_dir, f"{missing[0]} is in the manifest but not in the bundle")
    if absent := [name for name in REQUIRED if name not in present]:
        raise _refuse(bundle_dir, f"it has no {absent[0]}")
    files: dict[str, bytes] = {}
    for name in sorted(present):
        if listed[name]["size"] != found[name]:
            raise _refuse(bundle_dir, f"{name} is {found[name]} bytes, the manifest says {listed[name]['size']}")
        if _is_model(name):
            continue  # streamed below, once the record it must match is known
        data = _read(bundle_dir, name, found[name])
        if hashlib.sha256(data).hexdigest() != listed[name]["sha256"]:
            raise _refuse(bundle_dir, f"{name} does not match its sha256 in the manifest")
        if name.startswith(PLOTS_DIR + "/"):
            suffix = Path(name).suffix.lower()
            head = data.lstrip() if suffix == ".svg" else data
            if not head.startswith(IMAGE_MAGIC[suffix]):
                raise _refuse(bundle_dir, f"{name} is not the image its name says")
        files[name] = data
    try:
        record = RunRecord.from_dict(_json(bundle_dir, "record.json", files["record.json"]))
    except DataError as exc:
        raise _refuse(bundle_dir, f"record.json is not a valid run record ({exc.message})") from None
    if record.commit != claims.head_sha or record.pr != claims.pr:
        raise _refuse(bundle_dir, "record.json is the run of another commit or PR than the manifest names")
    report = _check_report(bundle_dir, _json(bundle_dir, "report.json", files["report.json"]))
    try:
        markdown = files["report.md"].decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse(bundle_dir, "report.md is not UTF-8 text") from None
    model = None
    if models := [name for name in present if _is_model(name)]:
        where = scratch if scratch is not None else Path(tempfile.mkdtemp(prefix="mlci-bundle-model-"))
        model = _model(bundle_dir, models[0], found[models[0]], listed[models[0]], record, where)
    return Bundle(claims, record, markdown, report, files, model)
