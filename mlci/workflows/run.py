"""`mlci run`: run the pipeline, then write the run record of what it produced."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mlci.analysis import checks as data_checks
from mlci.analysis import reproducibility
from mlci.errors import DataError
from mlci.model.record import Artifact, RunRecord
from mlci.runner import environment
from mlci.store import atomicio, baseline, dvcfile, gitrepo, notesref, pipeline, repopath
from mlci.store import config as config_mod
from mlci.store.metrics import read_metrics, read_params
from mlci.store.project import Project, opened


def collect_artifacts(root: Path, cfg: config_mod.Config) -> dict[str, Artifact]:
    """Content digests of the declared model(s) and predictions."""
    artifacts = {}
    for model in cfg.models:
        suffix = "" if len(cfg.models) == 1 else f":{model.name}"
        for role, rel in (("model", model.model), ("predictions", model.predictions)):
            if rel is None:
                continue
            repopath.check_tree(root, rel, f"{role} file {rel}", DataError)  # a link out, or a FIFO
            path = root / rel
            if not path.exists():
                raise DataError(f"{role} file {rel} (mlci.yaml '{role}') was not produced; fix the path or the stage")
            artifacts[f"{role}{suffix}"] = Artifact(path=rel, sha256=atomicio.sha256(path), size=atomicio.size(path))
    return artifacts


def run(
    path: Project | Path | str = ".",
    *,
    config_path: Path | None = None,
    force: bool = False,
    store: bool = True,
    pr: int | None = None,
    on_event: Callable[[pipeline.StageEvent], None] | None = None,
) -> RunRecord:
    """Reproduce the pipeline and return (and, unless `store=False`, save) its run record."""
    project = opened(path, config_path)
    repo, root, cfg = project.repo, project.root, project.config
    commit = gitrepo.head_commit(repo)
    if store:  # a record that cannot be stored must not cost a training run (issue 29)
        notesref.check(root)
    dirty_inputs = reproducibility.dirty_inputs(repo, root)  # only pipeline inputs make a run dirty
    early = data_checks.before_training(root, cfg, force=force, on_event=on_event)  # DataError: stop before training
    already_reported = {s.name for s in early}  # ran or skipped early: reported once already

    def progress(event: pipeline.StageEvent) -> None:  # the full repro skips what ran early: say it once
        if on_event and not (event.stage in already_reported and event.status == "skipped"):
            on_event(event)

    stages = data_checks.merge_stages(early, pipeline.repro(cfg.dvc_root, force=force, on_event=progress))
    data_profile = data_checks.profile(root, cfg)
    deps, outs = dvcfile.lock_hashes(root)
    warnings = []
    if dirty_inputs:
        shown = ", ".join(dirty_inputs[:5]) + (" …" if len(dirty_inputs) > 5 else "")
        warnings.append(f"uncommitted changes ({shown}): commit them so this run can be reproduced")
    warnings.extend(reproducibility.check(repo, root))  # loose data inputs, unpinned packages
    other_metrics: dict = {}
    record = RunRecord(
        commit=commit,
        branch=gitrepo.current_branch(repo),
        dirty=bool(dirty_inputs),
        params=read_params(root, cfg.params_files, dvcfile.params_scope(root, cfg.dvc_dir)),
        metrics=read_metrics(root, cfg.metrics_files, hint="the pipeline did not write it", others=other_metrics),
        deps=deps,
        outs=outs,
        stages=stages,
        environment=environment.collect(root),  # root: training's device/engine, whatever the cwd
        artifacts=collect_artifacts(root, cfg),
        warnings=warnings,
        pr=pr,
    )
    merge = gitrepo.github_merge(repo, commit)
    if merge:  # what was evaluated: GitHub's merge commit, and the PR head inside it
        record.extra["evaluated"] = {"kind": "merge", "commit": commit, "pr_head": merge[0], "pr_base": merge[1]}
    if other_metrics:  # strings, booleans, lists: kept to show, never compared
        record.extra["other_metrics"] = other_metrics
    if data_profile is not None:
        record.extra["data_profile"] = data_profile
        warnings += [f"data profile: {p['error']}" for p in data_profile.values() if p.get("error")]
    if store:
        baseline.save(repo, record)
    return record
