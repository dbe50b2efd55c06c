"""`mlci history`: main's recorded runs, oldest first; and the context a PR report puts a PR in.

Reads on git plumbing only (one `git log` for the first-parent walk, the notes in one batch),
so it stays fast on thousands of commits. `--html` draws the static dashboard
(`mlci.report.dashboard`), marking the versions the registry promoted (local git tags only:
no network).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.analysis import history as hist
from mlci.errors import UsageError
from mlci.model.record import RunRecord
from mlci.store import config as config_mod
from mlci.store import history as store_history
from mlci.store.gitplumb import Plumb

REPORT_RUNS = 20  # a PR report places base and head among main's last 20 recorded runs


@dataclass
class Promoted:
    """A registered version, placed on the branch's history (at the run of the commit that brought it in)."""

    name: str
    version: str
    stages: tuple[str, ...]
    commit: str  # the version's own commit
    on_branch: str | None  # the first recorded first-parent commit that contains it (None: no such run)


@dataclass
class History:
    ref: str  # the branch walked
    how: str  # how it was chosen
    commit: str  # its tip
    runs: list[hist.Run]
    records: list[RunRecord] = field(default_factory=list)  # every record of the walked commits
    metric: str | None = None  # --metric
    promoted: list[Promoted] | None = None  # --html: the registry's versions on this branch

    def to_dict(self) -> dict[str, Any]:
        """`mlci history --json` (docs/history.md)."""
        data: dict[str, Any] = {
            "branch": self.ref,
            "commit": self.commit,
            "metric": self.metric,
            "runs": [r.to_dict() for r in self.runs],
        }
        if self.promoted is not None:
            at = {r.commit: i for i, r in enumerate(self.runs)}
            data["promoted"] = [
                {
                    "name": p.name,
                    "version": p.version,
                    "stages": list(p.stages),
                    "commit": p.commit,
                    "run": at.get(p.on_branch) if p.on_branch else None,
                }
                for p in self.promoted
            ]
        return data


def _config(root: Path, config_path: Path | None) -> config_mod.Config | None:
    """The project's config when it has one; a repo with only records can still show them."""
    if config_path is None and not (root / config_mod.CONFIG_NAME).exists() and not (root / "dvc.yaml").exists():
        return None
    return config_mod.load(root, config_path)


def read(repo: Plumb, *, branch: str | None = None, last: int | None = None, metric: str | None = None) -> History:
    """The recorded first-parent history of `branch` (default: the default branch)."""
    if last is not None and last < 1:
        raise UsageError(f"--last must be at least 1, got {last}")
    if branch:
        ref, how = branch, "given with --branch"
    else:
        ref, how = repo.default_base()
    tip = repo.resolve(ref)
    entries = store_history.recorded(repo, tip, last=last if metric is None else None)
    runs = hist.runs((e.commit, e.subject, e.records) for e in entries)
    if metric is not None:
        key = _metric_key(runs, metric)
        runs = [
            hist.Run(r.commit, r.created_at, r.subject, r.record_id, {key: r.metrics[key]}, r.params, r.changed)
            for r in runs
            if key in r.metrics
        ]
        metric = key
    if last is not None:
        runs = runs[-last:]
    records = [r for e in entries for r in e.records]
    return History(ref, how, tip, runs, records, metric)


def _metric_key(runs: list[hist.Run], metric: str) -> str:
    known = sorted({k for r in runs for k in r.metrics})
    if metric in known:
        return metric
    suffixed = [k for k in known if k.endswith(f":{metric}")]
    if len(suffixed) == 1:
        return suffixed[0]
    if not known:
        raise UsageError(f"--metric {metric}: no recorded run has any metric yet; run `mlci run` on the branch")
    close = difflib.get_close_matches(metric, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    shown = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
    raise UsageError(f"--metric {metric}: no recorded run has this metric; {hint}known: {shown}")


def history(
    path: Path | str = ".",
    *,
    branch: str | None = None,
    last: int | None = None,
    metric: str | None = None,
) -> History:
    with Plumb(path) as repo:
        return read(repo, branch=branch, last=last, metric=metric)


# --- the dashboard ----------------------------------------------------------------------------------


def promoted(repo: Plumb, root: Path, tip: str, recorded: set[str]) -> list[Promoted]:
    """The registry's versions (GTO git tags, read locally), each placed at the first recorded
    run of the branch that contains it (a version promoted from a PR head sits at its merge)."""
    from mlci.integrations.registry.gto_tags import GitTagsBackend

    try:
        versions = GitTagsBackend(root).local_versions()
    except Exception:  # noqa: BLE001 - a dashboard without markers beats none; the tags are optional
        return []
    found = []
    for v in versions:
        if repo.run_ok("merge-base", "--is-ancestor", v.commit, tip) is None:
            continue  # not (yet) on this branch
        later = (repo.run_ok("rev-list", "--first-parent", "--ancestry-path", f"{v.commit}..{tip}") or "").split()
        candidates = [v.commit, *reversed(later)]  # oldest first
        at = next((c for c in candidates if c in recorded), None)
        found.append(Promoted(v.name, v.version, tuple(v.stages), v.commit, at))
    return found


def dashboard(
    path: Path | str = ".",
    out_dir: Path | str = "mlci-history",
    *,
    branch: str | None = None,
    last: int | None = None,
    metric: str | None = None,
    config_path: Path | None = None,
) -> tuple[History, Path]:
    """Write the static dashboard (index.html + plots/) into `out_dir`, whole or not at all."""
    from mlci.report import dashboard as board
    from mlci.store import atomicio

    with Plumb(path) as repo:
        root = Path(repo.working_tree_dir)
        cfg = _config(root, config_path)
        found = read(repo, branch=branch, last=last, metric=metric)
        found.promoted = promoted(repo, root, found.commit, {r.commit for r in found.runs})
    final = Path(out_dir)
    with atomicio.replacing_dir(final, board.OWNED, flag="--html") as staged:
        board.write(staged, found.ref, found.runs, _goal_metrics(cfg, found), found.promoted)
    return found, final / "index.html"


def _goal_metrics(cfg: config_mod.Config | None, found: History) -> list[tuple[str, str, str]]:
    """(model, metric key in the history, direction) for every goal metric that was recorded;
    with no goals (or --metric), every recorded metric."""
    keys = sorted({k for r in found.runs for k in r.metrics})
    if found.metric is not None or cfg is None:
        return [("", k, config_mod.guess_direction(k.rsplit(":", 1)[-1])) for k in keys]
    chosen: list[tuple[str, str, str]] = []
    for model in cfg.models:
        for goal_key, goal in model.goals.items():
            file, _, name = goal_key.rpartition(":")
            for file_name in [file] if file else list(model.metrics):
                key = hist.metric_key(found.runs, file_name, name)
                if key is not None and (model.name, key) not in {(m, k) for m, k, _ in chosen}:
                    chosen.append((model.name, key, goal.direction))
                    break
    if not chosen:
        return [("", k, config_mod.guess_direction(k.rsplit(":", 1)[-1])) for k in keys]
    return chosen


# --- a PR report's context -------------------------------------------------------------------------


def inputs_key(cfg: config_mod.Config) -> Any:
    """What makes two runs "the same inputs": the pipeline's own inputs (dvc.lock deps that no
    stage produces: code and source data; an intermediate output such as a retrained model is a
    result, not an input) and the declared params."""

    def key(record: RunRecord) -> Hashable:
        deps = {p: h for p, h in record.deps.items() if p not in record.outs}
        params = {f: v for f, v in record.params.items() if f in cfg.params_files}
        return json.dumps([deps, params], sort_keys=True, default=str)

    return key


def _value_of(file: str, name: str):
    def value(record: RunRecord) -> float | None:
        return record.metrics.get(file, {}).get(name)

    return value


def report_context(
    repo: Plumb, cfg: config_mod.Config, comparison: Any, *, last: int = REPORT_RUNS
) -> hist.ReportHistory:
    """Each goal metric's last `last` values on the base branch, where base and head fall among
    them, and (for a metric with no interval from predictions) main's rerun noise."""
    ref = comparison.base_ref
    if not any(m.goals for m in cfg.models):
        return hist.ReportHistory(ref, last, [])  # no goal metric to follow: the section is left out
    try:
        tip = repo.resolve(ref)
        entries = store_history.recorded(repo, tip, last=last)
    except Exception as exc:  # noqa: BLE001 - the comparison found its base; a history it cannot walk is a note
        return hist.ReportHistory(ref, last, [], note=f"history of {ref} not read: {exc}")
    runs = hist.runs((e.commit, e.subject, e.records) for e in entries)
    records = [r for e in entries for r in e.records]  # the noise estimate: reruns among these commits
    if not runs:
        return hist.ReportHistory(ref, last, [], note=f"no recorded runs on {ref} yet: nothing to place this PR among")
    recent = runs[-last:]
    key = inputs_key(cfg)
    metrics = []
    for delta in comparison.metrics:
        model = next((m for m in cfg.models if m.name == delta.model), None)
        if model is None or not (f"{delta.file}:{delta.name}" in model.goals or delta.name in model.goals):
            continue
        name = hist.metric_key(recent, delta.file, delta.name)
        if name is None:
            continue
        values = hist.series(recent, name)
        noise = None
        if delta.interval is None:
            noise = hist.noise(records, name, key, _value_of(delta.file, delta.name))
        metrics.append(
            hist.MetricHistory(
                model=delta.model,
                metric=name,
                direction=delta.direction,
                values=values,
                base=hist.placement(delta.base, [v for _c, v in values]),
                head=hist.placement(delta.head, [v for _c, v in values]),
                base_value=delta.base,
                head_value=delta.head,
                base_commit=comparison.base_commit,
                noise=noise,
                tested=delta.interval is not None,
            )
        )
    return hist.ReportHistory(ref, last, metrics)
