"""Why a run may not reproduce from its commit: checked by every `mlci run`, shown as warnings.

A run is reproducible by construction when its commit pins everything it read:
- the code and params (a clean working tree: checked in `mlci.workflows.run`);
- its data: every input of a `dvc.yaml` stage is tracked by git, tracked by DVC (`dvc add`,
  `dvc import`: a `.dvc` file), or produced by another stage;
- its dependencies: the repo holds a lock file (poetry.lock, uv.lock, pdm.lock, Pipfile.lock,
  pixi.lock, conda-lock.yml, pylock.toml), or a requirements*.txt / requirements/*.txt /
  environment.yml whose every entry pins one exact version (`pkg==1.2.3`, conda `pkg=1.2.3`,
  or a direct `pkg @ url` reference). A range (`>=`) or a bare name is not a pin.

`mlci reproduce` restores the first two from git and DVC; the record's `environment.freeze`
says what the third was, but only a pinned file lets someone install it again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from mlci.errors import ConfigError
from mlci.store import dvcfile, safeyaml

if TYPE_CHECKING:
    import git

LOCK_FILES = ("poetry.lock", "uv.lock", "pdm.lock", "Pipfile.lock", "pixi.lock", "conda-lock.yml", "pylock.toml")
_REQUIREMENTS = re.compile(r"^(requirements[^/]*\.txt|requirements/[^/]+\.txt|constraints[^/]*\.txt)$")
_ENVIRONMENT = ("environment.yml", "environment.yaml")
_PYLOCK = re.compile(r"^pylock\.[^/]+\.toml$")
_PIP_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-\[\], ]*(===?[^=<>!~*,;]+|\s*@\s*\S+)\s*(;.*)?$")
_CONDA_PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-:/]*\s*==?\s*[^=<>!~*,|\s]+(=[^\s]+)?$")


_norm = dvcfile.norm


def under(path: str, roots: set[str]) -> bool:
    """`path` is one of `roots` or lies inside one (POSIX paths relative to the repo root)."""
    return any(path == r or path.startswith(r + "/") for r in roots)


@dataclass(frozen=True)
class PipelineInputs:
    """The data side of a `dvc.yaml`: what stages read that no stage writes."""

    external: tuple[str, ...]  # stage deps no stage produces (code, raw data, ...)
    produced: frozenset[str]  # every stage out / metric / plot
    dvc_tracked: frozenset[str]  # outs of `.dvc` files (dvc add / dvc import)
    frozen_outs: frozenset[str] = frozenset()  # outs of `frozen: true` stages: restored, never re-run

    @property
    def from_cache(self) -> tuple[str, ...]:
        """What a re-run must take from DVC's cache: DVC-tracked inputs and frozen stages' outs."""
        return tuple(
            dict.fromkeys([*(d for d in self.external if under(d, set(self.dvc_tracked))), *sorted(self.frozen_outs)])
        )


def _entries(value: Any, wdir: str) -> list[str]:
    paths: list[str] = []
    for entry in value or []:
        names = [entry] if isinstance(entry, str) else list(entry) if isinstance(entry, dict) else []
        paths.extend(_norm(str(name), wdir) for name in names if "${" not in str(name))
    return paths


def _dvc_file_outs(root: Path, dvc_files: list[str]) -> set[str]:
    outs = set()
    for rel in dvc_files:
        try:
            data = dvcfile.load_plain(root / rel)
        except (OSError, ConfigError):
            continue
        wdir = str(PurePosixPath(rel).parent)
        if isinstance(data, dict):
            for out in data.get("outs") or []:
                if isinstance(out, dict) and out.get("path"):
                    outs.add(_norm(str(out["path"]), wdir))
    return outs


def _ls_files(repo: git.Repo, *args: str) -> list[str]:
    out = repo.git.ls_files("-z", *args)
    return [p for p in out.split("\0") if p]


def pipeline_inputs(repo: git.Repo, root: Path) -> PipelineInputs:
    produced: set[str] = {"dvc.lock"}
    frozen: set[str] = set()
    deps: list[str] = []
    for stage in dvcfile.stages(root).values():
        if "cmd" not in stage:
            continue
        wdir = str(stage.get("wdir") or ".")
        for key in ("outs", "metrics", "plots"):
            produced.update(_entries(stage.get(key), wdir))
        deps.extend(_entries(stage.get("deps"), wdir))
        if stage.get("frozen"):
            frozen.update(_entries(stage.get("outs"), wdir))
    dvc_files = _ls_files(repo, "--cached", "--others", "--exclude-standard", "--", "*.dvc")
    tracked = _dvc_file_outs(root, dvc_files)
    external = tuple(dict.fromkeys(d for d in deps if not under(d, produced)))
    return PipelineInputs(
        external=external, produced=frozenset(produced), dvc_tracked=frozenset(tracked), frozen_outs=frozenset(frozen)
    )


def dirty_inputs(repo: git.Repo, root: Path) -> list[str]:
    """Changed or untracked files that are pipeline inputs (dvc.yaml, a stage dep, a params file,
    a `.dvc` file): what makes a run unreproducible from its commit. Anything else (notes, the
    workflow files `mlci init --workflows` writes, a stage's outputs) is not.
    """
    from mlci.store import gitrepo

    inputs = pipeline_inputs(repo, root)
    declared = set(dvcfile.stage_inputs(root)) | {"dvc.yaml"}
    return [
        p
        for p in gitrepo.changed_paths(repo)
        if (under(p, declared) or p.endswith(".dvc") or p.rsplit("/", 1)[-1] == "dvc.yaml")
        and not under(p, set(inputs.produced))
    ]


def untracked_inputs(repo: git.Repo, root: Path, inputs: PipelineInputs | None = None) -> list[str]:
    """Stage inputs that neither git nor DVC tracks: a commit cannot bring them back."""
    inputs = inputs or pipeline_inputs(repo, root)
    existing = [d for d in inputs.external if (root / d).exists()]
    if not existing:
        return []
    # --others without --exclude-standard: git-ignored files are untracked too.
    loose = _ls_files(repo, "--others", "--", *existing)
    covered = set(inputs.produced) | set(inputs.dvc_tracked)
    bad = {dep for path in loose if not under(path, covered) for dep in existing if under(path, {dep})}
    return sorted(bad)


@dataclass(frozen=True)
class PinReport:
    """What pins this repo's Python dependencies: a lock file, or fully pinned requirement files."""

    lock_files: tuple[str, ...]
    pinned_files: tuple[str, ...]
    unpinned: dict[str, tuple[str, ...]]  # file -> entries that pin no exact version

    @property
    def pinned(self) -> bool:
        return bool(self.lock_files or self.pinned_files)


def _requirement_lines(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if line and not line.startswith("-"):  # -r / -c / -e / --hash options are not packages
            lines.append(line.split(" --hash", 1)[0].strip())
    return lines


def _unpinned_requirements(text: str) -> list[str] | None:
    """Entries without an exact pin; None when the file lists no package at all."""
    lines = _requirement_lines(text)
    if not lines:
        return None
    return [line for line in lines if not _PIP_PIN.match(line)]


def _unpinned_environment(text: str) -> list[str] | None:
    import yaml

    try:
        data = safeyaml.load(text, "environment.yml", ConfigError) or {}
    except (yaml.YAMLError, ConfigError):
        return ["(unparsable YAML)"]
    entries = data.get("dependencies") if isinstance(data, dict) else None
    if not entries:
        return None
    bad = []
    for entry in entries:
        if isinstance(entry, str):
            if entry.strip() != "pip" and not _CONDA_PIN.match(entry.strip()):  # pip itself: the installer
                bad.append(entry)
        elif isinstance(entry, dict):
            for pip_line in entry.get("pip") or []:
                if isinstance(pip_line, str) and not pip_line.startswith("-") and not _PIP_PIN.match(pip_line):
                    bad.append(pip_line)
    return bad


def pins(repo: git.Repo, root: Path) -> PinReport:
    # Top-level candidates only (git's `*` also crosses `/`: requirements/*.txt); the regexes decide.
    candidates = [*LOCK_FILES, "pylock.*.toml", "requirements*", "constraints*.txt", *_ENVIRONMENT]
    files = _ls_files(repo, "--cached", "--others", "--exclude-standard", "--", *candidates)
    locks, pinned, unpinned = [], [], {}
    for rel in sorted(files):
        if rel in LOCK_FILES or _PYLOCK.match(rel):
            locks.append(rel)
            continue
        if _REQUIREMENTS.match(rel):
            check = _unpinned_requirements
        elif rel in _ENVIRONMENT:
            check = _unpinned_environment
        else:
            continue
        try:
            bad = check((root / rel).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if bad is None:
            continue
        if bad:
            unpinned[rel] = tuple(bad)
        else:
            pinned.append(rel)
    return PinReport(lock_files=tuple(locks), pinned_files=tuple(pinned), unpinned=unpinned)


def _shown(items: list[str] | tuple[str, ...], limit: int = 5) -> str:
    return ", ".join(items[:limit]) + (" …" if len(items) > limit else "")


def check(repo: git.Repo, root: Path) -> list[str]:
    """Warnings for `mlci run`: untracked data inputs, unpinned dependencies."""
    warnings = []
    loose = untracked_inputs(repo, root)
    if loose:
        warnings.append(
            f"data inputs tracked by neither git nor DVC ({_shown(loose)}): "
            f"`dvc add {loose[0]}` and commit the .dvc file so this run can be reproduced"
        )
    report = pins(repo, root)
    if not report.pinned:
        if report.unpinned:
            file, entries = next(iter(report.unpinned.items()))
            warnings.append(
                f"unpinned dependencies in {file} ({_shown(entries)}): pin exact versions (pkg==1.2.3) "
                "or commit a lock file so this run can be reproduced"
            )
        else:
            warnings.append(
                "no pinned dependencies (requirements.txt with == pins, poetry.lock, uv.lock, …): "
                "commit one (e.g. `pip freeze > requirements.txt`) so this run can be reproduced"
            )
    return warnings
