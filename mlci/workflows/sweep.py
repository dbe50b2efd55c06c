"""Merge the reports of a hyperparameter sweep into one table: a row per variant, best marked.

Each matrix job of `templates/workflows/sweep.yml` runs `mlci run` + `mlci report -o DIR` for
one variant and uploads DIR; the final job calls `merge_reports` on all of them. Each DIR's
report.json holds a comparison against the same merge-base (`Comparison.to_dict()`, under
"comparison" in the full report or at the top level), so a
variant is described by the params it changed and its head metrics. Reading is tolerant:
unknown keys are ignored, missing metrics show as "—".
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlci.errors import DataError, UsageError
from mlci.report.format import number, param
from mlci.store import atomicio

MERGED_SCHEMA_VERSION = 1
BEST_MARK = "★"


@dataclass
class Variant:
    name: str  # the report directory's name (the artifact name in the workflow)
    commit: str | None
    params: dict[str, Any]  # changed param -> value in this variant
    metrics: dict[str, float | None]  # metric -> head value
    best: bool = False


@dataclass
class Sweep:
    primary: str | None  # the metric that decides "best"
    direction: str | None  # "higher" | "lower"
    base_commit: str | None
    base_metrics: dict[str, float | None]
    base_params: dict[str, Any]  # base value of every param some variant changed
    variants: list[Variant] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def best(self) -> list[Variant]:
        return [v for v in self.variants if v.best]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["schema"] = MERGED_SCHEMA_VERSION
        data["kind"] = "sweep"
        data["best"] = [v.name for v in self.best]
        return data


def _read(directory: Path) -> dict[str, Any]:
    path = directory / "report.json"
    if not path.is_file():
        raise DataError(f"{directory} has no report.json; pass directories written by `mlci report -o DIR`")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); re-create it with `mlci report -o {directory}`") from exc
    # The full report nests the comparison under "comparison"; a bare `Comparison.to_dict()` is accepted too.
    if isinstance(data, dict) and isinstance(data.get("comparison"), dict):
        data = data["comparison"]
    if not isinstance(data, dict) or not isinstance(data.get("metrics"), list):
        raise DataError(
            f"{path} is not an mlci report (no metrics list); re-create it with `mlci report -o {directory}`"
        )
    return data


def _metric_key(entry: dict[str, Any], multi_file: bool) -> str:
    name = str(entry.get("name"))
    return f"{entry.get('file')}:{name}" if multi_file else name


def _param_key(entry: dict[str, Any], multi_file: bool) -> str:
    name = str(entry.get("name"))
    return f"{entry.get('file')}:{name}" if multi_file else name


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def collect(dirs: list[Path], *, primary: str | None = None) -> Sweep:
    """Read every report and decide the best variant by `primary` (default: the report's own
    "primary" key, else the first metric whose direction is configured, not guessed)."""
    if not dirs:
        raise UsageError("no report directories to merge; pass one per sweep variant")
    reports = [(Path(d), _read(Path(d))) for d in dirs]
    metric_files = {m.get("file") for _, data in reports for m in data.get("metrics", []) if isinstance(m, dict)}
    param_files = {p.get("file") for _, data in reports for p in data.get("params", []) if isinstance(p, dict)}
    multi_metric, multi_param = len(metric_files) > 1, len(param_files) > 1

    directions: dict[str, tuple[str, bool]] = {}
    base_metrics: dict[str, float | None] = {}
    base_params: dict[str, Any] = {}
    variants, notes = [], []
    base_commits = set()
    for directory, data in reports:
        metrics, params = {}, {}
        for entry in data.get("metrics", []):
            if not isinstance(entry, dict) or "name" not in entry:
                continue
            key = _metric_key(entry, multi_metric)
            metrics[key] = _number(entry.get("head"))
            base_metrics.setdefault(key, _number(entry.get("base")))
            if entry.get("direction") in ("higher", "lower"):
                directions.setdefault(key, (entry["direction"], bool(entry.get("direction_guessed"))))
        for entry in data.get("params", []):
            if not isinstance(entry, dict) or "name" not in entry:
                continue
            key = _param_key(entry, multi_param)
            params[key] = entry.get("head")
            base_params.setdefault(key, entry.get("base"))
        base: dict = data["base"] if isinstance(data.get("base"), dict) else {}
        head: dict = data["head"] if isinstance(data.get("head"), dict) else {}
        base_commits.add(base.get("commit"))
        variants.append(Variant(name=directory.name, commit=head.get("commit"), params=params, metrics=metrics))
    if len(base_commits) > 1:
        notes.append("the variants were compared against different base commits; rows are not strictly comparable")

    chosen = primary or next((r.get("primary") for _, r in reports if isinstance(r.get("primary"), str)), None)
    if chosen is None:
        configured = [k for k, (_, guessed) in directions.items() if not guessed]
        chosen = configured[0] if configured else next(iter(directions), None)
    if chosen is not None and chosen not in directions and chosen.split(":")[-1] in directions:
        chosen = chosen.split(":")[-1]  # a goal written as `metrics.json:auc`, reports with one file
    if chosen is not None and chosen not in directions:
        raise DataError(
            f"primary metric '{chosen}' is in none of the reports (have: {', '.join(sorted(directions)) or 'none'});"
            " name one of those"
        )
    direction = directions[chosen][0] if chosen else None
    if chosen:
        scored = [value for v in variants if (value := v.metrics.get(chosen)) is not None]
        if scored:
            best_value = max(scored) if direction == "higher" else min(scored)
            for variant in variants:
                variant.best = variant.metrics.get(chosen) == best_value

            def rank(variant: Variant) -> tuple[int, float]:  # best first, unscored last, stable
                value = variant.metrics.get(chosen)
                return (1, 0.0) if value is None else (0, -value if direction == "higher" else value)

            variants.sort(key=rank)
        else:
            notes.append(f"no variant reported '{chosen}'; no best marked")
    return Sweep(
        primary=chosen,
        direction=direction,
        base_commit=next(iter(base_commits)) if len(base_commits) == 1 else None,
        base_metrics=base_metrics,
        base_params=base_params,
        variants=variants,
        notes=notes,
    )


def render(sweep: Sweep) -> str:
    """Markdown: one row per variant (its params, then its metrics), the base first for reference.

    Names and values come from PR code: they go through the one markdown writer.
    """
    from mlci.report import markdown as md

    param_names = sorted({k for v in sweep.variants for k in v.params})
    metric_names = sorted({k for v in sweep.variants for k in v.metrics})
    if sweep.primary in metric_names:
        metric_names.remove(sweep.primary)
        metric_names.insert(0, sweep.primary)
    lines = [f"## mlci sweep: {len(sweep.variants)} variant(s)", ""]
    if sweep.primary:
        arrow = "higher" if sweep.direction == "higher" else "lower"
        best = ", ".join(md.code(v.name) for v in sweep.best) or "none"
        lines += [f"Best by **{md.text(sweep.primary, keep_code=False)}** ({arrow} is better): {best} {BEST_MARK}", ""]
    header = [
        "",
        "variant",
        *[md.text(p, keep_code=False) for p in param_names],
        *[
            f"**{md.text(m, keep_code=False)}**" if m == sweep.primary else md.text(m, keep_code=False)
            for m in metric_names
        ],
    ]
    lines.append(md.row(*header))
    lines.append("|" + "|".join([":-:", "---", *["---"] * len(param_names), *["---:"] * len(metric_names)]) + "|")
    if sweep.base_metrics:
        base = (sweep.base_commit or "base")[:12]
        cells = [
            "",
            f"base {md.code(base)}",
            *[md.text(param(sweep.base_params.get(p)), keep_code=False) for p in param_names],
            *[number(sweep.base_metrics.get(m)) for m in metric_names],
        ]
        lines.append(md.row(*cells))
    for variant in sweep.variants:
        values = [md.text(param(variant.params.get(p, sweep.base_params.get(p))), keep_code=False) for p in param_names]
        cells = [
            BEST_MARK if variant.best else "",
            md.code(variant.name),
            *values,
            *[number(variant.metrics.get(m)) for m in metric_names],
        ]
        lines.append(md.row(*cells))
    lines.append("")
    lines += [f"> {md.text(note)}" for note in sweep.notes]
    return "\n".join(lines).rstrip("\n") + "\n"


def primary_goal(root: Path, config_path: Path | None = None) -> str | None:
    """The first goal in mlci.yaml: what a sweep is judged by. None without a readable config."""
    from mlci.errors import MlciError
    from mlci.store import config as config_mod

    try:
        cfg = config_mod.load(root, config_path)
    except MlciError:
        return None
    return next((name for model in cfg.models for name in model.goals), None)


def merge_reports(
    dirs: list[Path],
    out_dir: Path,
    *,
    primary: str | None = None,
    config_root: Path | None = Path("."),
) -> Path:
    """Write report.md and report.json (kind "sweep") for all variants into out_dir; returns report.md.

    The best variant is judged by `primary`, else by the first goal of the mlci.yaml in
    `config_root` (default: the current directory, like every command), else by what the
    reports themselves say (see `collect`).
    """
    if primary is None and config_root is not None:
        primary = primary_goal(Path(config_root))
    sweep = collect([Path(d) for d in dirs], primary=primary)
    out_dir = Path(out_dir)
    with atomicio.replacing_dir(out_dir, {"report.json", "report.md"}) as staged:
        atomicio.write_text(staged / "report.json", json.dumps(sweep.to_dict(), indent=2, sort_keys=True) + "\n")
        atomicio.write_text(staged / "report.md", render(sweep))
    return out_dir / "report.md"
