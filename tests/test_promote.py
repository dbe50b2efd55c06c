"""`mlci promote`: who may promote what, and what is stored with the version (GTO backend)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from mlci.errors import RegistryError
from mlci.integrations.registry.gto_tags import GitTagsBackend
from mlci.store import baseline, gitrepo
from mlci.workflows import run
from mlci.workflows.promote import promote
from tests.helpers import commit_all, git, invoke, with_origin


def with_dvc_remote(root: Path) -> Path:
    """A local-directory DVC remote next to the repo (kept out of git via config.local)."""
    store = root.parent / "dvc-store"
    store.mkdir(exist_ok=True)
    from mlci.store.pipeline import run_dvc

    run_dvc(root, "remote", "add", "--local", "-d", "store", str(store))
    return store


@pytest.fixture
def registry_repo(trained_repo: Path) -> Path:
    with_dvc_remote(trained_repo)
    with_origin(trained_repo)
    return trained_repo


def pr_branch(root: Path, name: str = "feature") -> str:
    """A PR commit (not on main) with a run record of its own."""
    git(root, "checkout", "-q", "-b", name)
    (root / "NOTES.md").write_text(f"{name}\n")
    commit = commit_all(root, f"work on {name}")
    run.run(root)
    return commit


def tags(root: Path) -> list[str]:
    return sorted(git(root, "tag", "--list").split())


def remote_tags(root: Path) -> list[str]:
    out = git(root, "ls-remote", "--tags", "origin")
    return sorted({line.split("refs/tags/")[1].removesuffix("^{}") for line in out.splitlines()})


def test_main_commit_is_promoted_with_its_evidence(registry_repo: Path):
    result = promote(registry_repo, stage="staging")
    record = baseline.latest(gitrepo.open_repo(registry_repo), git(registry_repo, "rev-parse", "HEAD"))
    v = result.version
    assert (v.name, v.version, v.stages, result.created) == ("churn", "v0.0.1", ("staging",), True)
    assert v.sha256 == record.model.sha256 and v.size == record.model.size
    meta = v.metadata
    assert meta["commit"] == record.commit and meta["record"] == record.id
    assert meta["metrics"] == record.metrics and meta["params"] == record.params and meta["deps"] == record.deps
    assert meta["approval"] == {"kind": "default-branch", "branch": "main"}
    assert remote_tags(registry_repo) == ["churn#staging#1", "churn@v0.0.1"]


def test_pr_commit_without_approval_is_refused(registry_repo: Path):
    pr_branch(registry_repo)
    result = invoke(registry_repo, "promote")
    assert result.exit_code == 8
    assert "not on the default branch and has no approval" in result.stderr
    assert tags(registry_repo) == []


def test_force_promotes_locally_and_records_the_warning(registry_repo: Path):
    pr_branch(registry_repo)
    result = invoke(registry_repo, "promote", "--force", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["version"]["metadata"]["approval"]["kind"] == "forced"
    assert any("--force" in w for w in data["version"]["metadata"]["warnings"])
    assert "--force" in result.stderr


def _record_gate(root: Path, passed: bool) -> None:
    repo = gitrepo.open_repo(root)
    latest = baseline.latest(repo, gitrepo.head_commit(repo))
    baseline.save(
        repo,
        dataclasses.replace(
            latest, id="gated" + latest.id[:11], gate={"passed": passed}, created_at="2999-01-01T00:00:00+00:00"
        ),
    )


def test_failed_gate_is_refused(registry_repo: Path):
    _record_gate(registry_repo, passed=False)
    with pytest.raises(RegistryError, match="failed its quality gate"):
        promote(registry_repo)
    assert tags(registry_repo) == []


def test_allow_regression_promotes_a_failed_gate_and_records_it(registry_repo: Path):
    _record_gate(registry_repo, passed=False)
    v = promote(registry_repo, allow_regression=True).version
    assert v.metadata["allow_regression"] is True and v.metadata["gate"] == {"passed": False}


def test_repromoting_the_same_digest_returns_the_existing_version(registry_repo: Path):
    first = promote(registry_repo)
    again = promote(registry_repo, stage="prod")
    assert (again.created, again.version.version, again.version.stages) == (False, first.version.version, ("prod",))
    assert remote_tags(registry_repo) == ["churn#prod#1", "churn@v0.0.1"]


def test_an_existing_version_number_is_refused(registry_repo: Path):
    # someone already tagged v0.0.1 (on another commit) by hand with plain git
    git(registry_repo, "tag", "-a", "churn@v0.0.1", "-m", "Registering artifact churn version v0.0.1", "HEAD~1")
    result = invoke(registry_repo, "promote", "--version", "v0.0.1")
    assert result.exit_code == 8 and "churn@v0.0.1 already exists" in result.stderr
    assert tags(registry_repo) == ["churn@v0.0.1"]
    assert invoke(registry_repo, "promote", "--bump", "minor").exit_code == 0
    assert tags(registry_repo) == ["churn@v0.0.1", "churn@v0.1.0"]


# --- approval through the GitHub API (fake GitHub on loopback) ---------------------------


def _github_env(fake_github) -> dict[str, str]:
    return {"GITHUB_TOKEN": fake_github.token, "GITHUB_API_URL": fake_github.url, "GITHUB_REPOSITORY": fake_github.repo}


def published_by_pr_run(fake_github, root: Path, head: str) -> None:
    """What the PR's CI run did with its record: the mlci check on the head names it (issue 25)."""
    from mlci.integrations.github import checks
    from mlci.integrations.github.client import GitHubClient

    record = baseline.latest(gitrepo.open_repo(root), head, clean_only=True)
    fake_github.add_workflow_run("pull_request", head, "feature")
    with GitHubClient(fake_github.token, api_url=fake_github.url) as client:
        checks.publish(client, fake_github.repo, head, conclusion="success", title="t", summary="s", record=record)


def test_pr_approved_at_its_head_is_promoted(registry_repo: Path, fake_github):
    head = pr_branch(registry_repo)
    published_by_pr_run(fake_github, registry_repo, head)
    fake_github.add_pull(7, head_sha=head)
    fake_github.collaborators["alice"] = "write"
    review = fake_github.add_review(7, "alice", "APPROVED", head)
    result = invoke(registry_repo, "promote", "--pr", "7", "--stage", "staging", "--json", env=_github_env(fake_github))
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)["version"]["metadata"]
    assert meta["approval"] == {
        "kind": "review",
        "reviewer": "alice",
        "commit": head,  # issue 14: and when, where
        "approved_at": review["submitted_at"],
        "review_url": review["html_url"],
    }
    assert fake_github.token not in result.output


def test_pr_approved_on_an_older_sha_is_refused(registry_repo: Path, fake_github):
    old = pr_branch(registry_repo)
    (registry_repo / "NOTES.md").write_text("more\n")
    head = commit_all(registry_repo, "push after the review")
    run.run(registry_repo)
    fake_github.add_pull(8, head_sha=head)
    fake_github.collaborators["alice"] = "write"
    fake_github.add_review(8, "alice", "APPROVED", old)
    result = invoke(registry_repo, "promote", "--pr", "8", env=_github_env(fake_github))
    assert result.exit_code == 8
    assert "re-approve the current head" in result.stderr
    assert tags(registry_repo) == []


def test_pr_without_a_writer_approval_is_refused(registry_repo: Path, fake_github):
    head = pr_branch(registry_repo)
    fake_github.add_pull(9, head_sha=head)
    fake_github.add_review(9, "mallory", "APPROVED", head)  # no write access
    result = invoke(registry_repo, "promote", "--pr", "9", env=_github_env(fake_github))
    assert result.exit_code == 8 and "no write access" in result.stderr
    assert tags(registry_repo) == []


def test_an_approval_for_another_commit_than_the_checkout_is_refused(registry_repo: Path, fake_github):
    pr_branch(registry_repo)
    other = "b" * 40
    fake_github.add_pull(10, head_sha=other)
    fake_github.collaborators["alice"] = "write"
    fake_github.add_review(10, "alice", "APPROVED", other)
    result = invoke(registry_repo, "promote", "--pr", "10", env=_github_env(fake_github))
    assert result.exit_code == 8 and "check out the PR head" in result.stderr


def test_promote_on_main_only_refuses_an_approved_pr(registry_repo: Path, fake_github):
    head = pr_branch(registry_repo)
    with (registry_repo / "mlci.yaml").open("a") as handle:
        handle.write("registry:\n  promote_on: main\n")
    fake_github.add_pull(11, head_sha=head)
    fake_github.collaborators["alice"] = "write"
    fake_github.add_review(11, "alice", "APPROVED", head)
    result = invoke(registry_repo, "promote", "--pr", "11", env=_github_env(fake_github))
    assert result.exit_code == 8 and "promote_on is 'main'" in result.stderr


def test_no_run_record_is_a_clear_error(registry_repo: Path):
    (registry_repo / "NOTES.md").write_text("x\n")
    commit_all(registry_repo, "unrun commit")
    result = invoke(registry_repo, "promote")
    assert result.exit_code == 8 and "no run record" in result.stderr and "mlci run" in result.stderr


def test_backend_reads_back_what_promote_wrote(registry_repo: Path):
    promote(registry_repo, stage="prod")
    versions = GitTagsBackend(registry_repo).versions("churn")
    assert [(v.version, v.stages) for v in versions] == [("v0.0.1", ("prod",))]


def test_pr_with_no_review_is_refused(registry_repo: Path, fake_github):
    head = pr_branch(registry_repo)
    fake_github.add_pull(12, head_sha=head)
    result = invoke(registry_repo, "promote", "--pr", "12", env=_github_env(fake_github))
    assert result.exit_code == 8 and "has no approval" in result.stderr
    assert tags(registry_repo) == []


def test_in_actions_the_review_events_pr_is_checked(registry_repo: Path, fake_github, tmp_path: Path):
    head = pr_branch(registry_repo)
    published_by_pr_run(fake_github, registry_repo, head)
    fake_github.add_pull(13, head_sha=head)
    fake_github.collaborators["alice"] = "maintain"
    fake_github.add_review(13, "alice", "APPROVED", head)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "action": "submitted",
                "review": {"state": "approved"},
                "pull_request": {"number": 13, "head": {"sha": head, "ref": "feature"}},
            }
        )
    )
    env = {
        **_github_env(fake_github),
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request_review",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_SHA": head,
    }
    result = invoke(registry_repo, "promote", "--stage", "staging", "--json", env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"]["metadata"]["approval"]["reviewer"] == "alice"
    assert remote_tags(registry_repo) == ["churn#staging#1", "churn@v0.0.1"]
