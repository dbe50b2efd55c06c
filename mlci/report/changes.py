"""What a PR changed, in a reviewer's terms: inputs (code, data), the evaluation set, stage times.

The dvc.lock dependency list mixes inputs (code, raw and prepared data) with outputs of other
stages (a model file is a "dependency" of evaluate). A reviewer wants inputs: a dependency
that some stage produces is shown only when it is a data table (its rows mean something),
never a model. The evaluation set is the data the stage writing a model's predictions reads:
when it changed, deltas compare different data and must not be called paired.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

CODE_SUFFIXES = {
    ".py",
    ".r",
    ".sh",
    ".ipynb",
    ".sql",
    ".jl",
    ".scala",
    ".java",
    ".js",
    ".ts",
    ".go",
    ".rs",
    ".c",
    ".cc",
    ".cpp",
    ".h",
    ".toml",
    ".cfg",
    ".ini",
}
DATA_SUFFIXES = {
    ".parquet",
    ".csv",
    ".tsv",
    ".feather",
    ".arrow",
    ".jsonl",
    ".orc",
    ".avro",
    ".h5",
    ".hdf5",
    ".npz",
    ".npy",
    ".pq",
    ".txt.gz",
    ".csv.gz",
}


@dataclass
class InputChange:
    path: str
    kind: str  # "code" | "data"
    change: str  # "changed" | "added" | "removed"
    base_rows: int | None = None
    head_rows: int | None = None

    def describe(self) -> str:
        """`data/test.parquet changed, 2,500 rows → 2,500 rows` (plain text; escape when rendering)."""
        text = f"{self.path} {self.change}"
        if self.base_rows is not None or self.head_rows is not None:

            def rows(n):
                return "—" if n is None else f"{n:,}"

            text += f", {rows(self.base_rows)} rows → {rows(self.head_rows)} rows"
        return text


def _stages(root: Path) -> dict[str, Any]:
    """The project's stages as DVC sees them (mlci.store.dvcfile: every dvc.yaml, templating
    resolved, `wdir` applied); {} when the pipeline cannot be read (the report still renders)."""
    from mlci.errors import ConfigError
    from mlci.store import dvcfile

    try:
        return dvcfile.stages(root)
    except ConfigError:
        return {}


def _paths(items: Any, wdir: str = ".") -> list[str]:
    """Entry paths (`path` or `{path: options}`) from the git root, the stage's `wdir` applied."""
    from mlci.store.dvcfile import norm

    found: list[str] = []
    for item in items or []:
        if isinstance(item, dict):
            found.extend(norm(str(k), wdir) for k in item)
        elif item is not None:
            found.append(norm(str(item), wdir))
    return found


def stage_outs(root: Path) -> dict[str, list[str]]:
    """stage name -> the paths (from the git root) it declares as outs, metrics or plots."""
    return {
        name: [path for key in ("outs", "metrics", "plots") for path in _paths(s.get(key), str(s.get("wdir") or "."))]
        for name, s in _stages(root).items()
    }


def _suffix(path: str) -> str:
    name = PurePosixPath(path).name.lower()
    for double in (".txt.gz", ".csv.gz"):
        if name.endswith(double):
            return double
    return PurePosixPath(name).suffix


def kind_of(path: str, produced: set[str]) -> str | None:
    """ "code", "data", or None (an intermediate that is not a table: a model, a cache)."""
    suffix = _suffix(path)
    if suffix in CODE_SUFFIXES:
        return "code"
    if path in produced:
        return "data" if suffix in DATA_SUFFIXES else None
    return "data"


def count_rows(path: Path | None, suffix: str) -> int | None:
    """Rows of a table file without loading it (parquet metadata; CSV/TSV line count), else None."""
    if path is None or not path.is_file():
        return None
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return int(pq.read_metadata(path).num_rows)
        if suffix in (".csv", ".tsv") and path.stat().st_size <= 512 * 1024 * 1024:
            with path.open("rb") as handle:
                return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1)
    except Exception:  # noqa: BLE001 - a row count is a nicety: an unreadable file just has none
        return None
    return None


def input_changes(
    root: Path, deps: list, rows: dict[str, tuple[int | None, int | None]] | None = None
) -> list[InputChange]:
    """The inputs among changed dvc.lock deps (mlci.analysis.deps.DepChange), with row counts.

    Rows come from the data profiles of the run records (`rows`) or else from the files: head's
    in the working tree, base's from the DVC cache by its dvc.lock hash.
    """
    from mlci.store.predictions import _cache_file

    produced = {p for outs in stage_outs(root).values() for p in outs}
    rows = rows or {}
    found = []
    for d in deps:
        kind = kind_of(d.path, produced)
        if kind is None:
            continue
        base_rows, head_rows = rows.get(d.path, (None, None))
        suffix = _suffix(d.path)
        if kind == "data" and base_rows is None and d.base:
            base_rows = count_rows(_cache_file(root, d.base), suffix)
        if kind == "data" and head_rows is None and d.head:
            head_rows = count_rows(root / d.path, suffix)
        found.append(InputChange(d.path, kind, d.change, base_rows, head_rows))
    return found


def evaluation_inputs(root: Path, predictions: str | None) -> list[str]:
    """The data the stage writing `predictions` reads (its non-code, non-model deps)."""
    if not predictions:
        return []
    stages = _stages(root)
    produced = {p for outs in stage_outs(root).values() for p in outs}
    for name, outs in stage_outs(root).items():
        if predictions in outs or any(predictions.startswith(o.rstrip("/") + "/") for o in outs):
            stage = stages.get(name) or {}
            deps = _paths(stage.get("deps"), str(stage.get("wdir") or "."))
            return [d for d in deps if kind_of(d, produced) == "data"]
    return []


@dataclass
class StageTime:
    name: str
    seconds: float | None
    status: str  # what the shown record did: "ran", "restored", "failed", or "unknown"
    commit: str | None = None  # the commit of the record that executed it, when not the compared one


def executed_times(repo: Any, record: Any, root: Path, *, depth: int = 50) -> dict[str, StageTime]:
    """Each stage's time from the run that actually executed it.

    A stage a run skipped (unchanged) took its outputs from an earlier run: walk the record's
    commit and its ancestors (newest first, at most `depth`) for the run that executed the
    stage and produced the same outputs. Never reports a skip as a time.
    """
    from mlci.store import baseline

    if record is None:
        return {}
    outs = stage_outs(root)
    times: dict[str, StageTime] = {}
    pending = []
    for s in record.stages:
        if s.status == "skipped":
            pending.append(s.name)
        else:
            times[s.name] = StageTime(s.name, s.seconds, s.status)
    if pending:
        try:
            commits = [c.hexsha for c in repo.iter_commits(record.commit, max_count=depth)]
        except Exception:  # noqa: BLE001 - a shallow clone or unknown commit: nothing to look up
            commits = []
        by_commit = baseline.records_by_commit(repo, commits)  # one batch read, not a git call per commit
        for commit in commits:
            if not pending:
                break
            for other in by_commit.get(commit, []):
                for s in other.stages:
                    if s.name not in pending or s.status not in ("ran", "restored"):
                        continue
                    same = all(
                        other.outs.get(p) == record.outs.get(p) for p in outs.get(s.name, []) if p in record.outs
                    )
                    if same:
                        times[s.name] = StageTime(
                            s.name, s.seconds, s.status, None if commit == record.commit else commit
                        )
                        pending.remove(s.name)
        for name in pending:
            times[name] = StageTime(name, None, "unknown")
    return {s.name: times[s.name] for s in record.stages if s.name in times}
