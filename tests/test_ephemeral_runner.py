"""A fork's PR code runs on a self-hosted runner only when the runner declares itself ephemeral.

On a persistent runner, what one job leaves behind (a `.pth` in a cache, `~/.gitconfig`, a
process) reaches the next job, which may hold a write token: an approval of the fork's code does
not change that. The runner recipes in docs/runners.md set MLCI_RUNNER_EPHEMERAL=true in the
runner's own environment; `mlci ci` refuses a fork's code (approved or not) without it, before
the pipeline runs. Each test's PR changes the train stage to leave a marker file when it runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.runner import environment as runner_env
from tests.helpers import commit_all, git, invoke
from tests.plugins.fake_github import actions_env

REFUSAL = (
    "refusing to run fork PR #12's code (forker/models) on a self-hosted runner not declared ephemeral: "
    "what it leaves behind would reach the next job; run it on an ephemeral runner (ARC, or "
    "mlci-runner-pool.sh: see docs/runners.md), which sets MLCI_RUNNER_EPHEMERAL=true in the runner's environment"
)


@pytest.fixture
def marked_pr(trained_repo: Path, tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """A PR whose train stage writes `marker` when it runs (so the pipeline re-runs it)."""
    monkeypatch.delenv(runner_env.EPHEMERAL, raising=False)
    marker = tmp_path / "pr-code-ran"
    git(trained_repo, "checkout", "-q", "-b", "feature")
    train = trained_repo / "src" / "train.py"
    train.write_text(f"open({str(marker)!r}, 'w').close()\n" + train.read_text())
    commit_all(trained_repo, "Train, and leave a marker")
    return trained_repo, marker


def _approved_fork(root: Path, fake_github) -> str:
    head = git(root, "rev-parse", "HEAD")
    fake_github.add_pull(12, head_sha=head, head_owner="forker", labels=("safe-to-train",))
    fake_github.collaborators["maint"] = "write"
    fake_github.comment_as(12, "maint", f"/mlci train {head}")
    return head


def _train(root: Path, fake_github, tmp_path: Path, head: str, *, ephemeral: bool, phase: str = "train"):
    """pr.yml's train job on the self-hosted runner: no token, the admit job's head SHA."""
    env = actions_env(fake_github, tmp_path / "runner", sha=head, fork=True, self_hosted=True, token=None)
    if not ephemeral:
        del env[runner_env.EPHEMERAL]  # a persistent self-hosted runner
    return invoke(root, "ci", "--phase", phase, "--admitted-sha", head, env=env), env


@pytest.mark.parametrize("phase", ["verify", "train"])
def test_an_approved_fork_pr_is_refused_on_a_runner_not_declared_ephemeral(marked_pr, fake_github, tmp_path, phase):
    root, marker = marked_pr
    head = _approved_fork(root, fake_github)
    result, env = _train(root, fake_github, tmp_path, head, ephemeral=False, phase=phase)
    assert result.exit_code == 3
    assert result.stderr.strip().splitlines()[-1] == f"mlci: error: {REFUSAL}"
    assert "Traceback" not in result.output
    assert not marker.exists(), "the fork's code ran"
    assert not (Path(env["RUNNER_TEMP"]) / "mlci" / "report").exists()


def test_the_same_fork_pr_runs_on_a_runner_declared_ephemeral(marked_pr, fake_github, tmp_path):
    root, marker = marked_pr
    head = _approved_fork(root, fake_github)
    result, _env = _train(root, fake_github, tmp_path, head, ephemeral=True)
    assert result.exit_code == 0, result.output
    assert marker.exists()


def test_an_unapproved_fork_pr_is_still_refused_by_the_approval_gate(marked_pr, fake_github, tmp_path):
    root, marker = marked_pr
    head = git(root, "rev-parse", "HEAD")
    fake_github.add_pull(12, head_sha=head, head_owner="forker")
    env = actions_env(fake_github, tmp_path / "admit", sha=head, fork=True)
    result = invoke(root, "ci", "--phase", "admit", "--runner-environment", "self-hosted", env=env)
    assert result.exit_code == 3 and "/mlci train" in result.stderr
    assert not marker.exists()


def test_a_same_repository_pr_runs_on_a_persistent_runner(marked_pr, fake_github, tmp_path):
    root, marker = marked_pr
    head = git(root, "rev-parse", "HEAD")
    env = actions_env(fake_github, tmp_path / "runner", sha=head, self_hosted=True)
    del env[runner_env.EPHEMERAL]
    result = invoke(root, "ci", env=env)
    assert result.exit_code == 0, result.output
    assert marker.exists()


def test_the_admit_job_judging_for_the_self_hosted_runner_still_admits(marked_pr, fake_github, tmp_path):
    """pr.yml's GitHub-hosted `admit` job cannot see the self-hosted runner's environment: the
    declaration is checked where the code runs, in the run phase on that runner."""
    root, marker = marked_pr
    head = _approved_fork(root, fake_github)
    env = actions_env(fake_github, tmp_path / "runner", sha=head, fork=True, labels=("safe-to-train",))
    result = invoke(root, "ci", "--phase", "admit", "--runner-environment", "self-hosted", env=env)
    assert result.exit_code == 0, result.output
    assert "admitted" in result.stderr and not marker.exists()


@pytest.mark.parametrize(
    ("value", "declared"),
    [("true", True), ("True", True), (" true\n", True), ("", False), ("false", False), ("1", False), ("yes", False)],
)
def test_only_true_declares_a_runner_ephemeral(value, declared):
    assert runner_env.declared_ephemeral({runner_env.EPHEMERAL: value}) is declared
    assert runner_env.declared_ephemeral({}) is False
