"""Facts about the machine a run happened on, so a mismatch can be explained later."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from mlci.runner import machine

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
