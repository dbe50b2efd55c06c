"""`mlci init`: put `mlci.yaml` (and with `--example` the example pipeline) into a git repo.

All-or-nothing: every target is checked before anything is written, so a refusal (a file
exists and `--force` was not given) leaves the repo exactly as it was.
"""

from __future__ import annotations

import json
from pathlib import Path

from mlci.analysis.gate import DEFAULT_MAX_REGRESSION_REL
from mlci.errors import ConfigError, MlciError, UsageError
from mlci.model import metric_names
from mlci.resources import templates_dir
from mlci.store import atomicio, dvcfile, gitrepo, pipeline
from mlci.store.config import CONFIG_NAME


def _model_artifact(root: Path) -> tuple[str, str] | None:
    """(name, path) of the model `artifacts:` in dvc.yaml declares (type model first)."""
    found = dvcfile.artifacts(root)
    ranked = sorted(found.items(), key=lambda item: item[1].get("type") != "model")
    return (ranked[0][0], str(ranked[0][1]["path"])) if ranked else None


def _predictions_file(root: Path) -> str | None:
    """A CSV the pipeline writes with row_id, label and score columns: what the bootstrap reads."""
    candidates = sorted(p for p in dvcfile.produced_paths(root) if not p.endswith("/"))
    files = [root / p for p in candidates]
    folders = [root / p for p in candidates if (root / p).is_dir()]
    files += [f for d in folders for f in sorted(d.rglob("*.csv"))[:50]]
    for path in files:
        if path.suffix != ".csv" or not path.is_file():
            continue
        try:
            with path.open("rb") as handle:
                header = handle.readline(4096).decode("utf-8", "replace")
        except OSError:
            continue
        if {c.strip().strip('"') for c in header.split(",")} >= {"row_id", "label", "score"}:
            return path.relative_to(root).as_posix()
    return None


def _goal_lines(name: str, direction: str, first: bool) -> list[str]:
    worse = "drop" if direction == "higher" else "rise"
    if not first:
        return [
            f"  {json.dumps(name)}: {{direction: {direction}, max_regression_rel: {DEFAULT_MAX_REGRESSION_REL}, significant_only: true}}"
        ]
    return [
        f"  {json.dumps(name)}:",
        f"    direction: {direction}        # better {direction} (from the metric's name; change it if that is wrong)",
        f"    max_regression_rel: {DEFAULT_MAX_REGRESSION_REL}  # fail on a {worse} of more than 1 % of the base value…",
        "    significant_only: true   # …when the bootstrap says it is real (its 95 % CI excludes 0)",
    ]


def _metric_names(root: Path, metrics: list[str]) -> list[str]:
    from mlci.store.metrics import read_metrics

    try:
        return sorted({n for values in read_metrics(root, metrics, notes=[]).values() for n in values})
    except MlciError:  # metrics not produced yet (or unreadable): no goals to guess
        return []


def undecided(path: Path | str = ".") -> list[str]:
    """The metrics whose names say nothing about which way is better: the user decides."""
    root = gitrepo.root(gitrepo.open_repo(path, allow_empty=True))
    names = _metric_names(root, dvcfile.metrics_files(root, dvcfile.choose(root, path)))
    return [n for n in names if not metric_names.is_counter(n) and metric_names.direction(n) is None]


def unfound(path: Path | str = ".") -> list[str]:
    """What `mlci init` looked for in the pipeline and did not find (said, never guessed)."""
    root = gitrepo.root(gitrepo.open_repo(path, allow_empty=True))
    project = dvcfile.choose(root, path)
    if dvcfile.metrics_files(root, project):
        return []
    return [
        f"{dvcfile.describe(root, project)} declares no metrics, so mlci.yaml lists none: add `metrics:` to a "
        "stage (or to mlci.yaml) to compare them"
    ]


def _config_for_existing_pipeline(root: Path) -> str:
    metrics = dvcfile.metrics_files(root)  # declared in a dvc.yaml (DVCLive's too): never a guessed file
    artifact = _model_artifact(root)
    predictions = _predictions_file(root)
    project = dvcfile.project_dir(root)
    lines = [
        "# mlci configuration: what to compare, which way is better, and the quality gates.",
        "version: 1",
        f"name: {json.dumps(artifact[0] if artifact else (root / project).name)}",
        *(
            ["metrics:", *[f"  - {json.dumps(m)}" for m in metrics]]
            if metrics
            else [
                f"# metrics: none declared in {dvcfile.describe(root)}: nothing to compare until a stage declares",
                "# `metrics:` (or list the files your pipeline writes here, e.g. metrics: [eval/metrics.json])",
            ]
        ),
        f"predictions: {json.dumps(predictions)}   # row_id, label, score: the bootstrap's intervals come from it"
        if predictions
        else "# predictions: eval/predictions.csv   # row_id, label, score: enables significance tests",
        f"model: {json.dumps(artifact[1])}   # from dvc.yaml artifacts:" if artifact else "# model: models/model.txt",
    ]
    names = _metric_names(root, metrics)
    counters = [n for n in names if metric_names.is_counter(n)]
    unknown = [n for n in names if n not in counters and metric_names.direction(n) is None]
    judged = [(n, str(metric_names.direction(n))) for n in names if n not in counters and n not in unknown]
    if judged:
        lines += [
            "# The gate (`mlci gate`, the PR check): a goal fails when its metric gets worse by more than",
            "# 1 % of the base value AND the change is significant: the 95 % CI of head − base, bootstrapped",
            "# from the predictions, excludes 0. So noise passes and a real regression fails. A metric with",
            "# no interval (no predictions, or one they do not measure) fails on the 1 % limit alone.",
            "goals:",
        ]
        for i, (name, direction) in enumerate(judged):
            lines += _goal_lines(name, direction, i == 0)
    else:
        lines += [
            "# No metrics to set goals for yet: run `mlci run`, then `mlci init --force` to fill them in,",
            "# or write them here, e.g.  goals: {auc: {direction: higher, max_regression_rel: 0.01, significant_only: true}}",
            "goals: {}",
        ]
    if unknown:
        lines += [
            '# No direction known for these (shown as "changed", never judged); to gate one, add it under',
            "# goals: with direction: higher or lower:",
            *[f"#   {json.dumps(n)}" for n in unknown],
        ]
    if counters:
        lines.append("# Counters and clocks, never judged: " + ", ".join(json.dumps(n) for n in counters))
    return "\n".join(lines) + "\n"


# What the example's stages import: pinned to this environment's versions, so the example's
# runs are reproducible from their commit (`mlci run` warns about unpinned dependencies).
EXAMPLE_REQUIREMENTS = ("dvc", "lightgbm", "numpy", "pandas", "pyarrow", "PyYAML", "scikit-learn")
# The examples `mlci init --example NAME` writes: template folder and what its stages import.
EXAMPLES = {
    "lightgbm": ("example", EXAMPLE_REQUIREMENTS),
    "torch": ("example_torch", ("dvc", "dvclive", "numpy", "PyYAML", "torch")),
}


def _example_name(example: bool | str | None) -> str | None:
    if example is False or example is None:
        return None
    name = "lightgbm" if example is True else str(example)
    if name not in EXAMPLES:
        raise UsageError(f"unknown example '{name}'; choose one of {', '.join(EXAMPLES)}")
    return name


def _pinned_requirements(names: tuple[str, ...] = EXAMPLE_REQUIREMENTS) -> bytes:
    from importlib import metadata

    lines = ["# The example pipeline's dependencies, pinned by `mlci init --example` to the versions it ran with."]
    for name in names:
        try:
            lines.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return ("\n".join(lines) + "\n").encode()


def _planned_files(root: Path, example: str | None) -> dict[str, bytes]:
    if not example:
        return {CONFIG_NAME: _config_for_existing_pipeline(root).encode()}
    folder, requirements = EXAMPLES[example]
    source = templates_dir() / folder
    files = {}
    for path in sorted(source.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            files[path.relative_to(source).as_posix()] = path.read_bytes()
    if not (root / "requirements.txt").exists():  # the project's own pins win
        files["requirements.txt"] = _pinned_requirements(requirements)
    return files


def _merge_gitignore(existing: bytes, ours: bytes) -> bytes:
    have = existing.decode().splitlines()
    extra = [line for line in ours.decode().splitlines() if line not in have]
    text = existing.decode()
    if extra:
        text = text + ("" if text.endswith("\n") or not text else "\n") + "\n".join(extra) + "\n"
    return text.encode()


def _workflow_files(runner: str = "gpu") -> dict[str, bytes]:
    """The GitHub workflow templates (PR training, baseline, …) as `.github/workflows/<name>`.

    `runner="cpu"`: the PR and baseline workflows train on GitHub-hosted `ubuntu-latest`
    (templates/workflows-cpu/) and the GPU sweep is left out, so nothing waits for a GPU runner.
    """
    files = {p.name: p.read_bytes() for p in sorted((templates_dir() / "workflows").glob("*.yml"))}
    if runner == "cpu":
        files.pop("sweep.yml", None)
        files.update({p.name: p.read_bytes() for p in sorted((templates_dir() / "workflows-cpu").glob("*.yml"))})
    elif runner != "gpu":
        raise ConfigError(f"unknown runner {runner!r}; use gpu or cpu")
    return {f".github/workflows/{name}": data for name, data in sorted(files.items())}


def init(
    path: Path | str = ".",
    *,
    example: bool | str | None = False,
    force: bool = False,
    workflows: bool = False,
    runner: str = "gpu",
) -> list[str]:
    """Write the scaffold; returns the paths written, relative to the repo root.

    `example`: True or "lightgbm" for the LightGBM example, "torch" for the PyTorch + DVCLive one.

    `workflows=True` also installs the GitHub workflow templates (`runner`: "gpu" for a
    self-hosted GPU runner, "cpu" for GitHub-hosted ubuntu-latest); an existing `mlci.yaml` is
    then kept as it is (adding CI to a configured project must not touch its config).
    """
    name = _example_name(example)
    repo = gitrepo.open_repo(path, allow_empty=True)
    root = gitrepo.root(repo)
    if not name:
        project = dvcfile.choose(root, path)
        if not dvcfile.dvcyaml_paths(root, project):
            raise ConfigError(
                f"no dvc.yaml in {root / project if project else root}; add your pipeline first "
                "(`dvc stage add`), or run `mlci init --example` for a ready one"
            )
    planned = _planned_files(root, name)
    if workflows:
        if not name and (root / CONFIG_NAME).exists():
            planned.pop(CONFIG_NAME, None)
        planned.update(_workflow_files(runner))
    conflicts = []
    for rel, data in planned.items():
        target = root / rel
        if rel == ".gitignore" and target.exists():
            planned[rel] = _merge_gitignore(target.read_bytes(), data)
        elif target.exists() and target.read_bytes() != data:
            conflicts.append(rel)
    if conflicts and not force:
        shown = ", ".join(conflicts[:4]) + (" …" if len(conflicts) > 4 else "")
        raise ConfigError(f"would overwrite {shown}; nothing was written; pass --force to overwrite")
    written = []
    for rel, data in planned.items():
        target = root / rel
        if target.exists() and target.read_bytes() == data:
            continue
        atomicio.write_bytes(target, data)
        written.append(rel)
    if name and not (root / ".dvc").is_dir():
        pipeline.run_dvc(root, "init", "--quiet")
        written.append(".dvc/")
    return written
