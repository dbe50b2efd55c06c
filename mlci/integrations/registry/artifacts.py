"""Artifact declarations: which file is the model called `churn`.

Both places GTO and DVC look are read: DVC 3's `artifacts:` section in `dvc.yaml`
(`artifacts: {churn: {path: models/model.txt, type: model}}`) and GTO's `artifacts.yaml`
(same shape). `read` returns a file's text (the workspace's, or a commit's via git show),
so a version registered long ago is resolved against the declarations of its own commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlci.errors import ConfigError
from mlci.store import safeyaml


@dataclass(frozen=True)
class Declaration:
    name: str
    path: str
    type: str | None = None


def declarations(read: Callable[[str], str | None]) -> dict[str, Declaration]:
    """name -> Declaration from dvc.yaml `artifacts:` and artifacts.yaml (dvc.yaml wins)."""
    import yaml

    found: dict[str, Declaration] = {}
    for file, section in (("artifacts.yaml", None), ("dvc.yaml", "artifacts")):
        text = read(file)
        if not text:
            continue
        try:
            data = safeyaml.load(text, file, ConfigError) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"{file}: cannot parse YAML ({getattr(exc, 'problem', None) or 'invalid YAML'}); fix the syntax"
            ) from None
        if not isinstance(data, dict):
            continue
        entries = data.get(section) if section else data
        if not isinstance(entries, dict):
            continue
        for name, spec in entries.items():
            if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
                raise ConfigError(f"{file}: artifact '{name}' needs a 'path:' string; e.g. path: models/model.txt")
            found[str(name)] = Declaration(name=str(name), path=spec["path"], type=spec.get("type"))
    return found
