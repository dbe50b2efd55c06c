"""`mlci promote`: register the model a run produced, if (and only if) it may be promoted.

Who may promote: a commit on the default branch, or a PR approved at its current head by
someone with write access (checked through the GitHub API in CI). Locally `force=True`
promotes anyway, and says so in the version's metadata. A run whose gate failed is refused
unless `allow_regression=True` (also recorded). The backend does the storing; this module
only decides and gathers the evidence (digest, record, metrics, params, data hashes, approval).

Which record: a git note anyone with push access can write (issue 25). So the record must be
the one its CI run published, verified through GitHub (`verify`, see
`mlci.integrations.github.provenance`): for an approval, the PR run's `mlci` check names it;
on the default branch, the check of a push-to-default-branch run does. Without a way to ask
GitHub (no token), only a record this clone's own `mlci run` wrote is promoted
(`baseline.written_here`); any other (fetched) record is refused unless the check is waived,
`unverified=True` (`--unverified`) or `force=True`, and the waiver is stored with the version.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from mlci import __version__
from mlci.errors import GitError, MlciError, RegistryError
from mlci.integrations.registry import open_backend
from mlci.integrations.registry.artifacts import declarations
from mlci.integrations.registry.base import Backend, Candidate, Promotion
from mlci.model import refs
from mlci.model.record import RunRecord
from mlci.report.card import model_card
from mlci.store import atomicio, baseline, gitrepo
from mlci.store import config as config_mod
from mlci.store.project import Project, opened


class VerdictLike(Protocol):
    """`mlci.integrations.github.provenance.Verdict`'s shape."""

    @property
    def verified(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def check_url(self) -> str | None: ...


# (record, as a default-branch baseline?) -> whether its CI run published exactly this record
Verify = Callable[[RunRecord, bool], VerdictLike]


class ApprovalLike(Protocol):
    """`mlci.integrations.github.reviews.Approval`'s shape (kept structural: no GitHub import here)."""

    @property
    def approved(self) -> bool: ...
    @property
    def reviewer(self) -> str | None: ...
    @property
    def commit_id(self) -> str | None: ...
    @property
    def head_sha(self) -> str: ...
    @property
    def reason(self) -> str: ...

    # optional (read with getattr): approved_at and review_url, when and where the review was given


def github_approval(pr: int, *, repo: str | None = None, environ: dict[str, str] | None = None) -> ApprovalLike:
    """The PR's approval as GitHub reports it (GITHUB_TOKEN, GITHUB_API_URL, GITHUB_REPOSITORY)."""
    import os

    from mlci.integrations.github import client as gh_client
    from mlci.integrations.github import reviews

    env = os.environ if environ is None else environ
    with gh_client.from_env(env) as client:
        return reviews.approval(client, repo or env.get("GITHUB_REPOSITORY", ""), pr)


@dataclass(frozen=True)
class _Vouched:
    verified: bool
    reason: str
    check_url: str | None = None


def github_verifier(
    environ: dict[str, str] | None = None,
    *,
    token: str | None = None,
    api_url: str | None = None,
    repo: str | None = None,
    retry: Any = None,
    vouched: dict[str, str] | None = None,
) -> Verify | None:
    """Verify records through GitHub (token: `token`, else GITHUB_TOKEN / GH_TOKEN; repository:
    `repo`, else GITHUB_REPOSITORY); None when either is missing. `vouched`: id -> digest of
    records this very job produced (the review job that had to retrain), trusted as they are."""
    import os

    env = os.environ if environ is None else environ
    token = token or env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
    repo = repo or env.get("GITHUB_REPOSITORY")
    if not token or not repo:
        return None

    def verify(record: RunRecord, default_branch: bool) -> VerdictLike:
        if vouched and vouched.get(record.id) == record.digest():
            return _Vouched(True, "produced by this job")
        from mlci.integrations.github import client as gh_client
        from mlci.integrations.github import provenance

        with gh_client.GitHubClient(token, api_url=api_url or env.get("GITHUB_API_URL"), retry=retry) as client:
            return provenance.verify(client, str(repo), record, require_default_branch=default_branch)

    return verify


def check_provenance(
    record: RunRecord, approved_by: dict, *, verify: Verify | None, unverified: bool, written_here: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """The version's `provenance` metadata and warnings; refuses a record its CI run did not publish."""
    waiver = "--unverified" if unverified else "--force" if approved_by.get("kind") == "forced" else None
    if waiver:
        return {"verified": False, "waived": waiver, "sha256": record.digest()}, [
            f"promoted with {waiver}: run record {record.id} was not checked against the CI run that produced it"
        ]
    if verify is None and written_here and approved_by.get("kind") != "review":
        return {"verified": False, "written_here": True, "sha256": record.digest()}, []
    if verify is None:
        raise RegistryError(
            f"cannot verify run record {record.id} at {record.commit[:12]}: it was not written by this clone, and "
            "there is no GitHub token and repository to find the mlci check of the CI run that published it; set "
            "GITHUB_TOKEN and GITHUB_REPOSITORY, or pass --unverified to promote it anyway (recorded with the version)"
        )
    verdict = verify(record, approved_by.get("kind") == "default-branch")
    if not verdict.verified:
        raise RegistryError(
            f"promotion refused: run record {record.id} at {record.commit[:12]} is not the one a CI run published "
            f"({verdict.reason}); anyone who can push refs/notes/mlci can write a record, so nothing was "
            "registered; re-run the CI job of that commit to publish a verified one"
        )
    return {"verified": True, "check": verdict.check_url, "sha256": record.digest()}, []


def _on_default_branch(repo, commit: str) -> str | None:
    """The default branch's name when `commit` is (an ancestor of) its tip, else None."""
    import git

    try:
        branch = gitrepo.default_branch(repo)
    except Exception:  # noqa: BLE001 - no default branch: nothing is "on" it
        return None
    try:
        repo.git.merge_base("--is-ancestor", commit, branch)
        return branch
    except git.GitCommandError:
        return None


def authorize(
    repo, commit: str, *, promote_on: str, approval: ApprovalLike | None, force: bool
) -> tuple[dict, list[str]]:
    """Who approved this promotion (stored with the version) and warnings; refuses otherwise."""
    branch = _on_default_branch(repo, commit) if promote_on in ("main", "both") else None
    if branch:
        return {"kind": "default-branch", "branch": branch}, []
    if approval is not None:
        if promote_on == "main":
            raise RegistryError("registry.promote_on is 'main': merge the PR, then promote from the default branch")
        if approval.head_sha != commit:
            raise RegistryError(
                f"the PR head is {approval.head_sha[:12]} but this checkout is {commit[:12]}; "
                "check out the PR head (actions/checkout ref: the PR's head sha) and promote that"
            )
        if not approval.approved:
            raise RegistryError(f"promotion refused: {approval.reason}")
        if approval.commit_id != approval.head_sha:
            raise RegistryError(
                f"promotion refused: the approval is for {str(approval.commit_id)[:12]}, the PR head is "
                f"{approval.head_sha[:12]}; re-approve the current head"
            )
        return {
            "kind": "review",
            "reviewer": approval.reviewer,
            "commit": approval.commit_id,
            "approved_at": getattr(approval, "approved_at", None),
            "review_url": getattr(approval, "review_url", None),
        }, []
    if force:
        try:
            who = repo.git.config("user.name").strip()
        except Exception:  # noqa: BLE001 - no identity configured
            who = None
        warning = f"promoted with --force: commit {commit[:12]} is neither on the default branch nor approved"
        return {"kind": "forced", "by": who}, [warning]
    where = "the default branch" if promote_on != "approval" else "an approved PR"
    raise RegistryError(
        f"commit {commit[:12]} is not on {where} and has no approval; promote from CI on an approved PR "
        "(or the default branch), or locally with --force (recorded)"
    )


def _commit(repo, ref: str) -> str:
    found = gitrepo.commit_of(repo, ref)
    if found is None:
        raise GitError(f"unknown commit '{ref}'; pass --commit with an existing branch, tag or SHA")
    return found


def _fetch_record(repo, commit: str, remote: str) -> RunRecord | None:
    from mlci.integrations.registry.gto_tags import git_auth_env

    try:
        with repo.git.custom_environment(**git_auth_env()):
            baseline.fetch(repo, remote)
    except MlciError:
        return None
    return baseline.latest(repo, commit, clean_only=True)


def _model_choice(root: Path, cfg: config_mod.Config, record: RunRecord, model: str | None) -> tuple[str, str]:
    """(registry name, record artifact role) for `--model`, the single declared model by default."""
    declared = declarations(lambda f: (root / f).read_text(encoding="utf-8") if (root / f).exists() else None)
    configured = {m.name: m for m in cfg.models if m.model}
    single = len(cfg.models) == 1
    if model is None:
        candidates = list(configured) or list(declared)
        if len(candidates) != 1:
            raise RegistryError(
                f"cannot tell which model to promote ({', '.join(candidates) or 'none declared'}); "
                "pass --model NAME, or set `model:` in mlci.yaml"
            )
        model = candidates[0]
    refs.check_name(model)
    if model in configured:
        return model, "model" if single else f"model:{model}"
    if model in declared:
        for role, artifact in record.artifacts.items():
            if role.startswith("model") and artifact.path == declared[model].path:
                return model, role
        raise RegistryError(
            f"artifact '{model}' ({declared[model].path}) is not a model of run {record.id}; "
            "set `model: " + declared[model].path + "` in mlci.yaml and re-run `mlci run`"
        )
    known = sorted(set(configured) | set(declared))
    raise RegistryError(
        f"unknown model '{model}'; known: {', '.join(known) or 'none'} (mlci.yaml `model:`, dvc.yaml `artifacts:`)"
    )


@contextmanager
def _model_bytes(root: Path, path: str, sha256: str, md5: str | None, remote: str | None) -> Iterator[Path]:
    """Where the exact recorded bytes are: the workspace copy, DVC's cache, else the DVC remote
    (the PR run stored them there: the review job runs on another machine)."""
    candidates = [root / path]
    if md5:
        candidates.append(root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:])
    for file in candidates:
        if file.is_file() and atomicio.sha256(file) == sha256:
            yield file
            return
    why = "no DVC object id recorded"
    if md5:
        from mlci.integrations.registry import dvc_storage

        with tempfile.TemporaryDirectory(prefix="mlci-model-") as scratch:
            target = Path(scratch) / Path(path).name
            try:
                dvc_storage.download(root, md5, remote, target, sha256=sha256)
            except MlciError as exc:
                why = exc.message
            else:
                yield target
                return
    raise RegistryError(
        f"the model bytes the run recorded ({path}, sha256 {sha256[:12]}…) are not in the workspace, the DVC cache "
        f"or the DVC remote ({why}); run `dvc checkout` (or `mlci run`) at that commit, then promote"
    )


def _example_table(root: Path, spec: config_mod.ModelConfig | None) -> Path | None:
    """The model's inputs for MLflow's signature: `model.example.data`, else the table `explain` uses."""
    if spec is None:
        return None
    chosen = spec.model_example or (spec.explain.data if spec.explain else None)
    return root / chosen if chosen and (root / chosen).is_file() else None


def _metadata(
    record: RunRecord, approved_by: dict, *, allow_regression: bool, warnings: list[str], provenance: dict | None = None
) -> dict[str, Any]:
    return {
        "commit": record.commit,
        "record": record.id,
        "pr": record.pr,
        "metrics": record.metrics,
        "params": record.params,
        "deps": record.deps,
        "gate": None if record.gate is None else {"passed": record.gate.get("passed")},
        "evidence": record.extra.get("evidence"),  # metrics' CIs, attached by the PR's `mlci ci` run
        "allow_regression": allow_regression,
        "approval": approved_by,
        "provenance": provenance,  # was the record the one its CI run published (issue 25)
        "warnings": warnings,
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "mlci": __version__,
    }


def promote(
    path: Project | Path | str = ".",
    *,
    model: str | None = None,
    version: str | None = None,
    bump: str | None = None,
    stage: str | None = None,
    force: bool = False,
    allow_regression: bool = False,
    approval: ApprovalLike | None = None,
    commit: str | None = None,
    config_path: Path | None = None,
    backend: Backend | None = None,
    on_step: Callable[[str], None] | None = None,
    verify: Verify | None = None,
    unverified: bool = False,
    record_id: str | None = None,
) -> Promotion:
    """Promote the model of the latest run record at `commit` (HEAD), or of run `record_id`
    there; see the module docstring (`verify`, `unverified`: which records are trusted)."""
    if version is not None and bump is not None:
        raise RegistryError("pass either --version or --bump, not both")
    if version is not None:
        refs.check_version(version)
    if bump is not None and bump not in refs.BUMPS:
        raise RegistryError(f"--bump must be one of {', '.join(refs.BUMPS)}")
    if stage is not None:
        refs.check_name(stage, "stage")
    if model is not None:
        refs.check_name(model)
    project = opened(path, config_path)
    repo, root, cfg = project.repo, project.root, project.config
    settings = cfg.registry
    promote_on = settings.promote_on  # one of config.PROMOTE_ON: `config.load` checked it
    stage = stage or settings.stage
    commit = _commit(repo, commit) if commit else gitrepo.head_commit(repo)

    record = baseline.latest(repo, commit, clean_only=True)
    if record is None and settings.git_remote in [r.name for r in repo.remotes]:
        record = _fetch_record(repo, commit, settings.git_remote)  # CI recorded it and pushed refs/notes/mlci
    if record_id is not None:  # the run this job made, not whichever note is newest
        record = next((r for r in baseline.records_for(repo, commit) if r.id == record_id and not r.dirty), None)
        if record is None:
            raise RegistryError(f"no clean run record {record_id} at {commit[:12]}; run `mlci run` there first")
    if record is None:
        if baseline.latest(repo, commit) is not None:
            raise RegistryError(
                f"every run recorded at {commit[:12]} had uncommitted changes, so its model is not that commit's; "
                "commit them and run `mlci run` again"
            )
        raise RegistryError(f"no run record for {commit[:12]}; run `mlci run` there first, then promote")
    approved_by, warnings = authorize(repo, commit, promote_on=promote_on, approval=approval, force=force)
    provenance, unchecked = check_provenance(
        record, approved_by, verify=verify, unverified=unverified, written_here=baseline.written_here(repo, record)
    )
    warnings += unchecked
    gate_failed = record.gate is not None and record.gate.get("passed") is False
    if gate_failed and not allow_regression:
        raise RegistryError(
            f"run {record.id} failed its quality gate; fix the regression, or pass --allow-regression (recorded)"
        )
    if gate_failed:
        warnings.append(f"promoted with --allow-regression although run {record.id} failed its gate")

    name, role = _model_choice(root, cfg, record, model)
    artifact = record.artifacts.get(role)
    if artifact is None:
        raise RegistryError(f"run {record.id} recorded no model file; set `model:` in mlci.yaml and re-run `mlci run`")
    backend = backend or open_backend(root, settings)
    backend.refresh()
    existing = next((v for v in backend.versions(name) if v.sha256 == artifact.sha256), None)
    if existing is not None:
        if version is not None and version != existing.version:
            raise RegistryError(
                f"this model (sha256 {artifact.sha256[:12]}…) is already {name}@{existing.version}; it cannot also be {version}"
            )
        assigned = bool(stage) and stage not in existing.stages
        if stage and assigned:
            existing = backend.assign(existing, stage)
        return Promotion(
            version=existing, created=False, stage=stage, stage_assigned=assigned, warnings=tuple(warnings)
        )

    md5 = record.outs.get(artifact.path)
    spec = next((m for m in cfg.models if m.name == name and m.model == artifact.path), None)
    example = _example_table(root, spec)
    with _model_bytes(root, artifact.path, artifact.sha256, md5, settings.remote) as file:
        metadata = _metadata(
            record, approved_by, allow_regression=gate_failed, warnings=warnings, provenance=provenance
        )
        card_facts = {**metadata, "sha256": artifact.sha256, "size": artifact.size}
        candidate = Candidate(
            name=name,
            path=artifact.path,
            file=file,
            sha256=artifact.sha256,
            size=artifact.size,
            md5=md5,
            commit=commit,
            metadata=metadata,
            card=lambda version: model_card(name, version, card_facts),
            flavor=spec.model_flavor if spec else None,
            example=example,
            example_drop=spec.model_example_drop if spec and spec.model_example else (),
        )
        registered = backend.register(candidate, version=version, bump=bump, stage=stage, on_step=on_step)
    return Promotion(
        version=registered.version,
        created=registered.created,  # False: another clone registered these bytes first
        stage=stage,
        stage_assigned=bool(stage),
        warnings=tuple(warnings),
    )
