"""`mlci ci`: the one command the GitHub Action runs; it reads the event and does the right thing.

- `pull_request`: run the pipeline, report against the PR's base, then publish: job summary
  and step outputs first (local, cannot fail), then the sticky comment and the `mlci` check.
  The gate decides the check's conclusion and the exit code.
- `push` to the default branch: run, store the baseline record and push it (`refs/notes/mlci`),
  so the next PR has something to compare with; then promote when a `registry:` section says
  `promote_on: main` or `both`.
- `pull_request_review` (approved): hand over to the registry's `promote`, with the approval.
- PRs from forks run with a read-only token: everything still runs, the report goes to the
  job summary and `$RUNNER_TEMP/mlci/report/` (upload it as an artifact) and nothing fails
  for lack of permission. On a self-hosted runner (or an unknown one) a fork PR is refused
  unless a maintainer with write access approved its current head SHA (`mlci.integrations.github.admission`):
  its code would run on your machine.

Phases (`--phase`), two shapes:

- Split (the templates): a GitHub-hosted `admit` job (token, runs nothing from the PR) decides
  and outputs the admitted head SHA; the self-hosted job runs `verify` (the workspace is that
  commit) and `train` (no token at all: the pipeline, the report, and a bundle directory for
  an artifact, `mlci.store.bundle`); a fresh GitHub-hosted job or a `workflow_run` workflow
  publishes the bundle (`mlci publish`, `mlci.workflows.publish`) without running PR code.
- Single job (`all`, or `admit` + `run` + `publish` as three steps of one job, state in
  `$RUNNER_TEMP/mlci/state/state.json`): same-repository PRs only. The step is no boundary:
  PR code in `run` can reach the token of `publish` through `$GITHUB_ENV`, `$GITHUB_PATH`, a
  leftover process or a git hook. Fork PRs are refused in this shape. The state carries a
  nonce the admit step gives its later steps (a step output), so a state file planted before
  the job (a poisoned cache restore) admits nothing.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.errors import ConfigError, MlciError, RegistryError, RemoteError, UsageError
from mlci.integrations.github import event as event_mod
from mlci.integrations.github.outputs import write_outputs, write_summary
from mlci.store import atomicio, gitrepo
from mlci.store.project import Project

PUBLISHERS = ("mlci", "cml")
RECORD_FILE = "record.json"  # the PR head's run record, in the report directory (the artifact)


@dataclass
class CiResult:
    event: str
    action: str  # "report" | "baseline" | "promote" | "skipped"
    verdict: str  # "success" | "failure" | "neutral"
    report_path: Path | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    comment_url: str | None = None
    check_kind: str | None = None  # "check-run" | "status" | None
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)  # warnings for the log (never secrets)
    promotion: Any = None


# --- report and gate (mlci.workflows.report) ----------------------------------------------------


_EVENT_BASE = "the PR's base branch (from the event)"


def _report(project: Project, out_dir: Path, *, base_ref: str | None, notes=(), **options):
    """Write report.md (+ json, html, plots) for HEAD versus `base_ref` (options: base_how, comparison, …)."""
    from mlci.workflows import report as reporting

    return reporting.build(project, out_dir=out_dir, base_ref=base_ref, notes=notes, **options)


def _merge_note(root: Path, base_ref: str | None) -> list[str]:
    """Say when the evaluated head is not what merging would produce: the reviewer approves the
    head, and the templates check it out (not GitHub's merge commit), so the report must say so."""
    if not base_ref:
        return []
    repo = gitrepo.open_repo(root)
    base = gitrepo.resolve(repo, base_ref)
    head = gitrepo.head_commit(repo)
    if gitrepo.github_merge(repo, head):
        return []  # GitHub's merge commit: the report says it evaluates the merge
    drift = gitrepo.merge_drift(repo, base, head)
    if drift is None:
        return []
    paths, conflicted = drift
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    if conflicted:
        return [
            f"this report evaluates the PR head {head[:12]}; merging it into {base_ref} ({base[:12]}) conflicts "
            f"in {shown}: resolve the conflicts and push to evaluate the code that would merge"
        ]
    return [
        f"this report evaluates the PR head {head[:12]}, not its merge into {base_ref} ({base[:12]}): the merge "
        f"would also change {shown}; update the branch to evaluate the code that would merge"
    ]


def _verdict(built: Any, fail_on_regression: bool) -> str:
    """success / failure / neutral: the gate's answer, softened to neutral when not gating."""
    if built.gate.passed:
        return "success"
    return "failure" if fail_on_regression else "neutral"


def _title(verdict: str, built: Any) -> str:
    comparison = built.comparison
    counts = ", ".join(
        f"{comparison.count(v)} {v}"
        + ("" if all(m.tested for m in comparison.metrics if m.verdict == v) else " (not all tested)")
        for v in ("regressed", "improved")
        if comparison.count(v)
    )
    head = {"success": "mlci: gate passed", "failure": "mlci: gate failed", "neutral": "mlci: regressions (not gating)"}
    return head[verdict] + (f" ({counts})" if counts else "")


def _metrics_json(record) -> str:
    return json.dumps(record.metrics, sort_keys=True, separators=(",", ":"))


# --- the command ----------------------------------------------------------------------------


def _bool(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise UsageError(f"fail-on-regression must be true or false, got {value!r}")


PHASES = ("all", "admit", "run", "publish", "verify", "train")
SINGLE_JOB_PHASES = ("all", "run", "publish")  # PR code and the token in one job
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass
class _Ctx:
    """What every phase of one `mlci ci` needs: the event, the project, the settings, the token."""

    event: Any
    env: dict[str, str]
    project: Project  # repo, root and config, opened once: handed to run, report and promote
    base_ref: str | None
    comment_id: str
    fail: bool
    publisher: str
    token: str | None
    retry: Any
    note: Callable[[str], None]
    notes: list[str]
    state_dir: Path
    admit_nonce: str | None = None  # the admit step's output: proves the state is this job's
    single_job: bool = False  # this job goes on to publish: the admit step checks write permissions

    @property
    def root(self) -> Path:
        return self.project.root

    @property
    def cfg(self) -> Any:
        return self.project.config


def _state_path(ctx: _Ctx) -> Path:
    return ctx.state_dir / "state.json"


def _load_state(ctx: _Ctx, phase: str) -> dict[str, Any]:
    """The earlier phases' state, accepted only with the nonce this job's admit step output: a
    state file that was there before the job (restored from a cache a PR could write) has none."""
    path = _state_path(ctx)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise UsageError(
            f"`mlci ci --phase {phase}` needs the state of the earlier phases in {ctx.state_dir}; "
            "run `--phase admit`, then `--phase run`, then `--phase publish` in one job"
        ) from None
    if not isinstance(state, dict) or state.get("event") != ctx.event.name or state.get("sha") != ctx.event.sha:
        raise UsageError(f"the state in {ctx.state_dir} belongs to another run; run `mlci ci --phase admit` first")
    nonce = state.get("nonce")
    if not ctx.admit_nonce or not isinstance(nonce, str) or not hmac.compare_digest(nonce, ctx.admit_nonce):
        raise UsageError(
            f"the state in {ctx.state_dir} was not written by this job's admit step (its nonce is not the "
            "admit step's `admit-nonce` output); refusing it: pass MLCI_ADMIT_NONCE from the admit step"
        )
    return state


def _save_state(ctx: _Ctx, state: dict[str, Any]) -> None:
    ctx.state_dir.mkdir(parents=True, exist_ok=True)
    atomicio.write_text(_state_path(ctx), json.dumps(state, sort_keys=True, default=str))


def ci(
    path: Path | str = ".",
    *,
    environ: dict[str, str] | None = None,
    config_path: Path | None = None,
    base_ref: str | None = None,
    comment_id: str | None = None,
    fail_on_regression: bool | str | None = None,
    publisher: str = "mlci",
    retry=None,
    on_note: Callable[[str], None] | None = None,
    phase: str = "all",
    token: str | None = None,
    state_dir: Path | None = None,
    admit_nonce: str | None = None,
    admitted_sha: str | None = None,
    bundle_dir: Path | None = None,
    single_job: bool = False,
    baseline_trust: str | None = None,
    records_file: Path | None = None,
) -> CiResult:
    """Do what the current GitHub Actions event calls for (see module docstring).

    `phase`: `admit` (token: the fork/approval gate, fetch the run records), `verify` and
    `train` (the split's training job: no token; `admitted_sha` is the admit job's output),
    or the single job's `run` (no token) and `publish` (token), or `all` of those in this
    process. `single_job` marks an `admit` step whose job goes on to run the PR (refused for
    forks). The token comes from `token`, else GITHUB_TOKEN / GH_TOKEN. `records_file`
    (phase train): the admit job's export of the run records (`mlci.store.recordfile`), for a
    repository the tokenless training job cannot fetch them from.
    """
    if phase not in PHASES:
        raise UsageError(f"phase must be one of {', '.join(PHASES)}, got {phase!r}")
    env = dict(os.environ if environ is None else environ)
    event = event_mod.from_env(env)
    if publisher not in PUBLISHERS:
        raise UsageError(f"publisher must be one of {', '.join(PUBLISHERS)}, got {publisher!r}")
    project = Project.open(path, config_path)  # the one read of mlci.yaml in this command
    cfg = project.config
    fail = _bool(fail_on_regression, cfg.ci.fail_on_regression)
    token = token or env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None
    from mlci import redact

    redact.register(token)
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        if on_note:
            on_note(message)

    if retry is None:  # rate-limit waits (a minute or more) are said, not silent
        from mlci.integrations.github.client import RetryPolicy

        retry = RetryPolicy(on_wait=on_note)
    if state_dir is None:
        state_dir = (event.runner_temp or Path(tempfile.mkdtemp(prefix="mlci-ci-"))) / "mlci" / "state"
    ctx = _Ctx(
        event,
        env,
        project,
        base_ref,
        comment_id or cfg.ci.comment_id,
        fail,
        publisher,
        token,
        retry,
        note,
        notes,
        Path(state_dir),
        admit_nonce,
        single_job or phase in SINGLE_JOB_PHASES,
    )
    if event.name == "pull_request_target":
        raise ConfigError(
            "refusing to train on `pull_request_target`: it runs PR code with a write token; "
            "trigger the workflow on `pull_request` instead"
        )
    handlers = {
        "pull_request": (_pr_admit, _pr_run, _pr_publish),
        "push": (_push_admit, _push_run, _push_publish),
        "pull_request_review": (_review_admit, _review_run, _review_publish),
    }
    if event.name not in handlers:
        note(f"event {event.name!r} needs nothing from mlci (it acts on pull_request, push and pull_request_review)")
        return CiResult(event.name, "skipped", "neutral", notes=notes)
    admit_fn, run_fn, publish_fn = handlers[event.name]
    if phase in ("verify", "train"):
        return _train_job(ctx, phase, admitted_sha, bundle_dir, baseline_trust, records_file)
    if phase == "all" or (phase == "admit" and single_job):
        _refuse_fork_in_one_job(ctx, "all")
    if phase == "all":
        state = admit_fn(ctx)
        if isinstance(state, CiResult):
            return state
        state = run_fn(ctx, state)
        return publish_fn(ctx, state)
    if phase == "admit":
        state = admit_fn(ctx)
        if isinstance(state, CiResult):
            return state
        state["nonce"] = secrets.token_hex(16)
        _save_state(ctx, state)
        write_outputs(event.output_path, {"admit-nonce": state["nonce"]})
        return CiResult(event.name, "admitted", "neutral", notes=notes)
    state = _load_state(ctx, phase)
    _refuse_fork_in_one_job(ctx, phase)
    if state.get("skipped"):
        return CiResult(event.name, "skipped", "neutral", notes=notes)
    if phase == "run":
        _save_state(ctx, run_fn(ctx, state))
        return CiResult(event.name, "ran", "neutral", notes=notes)
    if not state.get("ran"):
        raise UsageError("`mlci ci --phase publish` needs `--phase run` to have finished first")
    return publish_fn(ctx, state)


def _refuse_fork_in_one_job(ctx: _Ctx, phase: str) -> None:
    """A fork's code never shares a job with a token: a later step inherits what it leaves."""
    event = ctx.event
    if event.name == "pull_request" and event.is_fork:
        raise ConfigError(
            f"refusing to run fork PR #{event.pr} ({event.head_repo}) in one job with the token (phase: {phase}): "
            "its code could take the token from a later step; use the split workflow "
            "(`mlci init --workflows`: phase train without a token, then the fork publish workflow)"
        )


# --- the split's training job: no token at all ------------------------------------------------


def _train_job(
    ctx: _Ctx,
    phase: str,
    admitted_sha: str | None,
    bundle_dir: Path | None,
    baseline_trust: str | None = None,
    records_file: Path | None = None,
) -> CiResult:
    """`verify`: the workspace is the commit the admit job admitted. `train`: that, then the
    pipeline, the report and the bundle for the publishing job; no GitHub API call, no token."""
    from mlci.store import bundle as bundle_mod

    event = ctx.event
    if event.name != "pull_request":
        raise UsageError(f"`--phase {phase}` is the PR training job's; a {event.name} run uses the default phase")
    if ctx.token:
        raise ConfigError(
            f"`--phase {phase}` runs the PR's code and must hold no GitHub token; remove github-token / "
            "GITHUB_TOKEN from this job (the publish job posts the report)"
        )
    admitted = (admitted_sha or "").strip().lower()
    if not _SHA.fullmatch(admitted):
        raise ConfigError(
            f"`--phase {phase}` needs the admit job's head SHA (admitted-sha: "
            "${{ needs.admit.outputs.head-sha }}), got "
            f"{admitted_sha!r}; run it only after the admit job admitted the PR"
        )
    if event.pr_head_sha != admitted:
        raise ConfigError(
            f"the admit job admitted {admitted[:12]}, but this run is for the PR head "
            f"{str(event.pr_head_sha)[:12]}; refusing to run it"
        )
    if event.is_fork and event.self_hosted:  # before any of the fork's code: this runner must not outlive the job
        from mlci.runner import environment as runner_env

        runner_env.require_ephemeral(ctx.env, f"fork PR #{event.pr}'s code ({event.head_repo})")
    _check_workspace(ctx.root, admitted)
    if phase == "verify":
        return CiResult(event.name, "verified", "neutral", notes=ctx.notes)
    if records_file is not None:  # the admit job's export: a private repository's records, as data
        from mlci.store import recordfile

        recordfile.load(ctx.root, Path(records_file), ctx.note)
    else:
        _fetch_records(ctx.root, ctx.env, None, event, ctx.note)  # anonymous: public repos only
    trust = _parse_trust(baseline_trust)  # which base records main's CI run published (the admit job asked)
    state = _pr_run(ctx, {"event": event.name, "sha": event.sha, "admission": admitted, "baseline_trust": trust})
    out_dir = Path(state["out_dir"])
    _redact_files(out_dir)
    from mlci.model.record import RunRecord

    record = RunRecord.from_json((out_dir / RECORD_FILE).read_text(encoding="utf-8"))
    base_sha = str(((event.payload.get("pull_request") or {}).get("base") or {}).get("sha") or "")
    claims = bundle_mod.Claims(
        pr=int(event.pr or 0),
        head_sha=admitted,
        base_sha=base_sha if _SHA.fullmatch(base_sha) else "",
        event=event.name,
    )
    target = Path(bundle_dir) if bundle_dir else (event.runner_temp or out_dir.parent) / "mlci" / "bundle"
    bundle_mod.write(target, out_dir, claims, record, model=_bundle_model(ctx, record))
    write_outputs(
        event.output_path,
        {
            "verdict": state["verdict"],
            "report-path": state["report_path"],
            "bundle-path": str(target),
            "metrics-json": json.dumps(state["metrics"], sort_keys=True, separators=(",", ":")),
        },
    )
    ctx.note(f"the report bundle is in {target}: upload it as an artifact for the publish job")
    return CiResult(
        event.name,
        "trained",
        state["verdict"],
        report_path=Path(state["report_path"]),
        metrics=state["metrics"],
        notes=ctx.notes,
    )


def _bundle_model(ctx: _Ctx, record) -> Path | None:
    """The recorded model file for the bundle, so the publish job can store exactly these bytes in
    the DVC remote (an approval then promotes them, not a retraining): one single-file model whose
    bytes are still the recorded ones. Anything else is a note and stays out of the bundle."""
    from mlci.store import bundle as bundle_mod

    if ctx.cfg.registry.promote_on == "main":
        return None  # approvals promote nothing
    models = [(role, a) for role, a in sorted(record.artifacts.items()) if role.startswith("model")]
    if not models:
        return None
    why = ""
    if len(models) > 1:
        why = f"the run recorded {len(models)} models and a bundle carries one"
    else:
        artifact = models[0][1]
        file = ctx.root / artifact.path
        if file.is_dir():
            why = "it is a directory and a bundle carries single-file models only"
        elif not file.is_file() or file.is_symlink():
            why = "it is not a regular file in the workspace"
        elif bundle_mod.model_name(artifact.path) is None:
            why = "its file name cannot be a bundle name (letters, digits, '.', '_', '-')"
        elif not record.outs.get(artifact.path):
            why = "the run recorded no DVC object id (md5) for it"
        elif artifact.size > bundle_mod.Limits().model_bytes:
            why = f"it is over the bundle's {bundle_mod.Limits().model_bytes}-byte model limit"
        elif atomicio.sha256(file) != artifact.sha256:
            why = "the workspace file is no longer the bytes the run recorded"
        else:
            return file
    shown = ", ".join(a.path for _role, a in models)
    ctx.note(
        f"the model {shown} is not in the report bundle ({why}): an approval can promote it only where its bytes are"
    )
    return None


_TRUST_LIMIT = 64 * 1024  # characters of the admit job's baseline-trust output


def _trust_output(trust: dict[str, Any] | None) -> str:
    """The admit job's baseline-trust output: the verified base records, id -> sha256 (compact JSON)."""
    if trust is None:
        return ""
    return json.dumps({"base": trust.get("base"), "verified": trust.get("verified") or {}}, separators=(",", ":"))


def _parse_trust(text: str | None) -> dict[str, Any] | None:
    """The admit job's baseline-trust output, strictly: {"base": sha, "verified": {16-hex id: 64-hex sha256}}."""
    if not text:
        return None
    bad = ConfigError(
        "--baseline-trust must be the admit job's baseline-trust output "
        "(${{ needs.admit.outputs.baseline-trust }}); got something else"
    )
    if len(text) > _TRUST_LIMIT:
        raise bad
    try:
        data = json.loads(text)
    except ValueError:
        raise bad from None
    verified = data.get("verified") if isinstance(data, dict) else None
    if (
        not isinstance(verified, dict)
        or not isinstance(data.get("base"), str)
        or not _SHA.fullmatch(data["base"])
        or not all(
            isinstance(k, str)
            and re.fullmatch(r"[0-9a-f]{1,64}", k)
            and isinstance(v, str)
            and re.fullmatch(r"[0-9a-f]{64}", v)
            for k, v in verified.items()
        )
    ):
        raise bad
    return {"base": data["base"], "verified": dict(verified), "unverified": {}}


def _check_workspace(root: Path, admitted: str) -> None:
    head, parents = _workspace_commit(root)
    if head != admitted and not (len(parents) == 2 and parents[1] == admitted):
        raise ConfigError(
            f"the workspace is at {str(head)[:12]}, not the admitted commit {admitted[:12]}; refusing to run it "
            "(check out ref: ${{ needs.admit.outputs.head-sha }})"
        )


def _workspace_commit(root: Path) -> tuple[str | None, tuple[str, ...]]:
    try:
        commit = gitrepo.open_repo(root).head.commit
    except (ValueError, MlciError):
        return None, ()
    return commit.hexsha, tuple(p.hexsha for p in commit.parents)


def _pr_admit(ctx: _Ctx) -> dict[str, Any]:
    """The gate before any PR code runs: forks on a self-hosted runner need an approval of their head."""
    event, env = ctx.event, ctx.env
    fork_label = ctx.cfg.ci.fork_label
    state: dict[str, Any] = {"event": event.name, "sha": event.sha}
    if ctx.publisher == "cml" and shutil.which("cml") is None:
        raise ConfigError(
            "publisher 'cml' needs the `cml` CLI on PATH, which is not installed; "
            "install it (npm install -g @dvcorg/cml) or use publisher: mlci"
        )
    if event.is_fork and event.self_hosted:
        state["admission"] = _admit_fork(ctx, fork_label)
    can_write = not event.is_fork
    if can_write and not ctx.token:
        raise RemoteError(
            "no GitHub token for the PR comment and check; pass "
            "`github-token: ${{ secrets.GITHUB_TOKEN }}` to the action (or set GITHUB_TOKEN)"
        )
    if can_write and ctx.single_job:  # an admit job of the split holds read permissions only
        _preflight(ctx, can_write=True)
    _warn_merge_checkout(ctx)
    # head-sha: the commit the training job must check out and may run (its only proof of admission)
    write_outputs(
        event.output_path, {"admitted": "true", "head-sha": state.get("admission") or event.pr_head_sha or ""}
    )
    _fetch_records(ctx.root, env, ctx.token, event, ctx.note)
    state["baseline_trust"] = _baseline_trust(ctx)
    write_outputs(event.output_path, {"baseline-trust": _trust_output(state["baseline_trust"])})
    if not ctx.single_job:
        write_outputs(event.output_path, {"records-path": _export_records(ctx)})
    return state


def _export_records(ctx: _Ctx) -> str:
    """The run records the training job may compare with, in a file for it (it has no credential
    to fetch them from a private repository); its path (an empty file when there is no base)."""
    from mlci.store import recordfile

    event = ctx.event
    target = (event.runner_temp or Path(tempfile.mkdtemp(prefix="mlci-ci-"))) / "mlci" / "records.jsonl"
    from mlci.store.gitplumb import Plumb

    try:
        with Plumb(ctx.root) as plumb:
            head = plumb.head_commit()
            merge_base = plumb.merge_base(
                head, plumb.resolve(ctx.base_ref or event.base_ref or plumb.default_base()[0])
            )
    except MlciError as exc:
        ctx.note(f"no run records exported for the training job ({exc.message})")
        atomicio.write_text(target, "")  # the training job downloads the file all the same
        return str(target)
    exported = recordfile.export(ctx.root, head, merge_base, target)
    if exported.left_out:
        ctx.note(
            f"{exported.left_out} run record(s) far from the merge-base were left out of the training job's "
            f"records file (over its {recordfile.LIMIT_BYTES}-byte limit)"
        )
    return str(target)


def _baseline_trust(ctx: _Ctx) -> dict[str, Any] | None:
    """Provenance (issue 25): which base records main's CI run published, asked before PR code runs."""
    from mlci.workflows import trust

    return trust.check_baselines(
        ctx.project,
        ctx.base_ref or ctx.event.base_ref or None,
        token=ctx.token,
        api_url=ctx.event.api_url,
        repo=ctx.event.repo,
        retry=ctx.retry,
    )


def _preflight(ctx: _Ctx, *, can_write: bool) -> None:
    """Fail in seconds, before any training, when the token lacks a permission the event needs."""
    from mlci.integrations.github import client as client_mod
    from mlci.integrations.github import preflight

    if not ctx.token:
        return  # each phase names the missing token itself
    event = ctx.event
    with client_mod.GitHubClient(ctx.token, api_url=event.api_url, retry=ctx.retry) as client:
        result = preflight.check(
            client,
            event.repo,
            event.name,
            pr=event.pr,
            can_write=can_write,
            registry_backend=ctx.cfg.registry.backend,
        )
    preflight.require(result, event.name)
    for line in result.degraded:
        ctx.note(line)


def _warn_merge_checkout(ctx: _Ctx) -> None:
    """A default `actions/checkout` of a PR gives GitHub's merge commit: its run is not the PR
    head's, so an approval (which promotes the head's run) would find nothing to promote."""
    registry = ctx.cfg.registry
    head, _parents = _workspace_commit(ctx.root)
    if not head or not (registry.configured and registry.promote_on in ("approval", "both")):
        return
    if gitrepo.github_merge(ctx.project.repo, head):
        ctx.note(
            "the workspace is GitHub's merge commit of this PR, not its head: an approval promotes the head's run, "
            "which this job does not record; check out `ref: ${{ github.event.pull_request.head.sha }}`"
        )


def _admit_fork(ctx: _Ctx, fork_label: str) -> str:
    from mlci.integrations.github import admission
    from mlci.integrations.github import client as client_mod

    event = ctx.event
    sha = event.pr_head_sha or "<head sha>"
    how = (
        f"a maintainer with write access who reviewed commit {sha} comments `/mlci train {sha}` (or approves "
        f"the PR at that commit), then adds the label '{fork_label}' or re-runs this job"
    )
    where = (
        f"refusing to run fork PR #{event.pr} ({event.head_repo}) on a self-hosted runner "
        f"(RUNNER_ENVIRONMENT={event.runner_environment}): its code would run on your machine"
    )
    if not ctx.token:
        write_outputs(event.output_path, {"admitted": "false"})
        raise ConfigError(f"{where}, and there is no token to check an approval; {how}")
    head, parents = _workspace_commit(ctx.root)
    with client_mod.GitHubClient(ctx.token, api_url=event.api_url, retry=ctx.retry) as client:
        decided = admission.admit(
            client,
            event.repo,
            event.pr,
            event_head_sha=event.pr_head_sha,
            workspace_head=head,
            workspace_parents=parents,
        )
    if not decided.admitted:
        write_outputs(event.output_path, {"admitted": "false"})
        write_summary(event.summary_path, f"**mlci**: {where}; {decided.reason}. To admit it: {how}.")
        raise ConfigError(f"{where}; {decided.reason}; {how}")
    admitted = str(decided.head_sha)
    ctx.note(f"fork PR #{event.pr} admitted at {admitted[:12]}: {decided.reason}")
    return admitted


def _pr_run(ctx: _Ctx, state: dict[str, Any]) -> dict[str, Any]:
    """The PR's code runs here: no GitHub call, no token needed."""
    from mlci.store import baseline
    from mlci.workflows.run import run

    event, root = ctx.event, ctx.root
    if state.get("admission"):  # the workspace may not have moved since the admission
        if event.is_fork and event.self_hosted:
            from mlci.runner import environment as runner_env

            # here, not in the admit phase: that may run on a GitHub-hosted job judging for this runner
            runner_env.require_ephemeral(ctx.env, f"fork PR #{event.pr}'s code ({event.head_repo})")
        _check_workspace(root, state["admission"])
    base_ref = ctx.base_ref or event.base_ref or None
    if base_ref:  # a wrong --base fails now, not after an hour of training
        gitrepo.resolve(gitrepo.open_repo(root), base_ref)
    merge_note = _merge_note(root, base_ref)
    record = run(ctx.project, pr=event.pr)
    out_dir = (event.runner_temp or Path(tempfile.mkdtemp(prefix="mlci-ci-"))) / "mlci" / "report"
    how = "given with --base" if ctx.base_ref else _EVENT_BASE
    from mlci.workflows import diff  # the base record: a verified one first (issue 25)

    comparison = diff.diff(ctx.root, base_ref=base_ref, cfg=ctx.cfg, base_how=how, trust=state.get("baseline_trust"))
    built = _report(ctx.project, out_dir, base_ref=base_ref, notes=merge_note, comparison=comparison)
    baseline.attach_gate(ctx.project.repo, record, built.gate.to_dict(), _evidence(built))  # `mlci promote`
    # The record travels with the report artifact too: the only copy a fork PR's run can leave.
    atomicio.write_text(out_dir / RECORD_FILE, record.to_json() + "\n")
    verdict = _verdict(built, ctx.fail)
    return {
        **state,
        "ran": True,
        "verdict": verdict,
        "title": _title(verdict, built),
        "record": record.id,
        "report_path": str(built.markdown),
        "out_dir": str(out_dir),
        "metrics": record.metrics,
    }


def _evidence(built: Any) -> dict[str, Any]:
    """The metrics' confidence intervals of this run, kept in its record for the model card."""
    from mlci.report.card import compact_evidence

    return compact_evidence(
        {m.name: m.evidence.significance for m in built.context.models if m.evidence.significance is not None}
    )


def _report_file(ctx: _Ctx, state: dict[str, Any]) -> Path:
    """The report the run phase wrote, refusing paths that lead out of the report directory:
    the PR's code ran in between and could point the state (or a symlink) at any file."""
    out_dir = Path(state["out_dir"])
    if ctx.event.runner_temp is not None and out_dir != ctx.event.runner_temp / "mlci" / "report":
        raise ConfigError(
            f"the run state names the report directory {out_dir}, not "
            f"{ctx.event.runner_temp / 'mlci' / 'report'}; refusing to publish it"
        )
    report_md = Path(state["report_path"])
    if not report_md.resolve().is_relative_to(out_dir.resolve()):
        raise ConfigError(f"the report {report_md} leads out of {out_dir}; refusing to publish it")
    return report_md


def _redact_files(out_dir: Path) -> None:
    """The report directory is uploaded as an artifact: no credential in any text file of it."""
    from mlci.redact import redact

    for path in out_dir.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.suffix in (".md", ".html", ".json", ".txt", ".csv"):
            text = path.read_text(encoding="utf-8", errors="replace")
            if redact(text) != text:
                atomicio.write_text(path, redact(text))


def _pr_publish(ctx: _Ctx, state: dict[str, Any]) -> CiResult:
    event, env, root, note, token = ctx.event, ctx.env, ctx.root, ctx.note, ctx.token
    verdict = state["verdict"]
    report_md = _report_file(ctx, state)
    _redact_files(Path(state["out_dir"]))
    markdown = report_md.read_text(encoding="utf-8")
    result = CiResult(
        event.name,
        "report",
        verdict,
        report_path=report_md,
        metrics=state["metrics"],
        notes=ctx.notes,
        exit_code=1 if verdict == "failure" else 0,
    )
    can_write = not event.is_fork
    if can_write and not token:
        raise RemoteError(
            "no GitHub token for the PR comment and check; pass "
            "`github-token: ${{ secrets.GITHUB_TOKEN }}` to the action (or set GITHUB_TOKEN)"
        )
    if event.is_fork:
        note(
            f"PR #{event.pr} comes from the fork {event.head_repo}: its token is read-only, so the report goes "
            "to the job summary and the report directory (upload it as an artifact), not to a comment"
        )
    # Plots go to the assets branch first, so the summary shows them too (a failure is a note).
    if can_write:
        published = _with_published_images(event, env, root, ctx.cfg, markdown, report_md.parent, token, note)
    else:
        from mlci.integrations.github.assets import without_local_images

        published = without_local_images(markdown, report_md.parent)
    write_summary(event.summary_path, published)
    write_outputs(
        event.output_path,
        {
            "verdict": verdict,
            "report-path": str(report_md),
            "metrics-json": json.dumps(state["metrics"], sort_keys=True, separators=(",", ":")),
        },
    )
    if not can_write:
        write_outputs(event.output_path, {"comment-url": ""})
        return result

    from mlci.integrations.github import checks, comments
    from mlci.integrations.github import client as client_mod

    client = client_mod.GitHubClient(token, api_url=event.api_url, retry=ctx.retry)
    try:
        if ctx.publisher == "cml":
            result.comment_url = _cml_comment(event, env, published, Path(state["out_dir"]), ctx.comment_id, str(token))
        else:
            posted = comments.upsert(
                client, event.repo, event.pr, published, comment_id=ctx.comment_id, full_report_url=event.run_url
            )
            result.comment_url = posted.url
            if posted.trimmed:
                note(
                    "the report was longer than a PR comment allows; the comment is trimmed, "
                    "the job summary has the full report"
                )
        check = checks.publish(
            client,
            event.repo,
            event.check_sha,
            conclusion=verdict,
            title=state["title"],
            summary=markdown,
            details_url=event.run_url,
            record=_bound_record(ctx, state, event.check_sha),  # provenance: the check names the record
        )
        result.check_kind = check.kind
        if check.fallback_reason:
            note(
                f"posted a commit status instead of a check run ({check.fallback_reason}); a status cannot "
                "vouch for the run record, so an approval will not promote it (grant `checks: write`)"
            )
    finally:
        client.close()
    write_outputs(event.output_path, {"comment-url": result.comment_url or ""})
    _share_record(ctx, state)
    return result


def _bound_record(ctx: _Ctx, state: dict[str, Any], sha: str):
    """The run record this job published for `sha` (by the id the run phase saved), for its check."""
    from mlci.store import baseline

    record = next((r for r in baseline.records_for(ctx.project.repo, sha) if r.id == state.get("record")), None)
    if record is None:
        ctx.note(f"no run record {state.get('record')} at {sha[:12]}: the mlci check vouches for no record")
    return record


def _share_record(ctx: _Ctx, state: dict[str, Any]) -> None:
    """Make the PR head's run reachable from the review job that promotes it: the model's bytes
    to the DVC remote, then the record to origin's refs/notes/mlci (only that record).

    Same-repo PRs only (a fork's token cannot push); a failure is a note, the report is out.
    """
    from mlci.integrations.github import gitauth
    from mlci.store import baseline

    repo = ctx.project.repo
    record = next(
        (r for r in baseline.records_for(repo, gitrepo.head_commit(repo)) if r.id == state.get("record")), None
    )
    if record is None:
        ctx.note("the run record of this PR's head is gone from the notes; an approval will retrain it")
        return
    _share_model(ctx, record)
    if "origin" not in [r.name for r in repo.remotes]:
        ctx.note("no 'origin' remote: the PR's run record was stored locally only")
        return
    try:
        with repo.git.custom_environment(**gitauth.auth_env(ctx.token, ctx.event.server_url, ctx.env)):
            baseline.share(repo, record, "origin")
    except MlciError as exc:
        ctx.note(
            f"could not push the PR's run record ({exc.message}); an approval will retrain it "
            "(give the job `contents: write`)"
        )


def _share_model(ctx: _Ctx, record) -> None:
    share_model(ctx.root, ctx.cfg.registry.remote, record, ctx.note)


def share_model(root: Path, remote: str | None, record, note: Callable[[str], None], files=None) -> list[str]:
    """Upload the recorded model files to the DVC remote (verified by reading them back), so the
    review job promotes exactly these bytes even on another machine. `files`: artifact path ->
    where its bytes are (the split's publish job: the bundle reader's private copy; models not
    in it are skipped), by default the workspace. A failure is a note; returns the paths stored."""
    from mlci.integrations.registry import dvc_storage

    stored: list[str] = []
    for role, artifact in sorted(record.artifacts.items()):
        md5 = record.outs.get(artifact.path)
        if not role.startswith("model") or not md5:
            continue
        file = root / artifact.path if files is None else files.get(artifact.path)
        if file is None:
            continue
        try:
            digests = dvc_storage.file_digests(file) if file.is_file() else None
            if digests is None or (digests.sha256, digests.md5) != (artifact.sha256, md5):
                raise RegistryError(f"{artifact.path} is not the file the run recorded")
            dvc_storage.upload(root, file, digests, remote)
            stored.append(artifact.path)
        except MlciError as exc:
            note(
                f"the model {artifact.path} was not stored in the DVC remote ({exc.message}); "
                "an approval can promote it only where these bytes are"
            )
    return stored


def _fetch_records(root: Path, env, token, event, note) -> None:
    """Bring in the baseline records (refs/notes/mlci): actions/checkout does not fetch notes."""
    from mlci.integrations.github import gitauth
    from mlci.store import baseline

    repo = gitrepo.open_repo(root)
    if "origin" not in [r.name for r in repo.remotes]:
        note("no 'origin' remote: comparing with the run records already in this clone")
        return
    try:
        with repo.git.custom_environment(**gitauth.auth_env(token, event.server_url, env)):
            baseline.fetch(repo, "origin")
    except MlciError as exc:
        note(f"could not fetch baseline records from origin ({exc.message}); comparing with local records")


def _with_published_images(event, env, root, cfg, markdown, report_dir, token, note) -> str:
    from mlci.integrations.github import assets, gitauth

    if not assets.local_images(markdown, report_dir):
        return markdown
    branch = cfg.ci.assets_branch
    try:
        rewritten, _commit = assets.publish(
            root,
            markdown,
            report_dir,
            repo=event.repo,
            prefix=f"pr-{event.pr}/{event.check_sha[:12]}",
            server_url=event.server_url,
            branch=branch,
            extra_env=gitauth.auth_env(token, event.server_url, env),
        )
    except (MlciError, subprocess.CalledProcessError, OSError) as exc:
        reason = exc.message if isinstance(exc, MlciError) else type(exc).__name__
        note(
            f"report images not published ({reason}); the comment shows the report without them "
            "(grant `contents: write` to publish them on the assets branch)"
        )
        return assets.without_local_images(markdown, report_dir)
    return rewritten


def _cml_comment(event, env, markdown: str, out_dir: Path, comment_id: str, token: str) -> str | None:
    """Hand the report to CML's sticky comment (`cml comment create --watermark-title`)."""
    body = out_dir / "comment.md"
    atomicio.write_text(body, markdown)
    done = subprocess.run(
        ["cml", "comment", "create", f"--watermark-title=mlci:{comment_id}", f"--target=pr/{event.pr}", str(body)],
        env={**env, "REPO_TOKEN": token},
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1].replace(token, "***")
        raise RemoteError(f"`cml comment create` failed ({last}); check the CML install and the token")
    urls = [word for word in done.stdout.split() if word.startswith("http")]
    return urls[-1] if urls else None


def _push_admit(ctx: _Ctx) -> dict[str, Any] | CiResult:
    event = ctx.event
    if not event.is_default_branch_push:
        ctx.note(
            f"push to {event.ref or 'an unknown ref'} is not the default branch "
            f"({event.default_branch or 'unknown'}): nothing to record"
        )
        return CiResult(event.name, "skipped", "neutral", notes=ctx.notes)
    # No REST preflight here: a push run talks to GitHub only through `git push` (contents),
    # which a REST probe cannot stand in for on every forge setup; see preflight.needs("push").
    _fetch_records(ctx.root, ctx.env, ctx.token, event, ctx.note)
    return {"event": event.name, "sha": event.sha}


def _push_run(ctx: _Ctx, state: dict[str, Any]) -> dict[str, Any]:
    from mlci.workflows import backfill
    from mlci.workflows.run import run

    limit = ctx.cfg.ci.baseline_backfill
    gap = backfill.before_head(
        ctx.root, limit=limit, config_path=ctx.project.config_path, note=ctx.note
    )  # cancelled runs
    record = run(ctx.project)  # stored locally in refs/notes/mlci
    return {**state, "ran": True, "metrics": record.metrics, "backfill": gap.as_dict(), "record": record.id}


def _push_publish(ctx: _Ctx, state: dict[str, Any]) -> CiResult:
    from mlci.integrations.github import gitauth
    from mlci.store import baseline

    repo = ctx.project.repo
    if "origin" in [r.name for r in repo.remotes]:
        with repo.git.custom_environment(**gitauth.auth_env(ctx.token, ctx.event.server_url, ctx.env)):
            baseline.push(repo, "origin")
    else:
        ctx.note("no 'origin' remote: the baseline record was stored locally only")
    _bind_baseline(ctx, state)
    metrics = state["metrics"]
    write_outputs(
        ctx.event.output_path,
        {
            "verdict": "success",
            "report-path": "",
            "comment-url": "",
            "metrics-json": json.dumps(metrics, sort_keys=True, separators=(",", ":")),
        },
    )
    result = CiResult(ctx.event.name, "baseline", "success", metrics=metrics, notes=ctx.notes)
    registry = ctx.cfg.registry
    if registry.configured and registry.promote_on in ("main", "both"):
        result.action, result.promotion = "promote", _promote(ctx, approval=None, state=state)
    return result


def _bind_baseline(ctx: _Ctx, state: dict[str, Any]) -> None:
    """The `mlci` check on main's commit, naming the baseline record it pushed (provenance: PRs
    and promotions trust a main record only with this check). A failure is a note."""
    from mlci.integrations.github import checks
    from mlci.integrations.github import client as client_mod

    sha = ctx.event.sha
    record = _bound_record(ctx, state, sha)
    if record is None:
        return
    if not ctx.token:
        ctx.note("no GitHub token: the baseline record is not bound to this run (PRs will call it unverified)")
        return
    summary = "Baseline run record for pull requests to compare with.\n\n" + "\n".join(
        f"- `{file}`: " + ", ".join(f"{k} = {v:g}" for k, v in sorted(values.items()))
        for file, values in sorted(record.metrics.items())
    )
    try:
        with client_mod.GitHubClient(ctx.token, api_url=ctx.event.api_url, retry=ctx.retry) as client:
            check = checks.publish(
                client,
                ctx.event.repo,
                sha,
                conclusion="success",
                title="mlci: baseline recorded",
                summary=summary,
                details_url=ctx.event.run_url,
                record=record,
            )
    except MlciError as exc:
        ctx.note(f"could not create the mlci check binding the baseline record ({exc.message})")
        return
    if check.fallback_reason:
        ctx.note(
            f"the baseline record is not bound to this run ({check.fallback_reason}): PRs will call it "
            "unverified; grant `checks: write` to the baseline job"
        )


def _approval(ctx: _Ctx):
    from mlci.integrations.github import client as client_mod
    from mlci.integrations.github import reviews

    with client_mod.GitHubClient(ctx.token, api_url=ctx.event.api_url, retry=ctx.retry) as client:
        return reviews.approval(client, ctx.event.repo, ctx.event.pr)


def _review_admit(ctx: _Ctx) -> dict[str, Any] | CiResult:
    event = ctx.event
    if (event.review_state or "").lower() != "approved":
        ctx.note(f"review state {event.review_state!r}: only approvals promote")
        return CiResult(event.name, "skipped", "neutral", notes=ctx.notes)
    if not ctx.token:
        raise RemoteError("no GitHub token to check the approval; pass `github-token` to the action")
    if ctx.cfg.registry.promote_on == "main":
        ctx.note("registry.promote_on is 'main': approvals do not promote; merge the PR instead")
        return CiResult(event.name, "skipped", "neutral", notes=ctx.notes)
    approval = _approval(ctx)
    if not approval.approved:  # refuse before spending a training run on it
        raise RegistryError(f"promotion refused: {approval.reason}")
    _preflight(ctx, can_write=True)
    _fetch_records(ctx.root, ctx.env, ctx.token, event, ctx.note)
    return {"event": event.name, "sha": event.sha}


def _review_run(ctx: _Ctx, state: dict[str, Any]) -> dict[str, Any]:
    from mlci.store import baseline
    from mlci.workflows.run import run

    event, repo = ctx.event, ctx.project.repo
    record = baseline.latest(repo, gitrepo.head_commit(repo), clean_only=True)
    trained = record is None
    if record is None:
        ctx.note("no run record at the approved commit yet: running the pipeline first")
        record = run(ctx.project)
    if record.gate is None:  # judge it as the PR job did, so a failed gate is never promoted
        out_dir = (event.runner_temp or Path(tempfile.mkdtemp(prefix="mlci-ci-"))) / "mlci" / "report"
        built = _report(ctx.project, out_dir, base_ref=event.base_ref or None, base_how=_EVENT_BASE)
        baseline.attach_gate(repo, record, built.gate.to_dict(), _evidence(built))
    # provenance: a record this job made needs no check; any other must be one a CI run published
    return {**state, "ran": True, **({"vouched": {record.id: record.digest()}} if trained else {})}


def _review_publish(ctx: _Ctx, state: dict[str, Any]) -> CiResult:
    approval = _approval(ctx)  # again: a push since the admission makes the approval stale
    if not approval.approved:
        raise RegistryError(f"promotion refused: {approval.reason}")
    promotion = _promote(ctx, approval=approval, state=state)
    write_outputs(
        ctx.event.output_path, {"verdict": "success", "report-path": "", "comment-url": "", "metrics-json": ""}
    )
    return CiResult(ctx.event.name, "promote", "success", notes=ctx.notes, promotion=promotion)


def _promote(ctx: _Ctx, *, approval, state: dict[str, Any]):
    """Promote with the token this command was given: registry tags are pushed with it, and the
    record is verified with it (issue 25); on a push, the record this job made (by id)."""
    from mlci.integrations.registry.gto_tags import credentials
    from mlci.workflows.promote import github_verifier, promote

    verify = github_verifier(
        {},
        token=ctx.token,
        api_url=ctx.event.api_url,
        repo=ctx.event.repo,
        retry=ctx.retry,
        vouched=state.get("vouched"),
    )
    record_id = state.get("record") if ctx.event.name == "push" else None
    with credentials(ctx.token, ctx.event.server_url):  # the token `mlci ci` was given, not os.environ's
        return promote(ctx.project, approval=approval, verify=verify, record_id=record_id)
