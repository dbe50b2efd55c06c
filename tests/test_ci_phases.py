"""`mlci ci --phase admit|run|publish`: the action's three steps, the middle one without a token."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import git, invoke
from tests.plugins.fake_github import TOKEN, actions_env, read_outputs


def _phases(root: Path, env: dict[str, str], *phases: str):
    results = []
    for phase in phases:
        step_env = dict(env) if phase != "run" else {k: v for k, v in env.items() if k != "GITHUB_TOKEN"}
        results.append(invoke(root, "ci", "--phase", phase, env=step_env))
        if results[-1].exit_code != 0:
            break
    return results


def test_three_phases_publish_what_the_tokenless_run_produced(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=git(clean_pr, "rev-parse", "HEAD"))
    admit, run, publish = _phases(clean_pr, env, "admit", "run", "publish")
    assert (admit.exit_code, run.exit_code, publish.exit_code) == (0, 0, 0), publish.output
    # comment, check; the admit phase's permission probes (issue 14) are all refused with 422
    assert [r.method for r in fake_github.requests if r.method != "GET" and r.status < 400] == ["POST", "POST"]
    [comment] = fake_github.issue_comments(12)
    assert "auc" in comment["body"]
    assert read_outputs(env["GITHUB_OUTPUT"])["verdict"] == "success"


def test_publish_refuses_a_state_that_points_outside_the_report(clean_pr, fake_github, tmp_path):
    """The PR's code runs between run and publish and could rewrite the state file."""
    env = actions_env(fake_github, tmp_path / "runner", sha=git(clean_pr, "rev-parse", "HEAD"))
    _phases(clean_pr, env, "admit", "run")
    state_file = Path(env["RUNNER_TEMP"]) / "mlci" / "state" / "state.json"
    state = json.loads(state_file.read_text())
    state["report_path"] = "/proc/self/environ"
    state_file.write_text(json.dumps(state))
    result = invoke(clean_pr, "ci", "--phase", "publish", env=env)
    assert result.exit_code == 3 and "refusing to publish" in result.stderr
    assert fake_github.issue_comments(12) == []


def test_publish_refuses_a_report_symlinked_out_of_its_directory(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=git(clean_pr, "rev-parse", "HEAD"))
    _phases(clean_pr, env, "admit", "run")
    report = Path(env["RUNNER_TEMP"]) / "mlci" / "report" / "report.md"
    secret = tmp_path / "private.txt"
    secret.write_text("private\n")
    report.unlink()
    report.symlink_to(secret)
    result = invoke(clean_pr, "ci", "--phase", "publish", env=env)
    assert result.exit_code == 3 and fake_github.issue_comments(12) == []


def test_a_token_a_stage_wrote_into_the_report_is_redacted_in_the_artifact_and_comment(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=git(clean_pr, "rev-parse", "HEAD"))
    _phases(clean_pr, env, "admit", "run")
    report = Path(env["RUNNER_TEMP"]) / "mlci" / "report" / "report.md"
    report.write_text(report.read_text() + f"\nstage log: Authorization: Bearer {TOKEN}\n")
    result = invoke(clean_pr, "ci", "--phase", "publish", env=env)
    assert result.exit_code == 0, result.output
    assert TOKEN not in report.read_text() and "stage log" in report.read_text()
    assert TOKEN not in fake_github.issue_comments(12)[0]["body"]
    assert TOKEN not in Path(env["GITHUB_STEP_SUMMARY"]).read_text()


def test_publish_before_run_is_a_usage_error(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=git(clean_pr, "rev-parse", "HEAD"))
    _phases(clean_pr, env, "admit")
    result = invoke(clean_pr, "ci", "--phase", "publish", env=env)
    assert result.exit_code == 2 and "--phase run" in result.stderr
