"""The PR and baseline templates' jobs (CPU and GPU) run step by step the way the runner runs them: its `run:` steps in
bash with GITHUB_PATH honoured between steps, its mlci `uses:` step through the action's own
steps (tests/test_action.py's harness), checkout/setup-python/upload-artifact stood in for by
the test (the workspace is the checked-out PR, the test venv's Python is the runner's).

What it proves: a package installed only by the template's "Install the project's requirements"
user step (from the project's requirements.txt into $RUNNER_TEMP/project-venv, put on PATH
through $GITHUB_PATH) is what the pipeline's stage imports, while mlci runs from its own env;
the baseline job records main with it and pushes the record to origin.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlci.workflows import run, scaffold
from tests.helpers import commit_all, git
from tests.plugins.actions_runner import run_job as run_template_job
from tests.plugins.fake_github import TOKEN, actions_env

ROOT = Path(__file__).resolve().parent.parent
STAGE = "import json, projonly\njson.dump({'value': projonly.VALUE}, open('m.json', 'w'))\n"


def _wheel(dest: Path, value: int) -> Path:
    """A pure-Python wheel of `projonly` (VALUE = value), built by hand: pip installs it offline."""
    files = {
        "projonly/__init__.py": f"VALUE = {value}\n".encode(),
        "projonly-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: projonly\nVersion: 1.0\n",
        "projonly-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }

    def digest(data: bytes) -> str:
        return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    record = "".join(f"{name},{digest(data)},{len(data)}\n" for name, data in files.items())
    files["projonly-1.0.dist-info/RECORD"] = (record + "projonly-1.0.dist-info/RECORD,,\n").encode()
    wheel = dest / "projonly-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def _path_without_mlci() -> list[str]:
    own = os.path.realpath(Path(sys.executable).parent)
    return [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and os.path.realpath(p) != own]


@pytest.fixture
def project_main(git_repo: Path, tmp_path: Path) -> Path:
    """main: a DVC stage importing `projonly` (from requirements.txt only), its baseline recorded
    in a venv holding projonly 41."""
    root = git_repo
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "stage.py").write_text(STAGE)
    (root / "dvc.yaml").write_text(
        "stages:\n  ev:\n    cmd: python stage.py\n    deps: [stage.py]\n"
        "    metrics:\n      - m.json:\n          cache: false\n"
    )
    (root / "vendor").mkdir()
    _wheel(root / "vendor", 42)
    (root / "requirements.txt").write_text("./vendor/projonly-1.0-py3-none-any.whl\n")
    scaffold.init(root)
    config = root / "mlci.yaml"  # a direction for the stage's number, so the default gate has something to check
    config.write_text(config.read_text().replace("goals: {}", "goals:\n  value: {direction: higher}"))
    commit_all(root, "a stage that imports the project's own package")
    base_venv = tmp_path / "base-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(base_venv)], check=True)
    purelib = subprocess.run(
        [str(base_venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "projonly").mkdir(parents=True)
    (Path(purelib) / "projonly" / "__init__.py").write_text("VALUE = 41\n")
    saved = dict(os.environ)
    os.environ.update(
        {"VIRTUAL_ENV": str(base_venv), "PATH": os.pathsep.join([str(base_venv / "bin"), *_path_without_mlci()])}
    )
    try:
        run.run(root)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    commit_all(root, "baseline metrics")
    return root


@pytest.fixture
def project_pr(project_main: Path) -> Path:
    """Branch feature: a change to the stage, so it runs again."""
    git(project_main, "checkout", "-q", "-b", "feature")
    (project_main / "stage.py").write_text("# reads the value from the project's package\n" + STAGE)
    commit_all(project_main, "Comment the stage")
    return project_main


def _runner_env(fake_github, workdir: Path, **kwargs) -> dict[str, str]:
    """The runner's variables; no VIRTUAL_ENV, no index, and no projonly on PATH."""
    env = actions_env(fake_github, workdir, **kwargs)
    env.update(
        {
            "VIRTUAL_ENV": "",
            "PIP_NO_INDEX": "1",
            "PIP_CONFIG_FILE": os.devnull,
            "PATH": os.pathsep.join(_path_without_mlci()),
        }
    )
    assert (
        subprocess.run(["python3", "-c", "import projonly"], env=env, capture_output=True, check=False).returncode != 0
    ), "projonly must come from the user step only"
    return env


def run_job(workflow: Path, job: str, workspace: Path, env: dict[str, str], needs: dict | None = None) -> dict:
    """Every step of `job` (tests/plugins/actions_runner.py); the mlci step's ActionRun and the run: steps that ran.
    The admit job's `mlci-records` artifact is there for a train job, empty (nothing recorded to compare with)."""
    records = Path(env["RUNNER_TEMP"]).parent / "admit-artifact"
    records.mkdir(exist_ok=True)
    (records / "records.jsonl").write_text("")
    done = run_template_job(
        workflow, job, workspace, {**env, "GITHUB_TOKEN": TOKEN}, needs=needs, artifacts={"mlci-records": records}
    )
    return {"run": [name for name in done.ran if name != "mlci" and "/" not in name], "mlci": done.mlci}


@pytest.mark.parametrize("template", ["workflows-cpu/pr.yml", "workflows/pr.yml"])
def test_a_stage_imports_a_package_installed_only_by_the_templates_user_step(
    template, project_pr, fake_github, tmp_path
):
    env = _runner_env(
        fake_github, tmp_path / "runner", sha=git(project_pr, "rev-parse", "HEAD"), self_hosted="workflows/" in template
    )
    head = git(project_pr, "rev-parse", "HEAD")
    admitted = {"admit": {"result": "success", "outputs": {"admitted": "true", "head-sha": head}}}
    env.pop("GITHUB_TOKEN", None)
    job = run_job(ROOT / "templates" / template, "train", project_pr, env, needs=admitted)

    assert job["run"] == ["Install the project's requirements"]
    run = job["mlci"]
    assert run.rc == 0, run.log
    assert json.loads((project_pr / "m.json").read_text()) == {"value": 42}  # the user step's projonly, not 41
    assert json.loads(run.outputs["metrics-json"]) == {"m.json": {"value": 42}}
    assert run.outputs["verdict"] in ("success", "neutral"), Path(run.outputs["report-path"]).read_text()
    assert (Path(env["RUNNER_TEMP"]) / "project-venv" / "bin" / "python").exists()


@pytest.mark.parametrize("template", ["workflows-cpu/baseline.yml", "workflows/baseline.yml"])
def test_the_baseline_job_records_main_with_the_user_steps_packages_and_pushes_the_record(
    template, project_main, fake_github, tmp_path
):
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(project_main, "remote", "add", "origin", str(origin))
    (project_main / "stage.py").write_text("# merged: reads the value from the project's package\n" + STAGE)
    sha = commit_all(project_main, "Merge a stage change")
    git(project_main, "push", "-q", "origin", "main")
    env = _runner_env(fake_github, tmp_path / "runner", event="push", sha=sha, self_hosted="workflows/" in template)
    job = run_job(ROOT / "templates" / template, "baseline", project_main, env)

    assert job["run"] == ["Install the project's requirements"]
    assert job["mlci"].rc == 0, job["mlci"].log
    record = json.loads(git(origin, "notes", "--ref=mlci", "show", sha).splitlines()[-1])
    assert record["commit"] == sha and record["metrics"] == {"m.json": {"value": 42}}
