"""`mlci diff`: what this branch did to every metric, compared with where it forked from main.

Values come from the cheapest source that answers: the base's run record; else the files
committed at the base; else, for metrics inside a DVC-cached output, the local DVC cache by
the base's dvc.lock hash; only then DVC itself (which may fetch from the remote). Scope and
values match `dvc metrics diff` / `dvc params diff`: numbers compared, the rest shown in notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlci.analysis import reproducibility
from mlci.analysis.compare import Comparison, compare_metrics, compare_params
from mlci.model.record import RunRecord
from mlci.store import baseline, dvcfile
from mlci.store import config as config_mod
from mlci.store.gitplumb import Plumb
from mlci.store.metrics import describe_other, parse_params, read_metrics, read_params, scoped, split_metrics
from mlci.workflows import trust as trust_mod


def _text_with_dvc(root: Path, commit: str, file: str) -> str | None:
    """DVC's own reading of `file` at `commit` (its cache, else its remote); None when it cannot."""
    try:
        import dvc.api

        project = dvcfile.project_dir(root)
        inside = file[len(project) + 1 :] if project and file.startswith(project + "/") else file
        return dvc.api.read(inside, repo=str(dvcfile.dvc_root(root, project)), rev=commit, mode="r", encoding="utf-8")
    except Exception:  # noqa: BLE001 - DVC's reasons vary (no remote, not pushed): the note says what to do
        return None


def base_metric_texts(
    repo: Plumb,
    root: Path,
    commit: str,
    files: list[str],
    notes: list[str],
    unavailable: dict[str, str] | None = None,
) -> tuple[dict[str, str], str]:
    """file -> text at `commit`, and where they came from: "git", "dvc" (cache/remote) or "none".
    A DVC output neither cache nor remote has is named in `unavailable` (file -> why)."""
    texts: dict[str, str] = {}
    via_dvc = False
    locks: dvcfile.Locks | None = None
    for file in files:
        text = repo.show(commit, file)
        if text is None:
            locks = locks if locks is not None else dvcfile.locks(root, show=lambda p: repo.show(commit, p))
            if not dvcfile.is_dvc_output(locks, file, root):
                continue
            data = dvcfile.read_cached(root, locks, file)
            text = data.decode("utf-8", "replace") if data is not None else _text_with_dvc(root, commit, file)
            if text is None:
                notes.append(
                    f"metrics file {file} at base {commit[:12]} is a DVC output in neither the local "
                    "cache nor a reachable remote: not compared (`dvc push` it from the base branch)"
                )
                if unavailable is not None:
                    unavailable[file] = (
                        f"base value unavailable: {file} is in neither the local DVC cache nor a reachable remote (`mlci pull`, or `dvc push` it from the base branch)"
                    )
                continue
            via_dvc = True
        texts[file] = text
    return texts, ("dvc" if via_dvc else "git") if texts else "none"


def _base_params(repo: Plumb, commit: str, files: list[str], scope) -> dict[str, dict[str, Any]]:
    params = {}
    for file in files:
        text = repo.show(commit, file)
        if text is not None:
            params[file] = parse_params(text, f"{file} at base {commit[:12]}", file)
    return scoped(params, scope)


def _base_declared(
    repo: Plumb, root: Path, commit: str, cfg: config_mod.Config, scope
) -> tuple[list[str], dict[str, set[str] | None]]:
    """(params files, scope) of the base: its own dvc.yaml files decide what it declared, as
    `dvc params diff` scopes each revision by its own; the head's where DVC's templating is needed."""
    listing = (repo.run_ok("ls-tree", "-r", "-z", "--name-only", commit) or "").split("\0")
    declared = dvcfile.params_scope_at(root, [p for p in listing if p], lambda p: repo.show(commit, p), cfg.dvc_dir)
    if declared is None:
        return cfg.params_files, scope
    files = cfg.params_files + ([f for f in declared if f not in cfg.params_files] if cfg.path is None else [])
    return files, declared


def _restrict(values: dict[str, dict], files: list[str]) -> dict[str, dict]:
    return {f: v for f, v in values.items() if f in files}


def _other_notes(base: dict[str, dict[str, Any]] | None, head: dict[str, dict[str, Any]]) -> list[str]:
    notes = []
    for file in sorted(set(base or {}) | set(head)):
        b, h = (base or {}).get(file, {}), head.get(file, {})
        for name in sorted(set(b) | set(h)):
            if base is None:
                notes.append(describe_other(file, name, h.get(name)))
            else:
                notes.append(describe_other(file, name, h.get(name), b.get(name), two_sided=True))
    return notes


def diff(
    path: Path | str = ".",
    *,
    base_ref: str | None = None,
    config_path: Path | None = None,
    cfg: config_mod.Config | None = None,
    base_how: str | None = None,
    trust: dict | None = None,
) -> Comparison:
    """Read on git plumbing (one `cat-file --batch` for every blob and note), not GitPython.
    `cfg`: the project's config when the caller has it open (else read from `config_path`).
    `base_how`: how the caller chose `base_ref` (default "given with --base"); without a `base_ref` the
    local default branch is the base (`gitrepo.default_base_by`).
    `trust`: the base records verified through GitHub (`trust.check_baselines`); None: unchecked."""
    with Plumb(path) as repo:
        cfg = cfg or config_mod.load(Path(repo.working_tree_dir), config_path, start=path)
        return _diff(repo, base_ref, cfg, base_how, trust)


def _diff(
    repo: Plumb, base_ref: str | None, cfg: config_mod.Config, base_how: str | None = None, trust: dict | None = None
) -> Comparison:
    root = Path(repo.working_tree_dir)
    head_commit = repo.head_commit()
    if base_ref:
        ref, how = base_ref, base_how or "given with --base"
    else:
        ref, how = repo.default_base()
    base_commit = repo.merge_base(head_commit, repo.resolve(ref))
    scope = dvcfile.params_scope(root, cfg.dvc_dir)
    notes: list[str] = []
    unavailable: dict[str, str] = {}  # metrics file -> why one side's values cannot be read
    if not cfg.metrics_files:
        notes.append(
            f"{dvcfile.describe(root, cfg.dvc_dir)} declares no metrics: nothing to compare "
            "(`dvc metrics diff` shows nothing either); declare `metrics:` in a stage or in mlci.yaml"
        )
    base_others: dict[str, dict[str, Any]] | None = None

    # verified records first (issue 25): `trust_mod.pick` says when it used, or passed over, an unverified one
    base_record = trust_mod.pick(lambda t: baseline.baseline_for(repo, base_commit, trusted=t), trust, notes)
    if base_record is None:
        inputs = _inputs_at(repo, base_commit, cfg, scope)
        if inputs is not None:
            base_record = trust_mod.pick(
                lambda t: baseline.same_inputs(
                    repo, base_commit, lambda r: record_inputs(r, cfg, scope) == inputs, trusted=t
                ),
                trust,
                notes,
            )
        if base_record is not None:
            notes.append(f"baseline recorded at {base_record.commit[:12]}, same inputs as base {base_commit[:12]}")
    if base_record is not None:
        source = "record"
        base_others = base_record.extra.get("other_metrics")  # strings, booleans, lists it recorded
        base_metrics = _restrict(base_record.metrics, cfg.metrics_files)
        # the base commit's params files, scoped as the head declares them (what `dvc params diff`
        # reads): a key the pipeline declares only now is still the base's value, not "added"
        files, declared = _base_declared(repo, root, base_commit, cfg, scope)
        recorded = scoped(_restrict(base_record.params, files), declared)
        base_params = {**recorded, **_base_params(repo, base_commit, files, declared)}
    else:
        texts, source = base_metric_texts(repo, root, base_commit, cfg.metrics_files, notes, unavailable)
        base_metrics, base_others = {}, {}
        for file, text in texts.items():
            base_metrics[file], other = split_metrics(text, f"{file} at base {base_commit[:12]}", file)
            if other:
                base_others[file] = other
        base_params = _base_params(repo, base_commit, *_base_declared(repo, root, base_commit, cfg, scope))
        if source == "none" and unavailable:
            source = "dvc"  # the base has metrics, only not here: they are unavailable, not new
        if source != "none":
            notes.append(
                f"no run record for base {base_commit[:12]}; using the metrics committed there"
                + (" (read from DVC's cache)" if source == "dvc" else "")
                + " (run `mlci run` on the base branch to record one)"
            )
        else:
            notes.append(f"no baseline at {base_commit[:12]} (first PR?): every metric is new")

    head_others: dict[str, dict[str, Any]] = {}
    head_metrics = read_metrics(root, cfg.metrics_files, others=head_others, notes=notes)
    for file in cfg.metrics_files:
        if file not in head_metrics:  # a DVC output in neither the workspace nor the cache (read_metrics' note)
            unavailable[file] = (
                f"head value unavailable: {file} is in neither the workspace nor the local DVC cache "
                "(`mlci pull`, or `mlci run`)"
            )
    head_params = read_params(root, cfg.params_files, scope)
    notes.extend(_other_notes(base_others, head_others))
    head_record = _matching_record(baseline.records_for(repo, head_commit), head_metrics, cfg)
    if base_commit == head_commit:
        notes.append("HEAD is the base commit: comparing the working tree with what was recorded there")
    comparison = Comparison(
        base_ref=ref,
        base_commit=base_commit,
        base_source=source,
        head_commit=head_commit,
        head_dirty=bool(reproducibility.dirty_inputs(repo, root)),  # type: ignore[arg-type]  # duck-typed .git
        metrics=compare_metrics(cfg, base_metrics if source != "none" else None, head_metrics, unavailable),
        params=compare_params(base_params, head_params),
        base_record=base_record,
        head_record=head_record,
        notes=notes,
        base_how=how,
        merge_of=repo.github_merge(head_commit),
        base_provenance=trust_mod.provenance_of(base_record, trust) if source == "record" else None,
    )
    unknown = sorted({m.name for m in comparison.metrics if m.direction_source == "unknown" and m.verdict == "changed"})
    if unknown:
        shown = ", ".join(unknown[:8]) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
        notes.append(
            f"no direction known for {shown}: shown as changed, never judged "
            "(set goals.<metric>.direction in mlci.yaml)"
        )
    return comparison


def _inputs_at(
    repo: Plumb, commit: str, cfg: config_mod.Config, scope
) -> tuple[dict[str, str], dict[str, dict]] | None:
    """(dvc.lock deps, declared params) as committed at `commit`; None without a dvc.lock there."""
    locks = dvcfile.locks(Path(repo.working_tree_dir), show=lambda p: repo.show(commit, p))
    if not any(locks.values()):
        return None
    deps, _outs = dvcfile.lock_hashes(Path(repo.working_tree_dir), locks, source=f"dvc.lock at {commit[:12]}")
    return deps, _base_params(repo, commit, cfg.params_files, scope)


def record_inputs(record: RunRecord, cfg: config_mod.Config, scope) -> tuple[dict[str, str], dict[str, dict]]:
    return dict(record.deps), scoped(_restrict(record.params, cfg.params_files), scope)


def _matching_record(records: list[RunRecord], metrics: dict, cfg: config_mod.Config) -> RunRecord | None:
    """The newest record of HEAD whose metrics are the ones in the working tree."""
    for record in reversed(records):
        if _restrict(record.metrics, cfg.metrics_files) == metrics:
            return record
    return None
