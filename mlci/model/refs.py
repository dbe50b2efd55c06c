"""Model references as users type them: `churn`, `churn@v1.2.0`, `churn#prod`.

The grammar is GTO's (names, semantic versions with a leading `v`, stages), copied here as
plain regular expressions so that parsing a reference never imports gto.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlci.errors import RegistryError, UsageError

NAME = r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?"
SEMVER = (
    r"(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<prerelease>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?(?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
)
_NAME_RE = re.compile(f"^{NAME}$")
_VERSION_RE = re.compile(f"^v{SEMVER}$")
_REF_RE = re.compile(f"^(?P<name>{NAME})(?:@(?P<version>[^@#]+)|#(?P<stage>[^@#]+))?$")
BUMPS = ("major", "minor", "patch")


@dataclass(frozen=True)
class ModelRef:
    """A model name and at most one of: a version (`@v1.0.0`) or a stage (`#prod`)."""

    name: str
    version: str | None = None
    stage: str | None = None

    def __str__(self) -> str:
        if self.version:
            return f"{self.name}@{self.version}"
        if self.stage:
            return f"{self.name}#{self.stage}"
        return self.name


def check_name(name: str, what: str = "model name") -> str:
    if not _NAME_RE.match(name or ""):
        raise UsageError(
            f"invalid {what} '{name}': use letters, digits, '-', '_' or '/', starting and ending with a letter or digit"
        )
    return name


def check_version(version: str) -> str:
    if not _VERSION_RE.match(version or ""):
        raise UsageError(f"invalid version '{version}': use semantic versioning with a leading v, e.g. v1.2.0")
    return version


def parse(text: str) -> ModelRef:
    """`NAME`, `NAME@vX.Y.Z` (`NAME@3` for MLflow) or `NAME#stage` -> ModelRef, else a UsageError."""
    match = _REF_RE.match(text.strip())
    if not match:
        raise UsageError(
            f"cannot read model reference '{text}': write NAME, NAME@vX.Y.Z or NAME#stage (e.g. churn#prod)"
        )
    name = check_name(match["name"])
    version = match["version"]
    if version and not version.isdigit():  # digits: an MLflow version number
        check_version(version)
    stage = check_name(match["stage"], "stage") if match["stage"] else None
    return ModelRef(name=name, version=version, stage=stage)


def semver_key(version: str) -> tuple:
    """Sort key: releases after their pre-releases, numeric parts compared as numbers."""
    match = _VERSION_RE.match(version)
    if not match:
        return (-1, -1, -1, 0, ())
    pre = match["prerelease"]
    pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
    return (int(match["major"]), int(match["minor"]), int(match["patch"]), 0 if pre else 1, pre_key)


def bump(latest: str | None, how: str = "patch") -> str:
    """The version after `latest` (GTO's rules: the first version is v0.0.1 unless bumped)."""
    if how not in BUMPS:
        raise UsageError(f"--bump must be one of {', '.join(BUMPS)}, got '{how}'")
    if latest is None:
        return {"major": "v1.0.0", "minor": "v0.1.0", "patch": "v0.0.1"}[how]
    match = _VERSION_RE.match(latest)
    if match is None:
        raise RegistryError(f"'{latest}' is not a version like v1.2.3; pass --version")
    major, minor, patch = int(match["major"]), int(match["minor"]), int(match["patch"])
    if how == "major":
        return f"v{major + 1}.0.0"
    if how == "minor":
        return f"v{major}.{minor + 1}.0"
    return f"v{major}.{minor}.{patch + 1}"
