"""`mlci reproduce`: re-run a recorded commit from scratch and check its numbers are real.

The commit is checked out in a throw-away `git worktree` (the user's tree, index, branches and
stash are never touched), wired to the main checkout's DVC cache so recorded data can be
restored (then fetched from the DVC remote when the cache lacks it), and its pipeline re-run
with every stage forced and DVC's run-cache bypassed. Every metric and the model digest are
compared with the stored run record, within a relative tolerance that is exact by default.

Outcomes: reproduced (exit 0), mismatch (`VerdictFailed`, exit 1), cannot reproduce
(`CannotReproduce`, exit 2: no record, data unavailable, pipeline failed in the worktree).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci.analysis import reproducibility
from mlci.errors import CannotReproduce, DataError, GitError, MlciError, PipelineError, UsageError
from mlci.model.record import RunRecord
from mlci.store import atomicio, baseline, gitrepo, pipeline, worktree

if TYPE_CHECKING:
    import git

    from mlci.store.config import Config

JSON_SCHEMA_VERSION = 1
_PR_REF = re.compile(r"^pr/(\d+)$")


@dataclass(frozen=True)
class MetricCheck:
    file: str
    name: str
    recorded: float | None
    reproduced: float | None
    delta: float | None
    delta_rel: float | None
    tolerance: float  # relative; 0.0 = exact
    tolerance_source: str  # "exact" | "option" | "goal" | "reproduce.tolerance"
    within: bool


@dataclass(frozen=True)
class DigestCheck:
    """The model file's sha256: bit-for-bit identity, checked when every tolerance is exact."""

    path: str
    recorded: str
    reproduced: str | None
    checked: bool
    match: bool


@dataclass(frozen=True)
class EnvDifference:
    key: str  # "python", "cpu", "package numpy", "lightgbm device", ...
    recorded: str
    current: str


@dataclass
class Reproduction:
    rev: str
    commit: str
    record: RunRecord
    metrics: list[MetricCheck]
    model: DigestCheck | None
    environment: list[EnvDifference]
    device_changed: bool
    notes: list[str] = field(default_factory=list)
    worktree: Path | None = None  # kept worktree (--keep), else None
    seconds: float = 0.0

    @property
    def mismatches(self) -> list[str]:
        bad = [f"{m.name} ({_num(m.recorded)} → {_num(m.reproduced)})" for m in self.metrics if not m.within]
        if self.model is not None and self.model.checked and not self.model.match:
            bad.append(f"model digest ({self.model.path})")
        return bad

    @property
    def reproduced(self) -> bool:
        return not self.mismatches

    @property
    def status(self) -> str:
        return "reproduced" if self.reproduced else "mismatch"

    def summary(self) -> str:
        """The one line the CLI prints: what matched or which values differ."""
        if self.reproduced:
            digest = " and the model digest" if self.model and self.model.checked else ""
            what = f"{len(self.metrics)} metric(s){digest}"
            return f"reproduced {self.commit[:12]}: {what} match the recorded run"
        verb = "differs" if len(self.mismatches) == 1 else "differ"
        return f"{self.commit[:12]} did not reproduce: {', '.join(self.mismatches)} {verb} from the recorded run"

    def to_dict(self) -> dict[str, Any]:
        """The documented `mlci reproduce --json` schema (README: "--json schema (version 1)")."""
        return {
            "schema": JSON_SCHEMA_VERSION,
            "status": self.status,
            "rev": self.rev,
            "commit": self.commit,
            "record": _record_summary(self.record),
            "metrics": [asdict(m) for m in self.metrics],
            "model": asdict(self.model) if self.model else None,
            "environment": [asdict(e) for e in self.environment],
            "device_changed": self.device_changed,
            "mismatches": self.mismatches,
            "notes": list(self.notes),
            "reason": None,
            "worktree": str(self.worktree) if self.worktree else None,
            "seconds": self.seconds,
        }


def failure_dict(rev: str, error: CannotReproduce) -> dict[str, Any]:
    """`--json` output when the run cannot be reproduced: same keys, status and reason set."""
    return {
        "schema": JSON_SCHEMA_VERSION,
        "status": "cannot_reproduce",
        "rev": rev,
        "commit": error.commit,
        "record": None,
        "metrics": [],
        "model": None,
        "environment": [],
        "device_changed": False,
        "mismatches": [],
        "notes": [],
        "reason": error.message,
        "worktree": None,
        "seconds": 0.0,
    }


def _record_summary(record: RunRecord) -> dict[str, Any]:
    return {"id": record.id, "created_at": record.created_at, "pr": record.pr, "branch": record.branch}


def _num(value: float | None) -> str:
    return "missing" if value is None else f"{value:.6g}"


# --- which record ------------------------------------------------------------------------


def resolve_target(repo: git.Repo, rev: str) -> tuple[str, RunRecord]:
    """(commit, the record to reproduce) for `REV` or `pr/N`; CannotReproduce when none."""
    import git as gitlib

    commit: str | None
    match = _PR_REF.match(rev)
    if match:
        number = int(match.group(1))
        of_pr = [r for r in baseline.all_records(repo) if r.pr == number]
        if of_pr:
            commit = of_pr[-1].commit  # the newest run of the PR: its head as last recorded
            try:
                repo.git.cat_file("-e", f"{commit}^{{commit}}")
            except gitlib.GitCommandError:
                raise CannotReproduce(
                    f"PR #{number}'s recorded head {commit[:12]} is not in this clone; "
                    f"`git fetch origin pull/{number}/head` and retry"
                ) from None
        else:
            commit = gitrepo.commit_of(repo, rev)  # a branch that happens to be called pr/N
            if commit is None:
                raise CannotReproduce(
                    f"no run record for PR #{number}; `mlci record fetch` to get CI's records, "
                    "or pass the commit instead of pr/N"
                ) from None
    else:
        commit = gitrepo.commit_of(repo, rev)
        if commit is None:
            raise GitError(f"unknown revision '{rev}'; pass a commit, branch, tag or pr/N")
    record = baseline.latest(repo, commit, clean_only=True)
    if record is None:
        if baseline.records_for(repo, commit):
            raise CannotReproduce(
                f"{commit[:12]} has only records of runs with uncommitted changes, which its commit cannot "
                "reproduce; run `mlci run` on a clean checkout of it"
            )
        raise CannotReproduce(
            f"no run record for {commit[:12]}; run `mlci run` on a clean checkout of it "
            "(or `mlci record fetch` to get CI's records)"
        )
    return commit, record


# --- the worktree's data -----------------------------------------------------------------


def _main_cache_dir(main_root: Path) -> Path:
    """The main checkout's DVC cache; only asks DVC when a config names a cache."""
    configs = [main_root / ".dvc" / "config", main_root / ".dvc" / "config.local"]
    if not any(p.exists() and "[cache]" in p.read_text(encoding="utf-8", errors="replace") for p in configs):
        return main_root / ".dvc" / "cache"
    out = pipeline.run_dvc(main_root, "cache", "dir").stdout.strip().splitlines()
    return Path(out[-1].strip()) if out else main_root / ".dvc" / "cache"


def share_dvc_cache(main_root: Path, root: Path) -> None:
    """Point the worktree's DVC at the main checkout's cache (and its local remotes/credentials)."""
    if not (root / ".dvc").is_dir():
        raise CannotReproduce("the commit has no .dvc directory: it is not a DVC project, so no pipeline to re-run")
    cache = _main_cache_dir(main_root)
    local = main_root / ".dvc" / "config.local"
    target = root / ".dvc" / "config.local"
    if local.exists():
        shutil.copyfile(local, target)  # remotes' credentials live here: dvc fetch needs them
        os.chmod(target, 0o600)
        pipeline.run_dvc(root, "config", "--local", "cache.dir", str(cache))
    else:
        atomicio.write_text(target, f"[cache]\n    dir = {cache}\n")


def _dvc_remotes(root: Path) -> list[str]:
    proc = pipeline.run_dvc(root, "remote", "list", check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


def restore_data(root: Path, record: RunRecord) -> list[str]:
    """Check recorded data out of the cache, fetch what is missing from the remote; notes."""
    import git as gitlib

    notes: list[str] = []
    inputs = reproducibility.pipeline_inputs(gitlib.Repo(root), root)
    cached = inputs.from_cache  # stage outputs are rebuilt by the forced re-run: no need to check them out
    if cached:
        pipeline.run_dvc(root, "checkout", "--quiet", *cached, check=False)  # what it lacks is handled below
    missing = [d for d in dict.fromkeys([*inputs.external, *cached]) if not (root / d).exists()]
    if not missing:
        return notes
    remotes = _dvc_remotes(root)
    fetch_error = ""
    if remotes:
        fetchable = [d for d in missing if d in cached]
        if fetchable:
            proc = pipeline.run_dvc(root, "pull", "--quiet", *fetchable, check=False)
            if proc.returncode != 0:
                fetch_error = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-2:])
            else:
                notes.append(f"fetched {', '.join(fetchable)} from the DVC remote")
        missing = [d for d in missing if not (root / d).exists()]
    if not missing:
        return notes
    reasons = []
    for path in missing:
        digest = record.deps.get(path) or record.outs.get(path) or ""
        recorded = f" (md5 {digest[:12]})" if digest else ""
        if path in cached:
            where = (
                f"nor on DVC remote {', '.join(remotes)}" + (f" ({fetch_error})" if fetch_error else "")
                if remotes
                else "and no DVC remote is configured"
            )
            reasons.append(f"{path}{recorded} is not in the DVC cache {where}")
        else:
            reasons.append(f"{path}{recorded} is tracked by neither git nor DVC, so the commit cannot bring it back")
    raise CannotReproduce(
        f"data unavailable: {'; '.join(reasons)}; `dvc push` it from a machine that has it "
        "(configure a remote with `dvc remote add -d`), then retry"
    )


# --- comparing ---------------------------------------------------------------------------


def tolerance_for(cfg: Config, file: str, name: str, override: float | None) -> tuple[float, str]:
    """--tolerance, else the metric's goal tolerance (when > 0), else `reproduce.tolerance`, else exact."""
    if override is not None:
        return float(override), "option"
    model = cfg.model_for_metrics_file(file)
    if not model.direction_is_guessed(file, name):
        goal = model.goal_for(file, name)
        if goal.tolerance > 0:
            return float(goal.tolerance), "goal"
    default = cfg.reproduce.tolerance
    if default:
        return float(default), "reproduce.tolerance"
    return 0.0, "exact"


def within(recorded: float, reproduced: float, tolerance: float) -> bool:
    if tolerance == 0:
        return recorded == reproduced
    scale = abs(recorded) if recorded != 0 else 1.0
    return abs(reproduced - recorded) <= tolerance * scale


def compare_metrics(
    cfg: Config,
    recorded: dict[str, dict[str, float]],
    reproduced: dict[str, dict[str, float]],
    override: float | None,
) -> list[MetricCheck]:
    checks = []
    for file in sorted(set(recorded) | set(reproduced)):
        before, after = recorded.get(file, {}), reproduced.get(file, {})
        for name in sorted(set(before) | set(after)):
            r, p = before.get(name), after.get(name)
            tol, source = tolerance_for(cfg, file, name, override)
            delta = p - r if r is not None and p is not None else None
            rel = delta / abs(r) if delta is not None and r else None
            ok = r is not None and p is not None and within(r, p, tol)
            checks.append(MetricCheck(file, name, r, p, delta, rel, tol, source, ok))
    return checks


def _freeze_map(lines: list[str] | None) -> dict[str, str]:
    pins = {}
    for line in lines or []:
        name, _, version = line.partition("==")
        if version:
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _gpu_label(env: dict[str, Any]) -> str:
    gpu = env.get("gpu")
    if not gpu:
        return "none"
    names = gpu.get("names") or []
    return f"{gpu.get('count', len(names))}× {names[0]}" if names else "yes"


def _device(env: dict[str, Any]) -> str | None:
    training = env.get("training")
    return training.get("device") if isinstance(training, dict) else None


def environment_differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[EnvDifference]:
    """What differs between the recorded run's machine and this one, package by package."""
    diffs = []
    for key in ("python", "implementation", "machine", "cpu", "cpu_count", "os", "lightgbm_gpu"):
        if key in recorded and str(recorded.get(key)) != str(current.get(key)):
            diffs.append(EnvDifference(key, str(recorded.get(key)), str(current.get(key))))
    if "gpu" in recorded and _gpu_label(recorded) != _gpu_label(current):
        diffs.append(EnvDifference("gpu", _gpu_label(recorded), _gpu_label(current)))
    before_device, after_device = _device(recorded), _device(current)
    if before_device and before_device != after_device:
        diffs.append(EnvDifference("lightgbm device", before_device, after_device or "unknown"))
    before = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in (recorded.get("packages") or {}).items()}
    after = {re.sub(r"[-_.]+", "-", k).lower(): v for k, v in (current.get("packages") or {}).items()}
    before.update(_freeze_map(recorded.get("freeze")))
    after.update(_freeze_map(current.get("freeze")))
    key_packages = {re.sub(r"[-_.]+", "-", k).lower() for k in (recorded.get("packages") or {})}
    complete = bool(recorded.get("freeze"))  # without a recorded freeze, a package absent then is unknown, not new
    changed = [n for n in set(before) | set(after) if before.get(n) != after.get(n) and (n in before or complete)]
    for name in sorted(changed, key=lambda n: (n not in key_packages, n)):  # the pipeline's own packages first
        diffs.append(EnvDifference(f"package {name}", before.get(name, "absent"), after.get(name, "absent")))
    return diffs


def device_changed(recorded: dict[str, Any], current: dict[str, Any]) -> bool:
    """GPU vs CPU: the training device differs, or (unknown device) one machine has a GPU."""
    before, after = _device(recorded), _device(current)
    if before and after:
        return before != after
    return "gpu" in recorded and bool(recorded.get("gpu")) != bool(current.get("gpu"))


# --- the whole thing ---------------------------------------------------------------------


def reproduce(
    path: Path | str = ".",
    rev: str = "HEAD",
    *,
    tolerance: float | None = None,
    keep: bool = False,
    on_event: Callable[[pipeline.StageEvent], None] | None = None,
) -> Reproduction:
    """Re-run the newest clean record of `rev` (or `pr/N`) in a fresh worktree and compare."""
    if tolerance is not None and tolerance < 0:
        raise UsageError(f"--tolerance must be >= 0 (a relative tolerance, 0.01 = 1 %), got {tolerance}")
    started = time.monotonic()
    repo = gitrepo.open_repo(path)
    main_root = gitrepo.root(repo)
    commit, record = resolve_target(repo, rev)
    try:
        return _reproduce(repo, main_root, rev, commit, record, tolerance, keep, on_event, started)
    except CannotReproduce as exc:
        exc.commit = commit
        raise


def _reproduce(
    repo: git.Repo,
    main_root: Path,
    rev: str,
    commit: str,
    record: RunRecord,
    tolerance: float | None,
    keep: bool,
    on_event: Callable[[pipeline.StageEvent], None] | None,
    started: float,
) -> Reproduction:
    from mlci.runner import environment
    from mlci.store import config as config_mod
    from mlci.store import dvcfile
    from mlci.store.metrics import read_metrics, read_params

    with worktree.isolated(repo, commit, keep=keep, prefix="mlci-reproduce-") as root:
        try:
            share_dvc_cache(main_root, root)
            notes = restore_data(root, record)
            try:
                pipeline.repro(root, force=True, no_run_cache=True, on_event=on_event)
            except PipelineError as exc:
                raise CannotReproduce(
                    f"the pipeline of {commit[:12]} failed in the worktree: {exc.message}", details=exc.details
                ) from exc
            cfg = config_mod.load(root)
            try:
                metrics = read_metrics(root, cfg.metrics_files, hint="the re-run did not write it")
                params = read_params(root, cfg.params_files, dvcfile.params_scope(root))
            except DataError as exc:
                raise CannotReproduce(
                    f"the re-run of {commit[:12]} produced no readable metrics: {exc.message}"
                ) from exc
            current_env = environment.collect(root)
            model = None
            if record.model is not None:
                produced = root / record.model.path
                model = DigestCheck(
                    path=record.model.path,
                    recorded=record.model.sha256,
                    reproduced=atomicio.sha256(produced) if produced.exists() else None,
                    checked=True,
                    match=False,
                )
            deps_now, _outs = dvcfile.lock_hashes(root)
        except MlciError as exc:
            if keep:
                exc.details = "\n".join(filter(None, [exc.details, f"worktree kept at {root}"]))
            raise
    checks = compare_metrics(cfg, record.metrics, metrics, tolerance)
    exact = all(c.tolerance == 0 for c in checks)
    if model is not None:
        model = DigestCheck(
            model.path, model.recorded, model.reproduced, checked=exact, match=model.reproduced == model.recorded
        )
    changed = device_changed(record.environment, current_env)
    if changed:
        was = _device(record.environment) or _gpu_label(record.environment)
        now = _device(current_env) or _gpu_label(current_env)
        used = "exactly" if exact else "within the configured tolerance"
        notes.append(
            f"recorded on {was}, re-run on {now}: GPU and CPU results may differ; compared {used}"
            + ("" if not exact else " (set reproduce.tolerance or --tolerance to allow device noise)")
        )
    if not exact and model is not None:
        notes.append("a tolerance is in effect, so the model digest is shown but not required to match")
    if params != record.params:
        notes.append("params at the commit differ from the recorded run's: the record was made from other values")
    for dep, digest in sorted(record.deps.items()):
        if dep in deps_now and deps_now[dep] != digest:
            notes.append(
                f"input {dep} hashes differently now ({deps_now[dep][:12]}) than in the recorded run ({digest[:12]})"
            )
    notes.extend(f"the recorded run warned: {w}" for w in record.warnings)
    return Reproduction(
        rev=rev,
        commit=commit,
        record=record,
        metrics=checks,
        model=model,
        environment=environment_differences(record.environment, current_env),
        device_changed=changed,
        notes=notes,
        worktree=root if keep else None,
        seconds=round(time.monotonic() - started, 2),
    )
