"""`mlci run` warns when its commit could not bring the run back: loose data, unpinned packages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import git as gitlib
import pytest

from mlci.analysis import reproducibility
from tests.helpers import commit_all, git

PINNED = "lightgbm==4.5.0\npandas==2.2.3  # data frames\n-r more.txt\n"
PIPELINE = """\
stages:
  prepare:
    cmd: python src/prepare.py
    deps: [src/prepare.py, data/raw.csv]
    outs: [data/clean.csv]
  train:
    cmd: python src/train.py
    deps: [src/train.py, data/clean.csv]
    outs: [model.txt]
"""


def _project(root: Path, *, requirements: str | None = PINNED) -> gitlib.Repo:
    (root / "src").mkdir()
    (root / "src" / "prepare.py").write_text("print('prepare')\n")
    (root / "src" / "train.py").write_text("print('train')\n")
    (root / "dvc.yaml").write_text(PIPELINE)
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("x,y\n1,2\n")
    if requirements is not None:
        (root / "requirements.txt").write_text(requirements)
    return gitlib.Repo(root)


def _warnings(root: Path) -> list[str]:
    return reproducibility.check(gitlib.Repo(root), root)


def test_git_tracked_inputs_and_pinned_requirements_give_no_warning(git_repo: Path):
    _project(git_repo)
    commit_all(git_repo, "pipeline")
    assert _warnings(git_repo) == []


def test_data_input_tracked_by_neither_git_nor_dvc_is_named(git_repo: Path):
    _project(git_repo)
    (git_repo / ".gitignore").write_text("data/raw.csv\n")
    commit_all(git_repo, "pipeline, raw data ignored")
    warnings = _warnings(git_repo)
    assert len(warnings) == 1
    assert "data inputs tracked by neither git nor DVC (data/raw.csv)" in warnings[0]
    assert "dvc add data/raw.csv" in warnings[0]


def test_data_input_tracked_by_a_dvc_file_is_fine(git_repo: Path):
    _project(git_repo)
    (git_repo / "data" / ".gitignore").write_text("/raw.csv\n")
    (git_repo / "data" / "raw.csv.dvc").write_text("outs:\n- md5: 0123\n  size: 8\n  path: raw.csv\n")
    commit_all(git_repo, "pipeline, raw data in DVC")
    assert git(git_repo, "ls-files", "data/raw.csv") == ""
    assert _warnings(git_repo) == []


def test_untracked_file_inside_an_input_directory_is_named(git_repo: Path):
    _project(git_repo)
    (git_repo / "dvc.yaml").write_text(PIPELINE.replace("data/raw.csv]", "data/raw]"))
    (git_repo / "data" / "raw").mkdir()
    (git_repo / "data" / "raw" / "a.csv").write_text("x\n1\n")
    commit_all(git_repo, "pipeline with a raw data directory")
    assert _warnings(git_repo) == []
    (git_repo / "data" / "raw" / "b.csv").write_text("x\n2\n")
    assert any("(data/raw)" in w for w in _warnings(git_repo))


def test_no_dependency_file_at_all_is_an_unpinned_warning(git_repo: Path):
    _project(git_repo, requirements=None)
    commit_all(git_repo, "pipeline")
    (warning,) = _warnings(git_repo)
    assert warning.startswith("no pinned dependencies")
    assert "pip freeze > requirements.txt" in warning


def test_requirement_ranges_are_named_as_unpinned(git_repo: Path):
    _project(git_repo, requirements="lightgbm>=4\npandas==2.2.3\nnumpy\n")
    commit_all(git_repo, "pipeline")
    (warning,) = _warnings(git_repo)
    assert "unpinned dependencies in requirements.txt (lightgbm>=4, numpy)" in warning


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("uv.lock", "version = 1\n"),
        ("poetry.lock", "# lock\n"),
        ("requirements/prod.txt", "numpy==2.1.0 ; python_version >= '3.10'\nmypkg @ https://example.invalid/p.whl\n"),
        (
            "environment.yml",
            "dependencies:\n  - python=3.11\n  - pip\n  - numpy=2.1.0=py311_0\n  - pip:\n    - lightgbm==4.5.0\n",
        ),
    ],
)
def test_lock_files_and_fully_pinned_files_count_as_pinned(git_repo: Path, name: str, text: str):
    _project(git_repo, requirements=None)
    (git_repo / name).parent.mkdir(exist_ok=True)
    (git_repo / name).write_text(text)
    commit_all(git_repo, "pipeline with pins")
    assert _warnings(git_repo) == []


def test_conda_environment_with_a_bare_package_is_unpinned(git_repo: Path):
    _project(git_repo, requirements=None)
    (git_repo / "environment.yml").write_text("dependencies:\n  - python=3.11\n  - lightgbm\n")
    commit_all(git_repo, "pipeline")
    (warning,) = _warnings(git_repo)
    assert "unpinned dependencies in environment.yml (lightgbm)" in warning


def test_dvc_lock_is_not_mistaken_for_a_python_lock_file(git_repo: Path):
    _project(git_repo, requirements=None)
    (git_repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    commit_all(git_repo, "pipeline")
    assert reproducibility.pins(gitlib.Repo(git_repo), git_repo).lock_files == ()


def test_mlci_run_records_the_reproducibility_warnings(git_repo: Path):
    """Through the real `mlci run`: a DVC pipeline reading git-ignored data, no pinned packages."""
    from mlci.workflows import run

    root = git_repo
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("x\n1\n2\n3\n")
    (root / ".gitignore").write_text("data/raw.csv\n")
    (root / "score.py").write_text(
        "import json\nrows = open('data/raw.csv').read().split()[1:]\n"
        "json.dump({'total': sum(map(int, rows))}, open('metrics.json', 'w'))\n"
    )
    (root / "dvc.yaml").write_text(
        "stages:\n  score:\n    cmd: python score.py\n    deps: [score.py, data/raw.csv]\n"
        "    metrics:\n      - metrics.json:\n          cache: false\n"
    )
    commit_all(root, "pipeline on loose data")
    record = run.run(root, store=False)
    assert record.metrics == {"metrics.json": {"total": 6}}
    assert any("tracked by neither git nor DVC (data/raw.csv)" in w for w in record.warnings)
    assert any(w.startswith("no pinned dependencies") for w in record.warnings)


# --- dirty: only pipeline inputs count ---------------------------------------------------------


def test_untracked_workflows_and_notes_do_not_make_a_run_dirty(git_repo: Path):
    _project(git_repo)
    commit_all(git_repo, "pipeline")
    (git_repo / ".github" / "workflows").mkdir(parents=True)
    (git_repo / ".github" / "workflows" / "mlci-pr.yml").write_text("on: pull_request\n")
    (git_repo / "notes.txt").write_text("todo\n")
    (git_repo / "README.md").write_text("edited\n")
    (git_repo / "model.txt").write_text("an output\n")
    assert reproducibility.dirty_inputs(gitlib.Repo(git_repo), git_repo) == []


def test_a_changed_dep_an_untracked_code_file_and_dvc_yaml_are_named(git_repo: Path):
    _project(git_repo)
    (git_repo / "params.yaml").write_text("lr: 1\n")
    (git_repo / "dvc.yaml").write_text(
        PIPELINE.replace(
            "deps: [src/train.py, data/clean.csv]", "deps: [src/train.py, data/clean.csv, src/lib]\n    params: [lr]"
        )
    )
    commit_all(git_repo, "pipeline")
    (git_repo / "src" / "train.py").write_text("print('changed')\n")
    (git_repo / "src" / "lib").mkdir()
    (git_repo / "src" / "lib" / "new.py").write_text("x = 1\n")  # untracked, inside a dep directory
    (git_repo / "params.yaml").write_text("lr: 2\n")
    dirty = reproducibility.dirty_inputs(gitlib.Repo(git_repo), git_repo)
    assert sorted(dirty) == ["params.yaml", "src/lib/new.py", "src/train.py"]


def test_mlci_run_after_init_workflows_is_clean_and_becomes_the_baseline(trained_repo: Path):
    from mlci.store import baseline
    from mlci.workflows import run, scaffold

    scaffold.init(trained_repo, workflows=True)  # untracked .github/workflows/*.yml
    (trained_repo / "notes.txt").write_text("try a smaller learning rate\n")
    record = run.run(trained_repo)
    assert record.dirty is False and not any("uncommitted" in w for w in record.warnings)
    assert baseline.baseline_for(gitlib.Repo(trained_repo), record.commit).id == record.id
