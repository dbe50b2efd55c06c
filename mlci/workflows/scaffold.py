"""`mlci init`: put `mlci.yaml` (and with `--example` the example pipeline) into a git repo.

All-or-nothing: every target is checked before anything is written, so a refusal (a file
exists and `--force` was not given) leaves the repo exactly as it was.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from mlci.errors import ConfigError, MlciError, UsageError
from mlci.resources import templates_dir
from mlci.store import atomicio, dvcfile, gitrepo, pipeline
from mlci.store.config import CONFIG_NAME, guess_direction

# Counters a training loop logs next to its metrics (DVCLive writes `step`): not a quality
# measure, so `mlci init` makes no goal for them.
_COUNTERS = re.compile(r"^(steps?|epochs?|iterations?|iter|time|timestamp|elapsed|global_step)$", re.IGNORECASE)


def is_counter(metric: str) -> bool:
    return bool(_COUNTERS.match(metric.rsplit(".", 1)[-1]))


def _model_artifact(root: Path) -> tuple[str, str] | None:
    """(name, path) of the model `artifacts:` in dvc.yaml declares (type model first)."""
    found = dvcfile.artifacts(root)
    ranked = sorted(found.items(), key=lambda item: item[1].get("type") != "model")
    return (ranked[0][0], str(ranked[0][1]["path"])) if ranked else None


def _config_for_existing_pipeline(root: Path) -> str:
    from mlci.store.metrics import read_metrics

    metrics = dvcfile.metrics_files(root) or ["metrics.json"]
    artifact = _model_artifact(root)
    lines = [
        "# mlci configuration: what to compare, which way is better, and the quality gates.",
        "version: 1",
        f"name: {json.dumps(artifact[0] if artifact else root.name)}",
        "metrics:",
        *[f"  - {json.dumps(m)}" for m in metrics],
        "# predictions: eval/predictions.csv   # row_id, label, score: enables significance tests",
        f"model: {json.dumps(artifact[1])}   # from dvc.yaml artifacts:" if artifact else "# model: models/model.txt",
    ]
    try:
        names = sorted({n for values in read_metrics(root, metrics, notes=[]).values() for n in values})
    except MlciError:  # metrics not produced yet (or unreadable): no goals to guess
        names = []
    names = [n for n in names if not is_counter(n)]
    if names:
        lines.append("goals:")
        lines += [f"  {json.dumps(n)}:\n    direction: {guess_direction(n)}" for n in names]
    else:
        lines += [
            "# No metrics to set goals for yet: run `mlci run`, then `mlci init --force` to fill them in,",
            "# or write them here, e.g.  goals: {auc: {direction: higher, max_regression: 0.01}}",
            "goals: {}",
        ]
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
    if not name and not (root / "dvc.yaml").exists():
        raise ConfigError(
            f"no dvc.yaml in {root}; run `mlci init --example` for a ready pipeline, or add your own first"
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
