"""What `mlci run` does with data: check expectations before training, profile after.

Raw input tables (not written by any stage) are checked before `dvc repro` starts.
Tables a stage writes (the example's `prepare`) are checked right after that stage: the
producing stages are reproduced first (`dvc repro <stage>`, which runs their upstream
too), the tables checked, and only then does the full `dvc repro` go on to training, which
finds those stages up to date. So a broken dataset never reaches the train stage.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlci.analysis import expectations
from mlci.errors import PipelineError
from mlci.model.record import StageRun
from mlci.store import dvcfile, pipeline
from mlci.store.config import Config


def _producers(root: Path, project: str | None = None) -> dict[str, str]:
    """Output path (from the git root) -> the stage that writes it."""
    owners = {}
    for name, stage in dvcfile.stages(root, project).items():
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key) or []:
                for path in [entry] if isinstance(entry, str) else list(entry):
                    owners[dvcfile.norm(str(path), str(stage.get("wdir") or "."))] = name
    return owners


def _repro_targets(
    root: Path, targets: list[str], *, force: bool, on_event: Callable[[pipeline.StageEvent], None] | None
) -> list[StageRun]:
    """`dvc repro TARGET…` (the targets and their upstream), stage statuses as `pipeline.repro`."""
    emit = on_event or (lambda _event: None)
    args = ["repro", *(["--force"] if force else []), *targets]
    proc = subprocess.Popen(
        [*pipeline.dvc_command(), *args],
        cwd=root,
        env=pipeline.subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    runs: list[StageRun] = []
    tail: list[str] = []
    current: tuple[str, float] | None = None

    def finish(status: str) -> None:
        nonlocal current
        if current is not None:
            run = StageRun(current[0], status, round(time.monotonic() - current[1], 3))
            runs.append(run)
            emit(pipeline.StageEvent(run.name, status, run.seconds))
            current = None

    for raw in proc.stdout:
        line = raw.rstrip("\n")
        if line.strip():
            tail = (tail + [line])[-20:]
        if match := pipeline._RUNNING.match(line):
            finish("ran")
            current = (match["stage"], time.monotonic())
            emit(pipeline.StageEvent(match["stage"], "started"))
        elif match := pipeline._SKIPPED.match(line) or pipeline._RESTORED.match(line):
            finish("ran")
            status = "skipped" if pipeline._SKIPPED.match(line) else "restored"
            runs.append(StageRun(match["stage"], status, 0.0))
            emit(pipeline.StageEvent(match["stage"], status))
    code = proc.wait()
    if code != 0:
        failed = current[0] if current else None
        finish("failed")
        raise PipelineError(
            f"{'stage ' + repr(failed) if failed else '`dvc repro ' + ' '.join(targets) + '`'} failed "
            f"(dvc exit code {code}); its last lines of output follow, fix and re-run `mlci run`",
            details="\n".join(tail),
        )
    finish("ran")
    return runs


def before_training(
    root: Path, cfg: Config, *, force: bool = False, on_event: Callable[[pipeline.StageEvent], None] | None = None
) -> list[StageRun]:
    """Check every table with expectations before the model trains; returns stages run early.

    Raises DataError (exit 5) listing every violation.
    """
    rules = cfg.data.rules
    if not rules:
        return []
    owners = _producers(root, cfg.dvc_dir)
    raw = [r for r in rules if r.table not in owners]
    produced = [r for r in rules if r.table in owners]
    expectations.raise_for([v for r in raw for v in expectations.check_file(root, r)], "on input data, before training")
    if not produced:
        return []
    if not (cfg.dvc_root / ".dvc").is_dir():
        return []  # pipeline.repro reports the missing DVC project with its own message
    stages = sorted({owners[r.table] for r in produced})
    # Never forced: an up-to-date producer's tables are what it would write again, and a
    # forced run (`mlci run --force`) then re-runs it once, in the full repro, not twice.
    early = _repro_targets(cfg.dvc_root, stages, force=False, on_event=on_event)
    expectations.raise_for(
        [v for r in produced for v in expectations.check_file(root, r)],
        f"after stage {', '.join(stages)}, before training",
    )
    return early


def merge_stages(early: list[StageRun], later: list[StageRun]) -> list[StageRun]:
    """The full repro's stage list, with stages that already ran in the early repro shown as run."""
    ran = {s.name: s for s in early if s.status != "skipped"}
    merged = [ran.pop(s.name) if s.name in ran and s.status == "skipped" else s for s in later]
    return [*ran.values(), *merged] if ran else merged


def _reusable_profiles(root: Path, tables: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Profiles of tables whose content hash (dvc.lock) equals the one a recent record profiled.

    Recent records: those of HEAD and its parents. Profiling 10M rows takes seconds; a run
    that did not change the data (a param tweak, CI on main after the PR) reuses them.
    """
    from mlci.analysis.profile import PROFILE_VERSION
    from mlci.store import baseline, gitrepo

    deps, outs = dvcfile.lock_hashes(root)
    hashes = {**deps, **outs}
    wanted = {t: hashes[t] for t in tables if hashes.get(t)}
    if not wanted:
        return {}
    try:
        repo = gitrepo.open_repo(root)
        head = repo.head.commit
        commits = [head.hexsha, *(p.hexsha for p in head.parents)]
    except Exception:  # noqa: BLE001 - no usable history: simply profile everything
        return {}
    found: dict[str, dict[str, Any]] = {}
    by_commit = baseline.records_by_commit(repo, commits)
    for commit in commits:
        for record in reversed(by_commit.get(commit, [])):
            stored = record.extra.get("data_profile") or {}
            for table, digest in wanted.items():
                entry = stored.get(table)
                if (
                    table not in found
                    and entry
                    and not entry.get("error")
                    and entry.get("version") == PROFILE_VERSION
                    and {**record.deps, **record.outs}.get(table) == digest
                ):
                    found[table] = entry
    return found


def profile(root: Path, cfg: Config) -> dict[str, dict[str, Any]] | None:
    """`record.extra["data_profile"]`: profiles of `data.tables` (None when none are declared)."""
    tables = cfg.data.tables
    if not tables:
        return None
    from mlci.analysis.profile import profile_tables

    reused = _reusable_profiles(root, tables)
    fresh = profile_tables(root, [t for t in tables if t not in reused])
    return {t: reused[t] if t in reused else fresh[t] for t in tables}


def check_files(path: Path | str = ".", *, config_path: Path | None = None) -> list[expectations.Violation]:
    """`mlci data check`: every expectation against the tables as they are on disk now."""
    from mlci.store.project import opened

    project = opened(path, config_path)
    return [v for rule in project.config.data.rules for v in expectations.check_file(project.root, rule)]
