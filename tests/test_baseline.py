"""Run records live in git notes: stored per commit, pushed and fetched, merged without loss."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlci.errors import GitError
from mlci.model.record import RunRecord
from mlci.store import baseline, gitrepo
from tests.helpers import commit_all, git


def record(commit: str, auc: float, dirty: bool = False) -> RunRecord:
    return RunRecord(commit=commit, branch="main", dirty=dirty, params={}, metrics={"m.json": {"auc": auc}})


def test_records_round_trip_through_git_notes(git_repo: Path):
    repo = gitrepo.open_repo(git_repo)
    head = gitrepo.head_commit(repo)
    saved = record(head, 0.9)
    baseline.save(repo, saved)
    assert baseline.records_for(repo, head) == [saved]
    assert git(git_repo, "notes", "--ref=refs/notes/mlci", "list", head)


def test_baseline_is_the_newest_clean_record(git_repo: Path):
    repo = gitrepo.open_repo(git_repo)
    head = gitrepo.head_commit(repo)
    clean = record(head, 0.9)
    clean.created_at = "2026-01-01T00:00:00+00:00"
    dirty = record(head, 0.5, dirty=True)
    dirty.created_at = "2026-01-02T00:00:00+00:00"
    baseline.save(repo, clean)
    baseline.save(repo, dirty)
    assert baseline.baseline_for(repo, head) == clean
    assert baseline.latest(repo, head) == dirty


def test_commit_without_records_has_no_baseline(git_repo: Path):
    repo = gitrepo.open_repo(git_repo)
    assert baseline.baseline_for(repo, gitrepo.head_commit(repo)) is None


def _clone(origin: Path, dest: Path) -> Path:
    git(origin.parent, "clone", "-q", str(origin), str(dest))
    return dest


def test_records_travel_through_a_remote(git_repo: Path, tmp_path: Path):
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(git_repo), str(origin))
    git(git_repo, "remote", "add", "origin", str(origin))
    repo = gitrepo.open_repo(git_repo)
    head = gitrepo.head_commit(repo)
    baseline.save(repo, record(head, 0.9))
    baseline.push(repo)
    other = gitrepo.open_repo(_clone(origin, tmp_path / "other"))
    assert baseline.records_for(other, head) == []
    baseline.fetch(other)
    assert [r.metrics for r in baseline.records_for(other, head)] == [{"m.json": {"auc": 0.9}}]


def test_concurrent_writers_both_keep_their_records(git_repo: Path, tmp_path: Path):
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(git_repo), str(origin))
    first = gitrepo.open_repo(_clone(origin, tmp_path / "runner-1"))
    second = gitrepo.open_repo(_clone(origin, tmp_path / "runner-2"))
    head = gitrepo.head_commit(first)
    baseline.save(first, record(head, 0.91))
    baseline.save(second, record(head, 0.92))
    baseline.push(first)
    baseline.push(second)  # rejected at first: merges runner-1's record, then pushes
    reader = gitrepo.open_repo(_clone(origin, tmp_path / "reader"))
    baseline.fetch(reader)
    assert sorted(r.metrics["m.json"]["auc"] for r in baseline.records_for(reader, head)) == [0.91, 0.92]


def test_records_on_different_commits_merge_too(git_repo: Path, tmp_path: Path):
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "-q", "--bare", str(git_repo), str(origin))
    a = _clone(origin, tmp_path / "a")
    b = _clone(origin, tmp_path / "b")
    (b / "x.txt").write_text("x")
    second_commit = commit_all(b, "second")
    git(b, "push", "-q", "origin", "main")
    repo_a, repo_b = gitrepo.open_repo(a), gitrepo.open_repo(b)
    baseline.save(repo_a, record(gitrepo.head_commit(repo_a), 0.8))
    baseline.save(repo_b, record(second_commit, 0.85))
    baseline.push(repo_a)
    baseline.push(repo_b)
    baseline.fetch(repo_a)
    assert len(baseline.all_records(repo_a)) == 2


def test_push_without_the_remote_names_the_fix(git_repo: Path):
    with pytest.raises(GitError, match="no remote named 'origin'; add one"):
        baseline.push(gitrepo.open_repo(git_repo))


def test_record_with_a_newer_schema_is_refused_with_upgrade_hint():
    text = record("a" * 40, 0.9).to_json().replace('"schema":1', '"schema":99')
    with pytest.raises(Exception, match="upgrade mlci"):
        RunRecord.from_json(text)


def test_gate_verdict_is_attached_to_the_stored_record_in_place(git_repo: Path):
    repo = gitrepo.open_repo(git_repo)
    head = gitrepo.head_commit(repo)
    first, second = record(head, 0.9), record(head, 0.8)
    baseline.save(repo, first)
    baseline.save(repo, second)
    baseline.attach_gate(repo, first, {"passed": False})
    stored = {r.id: r.gate for r in baseline.records_for(repo, head)}
    assert stored == {first.id: {"passed": False}, second.id: None}
