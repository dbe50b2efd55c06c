"""`mlci ci --phase …`: the single job's admit/run/publish steps (the middle one without a token,
the state bound to the admit step by a nonce), and the split's tokenless verify/train phases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import commit_all, git, invoke
from tests.plugins.fake_github import TOKEN, actions_env, read_outputs


def _phases(root: Path, env: dict[str, str], *phases: str):
    """The action's steps: each later step gets the admit step's `admit-nonce` output, as action.yml passes it."""
    results = []
    for phase in phases:
        step_env = dict(env) if phase != "run" else {k: v for k, v in env.items() if k != "GITHUB_TOKEN"}
        if phase != "admit":
            step_env["MLCI_ADMIT_NONCE"] = read_outputs(env["GITHUB_OUTPUT"]).get("admit-nonce", "")
        results.append(invoke(root, "ci", "--phase", phase, env=step_env))
        if results[-1].exit_code != 0:
            break
    return results


def _nonce(env: dict[str, str]) -> dict[str, str]:
    return {**env, "MLCI_ADMIT_NONCE": read_outputs(env["GITHUB_OUTPUT"])["admit-nonce"]}


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
    result = invoke(clean_pr, "ci", "--phase", "publish", env=_nonce(env))
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
    result = invoke(clean_pr, "ci", "--phase", "publish", env=_nonce(env))
    assert result.exit_code == 3 and fake_github.issue_comments(12) == []


def test_a_token_a_stage_wrote_into_the_report_is_redacted_in_the_artifact_and_comment(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=git(clean_pr, "rev-parse", "HEAD"))
    _phases(clean_pr, env, "admit", "run")
    report = Path(env["RUNNER_TEMP"]) / "mlci" / "report" / "report.md"
    report.write_text(report.read_text() + f"\nstage log: Authorization: Bearer {TOKEN}\n")
    result = invoke(clean_pr, "ci", "--phase", "publish", env=_nonce(env))
    assert result.exit_code == 0, result.output
    assert TOKEN not in report.read_text() and "stage log" in report.read_text()
    assert TOKEN not in fake_github.issue_comments(12)[0]["body"]
    assert TOKEN not in Path(env["GITHUB_STEP_SUMMARY"]).read_text()


def test_publish_before_run_is_a_usage_error(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=git(clean_pr, "rev-parse", "HEAD"))
    _phases(clean_pr, env, "admit")
    result = invoke(clean_pr, "ci", "--phase", "publish", env=_nonce(env))
    assert result.exit_code == 2 and "--phase run" in result.stderr


# --- the admission marker: never taken from a file that was there before the job --------------------


def _planted_state(env: dict[str, str], sha: str) -> Path:
    """What a poisoned cache restore (tar paths are not confined) leaves in RUNNER_TEMP: an
    admission of the head, in the state the run phase reads."""
    state_file = Path(env["RUNNER_TEMP"]) / "mlci" / "state" / "state.json"
    state_file.parent.mkdir(parents=True)
    state_file.write_text(json.dumps({"event": "pull_request", "sha": sha, "admission": sha}))
    return state_file


def test_a_planted_state_claiming_admission_runs_nothing_for_an_unapproved_fork(trained_repo, fake_github, tmp_path):
    """Before the nonce, `--phase run` took this file as the admission and ran the fork's pipeline."""
    marker = tmp_path / "fork-code-ran"
    git(trained_repo, "checkout", "-q", "-b", "feature")
    train = trained_repo / "src" / "train.py"
    train.write_text(f"open({str(marker)!r}, 'w').write('owned')\n" + train.read_text())
    sha = commit_all(trained_repo, "An unapproved fork's change")
    fake_github.add_pull(12, head_sha=sha, head_owner="forker")  # no approval anywhere
    env = actions_env(fake_github, tmp_path / "runner", sha=sha, fork=True, self_hosted=True, token=None)
    _planted_state(env, sha)
    for nonce in ("", "0" * 32):  # no admit step ran / a guessed one
        result = invoke(trained_repo, "ci", "--phase", "run", env={**env, "MLCI_ADMIT_NONCE": nonce})
        assert result.exit_code == 2 and "not written by this job's admit step" in result.stderr
    assert not marker.exists()
    assert not (Path(env["RUNNER_TEMP"]) / "mlci" / "report").exists()


def test_the_admit_steps_nonce_binds_the_state_to_this_job(clean_pr, fake_github, tmp_path):
    """Control: the state the admit step wrote, with its output nonce, runs (a same-repo PR)."""
    env = actions_env(fake_github, tmp_path / "runner", sha=git(clean_pr, "rev-parse", "HEAD"))
    admit, run = _phases(clean_pr, env, "admit", "run")
    assert (admit.exit_code, run.exit_code) == (0, 0), run.output
    nonce = read_outputs(env["GITHUB_OUTPUT"])["admit-nonce"]
    assert len(nonce) == 32 and nonce in (Path(env["RUNNER_TEMP"]) / "mlci" / "state" / "state.json").read_text()


# --- the split's training phases: no token, the admit job's SHA is the only admission -----------------


def test_train_refuses_to_hold_a_token(clean_pr, fake_github, tmp_path):
    sha = git(clean_pr, "rev-parse", "HEAD")
    env = actions_env(fake_github, tmp_path / "runner", sha=sha)
    result = invoke(clean_pr, "ci", "--phase", "train", "--admitted-sha", sha, env=env)
    assert result.exit_code == 3 and "must hold no GitHub token" in result.stderr
    assert not (Path(env["RUNNER_TEMP"]) / "mlci" / "report").exists()


@pytest.mark.parametrize("admitted", ["", "HEAD", "0" * 40])
def test_train_runs_only_the_commit_the_admit_job_admitted(admitted, clean_pr, fake_github, tmp_path):
    sha = git(clean_pr, "rev-parse", "HEAD")
    env = actions_env(fake_github, tmp_path / "runner", sha=sha, fork=True, self_hosted=True, token=None)
    result = invoke(clean_pr, "ci", "--phase", "train", "--admitted-sha", admitted, env=env)
    assert result.exit_code == 3 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert not (Path(env["RUNNER_TEMP"]) / "mlci" / "report").exists()


def test_verify_refuses_a_workspace_that_is_not_the_admitted_commit(clean_pr, fake_github, tmp_path):
    admitted = git(clean_pr, "rev-parse", "HEAD")
    env = actions_env(fake_github, tmp_path / "runner", sha=admitted, fork=True, self_hosted=True, token=None)
    (clean_pr / "NOTES.md").write_text("pushed after the approval\n")
    commit_all(clean_pr, "Unreviewed")
    result = invoke(clean_pr, "ci", "--phase", "verify", "--admitted-sha", admitted, env=env)
    assert result.exit_code == 3 and "not the admitted commit" in result.stderr


def test_train_writes_a_bundle_and_calls_no_github_api(clean_pr, fake_github, tmp_path):
    from mlci.store import bundle

    sha = git(clean_pr, "rev-parse", "HEAD")
    env = actions_env(fake_github, tmp_path / "runner", sha=sha, fork=True, self_hosted=True, token=None)
    result = invoke(clean_pr, "ci", "--phase", "train", "--admitted-sha", sha, env=env)
    assert result.exit_code == 0, result.output
    assert fake_github.requests == []
    outputs = read_outputs(env["GITHUB_OUTPUT"])
    read = bundle.read(outputs["bundle-path"])
    assert (read.claims.pr, read.claims.head_sha, read.claims.event) == (12, sha, "pull_request")
    assert read.record.commit == sha and "auc" in read.markdown
    assert outputs["verdict"] == "success"
