"""What a PR run leaves for the workflow that later promotes it: the head's record on origin
(and only that), the model's bytes in the DVC remote, the record in the report artifact, and
a report that says when merging would change more than the head that was evaluated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import commit_all, git, invoke
from tests.plugins.fake_github import actions_env


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def report_notes(env: dict) -> list[str]:
    report = json.loads((Path(env["RUNNER_TEMP"]) / "mlci" / "report" / "report.json").read_text())
    return report["notes"]


def test_the_report_says_when_the_merge_result_differs_from_the_evaluated_head(clean_pr, fake_github, tmp_path):
    git(clean_pr, "checkout", "-q", "main")
    (clean_pr / "CHANGELOG.md").write_text("main moved on\n")
    main_sha = commit_all(clean_pr, "Main moves on")
    git(clean_pr, "checkout", "-q", "feature")
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    result = invoke(clean_pr, "ci", env=env)
    assert result.exit_code == 0, result.output
    [note] = [n for n in report_notes(env) if "merge" in n]
    assert f"evaluates the PR head {head(clean_pr)[:12]}, not its merge into main ({main_sha[:12]})" in note
    assert "CHANGELOG.md" in note
    assert "CHANGELOG.md" in fake_github.issue_comments(12)[0]["body"]


def test_the_report_says_when_the_head_conflicts_with_its_base(clean_pr, fake_github, tmp_path):
    git(clean_pr, "checkout", "-q", "main")
    (clean_pr / "NOTES.md").write_text("main wrote these notes\n")
    commit_all(clean_pr, "Main notes")
    git(clean_pr, "checkout", "-q", "feature")
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    assert invoke(clean_pr, "ci", env=env).exit_code == 0
    [note] = [n for n in report_notes(env) if "merge" in n]
    assert "conflicts in NOTES.md" in note


def test_an_up_to_date_head_gets_no_merge_note(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    assert invoke(clean_pr, "ci", env=env).exit_code == 0
    assert [n for n in report_notes(env) if "merge" in n] == []


def test_a_fork_pr_leaves_its_head_record_in_the_report_artifact(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr), fork=True, token=None)
    assert invoke(clean_pr, "ci", "--phase", "train", "--admitted-sha", head(clean_pr), env=env).exit_code == 0
    record = json.loads((Path(env["RUNNER_TEMP"]) / "mlci" / "report" / "record.json").read_text())
    assert (record["commit"], record["pr"]) == (head(clean_pr), 12)
    assert record["artifacts"]["model"]["sha256"]


def _served(clean_pr: Path, origin, fake_github) -> dict[str, str]:
    """Push main and the PR branch to the loopback origin that, like GitHub, wants the token."""
    from mlci.integrations.github.gitauth import auth_env

    origin.token = fake_github.token  # one token for the API and the git origin, as on GitHub
    git(clean_pr, "remote", "add", "origin", origin.url)
    auth = {**os.environ, **auth_env(fake_github.token, origin.server_url, {}), "GIT_TERMINAL_PROMPT": "0"}
    subprocess.run(
        ["git", "push", "-q", "origin", "main", "feature", "refs/notes/mlci"], cwd=clean_pr, check=True, env=auth
    )
    return auth


def _ci(root: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlci", "ci", "--json"], cwd=root, env=env, capture_output=True, text=True
    )


def test_a_same_repo_pr_pushes_its_head_record_with_the_token(clean_pr, fake_github, git_http_origin, tmp_path):
    _served(clean_pr, git_http_origin, fake_github)
    sha = head(clean_pr)
    env = {
        **os.environ,
        **actions_env(fake_github, tmp_path / "runner", sha=sha),
        "GITHUB_SERVER_URL": git_http_origin.server_url,
        "GIT_TERMINAL_PROMPT": "0",
    }
    out = _ci(clean_pr, env)
    assert out.returncode == 0, out.stderr
    [line] = git(git_http_origin.bare, "notes", "--ref=mlci", "show", sha).splitlines()
    record = json.loads(line)
    assert (record["commit"], record["pr"]) == (sha, 12)
    assert fake_github.token not in out.stdout + out.stderr


def test_the_pr_publish_step_pushes_no_other_note_the_pr_code_could_have_written(
    clean_pr, fake_github, git_http_origin, tmp_path
):
    _served(clean_pr, git_http_origin, fake_github)
    main_sha = git(clean_pr, "rev-parse", "main")
    before = git(git_http_origin.bare, "notes", "--ref=mlci", "show", main_sha)
    forged = '{"forged": "a better baseline for main"}'
    git(clean_pr, "notes", "--ref=mlci", "append", "-m", forged, main_sha)  # as the PR's code could, mid-run
    env = {
        **os.environ,
        **actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr)),
        "GITHUB_SERVER_URL": git_http_origin.server_url,
        "GIT_TERMINAL_PROMPT": "0",
    }
    out = _ci(clean_pr, env)
    assert out.returncode == 0, out.stderr
    assert git(git_http_origin.bare, "notes", "--ref=mlci", "show", main_sha) == before
    assert git(git_http_origin.bare, "notes", "--ref=mlci", "show", head(clean_pr))  # the head's record did go


def test_the_pr_run_stores_the_model_bytes_in_the_dvc_remote(clean_pr, fake_github, tmp_path):
    storage = tmp_path / "dvc-storage"
    subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "add", "--local", "-d", "storage", str(storage)],
        cwd=clean_pr,
        check=True,
        capture_output=True,
    )
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    result = invoke(clean_pr, "ci", env=env)
    assert result.exit_code == 0, result.output
    record = json.loads((Path(env["RUNNER_TEMP"]) / "mlci" / "report" / "record.json").read_text())
    md5 = record["outs"]["models/model.txt"]
    stored = storage / "files" / "md5" / md5[:2] / md5[2:]
    import hashlib

    assert hashlib.sha256(stored.read_bytes()).hexdigest() == record["artifacts"]["model"]["sha256"]


def test_without_a_dvc_remote_the_pr_run_says_the_model_stays_on_the_runner(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    result = invoke(clean_pr, "ci", env=env)
    assert result.exit_code == 0, result.output
    assert "was not stored in the DVC remote" in result.stderr and "dvc remote add" in result.stderr
