"""The run record: the one currency every later step reads and none re-derives.

A record says what was run (commit, params, data hashes, environment), what it produced
(metrics, artifact digests, stage timings) and, once judged, the gate verdict. It is stored
in git next to the commit it measured (see `mlci.baseline`) as one line of JSON, so its
serialisation is compact, key-sorted and versioned by `SCHEMA_VERSION`.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from mlci.errors import DataError

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Artifact:
    """A file (or directory) the pipeline produced, identified by content."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class StageRun:
    """One DVC stage in one `mlci run`: whether it executed and how long it took."""

    name: str
    status: str  # "ran" | "skipped" (unchanged) | "restored" (from DVC's run-cache) | "failed"
    seconds: float


@dataclass
class RunRecord:
    commit: str
    branch: str | None
    dirty: bool
    params: dict[str, dict[str, Any]]  # params file -> flattened key -> value
    metrics: dict[str, dict[str, float]]  # metrics file -> flattened key -> value
    deps: dict[str, str] = field(default_factory=dict)  # dvc.lock dep path -> hash
    outs: dict[str, str] = field(default_factory=dict)  # dvc.lock out path -> hash
    stages: list[StageRun] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Artifact] = field(default_factory=dict)  # role ("model", ...) -> file
    warnings: list[str] = field(default_factory=list)  # why this run may not reproduce
    gate: dict[str, Any] | None = None  # a serialised gate verdict, once judged
    extra: dict[str, Any] = field(default_factory=dict)  # per-capability data (profiles, runner facts)
    pr: int | None = None  # the pull request this run measured, when run by `mlci ci`
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    created_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds")
    )
    schema: int = SCHEMA_VERSION

    @property
    def model(self) -> Artifact | None:
        return self.artifacts.get("model")

    def flat_metrics(self) -> dict[tuple[str, str], float]:
        return {(f, k): v for f, vals in self.metrics.items() for k, v in vals.items()}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, *, indent: int | None = None) -> str:
        if indent is None:
            return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        schema = data.get("schema")
        if schema != SCHEMA_VERSION:
            raise DataError(
                f"run record {data.get('id', '?')} has schema {schema!r}, this mlci reads "
                f"{SCHEMA_VERSION}; upgrade mlci (pip install -U mlci)"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["stages"] = [StageRun(**s) for s in data.get("stages", [])]
        values["artifacts"] = {k: Artifact(**a) for k, a in data.get("artifacts", {}).items()}
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"run record is not valid JSON ({exc}); re-run `mlci run`") from exc
        return cls.from_dict(data)
