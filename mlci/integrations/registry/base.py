"""What every registry backend speaks: typed versions and promotions, one small protocol.

A backend (git tags + DVC remote, or an MLflow Model Registry) stores an artifact's bytes
and a version record; `mlci.workflows.promote` decides *whether* to promote and *what*
(record, digest, approval) and never knows how a backend stores it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlci.errors import RegistryError
from mlci.model.refs import ModelRef


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model, as any backend reports it."""

    name: str
    version: str  # "v1.2.0" (git tags) or "3" (MLflow's own numbering)
    commit: str
    sha256: str | None  # None only for versions registered by plain GTO, without mlci metadata
    size: int | None
    path: str  # the artifact's path in the repo (models/model.txt)
    stages: tuple[str, ...] = ()
    created_at: str = ""
    backend: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    card: str = ""  # the model card (markdown) stored with the version; "" when registered without mlci

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Promotion:
    """The outcome of `mlci promote`: the version, and whether this call created it."""

    version: ModelVersion
    created: bool  # False: the same digest was registered before (re-promotion is a no-op)
    stage: str | None
    stage_assigned: bool  # this call moved `stage` onto the version
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version.to_dict(),
            "created": self.created,
            "stage": self.stage,
            "stage_assigned": self.stage_assigned,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Candidate:
    """What is to be promoted: the file, its digests, and the metadata stored with it."""

    name: str
    path: str  # relative to the repo root
    file: Path  # where the bytes are now (the workspace copy or the DVC cache)
    sha256: str
    size: int
    md5: str | None  # DVC's object id (dvc.lock), when DVC tracks the file
    commit: str
    metadata: dict[str, Any]
    card: Callable[[str], str] | None = None  # the model card for the version number the backend assigns
    flavor: str | None = None  # `model.flavor` in mlci.yaml; None: read from the file (MLflow only)
    example: Path | None = None  # a table of model inputs: MLflow's input example and signature
    example_drop: tuple[str, ...] = ()  # its columns that are not inputs (ids, labels)


@dataclass(frozen=True)
class Pulled:
    """A verified download: where the file went and the version it came from."""

    version: ModelVersion
    file: Path
    sha256: str


@dataclass(frozen=True)
class Registered:
    """What `Backend.register` did: the version, and whether this call created it."""

    version: ModelVersion
    created: bool  # False: these bytes were registered already (by another clone, or a retry)


@dataclass(frozen=True)
class Event:
    """One registry event, in the shape `gto history --json` prints (newest first there too)."""

    timestamp: str
    artifact: str
    event: str  # registration | deregistration | assignment | unassignment | deprecation
    version: str | None
    stage: str | None
    commit: str
    author: str
    ref: str  # the git tag (gto), or the MLflow version URI

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Recovery:
    """What `Backend.recover` did with an interrupted write: tags pushed (finished) or deleted (undone)."""

    finished: tuple[str, ...] = ()
    undone: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"finished": list(self.finished), "undone": list(self.undone)}


class Backend(Protocol):
    """Everything `promote` and `mlci registry` use; writes are all-or-nothing, reads never write.

    Reads (`versions`, `resolve`, `history`, `pending`, `pull`) change nothing anywhere: no
    push, no tag deleted, no version touched. Whatever an interrupted write left is finished or
    undone by `recover` (explicitly, `mlci registry recover`) or by the next write (`refresh`).
    """

    kind: str

    def parse(self, text: str) -> ModelRef:
        """A reference as users type it for this backend, or a UsageError naming the forms that work."""

    def refresh(self) -> None:
        """Before a write: bring in what others registered meanwhile and recover this clone's interrupted write."""

    def recover(self) -> Recovery:
        """Finish or undo an interrupted write of this clone (the only read-side repair, and explicit)."""

    def pending(self) -> list[str]:
        """What an interrupted write left, invisible to reads until `recover` settles it."""

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every active version (of `name`, or of all active models), oldest first."""

    def resolve(self, ref: ModelRef) -> ModelVersion:
        """The version `ref` names (latest when it names neither version nor stage)."""

    def history(self, name: str | None = None) -> list[Event]:
        """Every event (of `name`), newest first; a RegistryError where the backend keeps none."""

    def register(
        self,
        candidate: Candidate,
        *,
        version: str | None,
        bump: str | None,
        stage: str | None,
        on_step: Callable[[str], None] | None = None,
    ) -> Registered:
        """Upload, verify, then create the version (and stage) atomically; retry taken numbers."""

    def assign(self, version: ModelVersion, stage: str, on_step: Callable[[str], None] | None = None) -> ModelVersion:
        """Put `version` in `stage` (the stage moves off whichever version held it)."""

    def unassign(self, version: ModelVersion, stage: str) -> ModelVersion:
        """Take `stage` off `version`."""

    def deregister(self, version: ModelVersion) -> None:
        """Retire `version`: reads no longer list or resolve it."""

    def deprecate(self, name: str) -> None:
        """Retire the whole model `name`."""

    def pull(self, ref: ModelRef, directory: Path) -> Pulled:
        """Download the bytes of `ref` into `directory`, refusing any digest mismatch."""


def pick(versions: list[ModelVersion], ref: ModelRef, *, where: str = "") -> ModelVersion:
    """The version `ref` names among `versions` (oldest first): by number, by stage, else the newest."""
    suffix = f" {where}" if where else ""
    if not versions:
        raise RegistryError(
            f"no registered versions of '{ref.name}'{suffix}; promote one with `mlci promote --model {ref.name}`"
        )
    if ref.version:
        for v in versions:
            if v.version == ref.version:
                return v
        raise RegistryError(f"{ref} is not registered{suffix}; `mlci registry list` shows the versions")
    if ref.stage:
        for v in versions:
            if ref.stage in v.stages:
                return v
        raise RegistryError(
            f"no version of '{ref.name}' is in stage '{ref.stage}'{suffix}; `mlci registry list` shows the stages"
        )
    return versions[-1]
