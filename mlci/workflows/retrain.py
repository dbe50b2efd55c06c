"""Scheduled retraining: re-run the pipeline on fresh data, compare with the production
model's run record, and when metrics or data moved beyond the thresholds, propose the
change as a pull request (one open retrain PR at a time, updated in place).

`decide` is pure (records in, decision out); `retrain` runs and writes the report;
`publish_pr` commits the working tree to the retrain branch without touching the
checked-out branch or index, pushes it, and opens or updates the PR and its report comment.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlci.analysis.compare import MetricDelta, compare_metrics
from mlci.analysis.drift import DataComparison, compare_profiles
from mlci.errors import GitCommandError, GitError, RegistryError, UsageError
from mlci.model.record import RunRecord
from mlci.store import atomicio, baseline, gitrepo, gitsafe
from mlci.store import config as config_mod
from mlci.store.config import RetrainSettings
from mlci.store.project import opened

DEFAULT_BRANCH = RetrainSettings.branch  # `mlci pr create`'s default too
COMMENT_ID = "mlci-retrain"


@dataclass
class Reference:
    """What the retrained model is compared with: the production model's run (or a branch's)."""

    description: str
    commit: str | None
    metrics: dict[str, dict[str, float]]
    data_profile: dict[str, Any] | None = None


@dataclass
class RetrainDecision:
    open_pr: bool
    reasons: list[str]
    reference: Reference | None
    metrics: list[MetricDelta] = field(default_factory=list)
    data: DataComparison | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "open_pr": self.open_pr,
            "reasons": list(self.reasons),
            "reference": asdict(self.reference) | {"data_profile": None} if self.reference else None,
            "metrics": [m.to_dict() for m in self.metrics],
            "data": self.data.to_dict() if self.data else None,
            "notes": list(self.notes),
        }


def _metric_reasons(cfg: config_mod.Config, deltas: list[MetricDelta], change: float) -> list[str]:
    reasons = []
    for m in deltas:
        if m.base is None or m.head is None:
            continue
        goal = cfg.model_for_metrics_file(m.file).goal_for(m.file, m.name)
        if m.direction not in ("higher", "lower"):  # a counter or a name with no direction: never a reason
            continue
        drop = m.base - m.head if m.direction == "higher" else m.head - m.base
        if goal.min is not None and m.head < goal.min <= m.base:
            reasons.append(f"{m.name} fell below its floor {goal.min:g} ({m.base:.4g} → {m.head:.4g})")
        elif goal.max is not None and m.head > goal.max >= m.base:
            reasons.append(f"{m.name} rose above its ceiling {goal.max:g} ({m.base:.4g} → {m.head:.4g})")
        elif goal.max_regression is not None and drop > goal.max_regression:
            reasons.append(f"{m.name} regressed by {drop:.4g} (> max_regression {goal.max_regression:g})")
        elif goal.max_regression_rel is not None and m.base and drop / abs(m.base) > goal.max_regression_rel:
            reasons.append(
                f"{m.name} regressed by {drop / abs(m.base):.2%} (> max_regression_rel {goal.max_regression_rel:.2%})"
            )
        elif m.delta_rel is not None and abs(m.delta_rel) >= change and m.delta:
            word = "improved" if m.verdict == "improved" else "regressed"
            reasons.append(
                f"{m.name} {word} by {abs(m.delta_rel):.2%} ({m.base:.4g} → {m.head:.4g}, threshold {change:.2%})"
            )
    return reasons


def decide(
    cfg: config_mod.Config, current: RunRecord, reference: Reference | None, settings: RetrainSettings | None = None
) -> RetrainDecision:
    """Open a PR when there is nothing to compare with, or metrics or data moved beyond thresholds."""

    settings = settings or RetrainSettings()
    if reference is None:
        return RetrainDecision(True, ["no production model or baseline to compare with: propose this one"], None)
    metrics = compare_metrics(cfg, reference.metrics, current.metrics)
    reasons = _metric_reasons(cfg, metrics, settings.metric_change)
    data = None
    head_profile = current.extra.get("data_profile")
    if head_profile:
        data = compare_profiles(reference.data_profile, head_profile, cfg.data.thresholds)
        reasons += [f"data: {f.message}" for f in data.findings]
    notes = []
    if reference.data_profile is None and head_profile:
        notes.append("the reference run has no data profile: data drift is not judged")
    return RetrainDecision(bool(reasons), reasons, reference, metrics, data, notes)


# --- the reference -------------------------------------------------------------------------


def _record_reference(repo, commit: str, description: str, record_id: str | None = None) -> Reference | None:
    records = baseline.records_for(repo, commit)
    chosen = next((r for r in records if r.id == record_id), None) if record_id else None
    chosen = chosen or baseline.baseline_for(repo, commit)
    if chosen is None:
        return None
    return Reference(description, commit, chosen.metrics, chosen.extra.get("data_profile"))


def find_reference(root: Path, cfg: config_mod.Config, against: str) -> tuple[Reference | None, list[str]]:
    """The production model's run (`production`, or a registry ref `NAME#stage` / `NAME@vX`), or a git ref's."""
    repo = gitrepo.open_repo(root)
    notes: list[str] = []
    registry_ref = None
    if against == "production":
        stage = cfg.registry.stage or "prod"
        registry_ref = f"{cfg.models[0].name}#{stage}"
    elif "#" in against or "@" in against:
        registry_ref = against
    if registry_ref is not None:
        from mlci.integrations.registry import open_backend

        try:
            backend = open_backend(root, cfg.registry)
            version = backend.resolve(backend.parse(registry_ref))
        except RegistryError as exc:
            if against != "production":
                raise
            notes.append(f"no production model ({exc.message}); comparing with the default branch instead")
        else:
            found = _record_reference(
                repo,
                version.commit,
                f"{version.name} {version.version} ({registry_ref})",
                version.metadata.get("record"),
            )
            if found is None and version.metadata.get("metrics"):
                found = Reference(
                    f"{version.name} {version.version} ({registry_ref}, registry metadata)",
                    version.commit,
                    version.metadata["metrics"],
                )
            if found is None:
                notes.append(
                    f"{registry_ref} (commit {version.commit[:12]}) has no run record in git notes "
                    "(git fetch origin refs/notes/mlci:refs/notes/mlci?)"
                )
            return found, notes
        against = gitrepo.default_branch(repo)
    commit = gitrepo.resolve(repo, against)
    found = _record_reference(repo, commit, f"{against} ({commit[:12]})")
    if found is None:
        notes.append(f"no run record at {against} ({commit[:12]}); run `mlci run` there or fetch refs/notes/mlci")
    return found, notes


# --- running and reporting -----------------------------------------------------------------


@dataclass
class RetrainOutcome:
    decision: RetrainDecision
    record: RunRecord
    report: Path

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.to_dict(),
            "record": self.record.id,
            "commit": self.record.commit,
            "report": str(self.report),
        }


def render_report(decision: RetrainDecision, record: RunRecord, *, plot: str | None = None) -> str:
    from mlci.report import markdown as md
    from mlci.report.data_section import render_markdown

    ref = decision.reference
    lines = ["## mlci retrain", ""]
    lines.append(
        f"Retrained at `{record.commit[:12]}`"
        + (" with new data/params (uncommitted)" if record.dirty else "")
        + (f", compared with {md.text(ref.description)}." if ref else ", with nothing to compare with.")
    )
    lines.append("")
    if decision.open_pr:
        lines.append("**Proposed for review** because:")
        lines += ["", *[f"- {md.text(r)}" for r in decision.reasons]]
    else:
        lines.append("**No PR**: metrics and data stayed within the thresholds.")
    if decision.metrics:
        from mlci.report.diff_markdown import metrics_table

        lines += ["", *metrics_table(list(decision.metrics), "reference", "retrained")]
    if decision.data is not None:
        lines += ["", render_markdown(decision.data, plot=plot).rstrip()]
    lines += [f"\n> {md.text(n)}" for n in decision.notes]
    return "\n".join(lines) + "\n"


def retrain(
    path: Path | str = ".",
    *,
    against: str | None = None,
    report_dir: Path | str = "mlci-retrain",
    config_path: Path | None = None,
    force: bool = False,
    on_event=None,
) -> RetrainOutcome:
    """Run the pipeline on what is in the working tree now, decide, write report.md/json (+ plot)."""
    from mlci.report.data_section import PLOT_NAME, plot
    from mlci.workflows import run

    project = opened(path, config_path)
    root, cfg = project.root, project.config
    settings = cfg.retrain
    reference, notes = find_reference(root, cfg, against or settings.against)
    record = run.run(project, force=force, on_event=on_event)
    decision = decide(cfg, record, reference, settings)
    decision.notes = notes + decision.notes
    out = Path(report_dir) if Path(report_dir).is_absolute() else root / report_dir
    outcome = RetrainOutcome(decision, record, out / "report.md")
    with atomicio.replacing_dir(out, {"report.md", "report.json", PLOT_NAME}, flag="--report-dir") as staged:
        drawn = plot(decision.data, staged / PLOT_NAME) if decision.data is not None else None
        atomicio.write_text(staged / "report.md", render_report(decision, record, plot=PLOT_NAME if drawn else None))
        atomicio.write_text(
            staged / "report.json", json.dumps(outcome.to_dict(), indent=2, sort_keys=True, default=str) + "\n"
        )
    return outcome


# --- the pull request ----------------------------------------------------------------------


@dataclass
class PullResult:
    action: str  # "created" | "updated" | "unchanged"
    number: int
    url: str
    branch: str
    commit: str
    comment_url: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _commit_worktree(repo, message: str, exclude: list[str]) -> str:
    """A commit of the whole working tree on top of HEAD, built in a private index: the
    checked-out branch, the real index and the files stay exactly as they were."""
    import git

    index = Path(repo.git_dir) / "index"
    with tempfile.TemporaryDirectory(prefix="mlci-index-") as tmp:
        private = Path(tmp) / "index"
        if index.exists():
            shutil.copy2(index, private)  # keep its mtime: git's racy-clean check depends on it
        env = {"GIT_INDEX_FILE": str(private)}
        try:
            with repo.git.custom_environment(**env):
                repo.git.add("-A", "--", ".", *[f":(exclude){p}" for p in exclude])
                tree = repo.git.write_tree()
        except git.GitCommandError as exc:
            raise GitError(f"cannot stage the working tree for the retrain commit: {exc.stderr.strip()}") from exc
    if tree == repo.head.commit.tree.hexsha:
        raise UsageError(
            "nothing to propose: the working tree has no changes against HEAD "
            "(pull new data and run `mlci retrain` first)"
        )
    with repo.git.custom_environment(**_identity(repo)):
        return repo.git.commit_tree(tree, "-p", repo.head.commit.hexsha, "-m", message).strip()


def _identity(repo) -> dict[str, str]:
    """A committer for fresh CI runners that have no git identity configured."""
    import git

    try:
        configured = repo.git.config("--get", "user.email").strip()
    except git.GitCommandError:
        configured = ""
    if configured or os.environ.get("GIT_COMMITTER_EMAIL"):
        return {}
    bot = {"name": "github-actions[bot]", "email": "41898282+github-actions[bot]@users.noreply.github.com"}
    return {f"GIT_{who}_{what.upper()}": value for who in ("AUTHOR", "COMMITTER") for what, value in bot.items()}


def _push(repo, remote: str, commit: str, branch: str, token: str | None) -> None:
    import git

    from mlci.integrations.github.gitauth import auth_env

    if remote not in [r.name for r in repo.remotes]:
        raise GitError(f"no remote named '{remote}'; add one (git remote add {remote} URL) or pass --remote")
    env = auth_env(token, os.environ.get("GITHUB_SERVER_URL", "https://github.com"))
    try:  # with the token: in mlci's scratch repository, hooks and user/system config off (gitsafe)
        with gitsafe.session(repo.working_tree_dir, remote, {**os.environ, **env}, common_dir=repo.common_dir) as s:
            s.git("push", "--force", s.remote, f"{commit}:refs/heads/{branch}")
    except (git.GitCommandError, GitCommandError) as exc:
        stderr = (exc.stderr or "").strip().replace(token or "\0", "***")
        raise GitError(
            f"cannot push the retrain branch {branch} to {remote}: {stderr.splitlines()[-1] if stderr else exc}"
            "; give the token `contents: write`"
        ) from None


def publish_pr(
    path: Path | str = ".",
    *,
    branch: str = DEFAULT_BRANCH,
    base: str | None = None,
    title: str = "mlci: retrain on fresh data",
    body: str = "",
    message: str = "mlci: retrain on fresh data",
    remote: str = "origin",
    repo_slug: str | None = None,
    exclude: tuple[str, ...] = ("mlci-retrain",),
    environ: dict[str, str] | None = None,
) -> PullResult:
    """Commit the working tree to `branch` (force-pushed), open or update its one PR, post the report."""
    from mlci.integrations.github import client as gh
    from mlci.integrations.github import comments, pulls

    env = os.environ if environ is None else environ
    repo = gitrepo.open_repo(path)
    slug = repo_slug or env.get("GITHUB_REPOSITORY")
    if not slug:
        raise UsageError("which GitHub repository? pass --repo OWNER/NAME or set GITHUB_REPOSITORY")
    gh.split_repo(slug)
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
    base_branch = base or gitrepo.default_branch(repo).removeprefix("origin/")
    if branch == base_branch:
        raise UsageError(f"the retrain branch must differ from the base branch '{base_branch}'; pass another --branch")
    commit = _commit_worktree(repo, message, list(exclude))
    with gh.from_env(env) as client:  # fails early, before pushing, when there is no token
        _push(repo, remote, commit, branch, token)
        pr_body = (
            f"Scheduled retraining by mlci: `{commit[:12]}` commits the fresh data and the re-run pipeline "
            f"on top of `{repo.head.commit.hexsha[:12]}`. Every retrain force-pushes `{branch}` and updates "
            "this PR" + (", and the report comment below." if body.strip() else ".")
        )
        action, pull = pulls.open_or_update(client, slug, branch=branch, base=base_branch, title=title, body=pr_body)
        comment_url = None
        if body.strip():
            comment_url = comments.upsert(client, slug, pull["number"], body, comment_id=COMMENT_ID).url
    return PullResult(action, pull["number"], pull["html_url"], branch, commit, comment_url)
