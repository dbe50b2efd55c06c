"""`mlci publish --bundle DIR`: post a PR training job's report, from a job that runs no PR code.

The training job ran the PR's code with no token and left a bundle (`mlci.store.bundle`). This
runs in a fresh job with a write token and a checkout of the base repository:

- which PR and head commit this is comes from GitHub, never from the bundle: the
  `pull_request` event's payload (same-repository PRs, a `publish` job in the PR workflow), or
  for fork PRs a `workflow_run` event, whose PR is looked up through the API by the run's
  head SHA and head repository. The bundle's claims must match, or nothing is posted;
- the bundle is read as data (sizes, names, hashes, schemas) and its markdown is redacted and
  defused (no hidden comment markers, no @-mentions) before it reaches the comment, the check
  run and the job summary;
- the head's run record goes to origin's refs/notes/mlci (only that record, on that commit),
  and the report's images to the assets branch;
- the model file the bundle carries (the one the record names, sha256 checked against both the
  manifest and the record) goes to the DVC remote of the base checkout's mlci.yaml and
  .dvc/config, read back and verified, so an approval promotes exactly the bytes this run
  produced. The remote's credentials are this job's (env of the publish step), never the PR's.

Nothing in the bundle is executed or used as a path: the images are written from their
verified bytes into a private directory, and the model is streamed into a private file.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.errors import ConfigError, DataError, MlciError, RemoteError, UsageError
from mlci.integrations.github import event as event_mod
from mlci.integrations.github import pulls as _pulls
from mlci.integrations.github.outputs import write_outputs, write_summary
from mlci.store import bundle as bundle_mod
from mlci.store.project import Project

_SHA = re.compile(r"[0-9a-f]{40}")
_HTML_COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.DOTALL)
_MENTION = re.compile(r"(?<![\w`/])@(?=[A-Za-z0-9])")


@dataclass(frozen=True)
class Target:
    """The PR and commit this publication is for, as GitHub says (never as the bundle says)."""

    pr: int
    head_sha: str
    head_repo: str
    run_url: str | None


@dataclass
class PublishResult:
    pr: int
    head_sha: str
    verdict: str  # success | failure | neutral
    comment_url: str | None = None
    check_kind: str | None = None
    record_shared: bool = False
    model_stored: list[str] = field(default_factory=list)  # model paths stored in the DVC remote
    notes: list[str] = field(default_factory=list)
    exit_code: int = 0


def sanitize_markdown(markdown: str) -> str:
    """The PR's code wrote this text: no credential, no hidden marker (`<!-- mlci:comment … -->`
    would let it pass for another sticky comment), no @-mention pinging people."""
    from mlci.redact import redact

    text = _HTML_COMMENT.sub("", redact(markdown))
    return _MENTION.sub("@\u200b", text)


def _target(event, client) -> Target:
    """PR number and head SHA from the event, or for `workflow_run` from the API."""
    if event.name == "pull_request":
        if event.is_fork:
            raise ConfigError(
                f"PR #{event.pr} comes from the fork {event.head_repo}, whose pull_request token is read-only: "
                "its bundle is published by the workflow_run workflow (mlci-fork-publish.yml), not this job"
            )
        if event.pr is None or not _SHA.fullmatch(event.pr_head_sha or ""):
            raise ConfigError("the pull_request event has no PR number or head SHA; is this a pull_request run?")
        return Target(event.pr, str(event.pr_head_sha), event.repo, event.run_url)
    if event.name != "workflow_run":
        raise UsageError(
            f"`mlci publish` runs on pull_request (same-repository PRs) or workflow_run (fork PRs), not {event.name}"
        )
    run = event.payload.get("workflow_run") or {}
    if run.get("event") != "pull_request":
        raise ConfigError(
            f"the triggering run was a {str(run.get('event'))[:40]!r} run, not pull_request: nothing to publish"
        )
    head_sha = str(run.get("head_sha") or "")
    head_repo = str((run.get("head_repository") or {}).get("full_name") or "")
    if not _SHA.fullmatch(head_sha) or not head_repo:
        raise ConfigError("the workflow_run event has no head SHA or head repository")
    owner, name = event.repo.split("/", 1)
    matches = [
        pull
        for pull in client.paginate(f"/repos/{owner}/{name}/pulls", {"state": "open"}, item=_pulls.PULL)
        if (pull.get("head") or {}).get("sha") == head_sha
        and ((pull.get("head") or {}).get("repo") or {}).get("full_name") == head_repo
    ]
    if len(matches) != 1:
        raise DataError(
            f"{'no' if not matches else len(matches)} open pull request(s) have the head {head_sha[:12]} from "
            f"{head_repo} (pushed again, or closed, since the run); nothing was published"
        )
    return Target(int(matches[0]["number"]), head_sha, head_repo, run.get("html_url") or event.run_url)


def _check_claims(bundle_dir: Path, claims: bundle_mod.Claims, target: Target) -> None:
    if claims.pr != target.pr or claims.head_sha != target.head_sha:
        raise DataError(
            f"the mlci bundle {bundle_dir} is refused: it claims PR #{claims.pr} at {claims.head_sha[:12]}, but the "
            f"run being published is PR #{target.pr} at {target.head_sha[:12]}; nothing was published"
        )


def _verdict(report: dict[str, Any], fail: bool) -> str:
    if report["gate"]["passed"]:
        return "success"
    return "failure" if fail else "neutral"


def _title(verdict: str, report: dict[str, Any]) -> str:
    summary = report["comparison"]["summary"]
    counts = ", ".join(f"{summary[v]} {v}" for v in ("regressed", "improved") if summary.get(v))
    head = {"success": "mlci: gate passed", "failure": "mlci: gate failed", "neutral": "mlci: regressions (not gating)"}
    return head[verdict] + (f" ({counts})" if counts else "")


def _images_dir(bundle: bundle_mod.Bundle, into: Path) -> Path:
    """The verified image bytes, written afresh: nothing of the bundle directory is used as a path."""
    for name, data in bundle.images().items():
        path = into / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return into


def publish(
    path: Path | str = ".",
    *,
    bundle_dir: Path | str,
    environ: dict[str, str] | None = None,
    config_path: Path | None = None,
    comment_id: str | None = None,
    fail_on_regression: bool | str | None = None,
    token: str | None = None,
    retry=None,
    on_note: Callable[[str], None] | None = None,
    limits: bundle_mod.Limits | None = None,
) -> PublishResult:
    """Validate the bundle, then post the comment, the check run and the summary, and share the record."""
    from mlci import redact
    from mlci.integrations.github import checks, comments
    from mlci.integrations.github import client as client_mod
    from mlci.workflows.ci import _bool

    env = dict(os.environ if environ is None else environ)
    event = event_mod.from_env(env)
    project = Project.open(path, config_path)  # the base repository's mlci.yaml: trusted settings
    cfg = project.config
    fail = _bool(fail_on_regression, cfg.ci.fail_on_regression)
    comment_id = comment_id or cfg.ci.comment_id
    token = token or env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None
    if not token:
        raise RemoteError(
            "no GitHub token to publish the report; pass `github-token: ${{ secrets.GITHUB_TOKEN }}` to the action "
            "(or set GITHUB_TOKEN)"
        )
    redact.register(token)
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(message)
        if on_note:
            on_note(message)

    if retry is None:
        retry = client_mod.RetryPolicy(on_wait=on_note)
    bundle_dir = Path(bundle_dir)
    with (
        client_mod.GitHubClient(token, api_url=event.api_url, retry=retry) as client,
        tempfile.TemporaryDirectory(prefix="mlci-publish-") as private,
    ):
        target = _target(event, client)
        bundle = bundle_mod.read(bundle_dir, limits, scratch=Path(private) / "model")
        _check_claims(bundle_dir, bundle.claims, target)
        verdict = _verdict(bundle.report, fail)
        markdown = sanitize_markdown(bundle.markdown)
        report_dir = _images_dir(bundle, Path(private) / "report")
        published = _with_images(project.root, env, event, target, cfg, markdown, report_dir, token, note)
        write_summary(event.summary_path, published)
        result = PublishResult(target.pr, target.head_sha, verdict, notes=notes, exit_code=int(verdict == "failure"))
        posted = comments.upsert(
            client, event.repo, target.pr, published, comment_id=comment_id, full_report_url=target.run_url
        )
        result.comment_url = posted.url
        if posted.trimmed:
            note("the report was longer than a PR comment allows; the comment is trimmed, the summary has it whole")
        check = checks.publish(
            client,
            event.repo,
            target.head_sha,
            conclusion=verdict,
            title=_title(verdict, bundle.report),
            summary=markdown,
            details_url=target.run_url,
            record=bundle.record,  # provenance: the check names the record pushed below, so an approval can verify it
        )
        result.check_kind = check.kind
        if check.fallback_reason:
            note(
                f"posted a commit status instead of a check run ({check.fallback_reason}); a status cannot vouch "
                "for the run record, so an approval will not promote it (grant `checks: write`)"
            )
        write_outputs(
            event.output_path,
            {
                "verdict": verdict,
                "comment-url": result.comment_url or "",
                "metrics-json": json.dumps(bundle.record.metrics, sort_keys=True, separators=(",", ":")),
            },
        )
        result.model_stored = _share_model(project, bundle, note)  # before the record that names it
    result.record_shared = _share_record(project, env, event, target, bundle, token, note)
    return result


def _share_model(project: Project, bundle: bundle_mod.Bundle, note) -> list[str]:
    """The bundle's model, from the reader's private copy, to the base configuration's DVC remote."""
    from mlci.workflows.ci import share_model

    if bundle.model is None:
        return []
    if project.config.registry.promote_on == "main":
        return []  # approvals promote nothing here: no use for the bytes
    return share_model(
        project.root, project.config.registry.remote, bundle.record, note, files={bundle.model.path: bundle.model.file}
    )


def _with_images(root: Path, env, event, target: Target, cfg, markdown: str, report_dir: Path, token, note) -> str:
    from mlci.integrations.github import assets, gitauth

    if not assets.local_images(markdown, report_dir):
        return markdown
    try:
        rewritten, _commit = assets.publish(
            root,
            markdown,
            report_dir,
            repo=event.repo,
            prefix=f"pr-{target.pr}/{target.head_sha[:12]}",
            server_url=event.server_url,
            branch=cfg.ci.assets_branch,
            extra_env=gitauth.auth_env(token, event.server_url, env),
        )
    except (MlciError, subprocess.CalledProcessError, OSError) as exc:
        reason = exc.message if isinstance(exc, MlciError) else type(exc).__name__
        note(f"report images not published ({reason}); the comment shows the report without them")
        return assets.without_local_images(markdown, report_dir)
    return rewritten


def _share_record(project: Project, env, event, target: Target, bundle, token, note) -> bool:
    """Push the head's run record (only it, on the head commit) to origin's refs/notes/mlci.

    The base checkout lacks the head commit (a fork's above all): it is fetched first, by SHA,
    or through refs/pull/N/head. A failure is a note: the report is out already.
    """
    import git

    from mlci.integrations.github import gitauth
    from mlci.store import baseline

    repo = project.repo
    if "origin" not in [r.name for r in repo.remotes]:
        note("no 'origin' remote: the PR's run record was not shared")
        return False
    sha = target.head_sha
    try:
        with repo.git.custom_environment(**gitauth.auth_env(token, event.server_url, env)):
            if not _has_commit(repo, sha):
                for ref in (sha, f"+refs/pull/{target.pr}/head:refs/mlci/pr-head"):
                    try:
                        repo.git.fetch("--quiet", "--no-tags", "--depth=1", "origin", ref)
                    except git.GitCommandError:
                        continue
                    if _has_commit(repo, sha):
                        break
                else:
                    raise RemoteError(f"cannot fetch the PR head {sha[:12]} from origin")
            baseline.share(repo, bundle.record, "origin")
    except MlciError as exc:
        note(f"could not push the PR's run record ({exc.message}); an approval will retrain it")
        return False
    return True


def _has_commit(repo, sha: str) -> bool:
    import git

    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
    except git.GitCommandError:
        return False
    return True
