"""`mlci ci` as GitHub Actions runs it: real repo, real pipeline, the fake GitHub on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import commit_all, git, invoke, with_origin
from tests.plugins.fake_github import actions_env, read_outputs


@pytest.fixture
def regressed_pr(_regressed_pr: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(_regressed_pr, root, symlinks=True)
    return root


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def run_ci(root: Path, env: dict, *args: str):
    return invoke(root, "ci", *args, env=env)


def test_clean_pr_gets_comment_check_summary_and_outputs(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    result = run_ci(clean_pr, env)
    assert result.exit_code == 0, result.output
    [comment] = fake_github.issue_comments(12)
    assert comment["body"].startswith("<!-- mlci:comment id=mlci -->") and "auc" in comment["body"]
    [check] = fake_github.check_runs
    assert (check["name"], check["conclusion"], check["head_sha"]) == ("mlci", "success", head(clean_pr))
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "auc" in summary and comment["body"].split("\n", 1)[1].strip() in summary
    outputs = read_outputs(env["GITHUB_OUTPUT"])
    assert outputs["verdict"] == "success"
    assert outputs["comment-url"] == comment["html_url"]
    report = Path(outputs["report-path"])
    # no origin to push plots to here: they are pointers to the artifact, the rest is the report
    from mlci.integrations.github.assets import without_local_images

    assert without_local_images(report.read_text(), report.parent).strip() in summary
    assert set(json.loads(outputs["metrics-json"])["metrics.json"]) >= {"auc", "accuracy"}


def test_second_run_updates_the_same_comment(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    env["GITHUB_API_URL"] = fake_github.ghes_url  # GitHub Enterprise Server serves the API under /api/v3
    assert run_ci(clean_pr, env).exit_code == 0
    assert run_ci(clean_pr, env).exit_code == 0
    assert len(fake_github.issue_comments(12)) == 1
    assert [r.method for r in fake_github.requests if "/comments" in r.path].count("POST") == 1
    assert all(r.ghes for r in fake_github.requests)


def test_regression_fails_the_gate_the_check_and_the_step(regressed_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(regressed_pr))
    result = run_ci(regressed_pr, env)
    assert result.exit_code == 1, result.output
    assert fake_github.check_runs[0]["conclusion"] == "failure"
    assert read_outputs(env["GITHUB_OUTPUT"])["verdict"] == "failure"
    assert "regress" in fake_github.issue_comments(12)[0]["body"].lower()


def test_fail_on_regression_false_reports_neutral_and_passes(regressed_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(regressed_pr))
    result = run_ci(regressed_pr, env, "--fail-on-regression", "false")
    assert result.exit_code == 0, result.output
    assert fake_github.check_runs[0]["conclusion"] == "neutral"


def test_without_checks_permission_a_commit_status_is_posted(clean_pr, fake_github, tmp_path):
    fake_github.deny("checks")
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    result = run_ci(clean_pr, env)
    assert result.exit_code == 0, result.output
    assert fake_github.check_runs == []
    [status] = fake_github.statuses
    assert (status["context"], status["state"], status["sha"]) == ("mlci", "success", head(clean_pr))
    assert "commit status instead of a check run" in result.stderr


def test_a_fork_prs_training_writes_a_bundle_and_never_calls_github(clean_pr, fake_github, tmp_path):
    """Forks train in a job without a token (phase train); their report goes out as a bundle."""
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr), fork=True, token=None)
    result = run_ci(clean_pr, env, "--phase", "train", "--admitted-sha", head(clean_pr))
    assert result.exit_code == 0, result.output
    outputs = read_outputs(env["GITHUB_OUTPUT"])
    assert Path(outputs["report-path"]).is_file() and (Path(outputs["bundle-path"]) / "manifest.json").is_file()
    assert fake_github.requests == []


def test_a_fork_pr_in_one_job_is_refused_before_anything_runs(clean_pr, fake_github, tmp_path):
    fake_github.read_only()
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr), fork=True)
    result = run_ci(clean_pr, env)
    assert result.exit_code == 3 and "in one job with the token" in result.stderr
    assert not (Path(env["RUNNER_TEMP"]) / "mlci").exists() and fake_github.requests == []


def test_fork_pr_on_a_self_hosted_runner_is_refused_without_the_label(clean_pr, fake_github, tmp_path):
    fake_github.add_pull(12, head_sha=head(clean_pr), head_owner="forker")
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr), fork=True, self_hosted=True)
    result = run_ci(clean_pr, env, "--phase", "admit")
    assert result.exit_code == 3
    assert "self-hosted" in result.stderr and "safe-to-train" in result.stderr
    assert not (Path(env["RUNNER_TEMP"]) / "mlci").exists()  # nothing ran


def test_fork_pr_on_a_self_hosted_runner_is_admitted_once_a_maintainer_approved_its_head(
    clean_pr, fake_github, tmp_path
):
    fake_github.add_pull(12, head_sha=head(clean_pr), head_owner="forker")
    fake_github.collaborators["maint"] = "write"
    fake_github.comment_as(12, "maint", f"Read it, fine.\n/mlci train {head(clean_pr)}")
    env = actions_env(
        fake_github, tmp_path / "runner", sha=head(clean_pr), fork=True, self_hosted=True, labels=("safe-to-train",)
    )
    result = run_ci(clean_pr, env, "--phase", "admit")
    assert result.exit_code == 0, result.output
    assert "admitted" in result.stderr and "maint" in result.stderr
    assert read_outputs(env["GITHUB_OUTPUT"])["head-sha"] == head(clean_pr)


def test_missing_token_fails_fast_with_the_fix(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr), token=None)
    result = run_ci(clean_pr, env)
    assert result.exit_code == 7 and "github-token" in result.stderr
    assert not (Path(env["RUNNER_TEMP"]) / "mlci").exists()


def test_push_to_main_records_and_pushes_the_baseline(trained_repo, fake_github, tmp_path):
    origin = with_origin(trained_repo)
    (trained_repo / "NOTES.md").write_text("merged docs\n")  # a new main commit; stages stay cached
    sha = commit_all(trained_repo, "Merge docs")
    env = actions_env(fake_github, tmp_path / "runner", event="push", sha=sha)
    result = run_ci(trained_repo, env)
    assert result.exit_code == 0, result.output
    note = git(origin, "notes", "--ref=mlci", "show", sha)
    record = json.loads(note.splitlines()[-1])
    assert record["commit"] == sha
    # its one API call: the mlci check that binds the pushed record to this run (issue 25)
    assert [(r.method, r.path) for r in fake_github.requests] == [("POST", "/repos/octo/models/check-runs")]
    assert f'"id": "{record["id"]}"' in fake_github.check_runs[0]["output"]["text"]


def test_promotion_on_a_main_push_pushes_its_tags_with_the_token_ci_was_given(
    trained_repo, fake_github, git_http_origin, tmp_path
):
    """`mlci ci` drops the token from its environment before any stage runs; the registry push
    after training must still authenticate, against an origin that refuses anonymous pushes."""
    from mlci.integrations.github.gitauth import auth_env

    git_http_origin.token = fake_github.token  # one token for the API (the baseline's check) and git, as on GitHub
    config = trained_repo / "mlci.yaml"
    config.write_text(config.read_text() + "registry:\n  promote_on: main\n")
    subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "add", "--local", "-d", "storage", str(tmp_path / "dvc-storage")],
        cwd=trained_repo,
        check=True,
        capture_output=True,
    )
    sha = commit_all(trained_repo, "Promote from main")
    git(trained_repo, "remote", "add", "origin", git_http_origin.url)
    auth = auth_env(git_http_origin.token, git_http_origin.server_url, {})
    subprocess.run(
        ["git", "push", "-q", "origin", "main"],
        cwd=trained_repo,
        check=True,
        env={**os.environ, **auth, "GIT_TERMINAL_PROMPT": "0"},
    )
    env = {
        **os.environ,
        **actions_env(fake_github, tmp_path / "runner", event="push", sha=sha, token=git_http_origin.token),
        "GITHUB_SERVER_URL": git_http_origin.server_url,
        "GIT_TERMINAL_PROMPT": "0",
    }
    out = subprocess.run(
        [sys.executable, "-m", "mlci", "ci", "--json"], cwd=trained_repo, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["action"] == "promote"
    assert git(git_http_origin.bare, "tag", "--list", "churn@*") == "churn@v0.0.1"
    assert git(git_http_origin.bare, "notes", "--ref=mlci", "show", sha)  # the baseline too, same token
    assert git_http_origin.token not in out.stdout + out.stderr


def test_push_to_another_branch_does_nothing(trained_repo, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", event="push", sha=head(trained_repo), ref="refs/heads/dev")
    result = run_ci(trained_repo, env)
    assert result.exit_code == 0 and "skipped" in result.output


def test_pull_request_target_is_refused(clean_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    env["GITHUB_EVENT_NAME"] = "pull_request_target"
    result = run_ci(clean_pr, env)
    assert result.exit_code == 3 and "pull_request_target" in result.stderr


def test_outside_actions_ci_says_what_to_run_instead(clean_pr):
    result = invoke(clean_pr, "ci")
    assert result.exit_code == 3 and "mlci run" in result.stderr


# --- mlci init --workflows ---------------------------------------------------------------------


def test_init_workflows_installs_the_templates_and_keeps_the_config(trained_repo):
    config = (trained_repo / "mlci.yaml").read_text()
    result = invoke(trained_repo, "init", "--workflows")
    assert result.exit_code == 0, result.output
    templates = Path(__file__).resolve().parent.parent / "templates" / "workflows"
    for template in templates.glob("*.yml"):
        assert (trained_repo / ".github" / "workflows" / template.name).read_text() == template.read_text()
    assert "wrote .github/workflows/pr.yml" in result.output
    assert (trained_repo / "mlci.yaml").read_text() == config
    again = invoke(trained_repo, "init", "--workflows")
    assert again.exit_code == 0 and "nothing to write" in again.output


def test_init_workflows_refuses_to_overwrite_an_edited_workflow(trained_repo):
    edited = trained_repo / ".github" / "workflows" / "pr.yml"
    edited.parent.mkdir(parents=True)
    edited.write_text("# mine\n")
    result = invoke(trained_repo, "init", "--workflows")
    assert result.exit_code == 3 and "--force" in result.stderr
    assert edited.read_text() == "# mine\n"
    assert not (trained_repo / ".github" / "workflows" / "baseline.yml").exists()


# --- pull_request_review: promotion ------------------------------------------------------------


def test_approved_review_promotes_the_approved_head(trained_repo, fake_github, tmp_path):
    git(trained_repo, "checkout", "-q", "-b", "feature")
    (trained_repo / "NOTES.md").write_text("a PR\n")
    head_sha = commit_all(trained_repo, "A PR")
    # its PR job: the run record, bound to that run by the mlci check (only such a record is promoted)
    assert run_ci(trained_repo, actions_env(fake_github, tmp_path / "pr-runner", sha=head_sha)).exit_code == 0
    fake_github.add_pull(12, head_sha=head_sha)
    fake_github.collaborators["maint"] = "write"
    fake_github.add_review(12, "maint", "APPROVED", head_sha)
    subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "add", "--local", "-d", "storage", str(tmp_path / "dvc-storage")],
        cwd=trained_repo,
        check=True,
        capture_output=True,
    )
    env = actions_env(fake_github, tmp_path / "runner", event="pull_request_review", sha=head_sha)
    result = run_ci(trained_repo, env, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["action"] == "promote"
    assert git(trained_repo, "tag", "--points-at", head_sha) != ""


def test_review_by_someone_without_write_access_promotes_nothing(trained_repo, fake_github, tmp_path):
    head_sha = head(trained_repo)
    fake_github.add_pull(12, head_sha=head_sha)
    fake_github.collaborators["drive-by"] = "read"
    fake_github.add_review(12, "drive-by", "APPROVED", head_sha)
    env = actions_env(fake_github, tmp_path / "runner", event="pull_request_review", sha=head_sha)
    result = run_ci(trained_repo, env)
    assert result.exit_code == 8 and "write access" in result.stderr
    assert git(trained_repo, "tag", "--points-at", head_sha) == ""


def test_a_non_approving_review_is_skipped(trained_repo, fake_github, tmp_path):
    env = actions_env(
        fake_github, tmp_path / "runner", event="pull_request_review", sha=head(trained_repo), review_state="commented"
    )
    result = run_ci(trained_repo, env)
    assert result.exit_code == 0 and "skipped" in result.output
    assert fake_github.requests == []


def test_baseline_records_are_fetched_from_origin_because_checkout_does_not(clean_pr, fake_github, tmp_path):
    origin = with_origin(clean_pr)
    git(clean_pr, "push", "-q", "origin", "refs/notes/mlci")
    git(clean_pr, "update-ref", "-d", "refs/notes/mlci")  # a fresh CI checkout has no notes
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    result = run_ci(clean_pr, env)
    assert result.exit_code == 0, result.output
    report = json.loads((Path(env["RUNNER_TEMP"]) / "mlci" / "report" / "report.json").read_text())
    assert report["comparison"]["base"]["source"] == "record"
    # with an origin to push to, the report's plots land on the assets branch, linked by commit
    assets_commit = git(origin, "rev-parse", "refs/heads/mlci-assets")
    body = fake_github.issue_comments(12)[0]["body"]
    assert f"https://github.com/{fake_github.repo}/blob/{assets_commit}/pr-12/" in body
    assert ".png?raw=true" in body
    assert f"/blob/{assets_commit}/pr-12/" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()


# --- event parsing -------------------------------------------------------------------------------


def _event(tmp_path, payload, **env):
    from mlci.integrations.github.event import from_env

    path = tmp_path / "event.json"
    path.write_text(json.dumps(payload))
    return from_env(
        {
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_REPOSITORY": "octo/models",
            "GITHUB_SHA": "b" * 40,
            "GITHUB_EVENT_PATH": str(path),
            **env,
        }
    )


def test_event_knows_the_pr_its_head_and_whether_it_comes_from_a_fork(tmp_path):
    pr = {
        "number": 7,
        "labels": [{"name": "safe-to-train"}],
        "head": {"sha": "a" * 40, "ref": "f", "repo": {"full_name": "forker/models"}},
    }
    event = _event(tmp_path, {"pull_request": pr}, RUNNER_ENVIRONMENT="self-hosted")
    assert (event.pr, event.check_sha, event.is_fork, event.self_hosted) == (7, "a" * 40, True, True)
    assert event.labels == ("safe-to-train",)
    same = _event(tmp_path, {"pull_request": {**pr, "head": {**pr["head"], "repo": {"full_name": "octo/models"}}}})
    assert not same.is_fork


def test_a_pr_from_a_deleted_fork_counts_as_a_fork(tmp_path):
    event = _event(tmp_path, {"pull_request": {"number": 7, "head": {"sha": "a" * 40, "repo": None}}})
    assert event.is_fork


def test_push_to_the_default_branch_is_recognised(tmp_path):
    payload = {"repository": {"default_branch": "trunk"}}
    assert _event(tmp_path, payload, GITHUB_EVENT_NAME="push", GITHUB_REF="refs/heads/trunk").is_default_branch_push
    assert not _event(tmp_path, payload, GITHUB_EVENT_NAME="push", GITHUB_REF="refs/heads/main").is_default_branch_push


def test_outputs_use_a_heredoc_for_multi_line_values(tmp_path):
    from mlci.integrations.github.outputs import write_outputs

    out = tmp_path / "out"
    write_outputs(out, {"verdict": "success", "report": "line 1\nline 2"})
    assert read_outputs(out) == {"verdict": "success", "report": "line 1\nline 2"}
    assert "report<<mlci_" in out.read_text()


def test_cml_publisher_hands_the_report_to_cml_comment_create(clean_pr, fake_github, tmp_path):
    """CML is not installable here: a stand-in `cml` on PATH records how mlci calls it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "cml-calls"
    cml = bin_dir / "cml"
    cml.write_text(
        f'#!/bin/sh\necho "$@" > {calls}\ncp "$5" {calls}.md\n'
        f'[ -n "$REPO_TOKEN" ] && echo token-given >> {calls}\n'
        'echo "https://github.com/octo/models/pull/12#issuecomment-1"\n'
    )
    cml.chmod(0o755)
    env = actions_env(fake_github, tmp_path / "runner", sha=head(clean_pr))
    env["PATH"] = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    result = run_ci(clean_pr, env, "--publisher", "cml")
    assert result.exit_code == 0, result.output
    args, given = calls.read_text().splitlines()
    assert args.startswith("comment create --watermark-title=mlci:mlci --target=pr/12 ") and given == "token-given"
    assert "auc" in Path(f"{calls}.md").read_text()
    assert read_outputs(env["GITHUB_OUTPUT"])["comment-url"] == "https://github.com/octo/models/pull/12#issuecomment-1"
    assert fake_github.issue_comments(12) == [] and len(fake_github.check_runs) == 1


def test_the_pr_run_record_keeps_its_gate_verdict(regressed_pr, fake_github, tmp_path):
    from mlci.store import baseline, gitrepo

    env = actions_env(fake_github, tmp_path / "runner", sha=head(regressed_pr))
    assert run_ci(regressed_pr, env).exit_code == 1
    record = baseline.latest(gitrepo.open_repo(regressed_pr), head(regressed_pr))
    assert record.pr == 12
    assert record.gate is not None and record.gate["passed"] is False


def test_approval_of_a_pr_that_fails_its_gate_promotes_nothing(regressed_pr, fake_github, tmp_path):
    head_sha = head(regressed_pr)
    fake_github.add_pull(12, head_sha=head_sha)
    fake_github.collaborators["maint"] = "write"
    fake_github.add_review(12, "maint", "APPROVED", head_sha)
    env = actions_env(fake_github, tmp_path / "runner", event="pull_request_review", sha=head_sha)
    result = run_ci(regressed_pr, env)
    assert result.exit_code == 8, result.output
    assert "failed its quality gate" in result.stderr
    assert git(regressed_pr, "tag", "--points-at", head_sha) == ""
