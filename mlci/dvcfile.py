"""Read `dvc.yaml` and `dvc.lock` as plain YAML: fast, and no `dvc` import on the hot path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlci.errors import ConfigError


def _load(path: Path) -> dict[str, Any]:
    import yaml

    if not path.exists():
        return {}
    if not path.is_file() and not path.is_dir():  # a FIFO or device would block or never end
        raise ConfigError(f"{path.name} is not a regular file; DVC expects a YAML file there")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path.name}: cannot parse YAML ({getattr(exc, 'problem', exc)}); fix the syntax") from exc
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name}: not UTF-8 text; save it as UTF-8") from None
    except IsADirectoryError:
        raise ConfigError(f"{path.name} is a directory; DVC expects a YAML file there") from None
    except RecursionError:
        raise ConfigError(f"{path.name}: nested too deeply; fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping at top level; fix the file")
    for key in ("stages", "artifacts"):
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            raise ConfigError(f"{path.name}: '{key}' must be a mapping of names to entries, got a {type(data[key]).__name__}; see DVC's dvc.yaml reference")
    for name, stage in (data.get("stages") or {}).items():
        if not isinstance(stage, dict):
            raise ConfigError(f"{path.name}: stage '{name}' must be a mapping with a 'cmd'; see DVC's dvc.yaml reference")
    return data


def _entry_paths(entries: list | None) -> list[str]:
    """DVC lists entries as `path` or `{path: {options}}`."""
    paths = []
    for entry in entries or []:
        if isinstance(entry, str):
            paths.append(entry)
        elif isinstance(entry, dict):
            paths.extend(str(k) for k in entry)
    return paths


def stages(root: Path) -> dict[str, dict[str, Any]]:
    return _load(root / "dvc.yaml").get("stages") or {}


def metrics_files(root: Path) -> list[str]:
    spec = _load(root / "dvc.yaml")
    found = _entry_paths(spec.get("metrics"))
    for stage in (spec.get("stages") or {}).values():
        found.extend(_entry_paths(stage.get("metrics")))
    return sorted(dict.fromkeys(found))


def params_files(root: Path) -> list[str]:
    """Params files the stages read; DVC's default is params.yaml."""
    found = []
    for stage in stages(root).values():
        for entry in stage.get("params") or []:
            if isinstance(entry, dict):
                found.extend(str(k) for k in entry)
            else:
                found.append("params.yaml")
    if not found and (root / "params.yaml").exists():
        found.append("params.yaml")
    return sorted(dict.fromkeys(found))


def produced_paths(root: Path) -> set[str]:
    """Everything the pipeline (or DVC itself) writes: outs, metrics, plots, dvc.lock, .dvc/."""
    produced = {"dvc.lock", ".dvc/"}
    spec = _load(root / "dvc.yaml")
    produced.update(_entry_paths(spec.get("metrics")))
    produced.update(_entry_paths(spec.get("plots")))
    for stage in (spec.get("stages") or {}).values():
        for key in ("outs", "metrics", "plots"):
            produced.update(_entry_paths(stage.get(key)))
    return produced


def lock_hashes(root: Path, text: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """(deps, outs) path -> content hash from dvc.lock; `text` reads a committed version."""
    import yaml

    if text is not None:
        lock = yaml.safe_load(text) or {}
    else:
        lock = _load(root / "dvc.lock")
    deps: dict[str, str] = {}
    outs: dict[str, str] = {}
    for stage in (lock.get("stages") or {}).values():
        for target, key in ((deps, "deps"), (outs, "outs")):
            for item in stage.get(key) or []:
                digest = item.get("md5") or item.get("etag") or item.get("checksum") or ""
                if item.get("path"):
                    target[item["path"]] = str(digest)
    return deps, outs
