"""Facts about the machine a run happened on, so a mismatch can be explained later."""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from mlci.errors import ConfigError
from mlci.runner import machine

EPHEMERAL = "MLCI_RUNNER_EPHEMERAL"  # set to "true" by the runner recipes in docs/runners.md

KEY_PACKAGES = ("mlci", "dvc", "lightgbm", "scikit-learn", "pandas", "numpy", "pyarrow", "matplotlib")


def package_versions(names: tuple[str, ...] = KEY_PACKAGES) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def freeze() -> list[str]:
    """`pip freeze` without spawning pip: the exact environment, for `mlci reproduce`."""
    pins = {f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions() if d.metadata["Name"]}
    return sorted(pins, key=str.lower)


def collect(root: Path | str | None = None) -> dict[str, Any]:
    """`root`: the project, where training wrote eval/train_info.json (default: the cwd)."""
    return {
        "python": platform.python_version(),
        "implementation": sys.implementation.name,
        "os": platform.platform(),
        "machine": platform.machine(),
        "cpu": machine.cpu_model(),
        "cpu_count": os.cpu_count(),
        "memory_gib": machine.memory_gib(),
        "packages": package_versions(),
        "freeze": freeze(),
        **_runner_facts(Path(root) if root is not None else Path.cwd()),
    }


def _runner_facts(root: Path) -> dict[str, Any]:
    """GPU facts (NVML only, milliseconds) and how the last training used them (see mlci.runner.doctor)."""
    from mlci.runner import doctor

    facts = doctor.quick_facts()
    facts["training"] = doctor.training_info(root)
    return facts


def declared_ephemeral(env: Mapping[str, str]) -> bool:
    """Whether the runner says it runs this one job in a fresh pod or container (docs/runners.md).

    The runner's own environment carries it (the ARC values and mlci-runner-pool.sh set it), so it
    exists before the job's first step; a job's `$GITHUB_ENV` reaches only its later steps, and
    no step of a job runs before the admission that reads this.
    """
    return env.get(EPHEMERAL, "").strip().lower() == "true"


def require_ephemeral(env: Mapping[str, str], what: str) -> None:
    """Refuse to run `what` (untrusted code) here unless the runner is declared ephemeral: on a
    persistent runner it could leave behind what the next job (and its token) runs."""
    if not declared_ephemeral(env):
        raise ConfigError(
            f"refusing to run {what} on a self-hosted runner not declared ephemeral: what it leaves behind "
            f"would reach the next job; run it on an ephemeral runner (ARC, or mlci-runner-pool.sh: see "
            f"docs/runners.md), which sets {EPHEMERAL}=true in the runner's environment"
        )
