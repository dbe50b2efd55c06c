"""Model registry: promote a run's model (git tags + DVC remote, or MLflow), list, show, pull.

`open_backend` picks the backend from `mlci.yaml`'s `registry:` section; nothing heavy is
imported until a backend is used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlci.errors import ConfigError
from mlci.integrations.registry.base import Backend

BACKENDS = ("gto", "mlflow")


def open_backend(root: Path, section: dict[str, Any]) -> Backend:
    kind = section.get("backend", "gto")
    if kind == "gto":
        from mlci.integrations.registry.gto_tags import GitTagsBackend

        return GitTagsBackend(root, dvc_remote=section.get("remote"), git_remote=section.get("git_remote", "origin"))
    if kind == "mlflow":
        from mlci.integrations.registry.mlflow_backend import MlflowBackend

        uri = os.environ.get("MLFLOW_TRACKING_URI") or section.get("tracking_uri")
        return MlflowBackend(uri, experiment=section.get("experiment", "mlci"))
    raise ConfigError(f"mlci.yaml: 'registry.backend' must be one of {', '.join(BACKENDS)}, got {kind!r}")
