"""Verify mlci's cached venv before the action uses it; exit 1 with one line naming the first difference.

Run with the runner's own interpreter, isolated (`python3 -I scripts/verify-venv.py VENV --lock LOCK
--source ACTION_PATH`), never with the venv's python: a job on a persistent runner can write the
whole venv, so nothing in it is trusted, its RECORD files included (a planted `.pth` plus a matching
RECORD line would pass a RECORD check). The anchors come from outside the venv's reach:

- the lock (in this job's fresh copy of the action) pins the sha256 of every wheel and sdist; the
  install step keeps those files in VENV/.mlci-wheels, and each must hash to a lock entry;
- each wheel's own RECORD (inside the verified wheel) gives every file it installs and its hash;
  a file built from an sdist must equal a member of that verified sdist;
- mlci itself must equal this job's action source (mlci/, templates/), its entry point pyproject's;
- console scripts must be exactly what pip writes for an entry point of a verified distribution;
  bin/python* must be links to this interpreter; pyvenv.cfg must name it and hide system packages.

Every other file is refused: a `.pth`, `sitecustomize.py`, an extra module or script, a symlink.
`__pycache__` directories are deleted first (Python rewrites them; the venv is installed with
--no-compile), so no bytecode is ever trusted. Stdlib only: it runs before mlci is installed.
"""

from __future__ import annotations

import argparse
import base64
import configparser
import hashlib
import os
import re
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

KEPT = {".mlci-complete", ".mlci-wheels", "pyvenv.cfg"}  # the venv's own bookkeeping, checked apart
PIP_WRITES = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}  # in a dist-info pip installed
SDIST_METADATA = {  # what building or installing an sdist writes next to its files (never executed)
    "PKG-INFO",
    "SOURCES.txt",
    "dependency_links.txt",
    "top_level.txt",
    "installed-files.txt",
    "requires.txt",
    "not-zip-safe",
    "METADATA",
    "WHEEL",
    *PIP_WRITES,
}
SCRIPT = (  # pip's (distlib's) console-script template, after the interpreter line
    "# -*- coding: utf-8 -*-\nimport re\nimport sys\nfrom {module} import {name}\n"
    "if __name__ == '__main__':\n"
    "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
    "    sys.exit({call}())\n"
)


class Mismatch(Exception):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record_hash(value: str) -> str:
    """RECORD's `sha256=<urlsafe base64, no padding>` as hex."""
    algorithm, _, digest = value.partition("=")
    if algorithm != "sha256":
        return ""
    return base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4)).hex()


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _lock_hashes(lock: Path) -> dict[str, str]:
    """sha256 -> normalised project name, for every pin of the lock."""
    hashes: dict[str, str] = {}
    name = ""
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            name = _norm(re.split(r"[=<>~!; \\]", line, maxsplit=1)[0])
        for digest in re.findall(r"--hash=sha256:([0-9a-f]{64})", line):
            hashes[digest] = name
    return hashes


def _entry_points(text: str) -> dict[tuple[str, str], str]:
    """(group, name) -> "module:attr" for every entry point in an entry_points.txt."""
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return {(group, name): value.strip() for group in parser.sections() for name, value in parser.items(group)}


def _scripts(entry_points: dict[tuple[str, str], str]) -> dict[str, str]:
    return {name: value for (group, name), value in entry_points.items() if group in ("console_scripts", "gui_scripts")}


class Expected:
    """What the verified sources say the venv may hold."""

    def __init__(self, venv: Path, site: str) -> None:
        self.venv, self.site = venv, site
        self.files: dict[str, set[str]] = {}  # venv-relative path -> allowed sha256s
        self.scripts: dict[str, set[bytes]] = {}  # venv-relative path -> allowed bodies (after the #! line)
        self.suffixes: dict[str, set[str]] = {}  # sdist member path suffix -> sha256s
        self.script_suffixes: dict[str, set[bytes]] = {}
        self.metadata_dirs: dict[str, set[str]] = {}  # normalised project -> file names allowed unverified
        self.entry_points: dict[str, str] = {}  # console script -> "module:attr"
        self.mlci_entry_points: dict[tuple[str, str], str] = {}
        self.present: set[str] = set()  # every file a verified wheel installs must be there

    def add_wheel(self, path: Path) -> None:
        with zipfile.ZipFile(path) as wheel:
            names = wheel.namelist()
            record = next(n for n in names if n.count("/") == 1 and n.endswith(".dist-info/RECORD"))
            dist_info = record.split("/")[0]
            data = dist_info[: -len(".dist-info")] + ".data/"
            project = _norm(dist_info[: -len(".dist-info")].rsplit("-", 1)[0])
            self.metadata_dirs.setdefault(project, set()).update(PIP_WRITES)
            for row in record_rows(wheel.read(record).decode("utf-8")):
                member, digest = row
                if member == record:
                    continue
                target = member
                if member.startswith(data):
                    kind, _, rest = member[len(data) :].partition("/")
                    if kind == "scripts":
                        self.scripts.setdefault(f"bin/{rest}", set()).add(_script_body(wheel.read(member)))
                        continue
                    target = {
                        "purelib": f"{self.site}/{rest}",
                        "platlib": f"{self.site}/{rest}",
                        "data": rest,
                        "headers": f"include/site/python{sys.version_info[0]}.{sys.version_info[1]}/{project}/{rest}",
                    }.get(kind, "")
                    if not target:
                        raise Mismatch(path.name, f"unknown wheel data directory {kind!r}")
                else:
                    target = f"{self.site}/{member}"
                self.files.setdefault(target, set()).add(digest)
                if "/__pycache__/" not in f"/{target}":
                    self.present.add(target)
            entry_points = f"{dist_info}/entry_points.txt"
            if entry_points in names:
                self.entry_points.update(_scripts(_entry_points(wheel.read(entry_points).decode("utf-8"))))

    def add_sdist(self, path: Path, project: str) -> None:
        self.metadata_dirs.setdefault(project, set()).update(SDIST_METADATA)
        with tarfile.open(path) as sdist:
            for member in sdist.getmembers():
                if not member.isfile():
                    continue
                content = sdist.extractfile(member).read()  # type: ignore[union-attr]
                parts = member.name.split("/")[1:]  # below the sdist's top directory
                for i in range(len(parts)):
                    suffix = "/".join(parts[i:])
                    self.suffixes.setdefault(suffix, set()).add(_sha256(content))
                    if content.startswith(b"#!"):
                        self.script_suffixes.setdefault(suffix, set()).add(_script_body(content))

    def add_source(self, source: Path) -> None:
        """mlci, built by hatchling from the action's checkout: mlci/ and templates/ (as mlci/templates/)."""
        for top, target in ((source / "mlci", "mlci"), (source / "templates", "mlci/templates")):
            for file in top.rglob("*"):
                if file.is_file() and "__pycache__" not in file.parts:
                    rel = file.relative_to(top).as_posix()
                    self.files.setdefault(f"{self.site}/{target}/{rel}", set()).add(_sha256(file.read_bytes()))
        pyproject = (source / "pyproject.toml").read_text(encoding="utf-8")
        scripts = re.search(r"^\[project\.scripts\]\n(.*?)(?=^\[|\Z)", pyproject, re.MULTILINE | re.DOTALL)
        ours = dict(re.findall(r'^([\w.-]+)\s*=\s*"([^"]+)"', scripts.group(1) if scripts else "", re.MULTILINE))
        self.entry_points.update(ours)
        self.mlci_entry_points = {("console_scripts", name): value for name, value in ours.items()}
        self.metadata_dirs["mlci"] = {"METADATA", "WHEEL", *PIP_WRITES}


def record_rows(text: str) -> list[tuple[str, str]]:
    rows = []
    for line in text.splitlines():
        if not line.strip():
            continue
        member, digest, _size = line.rsplit(",", 2)
        rows.append((member.strip('"'), _record_hash(digest)))
    return rows


def _script_body(content: bytes) -> bytes:
    """A script without its interpreter line (pip rewrites that; everything after must be identical)."""
    return content.split(b"\n", 1)[1] if content.startswith(b"#!") and b"\n" in content else content


def _interpreter_lines(venv: Path) -> set[bytes]:
    lines = set()
    for name in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"):
        python = f"{venv}/bin/{name}"
        lines.add(f"#!{python}".encode())
        lines.add(f"#!/bin/sh\n'''exec' \"{python}\" \"$0\" \"$@\"\n' '''".encode())  # pip, for long paths
    return lines


def _script_ok(content: bytes, bodies: set[bytes], venv: Path) -> bool:
    for line in _interpreter_lines(venv):
        if content.startswith(line + b"\n") and content[len(line) + 1 :] in bodies:
            return True
    return False


def check_pyvenv_cfg(venv: Path) -> None:
    path = venv / "pyvenv.cfg"
    if path.is_symlink() or not path.is_file():
        raise Mismatch("pyvenv.cfg", "missing")
    cfg = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in path.read_text(encoding="utf-8").splitlines())
        if key.strip()
    )
    base = os.path.realpath(sys.executable)
    version = ".".join(map(str, sys.version_info[:3]))
    unexpected = set(cfg) - {"home", "include-system-site-packages", "version", "executable", "command", "prompt"}
    if unexpected:
        raise Mismatch("pyvenv.cfg", f"unexpected setting {sorted(unexpected)[0]}")
    if cfg.get("include-system-site-packages") != "false":
        raise Mismatch("pyvenv.cfg", "include-system-site-packages is not false")
    if cfg.get("version") != version:
        raise Mismatch("pyvenv.cfg", f"version {cfg.get('version')} is not this Python's {version}")
    if os.path.realpath(os.path.join(cfg.get("home", ""), os.path.basename(sys.executable))) != base:
        raise Mismatch("pyvenv.cfg", f"home {cfg.get('home')} is not this Python's")
    if "executable" in cfg and os.path.realpath(cfg["executable"]) != base:
        raise Mismatch("pyvenv.cfg", f"executable {cfg['executable']} is not this Python ({base})")


def purge_bytecode(venv: Path) -> None:
    for root, dirs, _files in os.walk(venv):
        if "__pycache__" in dirs:
            shutil.rmtree(Path(root) / "__pycache__")
            dirs.remove("__pycache__")


def verify(venv: Path, lock: Path, source: Path) -> None:
    venv = venv.absolute()
    if venv.is_symlink() or not venv.is_dir():
        raise Mismatch(str(venv), "not a directory")
    check_pyvenv_cfg(venv)
    purge_bytecode(venv)
    site = f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"
    expected = Expected(venv, site)
    pins = _lock_hashes(lock)
    wheels = venv / ".mlci-wheels"
    if not wheels.is_dir() or wheels.is_symlink():
        raise Mismatch(".mlci-wheels", "missing")
    for file in sorted(wheels.iterdir()):
        if file.is_symlink() or not file.is_file():
            raise Mismatch(f".mlci-wheels/{file.name}", "not a plain file")
        project = pins.get(_sha256(file.read_bytes()))
        if project is None:
            raise Mismatch(f".mlci-wheels/{file.name}", "its sha256 is not in the lock")
        if file.name.endswith(".whl"):
            expected.add_wheel(file)
        else:
            expected.add_sdist(file, project)
    expected.add_source(source)
    base = os.path.realpath(sys.executable)
    for rel in sorted(expected.present):
        if not (venv / rel).is_file():
            raise Mismatch(rel, "missing")
    for root, dirs, files in os.walk(venv):
        rel_root = Path(root).relative_to(venv).as_posix()
        for name in sorted(files) + sorted(d for d in dirs if (Path(root) / d).is_symlink()):
            rel = name if rel_root == "." else f"{rel_root}/{name}"
            if rel_root == "." and name in KEPT:
                continue
            check_file(venv, rel, expected, base)
        if rel_root == ".":
            dirs[:] = [d for d in dirs if d != ".mlci-wheels"]
        dirs[:] = [d for d in dirs if not (Path(root) / d).is_symlink()]


def check_file(venv: Path, rel: str, expected: Expected, base: str) -> None:
    path = venv / rel
    if path.is_symlink():
        if rel == "lib64" and os.readlink(path) == "lib":
            return
        if re.fullmatch(r"bin/python[0-9.]*", rel) and os.path.realpath(path) == base:
            return
        raise Mismatch(rel, "a symlink the venv does not need")
    if not path.is_file():
        raise Mismatch(rel, "not a plain file")
    content = path.read_bytes()
    if rel in expected.files:
        if _sha256(content) not in expected.files[rel]:
            raise Mismatch(rel, "differs from the verified package")
        return
    if rel in expected.scripts:
        if not _script_ok(content, expected.scripts[rel], venv):
            raise Mismatch(rel, "differs from the verified package's script")
        return
    if rel.startswith("bin/") and rel[4:] in expected.entry_points:
        module, _, attr = expected.entry_points[rel[4:]].partition(":")
        body = SCRIPT.format(module=module, name=attr.split(".")[0], call=attr).encode()
        if not _script_ok(content, {body}, venv):
            raise Mismatch(rel, "is not the console script pip writes for this entry point")
        return
    parts = rel.split("/")
    prefix = expected.site + "/"
    if rel.startswith(prefix) and len(parts) == len(expected.site.split("/")) + 2:
        meta_dir, name = parts[-2], parts[-1]
        match = re.fullmatch(r"(.+?)-[^-]+(?:-py\d+(?:\.\d+)*)?\.(?:dist-info|egg-info)", meta_dir)
        if match and name in expected.metadata_dirs.get(_norm(match.group(1)), set()):
            return
        if match and _norm(match.group(1)) == "mlci" and name == "entry_points.txt":
            if _entry_points(content.decode("utf-8", "replace")) != expected.mlci_entry_points:
                raise Mismatch(rel, "names entry points mlci's pyproject.toml does not")
            return
    if rel.startswith(f"{expected.site}/mlci-") and "/licenses/" in rel:
        return  # mlci's license text, copied by hatchling (never executed)
    tail = rel[len(prefix) :] if rel.startswith(prefix) else rel
    if _sha256(content) in expected.suffixes.get(tail, set()):
        return
    if content.startswith(b"#!") and _script_ok(content, expected.script_suffixes.get(tail, set()), venv):
        return
    raise Mismatch(rel, "not installed by any verified package")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venv", type=Path)
    parser.add_argument("--lock", type=Path, required=True)
    parser.add_argument("--source", type=Path, required=True, help="the action's checkout (mlci's source)")
    args = parser.parse_args(argv)
    try:
        verify(args.venv, args.lock, args.source)
    except Mismatch as exc:
        print(exc)
        return 1
    except (OSError, ValueError, zipfile.BadZipFile, tarfile.TarError, StopIteration) as exc:
        print(f"cannot verify: {exc}".replace("\n", " "))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
