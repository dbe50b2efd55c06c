"""Run the DVC pipeline and report, stage by stage, what ran and how long it took.

DVC runs as a subprocess (`python -m dvc repro`, or the command in `MLCI_DVC`): unchanged
stages are skipped through `dvc.lock` and DVC's run-cache, a failing stage cannot take mlci
down with it, and its last lines of output are kept for the error message.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from mlci.errors import ConfigError, PipelineError
from mlci.model.record import StageRun

_RUNNING = re.compile(r"^Running stage '(?P<stage>[^']+)'")
_SKIPPED = re.compile(r"^Stage '(?P<stage>[^']+)' didn't change, skipping")
_RESTORED = re.compile(r"^Stage '(?P<stage>[^']+)' is cached - skipping run")
_TAIL_LINES = 20


@dataclass(frozen=True)
class StageEvent:
    """A progress event: `status` is "started", then one of "ran", "skipped", "restored"."""

    stage: str
    status: str
    seconds: float = 0.0


def dvc_command() -> list[str]:
    """How to call DVC: `MLCI_DVC` when set (e.g. a pipx-installed dvc), else this Python's."""
    override = os.environ.get("MLCI_DVC")
    if override:
        command = shlex.split(override)
        if not command or not (Path(command[0]).is_file() or _which(command[0])):
            raise PipelineError(f"MLCI_DVC names '{override}', which is not an executable; fix or unset MLCI_DVC")
        return command
    if importlib.util.find_spec("dvc") is None:
        raise PipelineError("DVC is not installed in this environment; pip install dvc (or set MLCI_DVC)")
    return [sys.executable, "-m", "dvc"]


def _which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


def _own_venv_bin() -> str | None:
    """mlci's own virtualenv's bin dir when it is not the project's active one (the action's
    private venv, a pipx venv); None when mlci runs from the project's environment."""
    if sys.prefix == sys.base_prefix:
        return None
    active = os.environ.get("VIRTUAL_ENV")
    if active and os.path.realpath(active) == os.path.realpath(sys.prefix):
        return None
    return str(Path(sys.executable).parent)


_OWN_INTERPRETER: ContextVar[bool] = ContextVar("mlci_own_interpreter", default=False)


@contextmanager
def own_interpreter() -> Iterator[None]:
    """Stages run with mlci's own interpreter first on PATH: for the bundled examples of
    `mlci demo`, whose stages need exactly mlci's dependencies, whatever `python` the shell has."""
    token = _OWN_INTERPRETER.set(True)
    try:
        yield
    finally:
        _OWN_INTERPRETER.reset(token)


def subprocess_env() -> dict[str, str]:
    """The project's environment for stage commands: its `python` and packages, never mlci's.

    mlci's private venv is taken off `PATH` (stages that `import torch` must see the project's
    torch); only when no `python` is left at all does this interpreter stand in, last on PATH.
    DVC itself runs from mlci's environment (`dvc_command`), which is fine: it only launches stages.
    """
    import shutil

    from mlci.runner.tokenenv import stage_env

    env = stage_env(dict(os.environ))  # stages run PR code: never a credential in their environment
    entries = [p for p in env.get("PATH", "").split(os.pathsep) if p]
    own = _own_venv_bin()
    if own is not None:
        entries = [p for p in entries if os.path.realpath(p) != os.path.realpath(own)]
    path = os.pathsep.join(entries)
    if _OWN_INTERPRETER.get():
        path = os.pathsep.join([str(Path(sys.executable).parent), *entries])
    elif shutil.which("python", path=path) is None:
        path = os.pathsep.join([*entries, str(Path(sys.executable).parent)])
    env["PATH"] = path
    env["PYTHONUNBUFFERED"] = "1"
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def run_dvc(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """A short DVC command (init, push, fetch…) whose failure is a PipelineError."""
    proc = subprocess.run([*dvc_command(), *args], cwd=root, env=subprocess_env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise PipelineError(f"`dvc {' '.join(args)}` failed (exit {proc.returncode})", details="\n".join(tail))
    return proc


def repro(
    root: Path,
    *,
    force: bool = False,
    no_run_cache: bool = False,
    on_event: Callable[[StageEvent], None] | None = None,
) -> list[StageRun]:
    """`dvc repro` in `root` (the DVC project's directory); returns each stage's status and
    duration in pipeline order. With pipelines in nested dvc.yaml files (`pipelines/*/dvc.yaml`)
    every pipeline runs (`--all-pipelines`), as mlci reads them all."""
    from mlci.store import dvcfile

    if not (root / ".dvc").is_dir():
        raise ConfigError(f"{root} is not a DVC project; run `dvc init` (or `mlci init --example`) and commit")
    files = dvcfile.dvcyaml_paths(root, "")
    if not files:
        raise ConfigError(f"no dvc.yaml in {root}; add a pipeline (`dvc stage add`, or `mlci init --example`)")
    nested = any(name.startswith(f"{f}:") for f in files if f != dvcfile.DVCFILE for name in dvcfile.stages(root, ""))
    args = ["repro", *(["--all-pipelines"] if nested or dvcfile.DVCFILE not in files else [])]
    if force:
        args.append("--force")
    if no_run_cache:
        args.append("--no-run-cache")
    emit = on_event or (lambda _event: None)
    stages: list[StageRun] = []
    tail: deque[str] = deque(maxlen=_TAIL_LINES)
    current: tuple[str, float] | None = None

    def finish(status: str) -> None:
        nonlocal current
        if current is not None:
            name, started = current
            run = StageRun(name=name, status=status, seconds=round(time.monotonic() - started, 3))
            stages.append(run)
            emit(StageEvent(name, status, run.seconds))
            current = None

    proc = subprocess.Popen(
        [*dvc_command(), *args],
        cwd=root,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert proc.stdout is not None
    for raw in proc.stdout:
        line = raw.rstrip("\n")
        if line.strip():
            tail.append(line)
        if match := _RUNNING.match(line):
            finish("ran")
            current = (match["stage"], time.monotonic())
            emit(StageEvent(match["stage"], "started"))
        elif match := _SKIPPED.match(line) or _RESTORED.match(line):
            finish("ran")
            status = "skipped" if _SKIPPED.match(line) else "restored"
            stages.append(StageRun(name=match["stage"], status=status, seconds=0.0))
            emit(StageEvent(match["stage"], status))
    code = proc.wait()
    if code != 0:
        failed = current[0] if current else None
        finish("failed")
        where = f"stage '{failed}'" if failed else "`dvc repro`"
        raise PipelineError(
            f"{where} failed (dvc exit code {code}); its last lines of output follow, fix and re-run `mlci run`",
            details="\n".join(tail),
        )
    finish("ran")
    return stages
