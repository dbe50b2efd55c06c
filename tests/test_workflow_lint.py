"""Lint as tests: the action and every workflow (ours, and every template users install) pass
zizmor (offline, no findings) and GitHub's published schemas (offline, vendored in check-jsonschema).

The files are globbed, so templates other capabilities add to templates/workflows/ are covered.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKFLOWS = sorted(
    [
        *ROOT.glob("templates/workflows/*.yml"),
        *ROOT.glob("templates/workflows-cpu/*.yml"),
        *ROOT.glob(".github/workflows/*.yml"),
    ]
)
ALL = [ROOT / "action.yml", *WORKFLOWS]
SHIPPED = [ROOT / "action.yml", *(p for p in WORKFLOWS if p.relative_to(ROOT).parts[0] == "templates")]


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; pip install -e '.[dev]'")
    return path


def _ids(paths):
    return [p.relative_to(ROOT).as_posix() for p in paths]


def test_the_files_to_lint_exist():
    names = _ids(ALL)
    for required in (
        "action.yml",
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        "templates/workflows/pr.yml",
        "templates/workflows/baseline.yml",
        "templates/workflows-cpu/pr.yml",
        "templates/workflows-cpu/baseline.yml",
    ):
        assert required in names


@pytest.mark.parametrize("path", ALL, ids=_ids(ALL))
def test_zizmor_finds_nothing(path: Path):
    done = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", "--format", "plain", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout


@pytest.mark.parametrize("path", SHIPPED, ids=_ids(SHIPPED))
def test_zizmors_auditor_persona_finds_nothing_unexplained(path: Path):
    """What users install (the action, the templates) passes the pedantic audits too (workflow_run,
    permissions, names…): each finding fixed, or ignored with a reason beside it. A self-hosted
    runner is answered by its job's gate instead (test_every_self_hosted_runner_finding_is_answered_by_a_gate)."""
    done = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", "--persona", "auditor", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    findings = [f["ident"] for f in json.loads(done.stdout or "[]") if f["ident"] != "self-hosted-runner"]
    assert findings == [], done.stdout
    for line in path.read_text().splitlines():
        if "zizmor: ignore[" in line:
            assert line.split("zizmor: ignore[", 1)[1].split("]", 1)[1].strip(), f"an ignore without a reason: {line}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_workflow_matches_githubs_schema(path: Path):
    done = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(path)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_action_matches_githubs_schema():
    done = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(ROOT / "action.yml")],
        capture_output=True,
        text=True,
    )
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
    bad.write_text(
        "on: pull_request\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    done = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and "template-injection" in done.stdout


# --- self-hosted runners: every one behind a gate ------------------------------------------------

_FORK_GATE = "github.event.pull_request.head.repo.full_name == github.repository"
_PUSH_GATE = "github.ref == 'refs/heads/"
_UNTRUSTED_TRIGGERS = {
    "pull_request",
    "pull_request_target",
    "pull_request_review",
    "issue_comment",
    "pull_request_review_comment",
    "workflow_run",
}


def _triggers(workflow: dict) -> set[str]:
    on = workflow.get("on", workflow.get(True))  # PyYAML reads the key `on` as True
    return {on} if isinstance(on, str) else set(on or ())


def _admit_job_runs_the_gate(workflow: dict, job_id: str) -> bool:
    """`job_id` runs the mlci action's `admit` phase for a self-hosted runner."""
    job = workflow["jobs"].get(job_id) or {}
    return any(
        str(step.get("with", {}).get("phase")) == "admit"
        and step.get("with", {}).get("runner-environment") == "self-hosted"
        for step in job.get("steps", [])
    )


def gate_of(workflow: dict, job_id: str) -> str | None:
    """Why `job_id` on a self-hosted runner is safe, or None when nothing gates it."""
    job = workflow["jobs"][job_id]
    condition = " ".join(str(job.get("if", "")).split())
    triggers = _triggers(workflow)
    if not triggers & _UNTRUSTED_TRIGGERS and _PUSH_GATE in condition:
        return "push to a protected branch only"
    for needed in [job.get("needs")] if isinstance(job.get("needs"), str) else job.get("needs", []):
        if f"needs.{needed}.outputs.admitted == 'true'" in condition and _admit_job_runs_the_gate(workflow, needed):
            return f"admitted by job {needed} (fork approved at its head SHA)"
    if _FORK_GATE in condition and "||" not in condition.replace("github.event_name == 'workflow_dispatch' ||", ""):
        return "same-repository pull requests only"
    return None


def _self_hosted_jobs(path: Path) -> list[str]:
    done = subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", "--persona", "auditor", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    findings = json.loads(done.stdout or "[]")
    jobs = []
    for finding in findings:
        if finding["ident"] == "self-hosted-runner":
            route = [part["Key"] for part in finding["locations"][0]["symbolic"]["route"]["route"] if "Key" in part]
            assert route[0] == "jobs", route
            jobs.append(route[1])
    return jobs


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_every_self_hosted_runner_finding_is_answered_by_a_gate(path: Path):
    workflow = yaml.safe_load(path.read_text())
    for job_id in _self_hosted_jobs(path):
        assert gate_of(workflow, job_id), f"{path.name}: job {job_id} runs on a self-hosted runner without a gate"


def test_the_pr_template_reaches_the_gpu_runner_only_through_the_admit_job():
    workflow = yaml.safe_load((ROOT / "templates" / "workflows" / "pr.yml").read_text())
    assert _self_hosted_jobs(ROOT / "templates" / "workflows" / "pr.yml") == ["train"]
    assert gate_of(workflow, "train").startswith("admitted by job admit")
    assert "labeled" in workflow[True]["pull_request"]["types"]
    assert workflow["jobs"]["admit"]["runs-on"] == "ubuntu-latest"


def test_the_gate_check_catches_an_ungated_self_hosted_job(tmp_path: Path):
    """The lint above can fail: the old pr.yml (no job-level gate) is caught."""
    bad = tmp_path / "pr.yml"
    bad.write_text(
        "on: pull_request\npermissions: {}\njobs:\n  train:\n    runs-on: [self-hosted, gpu]\n"
        "    steps:\n      - run: echo hi\n"
    )
    workflow = yaml.safe_load(bad.read_text())
    assert _self_hosted_jobs(bad) == ["train"] and gate_of(workflow, "train") is None
    workflow["jobs"]["train"]["if"] = f"{_FORK_GATE} || true"
    assert gate_of(workflow, "train") is None


def _mlci_lines() -> list[tuple[str, list[str]]]:
    """Every `mlci …` command line in the templates' `run:` scripts, as argv (shell words)."""
    import shlex

    found = []
    for path in sorted(Path(__file__).resolve().parents[1].glob("templates/workflows*/*.yml")):
        for job in (yaml.safe_load(path.read_text()).get("jobs") or {}).values():
            for step in job.get("steps") or []:
                for line in str(step.get("run") or "").splitlines():
                    words = shlex.split(line.strip(), comments=True) if line.strip() else []
                    if words[:1] == ["mlci"]:
                        found.append((f"{path.name}: {line.strip()}", words[1:]))
    return found


def _stand_ins(args: list[str], tmp_path: Path) -> list[str]:
    """Shell expansions replaced by values of the type the option takes: a number after --pr, an
    existing file or directory where one must exist, the --merge pairs an array expands to."""
    existing = tmp_path / "exists.md"
    existing.write_text("x\n")
    out: list[str] = []
    for word in args:
        if "$" not in word:
            out.append(word)
        elif word.endswith("[@]}"):
            out += ["--merge", str(tmp_path)]
        elif out and out[-1] == "--pr":
            out.append("1")
        elif out and out[-1] in ("--body-file", "--merge"):
            out.append(str(existing if out[-1] == "--body-file" else tmp_path))
        else:
            out.append("placeholder")
    return out


@pytest.mark.parametrize(("where", "args"), _mlci_lines(), ids=[w for w, _ in _mlci_lines()])
def test_every_mlci_command_in_the_templates_parses(where: str, args: list[str], tmp_path: Path):
    """A template's `mlci` line with a wrong option fails only in the user's CI (retrain.yml's
    `mlci record fetch origin` did); parse each one here, shell expansions stood in for."""
    import click

    from mlci.cli import cli

    ctx = cli.make_context("mlci", _stand_ins(args, tmp_path), resilient_parsing=False)
    name, command, rest = cli.resolve_command(ctx, ctx.protected_args + ctx.args)
    while isinstance(command, click.Group):
        sub = command.make_context(name, rest, parent=ctx)
        ctx = sub
        name, command, rest = command.resolve_command(sub, sub.protected_args + sub.args)
    command.make_context(name, rest, parent=ctx)  # raises click's UsageError on an unknown option or argument
