"""Model references as users type them, per backend.

- gto: `churn`, `churn@v1.2.0`, `churn#prod` (and GTO's `churn@latest` / `churn@greatest`);
- mlflow: `churn`, `churn@staging` (an alias), `churn/3`, `models:/churn@staging`,
  `models:/churn/3`, `models:/churn/latest`; mlci's `churn#staging` and `churn@3` too.

Anything else is refused with one line naming the forms that work for the configured backend.
The grammar is GTO's (names, semantic versions with a leading `v`, stages), copied here as
plain regular expressions so that parsing a reference never imports gto or mlflow.
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


GTO_FORMS = "NAME, NAME@vX.Y.Z or NAME#stage (e.g. churn#prod)"
MLFLOW_FORMS = "NAME, NAME@alias, NAME/3, models:/NAME@alias or models:/NAME/3 (e.g. churn@staging)"
_LATEST = ("latest", "greatest")


def parse(text: str, backend: str | None = None) -> ModelRef:
    """A reference for `backend` ("gto", "mlflow"; None: either form) -> ModelRef, else a UsageError."""
    text = text.strip()
    if backend == "mlflow":
        return _parse_mlflow(text)
    if text.startswith("models:/"):
        raise UsageError(f"'{text}' is an MLflow model URI, but registry.backend is gto; write {GTO_FORMS}")
    match = _REF_RE.match(text)
    if not match:
        raise UsageError(f"cannot read model reference '{text}': write {GTO_FORMS}")
    name = check_name(match["name"])
    version = match["version"]
    if version in _LATEST:
        return ModelRef(name=name)
    if version and backend == "gto" and not _VERSION_RE.match(version):
        if version.isdigit():
            raise UsageError(f"'{text}': MLflow numbers versions, gto's look like v1.2.3; write {GTO_FORMS}")
        if re.fullmatch(NAME, version):
            raise UsageError(
                f"'{text}' names no version (gto's look like v1.2.3); for the stage write {name}#{version}; "
                f"forms: {GTO_FORMS}"
            )
    if version and not version.isdigit():  # digits: an MLflow version number
        check_version(version)
    stage = check_name(match["stage"], "stage") if match["stage"] else None
    return ModelRef(name=name, version=version, stage=stage)


def _parse_mlflow(text: str) -> ModelRef:
    """MLflow's forms (its names cannot contain '/' or ':', so `NAME/3` is unambiguous)."""
    body = text.removeprefix("models:/")
    refuse = f"cannot read MLflow model reference '{text}': write {MLFLOW_FORMS}"
    name, version, stage = body, None, None
    if "/" in body:
        name, _, tail = body.partition("/")
        if tail in _LATEST:
            pass
        elif tail.isdigit():
            version = str(int(tail))
        elif re.fullmatch(NAME, tail) and "/" not in tail:
            raise UsageError(
                f"'{text}' names an MLflow stage; stages are deprecated in MLflow and mlci uses aliases: "
                f"write models:/{name}@{tail.lower()} ({MLFLOW_FORMS})"
            )
        else:
            raise UsageError(refuse)
    elif "@" in body:
        name, _, alias = body.partition("@")
        if alias.isdigit():
            version = str(int(alias))
        elif re.fullmatch(r"v[0-9]+", alias):  # MLflow reads the alias v3 as version 3
            version = alias[1:]
        elif alias in _LATEST:
            pass
        elif _VERSION_RE.match(alias):
            raise UsageError(
                f"'{text}': MLflow numbers versions itself (1, 2, 3); write {name}/3 or an alias ({MLFLOW_FORMS})"
            )
        else:
            stage = alias
    elif "#" in body and not text.startswith("models:/"):
        name, _, stage = body.partition("#")
    if not name or not re.fullmatch(NAME, name) or "/" in name or (stage is not None and not re.fullmatch(NAME, stage)):
        raise UsageError(refuse)
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
