"""`dvc pull` of what the pipeline's stages need, with failures told apart.

A fresh CI checkout has no DVC cache: a stage that depends on a `dvc add`-tracked file fails
with "missing data". `pull` fetches only the tracked inputs the stages depend on (not stage
outputs: those are recomputed or restored by `dvc repro`), after checking that the remote can
be reached, because DVC itself reports an unreachable remote as "missing cache files":

- remote unreachable (no such directory, refused port, unknown host): `RemoteError` (exit 7);
- the remote is there but lacks an object: `MissingObjectError` (exit 8).

Credentials come only from DVC's own sources (its documented environment variables, or
`dvc remote modify --local`); this module adds none and passes no GitHub token to DVC.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mlci.errors import ConfigError, MissingObjectError, PipelineError, RemoteError

# DVC's documented credential variables (and their families): the action's pull step sees them,
# its run step (PR code) does not (scripts/action-step.sh unsets these prefixes).
CREDENTIAL_VARS = ("AWS_*", "AZURE_*", "GOOGLE_APPLICATION_CREDENTIALS", "GDRIVE_CREDENTIALS_DATA")
_PROBE_TIMEOUT_S = 10.0


@dataclass
class PullResult:
    targets: list[str]  # what was passed to `dvc pull` (empty: nothing to pull)
    remotes: list[str] = field(default_factory=list)  # the remotes checked, by name
    output: str = ""  # DVC's own last lines (e.g. "1 file fetched")

    def as_dict(self) -> dict:
        return {"targets": self.targets, "remotes": self.remotes, "output": self.output}


def pull(root: Path, targets: list[str] | None = None, *, remote: str | None = None) -> PullResult:
    """Pull `targets` (default: the tracked inputs of the pipeline's stages) into `root`."""
    from mlci.store.pipeline import dvc_command

    root = Path(root)
    if not (root / ".dvc").is_dir():
        raise ConfigError(f"{root} is not a DVC project; run `dvc init` and commit, or drop dvc-pull")
    command = dvc_command()  # PipelineError when DVC is not installed
    chosen = list(targets or [])
    names: list[str] = []
    if importlib.util.find_spec("dvc") is not None:
        repo = _open(root)
        if not chosen:
            chosen = stage_inputs(repo, root)
            if not chosen:
                return PullResult([], [], "no stage depends on a DVC-tracked input; nothing to pull")
        names = _probe_remotes(repo, remote)
    elif not chosen:
        chosen = []  # an external DVC (MLCI_DVC) and no targets: pull everything it tracks
    args = ["pull", *(["-r", remote] if remote else []), *chosen]
    proc = subprocess.run([*command, *args], cwd=root, env=_env(), capture_output=True, text=True, check=False)
    text = "\n".join(part for part in (proc.stdout, proc.stderr) if part).strip()
    if proc.returncode != 0:
        raise _classify(text, proc.returncode)
    return PullResult(chosen, names, "\n".join(text.splitlines()[-3:]))


def _open(root: Path):
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    try:
        return Repo(str(root))
    except DvcException as exc:
        raise ConfigError(f"DVC cannot read the project in {root}: {_one_line(str(exc))}") from None


def stage_inputs(repo, root: Path) -> list[str]:
    """The `.dvc` files whose outputs a pipeline stage depends on (inputs, not stage outputs)."""
    from dvc.exceptions import DvcException

    try:
        stages = list(repo.index.stages)
    except DvcException as exc:
        raise ConfigError(f"DVC cannot read the pipeline: {_one_line(str(exc))}; fix dvc.yaml") from None
    deps = [
        Path(dep.fs_path)
        for stage in stages
        if not stage.is_data_source
        for dep in stage.deps
        if getattr(dep, "fs_path", None)
    ]
    chosen: list[str] = []
    for stage in stages:
        if not (stage.is_data_source or stage.is_import):
            continue
        outs = [Path(out.fs_path) for out in stage.outs]
        if any(dep == out or out in dep.parents or dep in out.parents for out in outs for dep in deps):
            chosen.append(os.path.relpath(stage.path, root))
    return sorted(set(chosen))


def _probe_remotes(repo, remote: str | None) -> list[str]:
    """Fail with exit 7 before pulling when the remote cannot be reached (DVC would say 'missing')."""
    from dvc.exceptions import DvcException

    try:
        configured = repo.config.get("remote", {})
        name = remote or repo.config.get("core", {}).get("remote")
        if not name:
            raise ConfigError("no DVC remote: set one with `dvc remote add -d NAME URL` and commit .dvc/config")
        if name not in configured:
            raise ConfigError(f"no DVC remote named '{name}'; list them with `dvc remote list`")
        data = repo.cloud.get_remote(name)
    except DvcException as exc:
        raise ConfigError(f"DVC remote configuration: {_one_line(str(exc))}") from None
    url = str(configured[name].get("url", ""))
    _reachable(name, url, data.fs, data.path)
    return [name]


def _reachable(name: str, url: str, fs, path: str) -> None:
    where = f"DVC remote '{name}' ({url})"
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "webdav", "webdavs"):
        import socket

        # an HTTP remote need not answer for its root; what matters is that something listens
        port = parts.port or (443 if parts.scheme in ("https", "webdavs") else 80)
        try:
            socket.create_connection((parts.hostname or "", port), timeout=_PROBE_TIMEOUT_S).close()
        except OSError as exc:
            raise RemoteError(
                f"{where} cannot be reached: {exc.strerror or exc}; check the URL and the network, then retry"
            ) from None
        return
    try:
        found = fs.exists(path)
    except Exception as exc:  # noqa: BLE001 - any filesystem backend's own error: unreachable, denied, unknown host
        raise RemoteError(
            f"{where} cannot be reached: {_one_line(str(exc)) or type(exc).__name__}; "
            "check the URL, the credentials (DVC's env vars) and the network"
        ) from None
    if not found:
        raise RemoteError(
            f"{where} cannot be reached or does not exist; check the URL (and `dvc push` "
            "to it from a machine that has the data)"
        )


def _env() -> dict[str, str]:
    """This process's environment for DVC, less the GitHub token (DVC never needs it)."""
    from mlci.runner.tokenenv import TOKEN_VARS

    env = {k: v for k, v in os.environ.items() if k not in TOKEN_VARS}
    env["DVC_NO_ANALYTICS"] = "1"
    return env


def _classify(text: str, code: int) -> Exception:
    lines = text.splitlines()
    tail = "\n".join(lines[-8:])
    lower = text.lower()
    if "missing cache files" in lower or "do not exist neither locally nor on remote" in lower:
        hashes = [line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("md5:")]
        named = f" (md5 {', '.join(hashes[:3])}{', …' if len(hashes) > 3 else ''})" if hashes else ""
        return MissingObjectError(
            f"the DVC remote lacks {len(hashes) or 'some'} object(s){named} that this "
            "commit needs; `dvc push` them from a machine that has the data",
            details=tail,
        )
    if "no remote provided and no default remote" in lower:
        return ConfigError("no DVC remote: set one with `dvc remote add -d NAME URL` and commit .dvc/config")
    if "requires 'dvc-" in lower:
        plugin = text.split("requires '", 1)[1].split("'", 1)[0]
        return PipelineError(
            f"this DVC remote needs the {plugin} plugin; install it beside DVC (pip install {plugin}) and retry",
            details=tail,
        )
    error = next((line for line in reversed(lines) if line.startswith("ERROR")), lines[-1] if lines else "")
    return RemoteError(f"`dvc pull` failed (exit {code}): {_one_line(error)}", details=tail)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]
