"""Model registry: promote a run's model (git tags + DVC remote, or MLflow), list, show, pull.

`open_backend` picks the backend from `mlci.yaml`'s `registry:` section; nothing heavy is
imported until a backend is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from mlci.integrations.registry.base import Backend
from mlci.store.config import RegistrySettings


def open_backend(root: Path, settings: RegistrySettings) -> Backend:
    """The backend `registry.backend` names (`config.load` checked it is one of BACKENDS)."""
    if settings.backend == "mlflow":
        from mlci.integrations.registry.mlflow_backend import MlflowBackend

        # the environment overrides mlci.yaml, as MLflow's own clients do
        tracking = os.environ.get("MLFLOW_TRACKING_URI") or settings.tracking_uri
        registry = os.environ.get("MLFLOW_REGISTRY_URI") or settings.registry_uri
        return MlflowBackend(tracking, experiment=settings.experiment, registry_uri=registry)
    from mlci.integrations.registry.gto_tags import GitTagsBackend

    return GitTagsBackend(root, dvc_remote=settings.remote, git_remote=settings.git_remote)
