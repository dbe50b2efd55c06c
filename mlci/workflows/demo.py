"""`mlci demo`: the whole PR loop on the bundled example, offline, in a throw-away repo.

It drives the same library functions a user's commands do, in the order CI would:
baseline on main, a PR branch that changes a param, a run, a diff and a report.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.analysis.compare import Comparison
from mlci.errors import UsageError
from mlci.model.record import RunRecord
from mlci.store import atomicio

PR_BRANCH = "pr/tune-model"
# section.key -> (base, PR): a model change, plus an upstream data change (a shifted feature)
# that keeps rows and labels, so the report shows drift and paired significance side by side.
PR_PARAM_CHANGES = {
    "train.num_leaves": ("15", "31"),
    "train.learning_rate": ("0.1", "0.05"),
    "train.n_estimators": ("60", "150"),
    "data.shift": ("0.0", "1.0"),
}
# main's own history before the PR: each a commit, a recorded training run, then its outputs committed
# (what CI's baseline workflow leaves), so the report can place the PR among main's runs.
MAIN_HISTORY = [
    {"train.seed": ("0", "1")},
    {"train.feature_fraction": ("0.9", "0.8")},
    {"train.seed": ("1", "2")},
]


@dataclass
class DemoResult:
    directory: Path
    comparison: Comparison
    base_record: RunRecord
    head_record: RunRecord
    report: Path
    gate: str
    gate_mark: str
    artifacts: dict[str, Path] = field(default_factory=dict)
    built: Any = None  # the mlci.workflows.report.ReportResult (first screen, paths)


def _git(repo, *args: str) -> str:
    return repo.git.execute(["git", *args])


def _change_params(root: Path, changes: dict[str, tuple[str, str]] = PR_PARAM_CHANGES) -> None:
    """Edit params.yaml line by line, so its comments survive as a user's edit would leave them."""
    path = root / "params.yaml"
    lines = path.read_text().splitlines(keepends=True)
    section = ""
    for i, line in enumerate(lines):
        if line[:1].isalpha():
            section = line.split(":", 1)[0]
            continue
        dotted = f"{section}.{line.strip().split(':', 1)[0]}"
        if dotted in changes:
            old, new = changes[dotted]
            lines[i] = line.replace(f": {old}", f": {new}", 1)
    atomicio.write_text(path, "".join(lines))


def demo(directory: Path | None = None, *, on_step: Callable[[str], None] | None = None, on_event=None) -> DemoResult:
    from mlci.store import pipeline

    with pipeline.own_interpreter():  # the bundled example needs mlci's own packages, not the shell's python
        return _demo(directory, on_step=on_step, on_event=on_event)


def _demo(directory: Path | None, *, on_step: Callable[[str], None] | None, on_event) -> DemoResult:
    import git

    from mlci.store import baseline
    from mlci.workflows import report as reporting
    from mlci.workflows import run, scaffold

    step = on_step or (lambda _message: None)
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="mlci-demo-"))
    elif directory.exists() and any(directory.iterdir()):
        raise UsageError(f"{directory} is not empty; pass a new or empty --dir")
    directory.mkdir(parents=True, exist_ok=True)

    step(f"creating a git repo from the bundled example in {directory}")
    repo = git.Repo.init(directory, initial_branch="main")
    with repo.config_writer() as writer:
        writer.set_value("user", "name", "mlci demo")
        writer.set_value("user", "email", "demo@mlci.invalid")
        writer.set_value("commit", "gpgsign", "false")
    scaffold.init(directory, example=True)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Add churn model pipeline")

    step("main: training the baseline model")
    run.run(directory, on_event=on_event)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "Train baseline model")
    step(f"main: {len(MAIN_HISTORY)} more commits, each trained and recorded (the history a PR is placed in)")
    for tuned in MAIN_HISTORY:
        _change_params(directory, tuned)
        _git(repo, "commit", "-q", "-am", "Tune " + ", ".join(f"{k} {a}→{b}" for k, (a, b) in tuned.items()))
        run.run(directory)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "-m", "Update the trained model")
    step("main: recording the baseline (CI on push to main; nothing changed, so nothing retrains)")
    base_record = run.run(directory, on_event=on_event)

    changes = ", ".join(f"{k} {a}→{b}" for k, (a, b) in PR_PARAM_CHANGES.items())
    step(f"PR branch {PR_BRANCH}: tuning LightGBM and shifting one upstream feature ({changes})")
    _git(repo, "checkout", "-q", "-b", PR_BRANCH)
    _change_params(directory)
    _git(repo, "commit", "-q", "-am", "Tune LightGBM")
    head_record = run.run(directory, on_event=on_event)

    step("comparing the PR with main: report, significance, data checks and gate")
    built = reporting.build(directory, base_ref="main", out_dir=directory / "mlci-report")
    baseline.attach_gate(repo, head_record, built.gate.to_dict())
    step(
        "promoting the PR's model to staging (locally with --force: there is no GitHub review here) and pulling it back"
    )
    return DemoResult(
        directory=directory,
        comparison=built.comparison,
        base_record=base_record,
        head_record=head_record,
        report=built.markdown,
        gate=built.gate.summary(),
        gate_mark=built.gate.mark,
        artifacts={"model": _promote_and_pull(directory)},
        built=built,
    )


def _promote_and_pull(directory: Path) -> Path:
    """Register the PR's model in the git-tag registry (bytes in a local DVC remote), pull it back verified."""
    from mlci.integrations.registry import open_backend
    from mlci.model.refs import ModelRef
    from mlci.store.config import RegistrySettings
    from mlci.store.pipeline import run_dvc
    from mlci.workflows.promote import promote

    with (directory / ".git" / "info" / "exclude").open("a", encoding="utf-8") as exclude:
        exclude.write("/dvc-remote/\n/pulled/\n")  # demo-only folders: keep the tree clean
    run_dvc(directory, "remote", "add", "--local", "-d", "demo", str(directory / "dvc-remote"))
    promotion = promote(directory, stage="staging", force=True)
    backend = open_backend(directory, RegistrySettings())
    return backend.pull(ModelRef(promotion.version.name, stage="staging"), directory / "pulled").file
