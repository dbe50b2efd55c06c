"""Lint as tests: the action and every workflow (ours, and every template users install) pass
zizmor (offline, no findings) and GitHub's published schemas (offline, vendored in check-jsonschema).

The files are globbed, so templates other capabilities add to templates/workflows/ are covered.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKFLOWS = sorted([*ROOT.glob("templates/workflows/*.yml"), *ROOT.glob(".github/workflows/*.yml")])
ALL = [ROOT / "action.yml", *WORKFLOWS]


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; pip install -e '.[dev]'")
    return path


def _ids(paths):
    return [p.relative_to(ROOT).as_posix() for p in paths]


def test_the_files_to_lint_exist():
    names = _ids(ALL)
    for required in ("action.yml", ".github/workflows/ci.yml", "templates/workflows/pr.yml",
                     "templates/workflows/baseline.yml"):
        assert required in names


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_zizmor_finds_nothing(path: Path):
    done = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", "--format", "plain", str(path)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_workflow_matches_githubs_schema(path: Path):
    done = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_action_matches_githubs_schema():
    done = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions",
                           str(ROOT / "action.yml")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_workflow_declares_permissions_and_a_concurrency_group(path: Path):
    workflow = yaml.safe_load(path.read_text())
    assert "permissions" in workflow, "least-privilege permissions: must be explicit"
    assert "write-all" not in str(workflow["permissions"])
    assert "group" in (workflow.get("concurrency") or {}), "a concurrency group is required"


def test_action_never_interpolates_expressions_into_scripts():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    for step in action["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), step.get("name")


def test_action_masks_the_token_before_anything_else():
    first = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"][0]
    assert "::add-mask::" in first["run"] and "inputs.github-token" in str(first["env"])


def test_zizmor_would_catch_an_injected_pr_title(tmp_path: Path):
    """The lint above can fail: a title interpolated into run: is a finding."""
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text("on: pull_request\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo \"${{ github.event.pull_request.title }}\"\n")
    done = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and "template-injection" in done.stdout
