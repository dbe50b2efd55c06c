"""The run record: the one currency every later step reads and none re-derives.

A record says what was run (commit, params, data hashes, environment), what it produced
(metrics, artifact digests, stage timings) and, once judged, the gate verdict. It is stored
in git next to the commit it measured (see `mlci.store.baseline`) as one line of JSON, so its
serialisation is compact, key-sorted and versioned by `SCHEMA_VERSION`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlci.errors import DataError, NewerSchema
from mlci.model import numbers
from mlci.model.shown import show

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
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    schema: int = SCHEMA_VERSION

    @property
    def model(self) -> Artifact | None:
        return self.artifacts.get("model")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, *, indent: int | None = None) -> str:
        if indent is None:
            return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return json.dumps(self.to_dict(), sort_keys=True, indent=indent)

    def digest(self) -> str:
        """sha256 of the canonical JSON (`to_json()`: compact, key-sorted), i.e. of the note line.

        The CI run that publishes a record names this digest in its `mlci` check, so any later
        change (another model digest, a flipped gate, other metrics) makes the record a stranger
        to its run. Digest the record as shared: after `attach_gate`, not before.
        """
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, data: Any) -> RunRecord:
        """Validate and build; older schemas are migrated first, newer ones refused (upgrade mlci)."""
        if not isinstance(data, dict):
            raise DataError(f"run record is a JSON {type(data).__name__}, not an object; run `mlci record repair`")
        schema = data.get("schema")
        if isinstance(schema, bool) or not isinstance(schema, int) or schema < 0:
            raise DataError(f"run record {_rid(data)} has no valid 'schema' ({show(schema)}); run `mlci record repair`")
        if schema > SCHEMA_VERSION:
            raise NewerSchema(
                f"run record {_rid(data)} has schema {schema}, newer than this mlci reads ({SCHEMA_VERSION}); "
                "upgrade mlci (a newer mlci action ref or release)"
            )
        while schema < SCHEMA_VERSION:
            migrate = MIGRATIONS.get(schema)
            if migrate is None:
                raise DataError(
                    f"run record {_rid(data)} has schema {schema}, which no mlci can read; run `mlci record repair`"
                )
            data = migrate(dict(data))
            schema = data["schema"]
        _validate(data)
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["stages"] = [StageRun(**s) for s in data.get("stages", [])]
        values["artifacts"] = {k: Artifact(**a) for k, a in data.get("artifacts", {}).items()}
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError, ValueError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply or too large"
            raise DataError(f"run record is not valid JSON ({reason}); run `mlci record repair`") from None
        return cls.from_dict(data)


def _rid(data: dict) -> str:
    rid = data.get("id")
    return rid if isinstance(rid, str) and rid.isalnum() and len(rid) <= 64 else "?"


# schema N -> a function turning a schema-N record (dict) into a schema-(N+1) one. Records
# are never rewritten in place: old notes stay as written and are migrated on every read.
def _from_schema_0(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 0 (pre-release) had no stage timings, environment or artifacts, and `metrics`
    as one flat mapping for a single `metrics.json`."""
    metrics = data.get("metrics", {})
    if isinstance(metrics, dict) and metrics and all(not isinstance(v, dict) for v in metrics.values()):
        data["metrics"] = {"metrics.json": metrics}
    data.setdefault("stages", [])
    data.setdefault("artifacts", {})
    data["schema"] = 1
    return data


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {0: _from_schema_0}

_REQUIRED = {"commit": str, "dirty": bool, "params": dict, "metrics": dict}
_OPTIONAL = {
    "branch": (str, type(None)),
    "deps": dict,
    "outs": dict,
    "stages": list,
    "environment": dict,
    "artifacts": dict,
    "warnings": list,
    "gate": (dict, type(None)),
    "extra": dict,
    "pr": (int, type(None)),
    "id": str,
    "created_at": str,
}


def _validate(data: dict[str, Any]) -> None:
    """A record is read from a note anyone could have written: check every field's shape."""

    def bad(why: str) -> DataError:
        return DataError(f"run record {_rid(data)} is malformed ({why}); run `mlci record repair`")

    for key in _REQUIRED:
        if key not in data:
            raise bad(f"no '{key}'")
    expected: dict[str, Any] = {**_REQUIRED, **_OPTIONAL}
    for key, kind in expected.items():
        if key in data and (not isinstance(data[key], kind) or (kind is not bool and isinstance(data[key], bool))):
            raise bad(f"'{key}' has the wrong type")
    huge = numbers.oversized(data)  # a 400-digit int is valid JSON; float() of it raises OverflowError
    if huge is not None:
        raise bad(f"holds {numbers.describe(huge)}, out of range")
    for file, values in data["metrics"].items():
        if not isinstance(values, dict):
            raise bad(f"metrics of {str(file)[:80]!r} are not a mapping")
        for key, value in values.items():
            if not numbers.in_range(value):
                raise bad(f"metric {str(key)[:80]!r} is not a finite number {numbers.RANGE}")
    for file, values in data["params"].items():
        if not isinstance(values, dict):
            raise bad(f"params of {str(file)[:80]!r} are not a mapping")
    for stage in data.get("stages", []):
        if (
            not isinstance(stage, dict)
            or set(stage) != {"name", "seconds", "status"}
            or not isinstance(stage["name"], str)
            or not isinstance(stage["status"], str)
            or isinstance(stage["seconds"], bool)
            or not isinstance(stage["seconds"], (int, float))
        ):
            raise bad("a stage is not {name, status, seconds}")
    for role, artifact in data.get("artifacts", {}).items():
        if (
            not isinstance(artifact, dict)
            or set(artifact) != {"path", "sha256", "size"}
            or not isinstance(artifact["path"], str)
            or not isinstance(artifact["sha256"], str)
            or isinstance(artifact["size"], bool)
            or not isinstance(artifact["size"], int)
        ):
            raise bad(f"artifact {str(role)[:80]!r} is not {{path, sha256, size}}")
