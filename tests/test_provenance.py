"""Run records with provenance (issue 25, finding 4): a record is trusted as a baseline or for
promotion only when the CI run that produced it named it, by id and digest, in the `mlci` check
it created on the record's commit (GitHub Actions' app), checked through the loopback GitHub.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys

import pytest

from mlci.integrations.github import checks, provenance
from mlci.integrations.github.client import GitHubClient, RetryPolicy
from mlci.model.record import Artifact, RunRecord
from tests.helpers import git, invoke
from tests.test_approval_e2e import (
    _approve,
    _ci_job,
    _clone,
    _job_env,
    _open_pr,
    team,  # noqa: F401 - the fixture, reused
)
from tests.test_promote import registry_repo  # noqa: F401 - the fixture, reused

MAIN = "1" * 40
PR_HEAD = "2" * 40


def _record(commit: str = MAIN, model: str = "a" * 64, **changes) -> RunRecord:
    record = RunRecord(
        commit=commit,
        branch="main",
        dirty=False,
        params={"params.yaml": {"train.n_estimators": 50}},
        metrics={"metrics.json": {"auc": 0.9}},
        artifacts={"model": Artifact("models/model.txt", model, 120)},
        created_at="2024-05-01T10:00:00+00:00",
    )
    return dataclasses.replace(record, **changes)


@pytest.fixture
def client(fake_github):
    with GitHubClient(fake_github.token, api_url=fake_github.url, retry=RetryPolicy(attempts=1)) as c:
        yield c


def _bind(client, fake_github, record: RunRecord, *, event: str = "push", branch: str | None = "main") -> str:
    """What a CI run does when it publishes `record`: its workflow run, then the mlci check naming it."""
    if event is not None:
        fake_github.add_workflow_run(event, record.commit, branch)
    done = checks.publish(
        client, fake_github.repo, record.commit, conclusion="success", title="t", summary="s", record=record
    )
    return str(done.url)


# --- the digest -------------------------------------------------------------------------------


def test_a_record_keeps_its_digest_through_the_note_line():
    record = _record()
    assert RunRecord.from_json(record.to_json()).digest() == record.digest()


@pytest.mark.parametrize(
    "change",
    [
        {"artifacts": {"model": Artifact("models/model.txt", "e" * 64, 120)}},
        {"gate": {"passed": True}},
        {"metrics": {"metrics.json": {"auc": 0.99}}},
        {"created_at": "2030-01-01T00:00:00+00:00"},
    ],
    ids=["model", "gate", "metrics", "created_at"],
)
def test_any_change_to_a_record_changes_its_digest(change):
    assert _record(**change).digest() != _record().digest()


# --- verify --------------------------------------------------------------------------------------


def test_a_record_named_by_its_runs_check_is_verified(client, fake_github):
    record = _record(commit=PR_HEAD)
    url = _bind(client, fake_github, record, event="pull_request", branch="feature")
    verdict = provenance.verify(client, fake_github.repo, record)
    assert (verdict.verified, verdict.check_url) == (True, url)


def test_a_record_no_check_names_is_not_verified(client, fake_github):
    _bind(client, fake_github, _record(commit=PR_HEAD), event="pull_request", branch="feature")
    forged = _record(commit=PR_HEAD, model="e" * 64, id="f0f0f0f0f0f0f0f0")  # a note pushed later
    verdict = provenance.verify(client, fake_github.repo, forged)
    assert not verdict.verified
    assert verdict.reason == "no `mlci` check run by GitHub Actions on that commit names it"


def test_a_record_changed_after_its_run_is_not_verified(client, fake_github):
    record = _record(commit=PR_HEAD)
    _bind(client, fake_github, record, event="pull_request", branch="feature")
    swapped = dataclasses.replace(record, artifacts={"model": Artifact("models/model.txt", "e" * 64, 120)})
    verdict = provenance.verify(client, fake_github.repo, swapped)  # same id, the attacker's model
    assert not verdict.verified and "the record was changed after the run" in verdict.reason


def test_a_check_made_by_another_app_is_not_evidence(client, fake_github):
    record = _record(commit=PR_HEAD)
    fake_github.as_app("record-forger")  # any GitHub App can create a check run, with any text
    _bind(client, fake_github, record, event=None)
    verdict = provenance.verify(client, fake_github.repo, record)
    assert not verdict.verified and "'record-forger', not GitHub Actions" in verdict.reason


def test_a_binding_in_the_summary_is_not_evidence(client, fake_github):
    """The summary carries PR-controlled report text: only output.text (mlci's alone) binds."""
    record = _record(commit=PR_HEAD)
    checks.publish(
        client, fake_github.repo, PR_HEAD, conclusion="success", title="t", summary=checks.binding_text(record)
    )
    assert not provenance.verify(client, fake_github.repo, record).verified


def test_the_check_is_found_among_many(client, fake_github):
    record = _record(commit=PR_HEAD)
    url = _bind(client, fake_github, record, event="pull_request", branch="feature")
    for _ in range(120):  # re-runs: more than one page of check runs on the commit
        checks.publish(client, fake_github.repo, PR_HEAD, conclusion="success", title="t", summary="s")
    assert provenance.verify(client, fake_github.repo, record).check_url == url


def test_a_token_that_may_not_read_checks_leaves_the_record_unverified_with_the_fix(client, fake_github):
    record = _record(commit=PR_HEAD)
    _bind(client, fake_github, record, event="pull_request", branch="feature")
    fake_github.deny("checks")
    verdict = provenance.verify(client, fake_github.repo, record)
    assert not verdict.verified and "grant `checks: read`" in verdict.reason


# --- a baseline: bound by a push to the default branch ------------------------------------------


def test_a_baseline_bound_by_a_push_to_main_is_verified(client, fake_github):
    record = _record()
    url = _bind(client, fake_github, record, event="push", branch="main")
    verdict = provenance.verify(client, fake_github.repo, record, require_default_branch=True)
    assert (verdict.verified, verdict.check_url) == (True, url)


def test_a_baseline_bound_by_a_pull_request_run_is_not_verified(client, fake_github):
    """A PR whose head is main's commit ran (PR workflow, PR context): not main's baseline run."""
    record = _record()
    _bind(client, fake_github, record, event="pull_request", branch="main")
    verdict = provenance.verify(client, fake_github.repo, record, require_default_branch=True)
    assert not verdict.verified
    assert "pull_request on main workflow run, not a push to main" in verdict.reason
    assert provenance.verify(client, fake_github.repo, record).verified  # as a PR record it is bound


def test_a_baseline_bound_by_a_push_to_another_branch_is_not_verified(client, fake_github):
    record = _record()
    _bind(client, fake_github, record, event="push", branch="release")
    verdict = provenance.verify(client, fake_github.repo, record, require_default_branch=True)
    assert not verdict.verified and "push on release" in verdict.reason


def test_a_token_that_may_not_read_workflow_runs_leaves_a_baseline_unverified_with_the_fix(client, fake_github):
    record = _record()
    _bind(client, fake_github, record)
    fake_github.deny("actions")
    verdict = provenance.verify(client, fake_github.repo, record, require_default_branch=True)
    assert not verdict.verified and "grant `actions: read`" in verdict.reason


# --- the attack from the issue: a note pushed for the approved head --------------------------------


def _push_forged(origin, auth: dict, tmp_path, commit: str, change) -> dict:
    """Someone who can push refs/notes/mlci (but runs no workflow) adds a newer record for
    `commit`: a copy of the one there with `change(record)` applied."""
    attacker = tmp_path / "attacker"
    if not attacker.exists():
        subprocess.run(["git", "clone", "-q", origin.url, str(attacker)], check=True, env=auth, capture_output=True)
    subprocess.run(
        ["git", "fetch", "-q", "origin", "+refs/notes/mlci:refs/notes/mlci"], cwd=attacker, check=True, env=auth
    )
    line = git(attacker, "notes", "--ref=mlci", "show", commit).splitlines()[-1]
    record = json.loads(line)
    record.update(id="a77acce7a77acce7", created_at="2099-01-01T00:00:00+00:00")
    change(record)
    note = tmp_path / "forged-note"
    note.write_text(line + "\n" + json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n")
    git(attacker, "notes", "--ref=mlci", "add", "-f", "-F", str(note), commit)
    subprocess.run(["git", "push", "-q", "origin", "refs/notes/mlci"], cwd=attacker, check=True, env=auth)
    return record


def _forge_note(origin, auth: dict, tmp_path, commit: str) -> dict:
    """A newer record for `commit` naming the attacker's model, whose bytes they put in the DVC remote."""
    evil = b"the attacker's model\n"
    md5, sha = hashlib.md5(evil).hexdigest(), hashlib.sha256(evil).hexdigest()
    stored = tmp_path / "dvc-storage" / "files" / "md5" / md5[:2] / md5[2:]
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(evil)

    def swap_model(record: dict) -> None:
        path = record["artifacts"]["model"]["path"]
        record["artifacts"]["model"] = {"path": path, "sha256": sha, "size": len(evil)}
        record["outs"][path] = md5

    return _push_forged(origin, auth, tmp_path, commit, swap_model)


def test_an_approval_does_not_promote_a_record_pushed_after_the_pr_run(team, fake_github, tmp_path):
    """Against the code before issue 25 this registered the attacker's model as approved by maint."""
    seed, origin, auth = team
    pr_head = _open_pr(seed, auth)
    _ci_job(
        _clone(origin, auth, tmp_path / "pr-job", pr_head), _job_env(fake_github, origin, tmp_path / "r1", sha=pr_head)
    )
    forged = _forge_note(origin, auth, tmp_path, pr_head)
    _approve(fake_github, pr_head)

    review_job = _clone(origin, auth, tmp_path / "review-job", pr_head)
    env = _job_env(fake_github, origin, tmp_path / "r2", event="pull_request_review", sha=pr_head)
    done = subprocess.run(
        [sys.executable, "-m", "mlci", "promote"], cwd=review_job, env=env, capture_output=True, text=True
    )
    assert done.returncode == 8, done.stdout + done.stderr
    assert f"run record {forged['id']} at {pr_head[:12]} is not the one a CI run published" in done.stderr
    assert "no `mlci` check run by GitHub Actions on that commit names it" in done.stderr
    assert "Traceback" not in done.stderr
    assert git(origin.bare, "tag", "--list") == ""  # nothing registered


def test_mlci_ci_on_the_approval_does_not_promote_a_record_pushed_after_the_pr_run(team, fake_github, tmp_path):
    seed, origin, auth = team
    pr_head = _open_pr(seed, auth)
    _ci_job(
        _clone(origin, auth, tmp_path / "pr-job", pr_head), _job_env(fake_github, origin, tmp_path / "r1", sha=pr_head)
    )
    forged = _forge_note(origin, auth, tmp_path, pr_head)
    _approve(fake_github, pr_head)

    review_job = _clone(origin, auth, tmp_path / "review-job", pr_head)
    env = _job_env(fake_github, origin, tmp_path / "r2", event="pull_request_review", sha=pr_head)
    done = subprocess.run([sys.executable, "-m", "mlci", "ci"], cwd=review_job, env=env, capture_output=True, text=True)
    assert done.returncode == 8, done.stdout + done.stderr
    assert f"run record {forged['id']} at {pr_head[:12]}" in done.stderr
    assert git(origin.bare, "tag", "--list") == ""


# --- baselines: a forged newer note for main -------------------------------------------------------


def _bind_main(fake_github, seed) -> dict:
    """What main's baseline job did: pushed its record and created the mlci check naming it."""
    main = git(seed, "rev-parse", "main")
    record = RunRecord.from_json(git(seed, "notes", "--ref=mlci", "show", main).splitlines()[-1])
    fake_github.add_workflow_run("push", main, "main")
    with GitHubClient(fake_github.token, api_url=fake_github.url) as client:
        checks.publish(client, fake_github.repo, main, conclusion="success", title="t", summary="s", record=record)
    return record.to_dict()


def _halve_metrics(record: dict) -> None:
    record["metrics"] = {f: {k: v / 2 for k, v in values.items()} for f, values in record["metrics"].items()}


def _pr_report(team, fake_github, tmp_path) -> dict:
    seed, origin, auth = team
    pr_head = _open_pr(seed, auth)
    _ci_job(
        _clone(origin, auth, tmp_path / "pr-job", pr_head), _job_env(fake_github, origin, tmp_path / "pr", sha=pr_head)
    )
    return json.loads((tmp_path / "pr" / "temp" / "mlci" / "report" / "report.json").read_text())


def _base_values(report: dict) -> dict:
    values = {(m["file"], m["name"]): m["base"] for m in report["comparison"]["metrics"]}
    assert values and None not in values.values(), "the report compared with no base record"
    return values


def _recorded(record: dict) -> dict:
    return {(f, k): v for f, values in record["metrics"].items() for k, v in values.items()}


def test_the_pr_report_compares_with_mains_verified_record_without_a_warning(team, fake_github, tmp_path):
    legit = _bind_main(fake_github, team[0])
    report = _pr_report(team, fake_github, tmp_path)
    assert report["comparison"]["base"]["provenance"] == "verified"
    assert _base_values(report).items() <= _recorded(legit).items()
    assert not [n for n in report["notes"] if "run record" in n]


def test_a_forged_newer_baseline_note_does_not_become_the_baseline(team, fake_github, tmp_path):
    """Against the code before issue 25 the PR was compared with the forged (newest) record."""
    seed, origin, auth = team
    legit = _bind_main(fake_github, seed)
    forged = _push_forged(origin, auth, tmp_path, git(seed, "rev-parse", "main"), _halve_metrics)
    report = _pr_report(team, fake_github, tmp_path)
    assert _base_values(report).items() <= _recorded(legit).items()
    assert report["comparison"]["base"]["provenance"] == "verified"
    [passed_over] = [n for n in report["notes"] if forged["id"] in n]
    assert "no push-to-main CI run published it" in passed_over and legit["id"] in passed_over


def test_with_no_verified_baseline_the_report_warns(team, fake_github, tmp_path):
    seed, origin, auth = team  # main's record was pushed by hand: no check binds it
    forged = _push_forged(origin, auth, tmp_path, git(seed, "rev-parse", "main"), _halve_metrics)
    report = _pr_report(team, fake_github, tmp_path)
    assert _base_values(report).items() <= _recorded(forged).items()  # used, but …
    assert report["comparison"]["base"]["provenance"] == "unverified"
    [warning] = [n for n in report["notes"] if forged["id"] in n]
    assert warning.startswith("⚠️ the baseline, run record") and "is unverified" in warning
    comment = fake_github.issue_comments(12)[-1]["body"]
    assert f"the baseline, run record {forged['id']}" in comment  # … said on the PR


# --- local `mlci promote`: no GitHub to ask ---------------------------------------------------------


def _fetched_only(root) -> None:
    """As if main's record had come from `origin` (a fetch), not from this clone's `mlci run`."""
    (root / ".git" / "mlci-written-records").unlink()


def test_locally_a_record_this_clone_did_not_write_is_refused_without_a_token(registry_repo):
    _fetched_only(registry_repo)
    result = invoke(registry_repo, "promote", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert result.exit_code == 8
    assert "it was not written by this clone" in result.stderr and "--unverified" in result.stderr
    assert git(registry_repo, "tag", "--list") == ""


def test_unverified_promotes_it_and_the_version_says_so(registry_repo):
    _fetched_only(registry_repo)
    result = invoke(registry_repo, "promote", "--unverified", "--json", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)["version"]["metadata"]
    assert meta["provenance"]["verified"] is False and meta["provenance"]["waived"] == "--unverified"
    assert any("promoted with --unverified" in w for w in meta["warnings"])


def test_locally_a_record_this_clone_wrote_is_promoted_as_such(registry_repo):
    result = invoke(registry_repo, "promote", "--json", env={"GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"]["metadata"]["provenance"]["written_here"] is True


# --- the split: the admit job verifies, the tokenless train job compares with what it verified ------


def _split_jobs(team, fake_github, tmp_path, *, trust_override: str | None = None) -> dict:
    """pr.yml's admit job (token, runs no PR code) and train job (no token), on clones of origin;
    the train job's clone already holds origin's notes (a public repository's anonymous fetch)."""
    from tests.plugins.fake_github import read_outputs

    seed, origin, auth = team
    pr_head = _open_pr(seed, auth)
    fake_github.add_pull(12, head_sha=pr_head)
    admit_root = _clone(origin, auth, tmp_path / "admit-job", pr_head)
    admit_env = _job_env(fake_github, origin, tmp_path / "admit", sha=pr_head)
    done = subprocess.run(
        [sys.executable, "-m", "mlci", "ci", "--phase", "admit", "--runner-environment", "self-hosted"],
        cwd=admit_root,
        env=admit_env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    trust = read_outputs(admit_env["GITHUB_OUTPUT"])["baseline-trust"]
    train_root = _clone(origin, auth, tmp_path / "train-job", pr_head)
    subprocess.run(
        ["git", "fetch", "-q", "origin", "+refs/notes/mlci:refs/notes/mlci"], cwd=train_root, check=True, env=auth
    )
    train_env = {
        k: v for k, v in _job_env(fake_github, origin, tmp_path / "train", sha=pr_head).items() if "TOKEN" not in k
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlci",
            "ci",
            "--phase",
            "train",
            "--admitted-sha",
            pr_head,
            "--baseline-trust",
            trust if trust_override is None else trust_override,
        ],
        cwd=train_root,
        env=train_env,
        capture_output=True,
        text=True,
    )
    return {"rc": done.returncode, "stderr": done.stderr, "trust": trust, "out": tmp_path / "train" / "temp"}


def test_the_split_train_job_compares_with_the_record_the_admit_job_verified(team, fake_github, tmp_path):
    seed, origin, auth = team
    legit = _bind_main(fake_github, seed)
    forged = _push_forged(origin, auth, tmp_path, git(seed, "rev-parse", "main"), _halve_metrics)
    job = _split_jobs(team, fake_github, tmp_path)
    assert job["rc"] == 0, job["stderr"]
    assert json.loads(job["trust"])["verified"] == {legit["id"]: RunRecord.from_dict(legit).digest()}
    report = json.loads((job["out"] / "mlci" / "report" / "report.json").read_text())
    assert _base_values(report).items() <= _recorded(legit).items()  # not the newer forged note
    assert report["comparison"]["base"]["provenance"] == "verified"
    assert any(forged["id"] in n for n in report["notes"])


@pytest.mark.parametrize("bad", ["[]", '{"base": "x", "verified": {}}', '{"verified": {"id": "short"}}', "{" * 10])
def test_a_baseline_trust_that_is_not_the_admit_jobs_output_is_refused(team, fake_github, tmp_path, bad):
    job = _split_jobs(team, fake_github, tmp_path, trust_override=bad)
    assert job["rc"] == 3 and "--baseline-trust must be the admit job's baseline-trust output" in job["stderr"]
    assert "Traceback" not in job["stderr"]
