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
  for lack of permission. On a self-hosted runner a fork PR is refused unless a maintainer
  labelled it (`ci.fork_label`, default `safe-to-train`): its code would run on your machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci import atomicio, config as config_mod, gitrepo
from mlci.errors import ConfigError, MlciError, RegistryError, RemoteError, UsageError
from mlci.github import event as event_mod

PUBLISHERS = ("mlci", "cml")
DEFAULT_FORK_LABEL = "safe-to-train"


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


# --- outputs --------------------------------------------------------------------------------

def _append(path: Path | None, text: str) -> None:
    """Append to a runner file (outputs, job summary): everything published is redacted."""
    from mlci.redact import redact

    if path is None:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(redact(text))


def write_outputs(path: Path | None, outputs: dict[str, str]) -> None:
    """Append step outputs to $GITHUB_OUTPUT; multi-line values use a random heredoc delimiter."""
    lines = []
    for key, value in outputs.items():
        value = "" if value is None else str(value)
        if "\n" in value or "\r" in value:
            delimiter = f"mlci_{uuid.uuid4().hex}"
            lines.append(f"{key}<<{delimiter}\n{value}\n{delimiter}\n")
        else:
            lines.append(f"{key}={value}\n")
    _append(path, "".join(lines))


def write_summary(path: Path | None, markdown: str) -> None:
    from mlci.report.limits import fit_summary

    _append(path, fit_summary(markdown.rstrip("\n") + "\n"))


# --- report and gate (mlci.report.builder / mlci.gate) --------------------------------------

def _report(root: Path, out_dir: Path, *, base_ref: str | None, config_path: Path | None):
    """Write report.md (+ json, html, plots) for HEAD versus `base_ref` with the report builder."""
    from mlci.report import builder

    return builder.build(root, out_dir=out_dir, base_ref=base_ref, config_path=config_path)


def _verdict(built: Any, fail_on_regression: bool) -> str:
    """success / failure / neutral: the gate's answer, softened to neutral when not gating."""
    if built.gate.passed:
        return "success"
    return "failure" if fail_on_regression else "neutral"


def _title(verdict: str, built: Any) -> str:
    comparison = built.comparison
    counts = ", ".join(f"{comparison.count(v)} {v}" for v in ("regressed", "improved") if comparison.count(v))
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
) -> CiResult:
    """Do what the current GitHub Actions event calls for (see module docstring)."""
    env = dict(os.environ if environ is None else environ)
    event = event_mod.from_env(env)
    if publisher not in PUBLISHERS:
        raise UsageError(f"publisher must be one of {', '.join(PUBLISHERS)}, got {publisher!r}")
    repo = gitrepo.open_repo(path)
    root = gitrepo.root(repo)
    cfg = config_mod.load(root, config_path)
    settings = cfg.section("ci")
    fail = _bool(fail_on_regression, settings.get("fail_on_regression", True))
    comment_id = comment_id or settings.get("comment_id") or "mlci"
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        if on_note:
            on_note(message)

    if event.name in ("pull_request", "pull_request_target"):
        if event.name == "pull_request_target":
            raise ConfigError("refusing to train on `pull_request_target`: it runs PR code with a write token; "
                              "trigger the workflow on `pull_request` instead")
        return _pull_request(event, env, root, cfg, config_path, base_ref, comment_id, fail, publisher, token,
                             retry, note, notes)
    if event.name == "push":
        return _push(event, env, repo, root, cfg, config_path, token, retry, note, notes)
    if event.name == "pull_request_review":
        return _review(event, env, root, cfg, config_path, token, retry, note, notes)
    note(f"event {event.name!r} needs nothing from mlci (it acts on pull_request, push and pull_request_review)")
    return CiResult(event.name, "skipped", "neutral", notes=notes)


def _pull_request(event, env, root, cfg, config_path, base_ref, comment_id, fail, publisher, token, retry,
                  note, notes) -> CiResult:
    from mlci.run import run

    settings = cfg.section("ci")
    fork_label = settings.get("fork_label", DEFAULT_FORK_LABEL)
    if event.is_fork and event.self_hosted and fork_label not in event.labels:
        raise ConfigError(
            f"refusing to run fork PR #{event.pr} ({event.head_repo}) on a self-hosted runner: its code would run "
            f"on your machine; a maintainer who reviewed it can add the label '{fork_label}' (config ci.fork_label)"
        )
    if publisher == "cml" and shutil.which("cml") is None:
        raise ConfigError("publisher 'cml' needs the `cml` CLI on PATH, which is not installed; "
                          "install it (npm install -g @dvcorg/cml) or use publisher: mlci")
    can_write = not event.is_fork
    if can_write and not token:
        raise RemoteError("no GitHub token for the PR comment and check; pass "
                          "`github-token: ${{ secrets.GITHUB_TOKEN }}` to the action (or set GITHUB_TOKEN)")
    if event.is_fork:
        note(f"PR #{event.pr} comes from the fork {event.head_repo}: its token is read-only, so the report goes "
             "to the job summary and the report directory (upload it as an artifact), not to a comment")

    _fetch_records(root, env, token, event, note)
    base_ref = base_ref or event.base_ref or None
    if base_ref:  # a wrong --base fails now, not after an hour of training
        gitrepo.resolve(gitrepo.open_repo(root), base_ref)
    record = run(root, config_path=config_path, pr=event.pr)
    out_dir = (event.runner_temp or Path(tempfile.mkdtemp(prefix="mlci-ci-"))) / "mlci" / "report"
    built = _report(root, out_dir, base_ref=base_ref, config_path=config_path)
    from mlci import baseline

    baseline.attach_gate(gitrepo.open_repo(root), record, built.gate.to_dict())  # read by `mlci promote`
    report_md = built.markdown
    markdown = report_md.read_text(encoding="utf-8")
    verdict = _verdict(built, fail)
    result = CiResult(event.name, "report", verdict, report_path=report_md, metrics=record.metrics, notes=notes,
                      exit_code=1 if verdict == "failure" else 0)

    # Plots go to the assets branch first, so the summary shows them too (a failure is a note).
    if can_write:
        published = _with_published_images(event, env, root, cfg, markdown, report_md.parent, token, note)
    else:
        from mlci.github.assets import without_local_images

        published = without_local_images(markdown, report_md.parent)
    write_summary(event.summary_path, published)
    write_outputs(event.output_path, {"verdict": verdict, "report-path": str(report_md),
                                      "metrics-json": _metrics_json(record)})
    if not can_write:
        write_outputs(event.output_path, {"comment-url": ""})
        return result

    from mlci.github import checks, client as client_mod, comments

    client = client_mod.GitHubClient(token, api_url=event.api_url, retry=retry)
    try:
        comment_md = published
        if publisher == "cml":
            result.comment_url = _cml_comment(event, env, comment_md, out_dir, comment_id, token)
        else:
            posted = comments.upsert(client, event.repo, event.pr, comment_md, comment_id=comment_id,
                                     full_report_url=event.run_url)
            result.comment_url = posted.url
            if posted.trimmed:
                note("the report was longer than a PR comment allows; the comment is trimmed, "
                     "the job summary has the full report")
        check = checks.publish(client, event.repo, event.check_sha, conclusion=verdict,
                               title=_title(verdict, built), summary=markdown, details_url=event.run_url)
        result.check_kind = check.kind
        if check.fallback_reason:
            note(f"posted a commit status instead of a check run ({check.fallback_reason})")
    finally:
        client.close()
    write_outputs(event.output_path, {"comment-url": result.comment_url or ""})
    return result


def _fetch_records(root: Path, env, token, event, note) -> None:
    """Bring in the baseline records (refs/notes/mlci): actions/checkout does not fetch notes."""
    from mlci import baseline
    from mlci.github import gitauth

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
    from mlci.github import assets, gitauth

    if not assets.local_images(markdown, report_dir):
        return markdown
    branch = cfg.section("ci").get("assets_branch", assets.DEFAULT_BRANCH)
    try:
        rewritten, _commit = assets.publish(root, markdown, report_dir, repo=event.repo,
                                            prefix=f"pr-{event.pr}/{event.check_sha[:12]}",
                                            server_url=event.server_url, branch=branch,
                                            extra_env=gitauth.auth_env(token, event.server_url, env))
    except (MlciError, subprocess.CalledProcessError, OSError) as exc:
        reason = exc.message if isinstance(exc, MlciError) else type(exc).__name__
        note(f"report images not published ({reason}); the comment shows the report without them "
             "(grant `contents: write` to publish them on the assets branch)")
        return assets.without_local_images(markdown, report_dir)
    return rewritten


def _cml_comment(event, env, markdown: str, out_dir: Path, comment_id: str, token: str) -> str | None:
    """Hand the report to CML's sticky comment (`cml comment create --watermark-title`)."""
    body = out_dir / "comment.md"
    atomicio.write_text(body, markdown)
    done = subprocess.run(
        ["cml", "comment", "create", f"--watermark-title=mlci:{comment_id}", f"--target=pr/{event.pr}", str(body)],
        env={**env, "REPO_TOKEN": token}, capture_output=True, text=True,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1].replace(token, "***")
        raise RemoteError(f"`cml comment create` failed ({last}); check the CML install and the token")
    urls = [word for word in done.stdout.split() if word.startswith("http")]
    return urls[-1] if urls else None


def _push(event, env, repo, root, cfg, config_path, token, retry, note, notes) -> CiResult:
    from mlci import baseline
    from mlci.github import gitauth
    from mlci.run import run

    if not event.is_default_branch_push:
        note(f"push to {event.ref or 'an unknown ref'} is not the default branch "
             f"({event.default_branch or 'unknown'}): nothing to record")
        return CiResult(event.name, "skipped", "neutral", notes=notes)
    _fetch_records(root, env, token, event, note)
    record = run(root, config_path=config_path)
    if "origin" in [r.name for r in repo.remotes]:
        with repo.git.custom_environment(**gitauth.auth_env(token, event.server_url, env)):
            baseline.push(repo, "origin")
    else:
        note("no 'origin' remote: the baseline record was stored locally only")
    write_outputs(event.output_path, {"verdict": "success", "report-path": "", "comment-url": "",
                                      "metrics-json": _metrics_json(record)})
    result = CiResult(event.name, "baseline", "success", metrics=record.metrics, notes=notes)
    registry = cfg.section("registry")
    if registry and registry.get("promote_on", "both") in ("main", "both"):
        result.action, result.promotion = "promote", _promote(root, approval=None)
    return result


def _review(event, env, root, cfg, config_path, token, retry, note, notes) -> CiResult:
    if (event.review_state or "").lower() != "approved":
        note(f"review state {event.review_state!r}: only approvals promote")
        return CiResult(event.name, "skipped", "neutral", notes=notes)
    if not token:
        raise RemoteError("no GitHub token to check the approval; pass `github-token` to the action")
    if cfg.section("registry").get("promote_on", "both") == "main":
        note("registry.promote_on is 'main': approvals do not promote; merge the PR instead")
        return CiResult(event.name, "skipped", "neutral", notes=notes)
    from mlci import baseline
    from mlci.github import client as client_mod, reviews
    from mlci.run import run

    with client_mod.GitHubClient(token, api_url=event.api_url, retry=retry) as client:
        approval = reviews.approval(client, event.repo, event.pr)
    if not approval.approved:  # refuse before spending a training run on it
        raise RegistryError(f"promotion refused: {approval.reason}")
    _fetch_records(root, env, token, event, note)
    repo = gitrepo.open_repo(root)
    record = baseline.latest(repo, gitrepo.head_commit(repo), clean_only=True)
    if record is None:
        note("no run record at the approved commit yet: running the pipeline first")
        record = run(root)
    if record.gate is None:  # judge it as the PR job did, so a failed gate is never promoted
        out_dir = (event.runner_temp or Path(tempfile.mkdtemp(prefix="mlci-ci-"))) / "mlci" / "report"
        built = _report(root, out_dir, base_ref=event.base_ref or None, config_path=config_path)
        baseline.attach_gate(repo, record, built.gate.to_dict())
    promotion = _promote(root, approval=approval)
    write_outputs(event.output_path, {"verdict": "success", "report-path": "", "comment-url": "",
                                      "metrics-json": ""})
    return CiResult(event.name, "promote", "success", notes=notes, promotion=promotion)


def _promote(root: Path, *, approval):
    try:
        from mlci.registry.promote import promote
    except ImportError:
        raise ConfigError("this mlci has no model registry support (mlci.registry.promote); "
                          "upgrade mlci or drop registry.promote_on") from None
    return promote(root, approval=approval)
