"""`mlci diff`: what this branch did to every metric, compared with where it forked from main."""

from __future__ import annotations

from pathlib import Path

from mlci import baseline, config as config_mod, dvcfile, gitrepo
from mlci.compare import Comparison, compare_metrics, compare_params
from mlci.metrics import parse_metrics, parse_params, read_metrics, read_params
from mlci.record import RunRecord


def _base_from_git(repo, commit: str, cfg: config_mod.Config):
    metrics = {}
    for file in cfg.metrics_files:
        text = gitrepo.show(repo, commit, file)
        if text is not None:
            metrics[file] = parse_metrics(text, f"{file} at base {commit[:12]}")
    params = {}
    for file in cfg.params_files:
        text = gitrepo.show(repo, commit, file)
        if text is not None:
            params[file] = parse_params(text, f"{file} at base {commit[:12]}")
    return metrics, params


def _restrict(values: dict[str, dict], files: list[str]) -> dict[str, dict]:
    return {f: v for f, v in values.items() if f in files}


def diff(path: Path | str = ".", *, base_ref: str | None = None, config_path: Path | None = None) -> Comparison:
    repo = gitrepo.open_repo(path)
    root = gitrepo.root(repo)
    cfg = config_mod.load(root, config_path)
    head_commit = gitrepo.head_commit(repo)
    ref = base_ref or gitrepo.default_branch(repo)
    base_commit = gitrepo.merge_base(repo, head_commit, gitrepo.resolve(repo, ref))
    notes: list[str] = []

    base_record = baseline.baseline_for(repo, base_commit)
    if base_record is not None:
        source = "record"
        base_metrics = _restrict(base_record.metrics, cfg.metrics_files)
        base_params = _restrict(base_record.params, cfg.params_files)
    else:
        base_metrics, base_params = _base_from_git(repo, base_commit, cfg)
        source = "git" if base_metrics else "none"
        if source == "git":
            notes.append(
                f"no run record for base {base_commit[:12]}; using the metrics committed there "
                "(run `mlci run` on the base branch to record one)"
            )
        else:
            notes.append(f"no baseline at {base_commit[:12]} (first PR?): every metric is new")

    head_metrics = read_metrics(root, cfg.metrics_files)
    head_params = read_params(root, cfg.params_files)
    head_record = _matching_record(baseline.records_for(repo, head_commit), head_metrics, cfg)
    if base_commit == head_commit:
        notes.append("HEAD is the base commit: comparing the working tree with what was recorded there")
    comparison = Comparison(
        base_ref=ref,
        base_commit=base_commit,
        base_source=source,
        head_commit=head_commit,
        head_dirty=bool(gitrepo.uncommitted(repo, dvcfile.produced_paths(root))),
        metrics=compare_metrics(cfg, base_metrics if source != "none" else None, head_metrics),
        params=compare_params(base_params, head_params),
        base_record=base_record,
        head_record=head_record,
        notes=notes,
    )
    guessed_names = sorted({m.name for m in comparison.metrics if m.direction_guessed})
    if guessed_names:
        notes.append(
            "direction guessed from the name for " + ", ".join(guessed_names)
            + " (set goals.<metric>.direction in mlci.yaml to be explicit)"
        )
    return comparison


def _matching_record(records: list[RunRecord], metrics: dict, cfg: config_mod.Config) -> RunRecord | None:
    """The newest record of HEAD whose metrics are the ones in the working tree."""
    for record in reversed(records):
        if _restrict(record.metrics, cfg.metrics_files) == metrics:
            return record
    return None
