"""Stages run in the project's environment: a package installed only in the project's own
virtualenv is importable by a stage, whether mlci is installed elsewhere or runs from a
private venv put first on PATH (as the action does). DVC itself runs from mlci's env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.workflows import run
from tests.helpers import commit_all

STAGE = "import json, projonly\njson.dump({'value': projonly.VALUE}, open('m.json', 'w'))\n"


@pytest.fixture(scope="module")
def project_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A separate virtualenv holding `projonly`, a package mlci's environment does not have."""
    venv = tmp_path_factory.mktemp("project-venv") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "projonly").mkdir(parents=True)
    (Path(purelib) / "projonly" / "__init__.py").write_text("VALUE = 42\n")
    return venv


@pytest.fixture
def project(git_repo: Path) -> Path:
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=git_repo, check=True)
    (git_repo / "stage.py").write_text(STAGE)
    (git_repo / "dvc.yaml").write_text(
        "stages:\n  ev:\n    cmd: python stage.py\n    deps: [stage.py]\n"
        "    metrics:\n      - m.json:\n          cache: false\n"
    )
    commit_all(git_repo, "a stage that imports the project's own package")
    return git_repo


def _path_without_mlci() -> list[str]:
    own = os.path.realpath(Path(sys.executable).parent)
    return [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and os.path.realpath(p) != own]


def test_mlci_does_not_import_the_stage_package_itself():
    assert subprocess.run([sys.executable, "-c", "import projonly"], capture_output=True, check=False).returncode != 0


def test_stage_sees_the_active_project_venv_when_mlci_is_installed_elsewhere(
    project: Path, project_venv: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("VIRTUAL_ENV", str(project_venv))
    monkeypatch.setenv("PATH", os.pathsep.join([str(project_venv / "bin"), *_path_without_mlci()]))
    record = run.run(project)
    assert record.metrics == {"m.json": {"value": 42}}
    assert json.loads((project / "m.json").read_text()) == {"value": 42}


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="mlci itself must run from a virtualenv here")
def test_mlci_private_venv_first_on_path_does_not_shadow_the_project_python(
    project: Path, project_venv: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)  # the action prepends its venv's bin without activating it
    monkeypatch.setenv(
        "PATH", os.pathsep.join([str(Path(sys.executable).parent), str(project_venv / "bin"), *_path_without_mlci()])
    )
    record = run.run(project)
    assert record.metrics == {"m.json": {"value": 42}}
