"""The Python mlci claims is the Python it runs on: pyproject, ruff, mypy and the action agree.

mlci uses 3.11 features (datetime.UTC, tomllib), so it claims 3.11; the action refuses an older
runner python3 in one line before installing anything, rather than failing inside pip or at import.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _claim() -> tuple[int, int]:
    spec = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    major, minor = re.fullmatch(r">=(\d+)\.(\d+)", spec).groups()  # type: ignore[union-attr]
    return int(major), int(minor)


def test_ruff_and_mypy_target_the_claimed_minimum():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    major, minor = _claim()
    assert config["tool"]["ruff"]["target-version"] == f"py{major}{minor}"
    assert config["tool"]["mypy"]["python_version"] == f"{major}.{minor}"


def test_the_package_imports_and_runs_on_the_claimed_minimum():
    """Every module imports on this interpreter, which must be the claimed minimum's minor."""
    assert sys.version_info[:2] >= _claim()
    code = (
        "import pkgutil, importlib, mlci; "
        "[importlib.import_module(m.name) for m in pkgutil.walk_packages(mlci.__path__, 'mlci.') if m.name != 'mlci.__main__']; "
        "from mlci.model.record import RunRecord; from mlci.store.metrics import parse_params; "
        "print(parse_params('[a]\\nb = 1\\n', 'p.toml'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "{'a.b': 1}"


def _find_venv_step() -> str:
    steps = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    return next(s["run"] for s in steps if s.get("name") == "Find mlci's venv")


def _fake_python(folder: Path, version: str) -> Path:
    """A `python3` that is a real interpreter reporting `version` (sys.version_info and platform)."""
    folder.mkdir(parents=True, exist_ok=True)
    major, minor, micro = (int(p) for p in version.split("."))
    shim = folder / "python3"
    boot = folder / "boot.py"
    boot.write_text(
        "import sys, platform, runpy\n"
        f"sys.version_info = ({major}, {minor}, {micro}, 'final', 0)\n"
        f"platform.python_version = lambda: '{version}'\n"
        "code = sys.argv[sys.argv.index('-c') + 1]\n"
        "sys.argv = ['-c']\n"
        "exec(compile(code, '<string>', 'exec'), {'__name__': '__main__'})\n"
    )
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{boot}" "$@"\n')
    shim.chmod(0o755)
    return folder


def _run_step(tmp_path: Path, python_dir: Path) -> subprocess.CompletedProcess:
    output = tmp_path / "out"
    output.write_text("")
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _find_venv_step()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={
            "PATH": f"{python_dir}:/usr/bin:/bin",
            "RUNNER_TEMP": str(tmp_path),
            "GITHUB_OUTPUT": str(output),
            "RUNNER_TOOL_CACHE": str(tmp_path / "cache"),
            "MLCI_ACTION_PATH": str(ROOT),
            "MLCI_RUNNER_OS": "Linux",
        },
    )


def test_the_action_refuses_a_python_older_than_the_claim_in_one_line(tmp_path: Path):
    done = _run_step(tmp_path, _fake_python(tmp_path / "py310", "3.10.13"))
    assert done.returncode == 1
    assert done.stdout.strip().splitlines() == [
        "::error::mlci needs Python 3.11 or newer, but the runner's python3 is 3.10.13; set the action's "
        'python-version: input (e.g. "3.12") or put a newer python3 first on PATH'
    ]


def test_the_action_accepts_the_claimed_minimum(tmp_path: Path):
    done = _run_step(tmp_path, _fake_python(tmp_path / "py311", "3.11.0"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "::error::" not in done.stdout
