"""Read `dvc.yaml` and `dvc.lock`: plain YAML first (fast, no `dvc` import on the hot path),
DVC's own resolver only for what plain reading cannot answer (`vars`, `${…}`, `foreach`,
`matrix`), so templated pipelines mean exactly what they mean to `dvc repro`.

Paths are returned relative to the repo root, a stage's `wdir` applied, as DVC reports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from mlci.errors import ConfigError
from mlci.model.shown import show
from mlci.store import safeyaml

DEFAULT_PARAMS = "params.yaml"
_resolved_cache: dict[tuple, dict[str, Any]] = {}


def _load(path: Path, text: str | None = None) -> dict[str, Any]:
    """dvc.yaml or dvc.lock (or `text`, a committed version of one), bounded (mlci.store.safeyaml):
    duplicate stages are refused as DVC refuses them, merge keys accepted."""
    import yaml

    if text is None:
        if not path.exists():
            return {}
        text = safeyaml.read_text(path, path.name, ConfigError, hint="DVC expects a YAML file there")
    try:
        data = safeyaml.load(text, path.name, ConfigError) or {}
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path.name}: cannot parse YAML ({problem}); fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping at top level; fix the file")
    for key in ("stages", "artifacts"):
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            raise ConfigError(
                f"{path.name}: '{key}' must be a mapping of names to entries, got a {type(data[key]).__name__}; see DVC's dvc.yaml reference"
            )
    for name, stage in (data.get("stages") or {}).items():
        if not isinstance(stage, dict):
            raise ConfigError(
                f"{path.name}: stage '{name}' must be a mapping with a 'cmd'; see DVC's dvc.yaml reference"
            )
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


def _resolve_with_dvc(root: Path, data: dict[str, Any]) -> dict[str, Any]:
    from dvc.parsing import DataResolver
    from dvc.repo import Repo

    try:
        with Repo(str(root), uninitialized=True) as repo:
            resolver = DataResolver(repo, str(root), data)
            resolved = dict(resolver.resolve())
            resolved["metrics"] = resolver.resolve_metrics()
            resolved["plots"] = resolver.resolve_plots()
            resolved["params"] = resolver.resolve_params()
            resolved["artifacts"] = resolver.resolve_artifacts()
    except Exception as exc:  # noqa: BLE001 - DVC's own message says what is wrong
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"dvc.yaml: DVC cannot resolve it ({message}); fix the templating (`dvc repro --dry` shows the same)"
        ) from None
    return resolved


def spec(root: Path) -> dict[str, Any]:
    """dvc.yaml as DVC sees it: foreach/matrix expanded to `name@key` stages, `${…}` filled in."""
    path = root / "dvc.yaml"
    data = _load(path)
    if not is_templated(data):
        return _check_lists(data)
    sources = [
        path,
        root / DEFAULT_PARAMS,
        *(root / str(v).split(":", 1)[0] for v in data.get("vars") or [] if isinstance(v, str)),
    ]
    key = tuple((str(p), p.stat().st_mtime_ns if p.is_file() else 0) for p in sources)
    if key not in _resolved_cache:
        _resolved_cache.clear()
        _resolved_cache[key] = _check_lists(_resolve_with_dvc(root, data))
    return _resolved_cache[key]


_LISTS = ("metrics", "plots", "params")  # top level; a stage also lists deps and outs


def _check_lists(data: dict[str, Any]) -> dict[str, Any]:
    """`plots: 5` or `deps: data.csv` is not a pipeline DVC runs: one line, not a TypeError later."""
    places: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [("", data, _LISTS)]
    places += [(f"stage {show(n)}: ", s, (*_LISTS, "deps", "outs")) for n, s in (data.get("stages") or {}).items()]
    for where, section, keys in places:
        for key in keys:
            if section.get(key) is not None and not isinstance(section[key], list):
                raise ConfigError(
                    f"dvc.yaml: {where}'{key}' must be a list, got {type(section[key]).__name__} "
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
                found.append((norm(str(k), wdir), v if isinstance(v, dict) else {}))
    return found


def stages(root: Path) -> dict[str, dict[str, Any]]:
    return {name: stage for name, stage in (spec(root).get("stages") or {}).items() if isinstance(stage, dict)}


def _wdir(stage: dict[str, Any]) -> str:
    return str(stage.get("wdir") or ".")


def metrics_files(root: Path) -> list[str]:
    data = spec(root)
    found = _entry_paths(data.get("metrics"))
    for stage in (data.get("stages") or {}).values():
        if isinstance(stage, dict):
            found.extend(_entry_paths(stage.get("metrics"), _wdir(stage)))
    return sorted(dict.fromkeys(found))


def params_scope(root: Path) -> dict[str, set[str] | None]:
    """Params file -> the keys the pipeline declares (None: every key), as `dvc params diff` scopes them.

    DVC always shows all of `params.yaml`; any other file only where a stage (or the top-level
    `params:`) names it, and then only the keys named (a bare file name means every key).
    """
    data = spec(root)
    scope: dict[str, set[str] | None] = {}

    def add(file: str, keys: list | None) -> None:
        if file == DEFAULT_PARAMS or keys is None or not keys:
            scope[file] = None
        elif file not in scope or scope[file] is not None:
            scope.setdefault(file, set()).update(str(k) for k in keys)  # type: ignore[union-attr]

    for entry in data.get("params") or []:
        if isinstance(entry, str):
            add(entry, None)
        elif isinstance(entry, dict):
            for file, keys in entry.items():
                add(str(file), keys)
    for stage in (data.get("stages") or {}).values():
        if not isinstance(stage, dict):
            continue
        wdir = _wdir(stage)
        for entry in stage.get("params") or []:
            if isinstance(entry, dict):
                for file, keys in entry.items():
                    add(norm(str(file), wdir), keys)
            else:
                add(norm(DEFAULT_PARAMS, wdir), [str(entry)])
    if (root / DEFAULT_PARAMS).exists():
        scope[DEFAULT_PARAMS] = None
    return scope


def params_files(root: Path) -> list[str]:
    """Params files the stages read; DVC's default is params.yaml."""
    return sorted(params_scope(root))


def in_scope(name: str, keys: set[str] | None) -> bool:
    """A flattened param name is declared when it is a declared key or lies under one."""
    return keys is None or any(name == k or name.startswith(k + ".") for k in keys)


def produced_paths(root: Path) -> set[str]:
    """Everything the pipeline (or DVC itself) writes: outs, metrics, plots, dvc.lock, .dvc/."""
    produced = {"dvc.lock", ".dvc/"}
    data = spec(root)
    produced.update(_entry_paths(data.get("metrics")))
    produced.update(p for p, _ in plot_entries(root))
    for stage in (data.get("stages") or {}).values():
        if isinstance(stage, dict):
            for key in ("outs", "metrics", "plots"):
                produced.update(_entry_paths(stage.get(key), _wdir(stage)))
    return produced


def plot_entries(root: Path) -> list[tuple[str, dict[str, Any]]]:
    """(path or plot id, options) of every plot dvc.yaml declares, top-level first.

    Top-level plots may be an id with `y: {file: column}`; their files are in the options.
    """
    data = spec(root)
    found = _entry_options(data.get("plots"))
    for stage in (data.get("stages") or {}).values():
        if isinstance(stage, dict):
            found.extend(_entry_options(stage.get("plots"), _wdir(stage)))
    return found


def artifacts(root: Path) -> dict[str, dict[str, Any]]:
    """`artifacts:` of dvc.yaml: name -> {path, type, desc, …}."""
    found = spec(root).get("artifacts") or {}
    return {str(k): dict(v) for k, v in found.items() if isinstance(v, dict) and v.get("path")}


def stage_inputs(root: Path) -> list[str]:
    """Every dep and params file a stage reads (root-relative), in dvc.yaml order."""
    found: list[str] = []
    for stage in stages(root).values():
        wdir = _wdir(stage)
        found.extend(_entry_paths(stage.get("deps"), wdir))
        for entry in stage.get("params") or []:
            files = [str(f) for f in entry] if isinstance(entry, dict) else [DEFAULT_PARAMS]
            found.extend(norm(f, wdir) for f in files)
    return list(dict.fromkeys(found))


def lock_text(root: Path) -> str | None:
    """The working tree's dvc.lock (bounded, a regular UTF-8 file), None when there is none."""
    path = root / "dvc.lock"
    if not path.exists():
        return None
    return safeyaml.read_text(path, "dvc.lock", ConfigError, hint="DVC writes a YAML file there")


def lock_hashes(
    root: Path, text: str | None = None, *, source: str = "dvc.lock"
) -> tuple[dict[str, str], dict[str, str]]:
    """(deps, outs) path -> content hash from dvc.lock; `text` reads a committed version
    (`source` names it in messages). A malformed lock is one ConfigError line, never a traceback."""
    lock = _load(Path(source), text) if text is not None else _load(root / "dvc.lock")
    deps: dict[str, str] = {}
    outs: dict[str, str] = {}
    for name, stage in (lock.get("stages") or {}).items():
        for target, key in ((deps, "deps"), (outs, "outs")):
            items = stage.get(key) or []
            if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                raise ConfigError(
                    f"{source}: '{key}' of stage {show(name)} must be a list of {{path, md5}} entries; "
                    "regenerate it with `dvc repro` (or `dvc commit`)"
                )
            for item in items:
                digest = item.get("md5") or item.get("etag") or item.get("checksum") or ""
                path = item.get("path")
                if path:
                    target[str(path)] = str(digest)
    return deps, outs


def _cache_dir(root: Path) -> Path:
    """The local DVC cache: `.dvc/cache` unless `.dvc/config(.local)` moves it."""
    import configparser

    found = root / ".dvc" / "cache"
    for name in ("config", "config.local"):
        parser = configparser.ConfigParser()
        try:
            parser.read(root / ".dvc" / name, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError):
            continue
        if parser.has_option("cache", "dir"):
            found = (root / ".dvc" / parser.get("cache", "dir").strip()).resolve()
    return found


def _cache_object(cache: Path, md5: str) -> Path | None:
    for candidate in (cache / "files" / "md5" / md5[:2] / md5[2:], cache / md5[:2] / md5[2:]):  # DVC 3, DVC 2
        if candidate.is_file():
            return candidate
    return None


def _lock_outs(lock_text: str | None) -> Iterator[tuple[str, str]]:
    """(path, md5) of every stage output a dvc.lock records; nothing for an unreadable lock."""
    if not lock_text:
        return
    try:
        lock = _load(Path("dvc.lock"), lock_text)
    except ConfigError:
        return
    stages = lock.get("stages") if isinstance(lock, dict) else None
    for stage in stages.values() if isinstance(stages, dict) else []:
        outs = stage.get("outs") if isinstance(stage, dict) else None
        for item in outs if isinstance(outs, list) else []:
            if isinstance(item, dict):  # dvc.lock paths are relative to the stage's wdir (written only when not ".")
                yield norm(str(item.get("path", ""))), str(item.get("md5") or "")


def read_cached(root: Path, lock_text: str | None, path: str) -> bytes | None:
    """`path` as recorded in a dvc.lock (a stage out or a file inside a directory out), read from
    the local DVC cache by its hash: no DVC import, no network. None when the cache lacks it.
    """
    import json

    cache = _cache_dir(root)
    for out, md5 in _lock_outs(lock_text):
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


def is_dvc_output(lock_text: str | None, path: str) -> bool:
    """Whether a dvc.lock records `path` as (or inside) a stage output."""
    return any(path == out or path.startswith(out + "/") for out, _md5 in _lock_outs(lock_text))
