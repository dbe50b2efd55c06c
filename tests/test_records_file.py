"""A private repository's run records reach the tokenless training job as a file, read as data.

The split's training job holds no credential, so it can fetch refs/notes/mlci only from a public
repository. The loopback origin (tests/plugins/git_http.py) answers nothing without the token,
as a private GitHub repository does: there the training job used to compare with nothing. Now
the admit job (read token, runs no PR code) exports the records it fetched (`mlci.store.recordfile`)
as the `mlci-records` artifact, and the training job imports them before it chooses its base.

The file crosses a job in which the PR's code ran (its requirements' install), so it is
hostile input: each refusal below is one note, and only valid records for commits the
checkout has land in the notes, written with git's hooks off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import commit_all, git, set_param
from tests.plugins.actions_runner import run_action, run_job
from tests.plugins.fake_github import actions_env

ROOT = Path(__file__).resolve().parent.parent
PR_TEMPLATE = ROOT / "templates" / "workflows" / "pr.yml"


# --- through the templates' jobs, against an origin that refuses anonymous fetches ---------------


@pytest.fixture
def private(trained_repo: Path, fake_github, git_http_origin, tmp_path: Path):
    """main (its run record pushed) and a PR branch on an origin that wants the token for everything."""
    from mlci.integrations.github.gitauth import auth_env

    git_http_origin.token = fake_github.token
    auth = {**os.environ, **auth_env(fake_github.token, git_http_origin.server_url, {}), "GIT_TERMINAL_PROMPT": "0"}
    git(trained_repo, "remote", "add", "origin", git_http_origin.url)
    main = git(trained_repo, "rev-parse", "main")
    git(trained_repo, "checkout", "-q", "-b", "feature")
    set_param(trained_repo, "train.n_estimators", 80)
    head = commit_all(trained_repo, "More trees")
    subprocess.run(
        ["git", "push", "-q", "origin", "main", "feature", "refs/notes/mlci"], cwd=trained_repo, check=True, env=auth
    )
    return git_http_origin, auth, main, head


def _clone(origin, auth: dict, dest: Path, ref: str) -> Path:
    """actions/checkout with fetch-depth 0 and persist-credentials false: no notes, no token."""
    subprocess.run(["git", "clone", "-q", origin.url, str(dest)], check=True, env=auth, capture_output=True)
    git(dest, "checkout", "-q", "--detach", ref)
    return dest


def _base(bundle: Path) -> dict:
    return json.loads((bundle / "report.json").read_text())["comparison"]["base"]


def test_the_training_job_compares_with_mains_record_from_the_admit_jobs_export(private, fake_github, tmp_path):
    origin, auth, main, head = private
    env = {"GITHUB_SERVER_URL": origin.server_url, "GIT_TERMINAL_PROMPT": "0"}
    artifacts: dict[str, Path] = {}
    admit_ws = _clone(origin, auth, tmp_path / "admit-job", head)
    admit = run_job(
        PR_TEMPLATE,
        "admit",
        admit_ws,
        {**actions_env(fake_github, tmp_path / "admit", sha=head), **env},
        artifacts=artifacts,
    )
    assert admit.rc == 0, admit.mlci.log
    [exported] = artifacts["mlci-records"].iterdir()
    assert exported.name == "records.jsonl"
    assert main in {json.loads(line)["commit"] for line in exported.read_text().splitlines()}

    train_ws = _clone(origin, auth, tmp_path / "train-job", head)
    refused = len(origin.refused)
    train = run_job(
        PR_TEMPLATE,
        "train",
        train_ws,
        {**actions_env(fake_github, tmp_path / "train", sha=head, self_hosted=True), **env},
        needs={"admit": {"result": "success", "outputs": admit.outputs}},
        artifacts=artifacts,
    )
    assert train.rc == 0, train.mlci.log
    assert len(origin.refused) == refused, "the training job asked the origin nothing"
    base = _base(artifacts["mlci-bundle"])
    assert (base["commit"], base["source"]) == (main, "record")


def test_without_the_file_a_private_origin_leaves_the_training_job_nothing_to_compare_with(
    private, fake_github, tmp_path
):
    """What the export fixes (and the public-repository path it keeps: an anonymous fetch)."""
    origin, auth, main, head = private
    train_ws = _clone(origin, auth, tmp_path / "train-job", head)
    env = {
        **actions_env(fake_github, tmp_path / "train", sha=head, token=None),
        "GITHUB_SERVER_URL": origin.server_url,
        "GIT_TERMINAL_PROMPT": "0",
    }
    run = run_action(train_ws, env, {"phase": "train", "admitted-sha": head})
    assert run.rc == 0, run.log
    assert "could not fetch baseline records from origin" in run.log
    assert origin.refused, "the anonymous fetch was tried"
    base = _base(Path(run.outputs["bundle-path"]))
    assert base["source"] != "record"


# --- the file as hostile input ------------------------------------------------------------------


@pytest.fixture
def exported(trained_repo: Path, tmp_path: Path):
    """The trained example's records exported for its HEAD, then its notes removed: a fresh checkout."""
    from mlci.store import recordfile

    head = git(trained_repo, "rev-parse", "HEAD")
    path = tmp_path / "records.jsonl"
    result = recordfile.export(trained_repo, head, head, path)
    assert result.records >= 1 and result.left_out == 0
    git(trained_repo, "update-ref", "-d", "refs/notes/mlci")
    (trained_repo / ".git" / "mlci-written-records").unlink()  # a fresh clone: it wrote no record
    return trained_repo, path, head


def _load(root: Path, path: Path):
    from mlci.store import recordfile

    notes: list[str] = []
    return recordfile.load(root, path, notes.append), notes


def _at(root: Path, commit: str) -> list[str]:
    done = subprocess.run(
        ["git", "notes", "--ref=mlci", "show", commit], cwd=root, capture_output=True, text=True, check=False
    )
    return [json.loads(line)["id"] for line in done.stdout.splitlines()]


def test_a_valid_file_lands_as_notes_that_this_clone_did_not_write(exported):
    from mlci.store import baseline, gitrepo

    root, path, head = exported
    imported, notes = _load(root, path)
    assert notes == [] and imported.records >= 1
    repo = gitrepo.open_repo(root)
    [record] = [
        r for r in baseline.records_for(repo, head) if r.id == json.loads(path.read_text().splitlines()[0])["id"]
    ]
    assert not baseline.written_here(repo, record)  # fetched evidence, not this clone's own run


def test_an_oversize_file_is_refused_in_one_line_before_it_is_read(exported):
    from mlci.store import recordfile

    root, path, head = exported
    with open(path, "r+b") as handle:
        handle.truncate(recordfile.LIMIT_BYTES + 1)  # sparse: nothing of it is read
    imported, notes = _load(root, path)
    [line] = notes
    assert "is refused" in line and "over the" in line
    assert imported.records == 0 and _at(root, head) == []


def test_a_symlinked_file_is_refused(exported, tmp_path):
    root, path, head = exported
    link = tmp_path / "link.jsonl"
    link.symlink_to(path)
    imported, notes = _load(root, link)
    [line] = notes
    assert "is refused" in line and imported.records == 0


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("[" + "9" * 5000 + "]", "not UTF-8 JSON"),  # over Python's digit limit
        ("[1, 2, 3]", "a JSON list, not an object"),
        ('"just a string"', "a JSON str, not an object"),
        ("{not json", "not UTF-8 JSON"),
    ],
)
def test_a_hostile_line_is_skipped_in_one_line_and_the_valid_ones_still_land(exported, line, why):
    root, path, head = exported
    valid = path.read_text().splitlines()
    path.write_text("\n".join([line, *valid]) + "\n")
    imported, notes = _load(root, path)
    [note] = notes
    assert "skipped line 1:" in note and why in note
    assert imported.records == len(valid) and len(_at(root, head)) >= 1


def test_a_huge_integer_inside_a_valid_record_is_skipped(exported):
    root, path, head = exported
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["id"] = "0123456789abcdef"
    record["metrics"] = {"metrics.json": {"auc": int("9" * 400)}}
    path.write_text("\n".join([json.dumps(record), *lines]) + "\n")
    imported, notes = _load(root, path)
    [note] = notes
    assert "skipped line 1:" in note and "out of range" in note
    assert "0123456789abcdef" not in _at(root, head)


def test_a_record_for_a_commit_the_checkout_lacks_is_skipped(exported):
    root, path, head = exported
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["commit"], record["id"] = "f" * 40, "fedcba9876543210"
    path.write_text("\n".join([json.dumps(record), *lines]) + "\n")
    imported, notes = _load(root, path)
    [note] = notes
    assert "fedcba9876543210" in note and "a commit this checkout does not have" in note
    assert imported.records == len(lines)
    listed = subprocess.run(["git", "notes", "--ref=mlci", "list"], cwd=root, capture_output=True, text=True).stdout
    assert "f" * 40 not in listed


def test_importing_runs_no_git_hook_the_checkout_holds(exported, tmp_path):
    """The PR's code could plant `.git/hooks/reference-transaction`: a plain notes write runs it."""
    from mlci.model.record import RunRecord
    from mlci.store import baseline, gitrepo

    root, path, head = exported
    marker = tmp_path / "hook-ran"
    hook = root / ".git" / "hooks" / "reference-transaction"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\necho ran >> '{marker}'\n")
    hook.chmod(0o755)
    _imported, notes = _load(root, path)
    assert notes == [] and _at(root, head)
    assert not marker.exists()
    # The control: the same hook fires for a plain note write in this checkout.
    baseline.save(gitrepo.open_repo(root), RunRecord.from_json(path.read_text().splitlines()[0]))
    assert marker.exists()
    shutil.rmtree(root / ".git" / "hooks")
