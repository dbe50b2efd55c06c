"""Read a DVC project's `dvc.yaml` files and their `dvc.lock`s as DVC collects them: plain YAML
first (fast, no `dvc` import on the hot path), DVC's own resolver only for what plain reading
cannot answer (`vars`, `${…}`, `foreach`, `matrix`), so templated pipelines mean exactly what
they mean to `dvc repro`.

A project is what DVC sees (`dvc.repo.index.collect_files`): every `dvc.yaml` under the DVC
root that git does not ignore (root, `pipelines/*/dvc.yaml`, DVCLive's `dvclive/dvc.yaml`),
none inside a nested DVC project. The DVC root is the git root, or a sub-project made with
`dvc init --subdir` (found from the directory mlci was started in, or the only one there is).

Paths are returned relative to the git root, each file's directory and each stage's `wdir`
applied. Stages of a nested file are named as DVC addresses them (`pipelines/a/dvc.yaml:train`).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from mlci.errors import ConfigError
from mlci.model.shown import show
from mlci.store import safeyaml

DEFAULT_PARAMS = "params.yaml"
DVCFILE = "dvc.yaml"
LOCKFILE = "dvc.lock"
_resolved_cache: dict[tuple, dict[str, Any]] = {}
_chosen: dict[Path, str] = {}  # git root -> the DVC project this process was started in (`choose`)
_MAX_DEPTH = 4  # sub-projects searched this deep below the git root when git cannot list them


# --- which DVC project ------------------------------------------------------------------------


def _is_project(path: Path) -> bool:
    return (path / ".dvc").is_dir()


def project_dir(root: Path, start: Path | str | None = None) -> str:
    """The DVC project's directory, relative to the git root ("" for the root itself).

    From `start` (where mlci was started, `-C DIR`) upwards, the first directory with a `.dvc/`,
    as DVC finds its root. Else the git root when it is a DVC project or holds a dvc.yaml; else
    the one sub-project below it (`dvc init --subdir`). Several: a ConfigError naming them.
    """
    root = Path(root)
    if start is None and root in _chosen:
        return _chosen[root]
    if start is not None:
        here = Path(start).resolve()
        top = root.resolve()
        if here == top or top in here.parents:
            for folder in [here, *here.parents]:
                if _is_project(folder):
                    return folder.relative_to(top).as_posix() if folder != top else ""
                if folder == top:
                    break
    if _is_project(root) or (root / DVCFILE).is_file():
        return ""
    found = subprojects(root)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        shown = ", ".join(f"{p}/" for p in found[:5]) + (" …" if len(found) > 5 else "")
        raise ConfigError(
            f"this repository holds several DVC projects ({shown}); run mlci inside one, or `mlci -C {found[0]} …`"
        )
    return ""


def choose(root: Path, start: Path | str | None) -> str:
    """The project of `start` (see `project_dir`), remembered for this process: later reads of
    the same repository (a record's lock, the DVC cache) then need no `start` of their own."""
    rel = project_dir(root, start)
    if start is not None:
        _chosen[Path(root)] = rel
    return rel


def subprojects(root: Path) -> list[str]:
    """Directories below the git root holding a DVC project (`.dvc/config`), as git lists them."""
    listed = _git_files(root, ["*/.dvc/config"])
    if listed is None:  # not a git work tree: a shallow walk
        listed = [
            p.relative_to(root).as_posix()
            for depth in range(1, _MAX_DEPTH + 1)
            for p in root.glob("/".join(["*"] * depth) + "/.dvc/config")
        ]
    return sorted({str(PurePosixPath(p).parent.parent) for p in listed})


_listings: dict[tuple[str, tuple[str, ...]], list[str] | None] | None = None


@contextmanager
def command_scope() -> Iterator[None]:
    """Within one command, `git ls-files` is asked once per question: a `mlci diff` asks where
    the dvc.yaml files are seven times (config, pipeline, base, params, deps), each ask a git
    process. Outside a command (library calls) every ask goes to git."""
    global _listings
    saved, _listings = _listings, {}
    try:
        yield
    finally:
        _listings = saved


def _git_files(cwd: Path, patterns: list[str]) -> list[str] | None:
    """Tracked and untracked files (not git-ignored) under `cwd` matching `patterns`, relative to
    `cwd`; None when git cannot answer (not a work tree)."""
    if _listings is None:
        return _ask_git(cwd, patterns)
    key = (str(cwd), tuple(patterns))
    if key not in _listings:
        _listings[key] = _ask_git(cwd, patterns)
    found = _listings[key]
    return None if found is None else list(found)


def _ask_git(cwd: Path, patterns: list[str]) -> list[str] | None:
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *patterns],
            cwd=cwd,
            capture_output=True,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except OSError:
        return None
    if proc.returncode != 0:
        return None
    return sorted({p for p in proc.stdout.decode("utf-8", "replace").split("\0") if p})


def _project(root: Path, project: str | None) -> str:
    return project_dir(root) if project is None else project


def dvc_root(root: Path, project: str | None = None) -> Path:
    """The DVC project's directory (where `dvc repro` runs and `.dvc/cache` lives)."""
    rel = _project(root, project)
    return root / rel if rel else root


def dvcyaml_paths(root: Path, project: str | None = None) -> list[str]:
    """Every dvc.yaml DVC collects, relative to the git root; the project's own first.

    Git decides what is ignored (as `dvc.repo.index.collect_files` asks git), so a virtualenv
    or a data folder is never walked; a dvc.yaml inside a nested DVC project is that project's.
    """
    rel = _project(root, project)
    base = dvc_root(root, rel)
    listed = _git_files(base, [DVCFILE, f"*/{DVCFILE}"])
    if listed is None:
        listed = []
    if os.path.lexists(base / DVCFILE) and DVCFILE not in listed:
        listed.insert(0, DVCFILE)  # whatever it is (a FIFO, a directory): its reader says what is wrong
    found = []
    for path in listed:
        if PurePosixPath(path).name != DVCFILE or not os.path.lexists(base / path):
            continue  # a deleted file git still tracks
        parents = PurePosixPath(path).parents
        if any(_is_project(base / str(parent)) for parent in list(parents)[:-1]):
            continue  # inside a nested DVC project
        if any(part in (".dvc", ".git") for part in PurePosixPath(path).parts):
            continue
        found.append(str(PurePosixPath(rel) / path) if rel else path)
    own = str(PurePosixPath(rel) / DVCFILE) if rel else DVCFILE
    return sorted(found, key=lambda p: (p != own, p))


def _dir(path: str) -> str:
    parent = str(PurePosixPath(path).parent)
    return "" if parent == "." else parent


def describe(root: Path, project: str | None = None) -> str:
    """Where mlci looked, for messages: `dvc.yaml` or `ml/dvc.yaml`."""
    rel = _project(root, project)
    return f"{rel}/{DVCFILE}" if rel else DVCFILE


# --- reading one dvc.yaml ----------------------------------------------------------------------


def _load(path: Path, text: str | None = None, shown: str | None = None) -> dict[str, Any]:
    """dvc.yaml or dvc.lock (or `text`, a committed version of one), bounded (mlci.store.safeyaml):
    duplicate stages are refused as DVC refuses them, merge keys accepted."""
    import yaml

    shown = shown or path.name
    if text is None:
        if not path.exists():
            return {}
        text = safeyaml.read_text(path, shown, ConfigError, hint="DVC expects a YAML file there")
    try:
        data = safeyaml.load(text, shown, ConfigError) or {}
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{shown}: cannot parse YAML ({problem}); fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}: expected a mapping at top level; fix the file")
    for key in ("stages", "artifacts"):
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            raise ConfigError(
                f"{shown}: '{key}' must be a mapping of names to entries, got a {type(data[key]).__name__}; see DVC's dvc.yaml reference"
            )
    for name, stage in (data.get("stages") or {}).items():
        if not isinstance(stage, dict):
            raise ConfigError(f"{shown}: stage '{name}' must be a mapping with a 'cmd'; see DVC's dvc.yaml reference")
    return data


def load_plain(path: Path) -> dict[str, Any]:
    """A dvc.yaml, dvc.lock or .dvc file as written (no templating), bounded; ConfigError when unreadable."""
    return _load(path)


def is_templated(data: dict[str, Any]) -> bool:
    """Whether DVC must resolve this dvc.yaml before its paths mean anything."""
    if "vars" in data:
        return True
    for stage in (data.get("stages") or {}).values():
        if isinstance(stage, dict) and ("foreach" in stage or "matrix" in stage):
            return True
    return _mentions(data, "${", skip="vars")


def _mentions(data: Any, needle: str, skip: str) -> bool:
    """Whether any string (key or value) in `data`, outside its top-level `skip` key, holds
    `needle`. Each shared (aliased) value is visited once: `repr()` would expand an alias bomb."""
    seen: set[int] = set()
    stack = [v for k, v in data.items() if k != skip] + [k for k in data if isinstance(k, str)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if needle in item:
                return True
        elif isinstance(item, (dict, list)) and id(item) not in seen:
            seen.add(id(item))
            stack.extend(item.values() if isinstance(item, dict) else item)
            if isinstance(item, dict):
                stack.extend(k for k in item if isinstance(k, str))
    return False


def _resolve_with_dvc(project_root: Path, folder: Path, data: dict[str, Any], shown: str) -> dict[str, Any]:
    from dvc.parsing import DataResolver
    from dvc.repo import Repo

    try:
        with Repo(str(project_root), uninitialized=True) as repo:
            resolver = DataResolver(repo, str(folder), data)
            resolved = dict(resolver.resolve())
            resolved["metrics"] = resolver.resolve_metrics()
            resolved["plots"] = resolver.resolve_plots()
            resolved["params"] = resolver.resolve_params()
            resolved["artifacts"] = resolver.resolve_artifacts()
    except Exception as exc:  # noqa: BLE001 - DVC's own message says what is wrong
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"{shown}: DVC cannot resolve it ({message}); fix the templating (`dvc repro --dry` shows the same)"
        ) from None
    return resolved


def _document(root: Path, rel_file: str, project_root: Path) -> dict[str, Any]:
    """One dvc.yaml as DVC sees it: foreach/matrix expanded to `name@key` stages, `${…}` filled in."""
    path = root / rel_file
    data = _load(path, shown=rel_file)
    if not is_templated(data):
        return _check_lists(data, rel_file)
    folder = path.parent
    sources = [
        path,
        folder / DEFAULT_PARAMS,
        *(folder / str(v).split(":", 1)[0] for v in data.get("vars") or [] if isinstance(v, str)),
    ]
    key = tuple((str(p), p.stat().st_mtime_ns if p.is_file() else 0) for p in sources)
    if key not in _resolved_cache:
        if len(_resolved_cache) > 64:
            _resolved_cache.clear()
        _resolved_cache[key] = _check_lists(_resolve_with_dvc(project_root, folder, data, rel_file), rel_file)
    return _resolved_cache[key]


_LISTS = ("metrics", "plots", "params")  # top level; a stage also lists deps and outs


def _check_lists(data: dict[str, Any], shown: str = DVCFILE) -> dict[str, Any]:
    """`plots: 5` or `deps: data.csv` is not a pipeline DVC runs: one line, not a TypeError later."""
    places: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [("", data, _LISTS)]
    places += [(f"stage {show(n)}: ", s, (*_LISTS, "deps", "outs")) for n, s in (data.get("stages") or {}).items()]
    for where, section, keys in places:
        for key in keys:
            if section.get(key) is not None and not isinstance(section[key], list):
                raise ConfigError(
                    f"{shown}: {where}'{key}' must be a list, got {type(section[key]).__name__} "
                    f"{show(section[key])}; see DVC's dvc.yaml reference"
                )
    return data


def norm(path: str, wdir: str = ".") -> str:
    """`path` relative to the repo root, `wdir` applied, `..` folded, POSIX separators."""
    joined = PurePosixPath(wdir) / path if wdir not in ("", ".") else PurePosixPath(path)
    parts: list[str] = []
    for part in joined.parts:
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            else:
                parts.append(part)  # above the repo root: kept, so the config check refuses it
        elif part not in (".", ""):
            parts.append(part)
    return "/".join(parts)


def _rebase(entries: list | None, folder: str) -> list:
    """Top-level `metrics:`/`plots:`/`params:` entries of a dvc.yaml in `folder`, their paths made
    relative to the git root (a plot id whose `y` maps files keeps its id; its files move)."""
    out: list = []
    for entry in entries or []:
        if isinstance(entry, str):
            out.append(norm(entry, folder))
        elif isinstance(entry, dict):
            moved: dict[str, Any] = {}
            for key, value in entry.items():
                if isinstance(value, dict) and isinstance(value.get("y"), dict):
                    y = {norm(str(f), folder): c for f, c in value["y"].items()}
                    moved[str(key)] = {**value, "y": y}
                else:
                    moved[norm(str(key), folder)] = value
            out.append(moved)
    return out


def spec(root: Path, project: str | None = None) -> dict[str, Any]:
    """Every dvc.yaml of the project merged into one, as DVC's index sees them: stages (nested
    files' named `dir/dvc.yaml:stage`, each `wdir` relative to the git root), and top-level
    metrics, plots, params and artifacts with paths relative to the git root."""
    rel = _project(root, project)
    project_root = dvc_root(root, rel)
    return _merge([(file, _document(root, file, project_root)) for file in dvcyaml_paths(root, rel)], rel)


def _merge(documents: list[tuple[str, dict[str, Any]]], rel: str) -> dict[str, Any]:
    merged: dict[str, Any] = {"stages": {}, "metrics": [], "plots": [], "params": [], "artifacts": {}, "files": []}
    for file, data in documents:
        folder = _dir(file)
        prefix = "" if file == (f"{rel}/{DVCFILE}" if rel else DVCFILE) else f"{_relative(file, rel)}:"
        merged["files"].append(file)
        for name, stage in (data.get("stages") or {}).items():
            if isinstance(stage, dict):
                merged["stages"][f"{prefix}{name}"] = {
                    **stage,
                    "wdir": norm(str(stage.get("wdir") or "."), folder) or ".",
                    "dvcfile": file,
                    "name": str(name),
                }
        for key in _LISTS:
            merged[key].extend(_rebase(data.get(key), folder))
        for name, artifact in (data.get("artifacts") or {}).items():
            if isinstance(artifact, dict) and artifact.get("path"):
                key = str(name) if not prefix else f"{_dir(_relative(file, rel))}:{name}"
                merged["artifacts"].setdefault(key, {**artifact, "path": norm(str(artifact["path"]), folder)})
    return merged


def _relative(file: str, project: str) -> str:
    return file[len(project) + 1 :] if project and file.startswith(project + "/") else file


def _entry_paths(entries: list | None, wdir: str = ".") -> list[str]:
    """DVC lists entries as `path` or `{path: {options}}`."""
    paths = []
    for entry in entries or []:
        if isinstance(entry, str):
            paths.append(norm(entry, wdir))
        elif isinstance(entry, dict):
            paths.extend(norm(str(k), wdir) for k in entry)
    return paths


def _entry_options(entries: list | None, wdir: str = ".") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    for entry in entries or []:
        if isinstance(entry, str):
            found.append((norm(entry, wdir), {}))
        elif isinstance(entry, dict):
            for k, v in entry.items():
                is_id = isinstance(v, dict) and isinstance(v.get("y"), dict)
                found.append((str(k) if is_id else norm(str(k), wdir), v if isinstance(v, dict) else {}))
    return found


def stages(root: Path, project: str | None = None) -> dict[str, dict[str, Any]]:
    """Stage address -> stage, its `wdir` relative to the git root (see `spec`)."""
    return dict(spec(root, project)["stages"])


def _wdir(stage: dict[str, Any]) -> str:
    return str(stage.get("wdir") or ".")


def metrics_files(root: Path, project: str | None = None) -> list[str]:
    data = spec(root, project)
    found = _entry_paths(data.get("metrics"))
    for stage in data["stages"].values():
        found.extend(_entry_paths(stage.get("metrics"), _wdir(stage)))
    return sorted(dict.fromkeys(found))


def params_scope(root: Path, project: str | None = None) -> dict[str, set[str] | None]:
    """Params file -> the keys the pipeline declares (None: every key), as `dvc params diff` scopes them.

    DVC always shows all of the project's `params.yaml`, and all of a file a dvc.yaml lists at
    top level (DVCLive's `params.yaml`); any other file only where a stage names it, and then
    only the keys named (a bare file name means every key).
    """
    rel = _project(root, project)
    default = norm(DEFAULT_PARAMS, rel or ".")
    return _scope(spec(root, rel), default, (root / default).exists())


def params_scope_at(
    root: Path, files: list[str], show: Callable[[str], str | None], project: str | None = None
) -> dict[str, set[str] | None] | None:
    """`params_scope` as a commit declared it (`files`: every path of that commit, `show` reads one),
    as `dvc params diff` scopes each revision by its own dvc.yaml files. None when a dvc.yaml
    there needs DVC's templating (the caller then uses the working tree's scope)."""
    rel = _project(root, project)
    documents = []
    for file in files:
        inside = _relative(file, rel) if rel else file
        if PurePosixPath(file).name != DVCFILE or (rel and inside == file):
            continue
        parents = list(PurePosixPath(inside).parents)[:-1]
        if any(f"{rel + '/' if rel else ''}{parent}/.dvc/config" in files for parent in parents):
            continue  # a nested DVC project's
        text = show(file)
        if text is None:
            continue
        data = _load(Path(file), text, shown=file)
        if is_templated(data):
            return None
        documents.append((file, _check_lists(data, file)))
    default = norm(DEFAULT_PARAMS, rel or ".")
    return _scope(_merge(documents, rel), default, default in files)


def _scope(data: dict[str, Any], default: str, has_default: bool) -> dict[str, set[str] | None]:
    scope: dict[str, set[str] | None] = {}

    def add(file: str, keys: list | None) -> None:
        if keys is None or not keys:
            scope[file] = None
        elif file not in scope or scope[file] is not None:
            scope.setdefault(file, set()).update(str(k) for k in keys)  # type: ignore[union-attr]

    for entry in data.get("params") or []:
        if isinstance(entry, str):
            add(entry, None)
        elif isinstance(entry, dict):
            for file, keys in entry.items():
                add(str(file), keys if isinstance(keys, list) else None)
    for stage in data["stages"].values():
        wdir = _wdir(stage)
        for entry in stage.get("params") or []:
            if isinstance(entry, dict):
                for file, keys in entry.items():
                    add(norm(str(file), wdir), keys if isinstance(keys, list) else None)
            else:
                add(norm(DEFAULT_PARAMS, wdir), [str(entry)])
    if has_default:
        scope[default] = None
    return scope


def params_files(root: Path, project: str | None = None) -> list[str]:
    """Params files the stages read; DVC's default is the project's params.yaml."""
    return sorted(params_scope(root, project))


def in_scope(name: str, keys: set[str] | None) -> bool:
    """A flattened param name is declared when it is a declared key or lies under one."""
    return keys is None or any(name == k or name.startswith(k + ".") for k in keys)


def produced_paths(root: Path, project: str | None = None) -> set[str]:
    """Everything the pipeline (or DVC itself) writes: outs, metrics, plots, dvc.lock, .dvc/."""
    data = spec(root, project)
    produced = {norm(LOCKFILE, _dir(f) or ".") for f in data["files"]} | {
        norm(".dvc/", _project(root, project) or ".") + "/"
    }
    produced.update(_entry_paths(data.get("metrics")))
    produced.update(p for p, _ in plot_entries(root, project))
    for stage in data["stages"].values():
        for key in ("outs", "metrics", "plots"):
            produced.update(_entry_paths(stage.get(key), _wdir(stage)))
    return produced


def plot_entries(root: Path, project: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(path or plot id, options) of every plot the dvc.yaml files declare, top-level first.

    Top-level plots may be an id with `y: {file: column}`; their files are in the options.
    """
    data = spec(root, project)
    found = _entry_options(data.get("plots"))
    for stage in data["stages"].values():
        found.extend(_entry_options(stage.get("plots"), _wdir(stage)))
    return found


def artifacts(root: Path, project: str | None = None) -> dict[str, dict[str, Any]]:
    """`artifacts:` of the dvc.yaml files: name -> {path, type, desc, …} (paths from the git root)."""
    return {str(k): dict(v) for k, v in spec(root, project)["artifacts"].items()}


def stage_inputs(root: Path, project: str | None = None) -> list[str]:
    """Every dep and params file a stage reads (root-relative), in dvc.yaml order."""
    found: list[str] = []
    for stage in stages(root, project).values():
        wdir = _wdir(stage)
        found.extend(_entry_paths(stage.get("deps"), wdir))
        for entry in stage.get("params") or []:
            files = [str(f) for f in entry] if isinstance(entry, dict) else [DEFAULT_PARAMS]
            found.extend(norm(f, wdir) for f in files)
    return list(dict.fromkeys(found))


# --- dvc.lock ---------------------------------------------------------------------------------

Locks = dict[str, str]  # dvc.lock path (from the git root) -> its text


def lock_paths(root: Path, project: str | None = None) -> list[str]:
    """The dvc.lock beside each dvc.yaml of the project (from the git root)."""
    rel = _project(root, project)
    files = dvcyaml_paths(root, rel) or [f"{rel}/{DVCFILE}" if rel else DVCFILE]
    return [norm(LOCKFILE, _dir(f) or ".") for f in files]


def locks(root: Path, project: str | None = None, show: Callable[[str], str | None] | None = None) -> Locks:
    """Every dvc.lock of the project: the working tree's (bounded, regular UTF-8 files), or with
    `show` a committed version (`show(path)` -> text or None)."""
    found: Locks = {}
    for path in lock_paths(root, project):
        if show is not None:
            text = show(path)
        elif (root / path).exists():
            text = safeyaml.read_text(root / path, path, ConfigError, hint="DVC writes a YAML file there")
        else:
            text = None
        if text is not None:
            found[path] = text
    return found


def lock_text(root: Path) -> str | None:
    """The project's own dvc.lock (bounded, a regular UTF-8 file), None when there is none."""
    path = lock_paths(root)[0]
    return locks(root).get(path)


def _as_locks(root: Path | None, lock: str | Locks | None) -> Locks:
    """A single lock text is the project's own dvc.lock (or the git root's, without a root)."""
    if lock is None:
        return {}
    if isinstance(lock, dict):
        return lock
    if root is None:
        return {LOCKFILE: lock}
    try:
        return {lock_paths(root)[0]: lock}
    except ConfigError:
        return {LOCKFILE: lock}


def _stage_wdirs(root: Path | None) -> dict[tuple[str, str], str]:
    """(dvc.lock path, stage name) -> the stage's wdir from the git root, from the working tree's
    dvc.yaml files: dvc.lock paths are relative to it. {} when they cannot be read."""
    if root is None:
        return {}
    try:
        found = stages(root)
    except ConfigError:
        return {}
    return {(norm(LOCKFILE, _dir(s["dvcfile"]) or "."), str(s["name"])): _wdir(s) for s in found.values()}


def _lock_stages(locks_: Locks, root: Path | None) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(lock path, stage name, wdir from the git root, entry) of every stage of every lock."""
    wdirs = _stage_wdirs(root)
    for path, text in locks_.items():
        lock = _load(Path(path), text, shown=path)
        for name, stage in (lock.get("stages") or {}).items():
            yield path, str(name), wdirs.get((path, str(name)), _dir(path) or "."), stage


def lock_hashes(
    root: Path, text: str | Locks | None = None, *, source: str = "dvc.lock"
) -> tuple[dict[str, str], dict[str, str]]:
    """(deps, outs) path -> content hash from every dvc.lock of the project, paths from the git
    root; `text` reads committed versions (`locks(root, show=...)`, or one text: the project's own
    lock; `source` names it in messages). A malformed lock is one ConfigError line, never a traceback."""
    texts = locks(root) if text is None else _as_locks(root, text)
    deps: dict[str, str] = {}
    outs: dict[str, str] = {}
    try:
        entries = list(_lock_stages(texts, root))
    except ConfigError as exc:
        raise ConfigError(exc.message.replace(LOCKFILE, source, 1) if text is not None else exc.message) from None
    for lock_path, name, wdir, stage in entries:
        shown = source if text is not None and not isinstance(text, dict) else lock_path
        for target, key in ((deps, "deps"), (outs, "outs")):
            items = stage.get(key) or []
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ConfigError(
                    f"{shown}: '{key}' of stage {show(name)} must be a list of {{path, md5}} entries; "
                    "regenerate it with `dvc repro` (or `dvc commit`)"
                )
            for item in items:
                digest = item.get("md5") or item.get("etag") or item.get("checksum") or ""
                path = item.get("path")
                if path:
                    target[norm(str(path), wdir)] = str(digest)
    return deps, outs


def _cache_dir(root: Path) -> Path:
    """The local DVC cache: `.dvc/cache` of the DVC project unless `.dvc/config(.local)` moves it."""
    import configparser

    try:
        base = dvc_root(root)
    except ConfigError:
        base = root
    found = base / ".dvc" / "cache"
    for name in ("config", "config.local"):
        parser = configparser.ConfigParser()
        try:
            parser.read(base / ".dvc" / name, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        if parser.has_option("cache", "dir"):
            found = (base / ".dvc" / parser.get("cache", "dir").strip()).resolve()
    return found


def _cache_object(cache: Path, md5: str) -> Path | None:
    for candidate in (cache / "files" / "md5" / md5[:2] / md5[2:], cache / md5[:2] / md5[2:]):  # DVC 3, DVC 2
        if candidate.is_file():
            return candidate
    return None


def _lock_outs(lock: str | Locks | None, root: Path | None = None) -> Iterator[tuple[str, str]]:
    """(path from the git root, md5) of every stage output the dvc.lock files record; nothing
    for an unreadable lock."""
    texts = _as_locks(root, lock)
    for path, text in texts.items():
        try:
            entries = list(_lock_stages({path: text}, root))
        except ConfigError:
            continue
        for _lock, _name, wdir, stage in entries:
            outs = stage.get("outs") if isinstance(stage, dict) else None
            for item in outs if isinstance(outs, list) else []:
                if isinstance(item, dict):
                    yield norm(str(item.get("path", "")), wdir), str(item.get("md5") or "")


def read_cached(root: Path, lock: str | Locks | None, path: str) -> bytes | None:
    """`path` as recorded in the dvc.lock files (a stage out or a file inside a directory out),
    read from the local DVC cache by its hash: no DVC import, no network. None when the cache lacks it.
    """
    import json

    cache = _cache_dir(root)
    for out, md5 in _lock_outs(lock, root):
        if not md5:
            continue
        if out == path and not md5.endswith(".dir"):
            obj = _cache_object(cache, md5)
            return obj.read_bytes() if obj else None
        if path.startswith(out + "/") and md5.endswith(".dir"):
            listing = _cache_object(cache, md5)
            if listing is None:
                return None
            try:
                entries = json.loads(listing.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                return None
            rel = path[len(out) + 1 :]
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and entry.get("relpath") == rel and entry.get("md5"):
                    obj = _cache_object(cache, str(entry["md5"]))
                    return obj.read_bytes() if obj else None
            return None
    return None


def is_dvc_output(lock: str | Locks | None, path: str, root: Path | None = None) -> bool:
    """Whether the dvc.lock files record `path` as (or inside) a stage output."""
    return any(path == out or path.startswith(out + "/") for out, _md5 in _lock_outs(lock, root))
