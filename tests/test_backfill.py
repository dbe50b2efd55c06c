"""The baseline job records the main commits whose run GitHub cancelled while it was pending.

A real history of pushes to main: each push's baseline run either happens (`mlci ci` on a
push event) or never does (GitHub cancelled it as the older pending run of the group).
"""

from __future__ import annotations

import json
from pathlib import Path

from mlci.store import baseline, gitrepo
from tests.helpers import commit_all, git, invoke, set_param, with_origin
from tests.plugins.fake_github import actions_env


def _push(root: Path, key: str, value, message: str) -> str:
    """A commit on main, pushed to origin (its baseline run is up to the test)."""
    set_param(root, key, value)
    sha = commit_all(root, message)
    git(root, "push", "-q", "origin", "main")
    return sha


def _baseline_run(root: Path, fake_github, runner: Path):
    env = actions_env(fake_github, runner, event="push", sha=git(root, "rev-parse", "HEAD"))
    return invoke(root, "ci", env=env)  # notes (what was backfilled, what skipped) go to stderr


def _origin_record(origin: Path, sha: str) -> dict | None:
    listed = git(origin, "notes", "--ref=mlci", "list")
    if sha not in listed:
        return None
    return json.loads(git(origin, "notes", "--ref=mlci", "show", sha).splitlines()[-1])


def _committed_param(root: Path, sha: str, section: str, key: str):
    import yaml

    return yaml.safe_load(git(root, "show", f"{sha}:params.yaml"))[section][key]


def test_a_cancelled_middle_run_is_recorded_by_the_next_baseline_run(trained_repo, fake_github, tmp_path):
    origin = with_origin(trained_repo)
    first = _push(trained_repo, "train.n_estimators", 40, "Fewer trees")
    assert _baseline_run(trained_repo, fake_github, tmp_path / "r1").exit_code == 0
    middle = _push(trained_repo, "train.n_estimators", 30, "Even fewer trees")  # its run: cancelled, pending
    last = _push(trained_repo, "train.learning_rate", 0.2, "Faster learning")

    result = _baseline_run(trained_repo, fake_github, tmp_path / "r3")
    assert result.exit_code == 0, result.output
    assert f"recording {middle[:12]}: its baseline run never happened" in result.stderr
    records = {sha: _origin_record(origin, sha) for sha in (first, middle, last)}
    assert all(r is not None and not r["dirty"] for r in records.values())
    assert records[middle]["commit"] == middle
    # each record measured its own commit's parameters (as committed there), not HEAD's
    assert (
        records[middle]["params"]["params.yaml"]["train.n_estimators"]
        == _committed_param(trained_repo, middle, "train", "n_estimators")
        == 30
    )
    assert records[middle]["params"]["params.yaml"]["train.learning_rate"] == 0.1
    assert records[last]["params"]["params.yaml"]["train.learning_rate"] == 0.2
    assert git(trained_repo, "rev-parse", "HEAD") == last  # the backfill ran elsewhere: the checkout stays
    assert git(trained_repo, "worktree", "list").count("\n") == 0  # and it left no worktree behind


def test_over_the_limit_the_newest_gap_commits_are_recorded_and_the_rest_named(trained_repo, fake_github, tmp_path):
    config = trained_repo / "mlci.yaml"
    config.write_text(config.read_text() + "ci:\n  baseline_backfill: 1\n")
    commit_all(trained_repo, "Backfill at most one commit")
    origin = with_origin(trained_repo)
    assert _baseline_run(trained_repo, fake_github, tmp_path / "r0").exit_code == 0
    older = _push(trained_repo, "train.n_estimators", 40, "Fewer trees")  # cancelled
    newer = _push(trained_repo, "train.n_estimators", 30, "Even fewer trees")  # cancelled
    head = _push(trained_repo, "train.num_leaves", 7, "Smaller leaves")

    result = _baseline_run(trained_repo, fake_github, tmp_path / "r3")
    assert result.exit_code == 0, result.output
    assert _origin_record(origin, older) is None
    assert _origin_record(origin, newer)["commit"] == newer
    assert _origin_record(origin, head)["commit"] == head
    assert f"1 older main commit(s) stay unrecorded (over ci.baseline_backfill=1): {older[:12]}" in result.stderr


def test_a_limit_of_zero_records_only_head_and_says_what_stays_unrecorded(trained_repo, fake_github, tmp_path):
    config = trained_repo / "mlci.yaml"
    config.write_text(config.read_text() + "ci:\n  baseline_backfill: 0\n")
    commit_all(trained_repo, "Record HEAD only")
    origin = with_origin(trained_repo)
    assert _baseline_run(trained_repo, fake_github, tmp_path / "r0").exit_code == 0
    skipped = _push(trained_repo, "train.n_estimators", 40, "Fewer trees")  # cancelled
    head = _push(trained_repo, "train.num_leaves", 7, "Smaller leaves")

    result = _baseline_run(trained_repo, fake_github, tmp_path / "r2")
    assert result.exit_code == 0, result.output
    assert _origin_record(origin, skipped) is None
    assert _origin_record(origin, head)["commit"] == head
    assert f"stay unrecorded (over ci.baseline_backfill=0): {skipped[:12]}" in result.stderr


def test_nothing_to_backfill_when_the_previous_commit_is_recorded(trained_repo):
    (trained_repo / "NOTES.md").write_text("docs\n")
    head = commit_all(trained_repo, "Docs")
    gap = baseline.unrecorded(gitrepo.open_repo(trained_repo), head, limit=3)
    assert gap.anchor == git(trained_repo, "rev-parse", "HEAD~1")
    assert (gap.to_record, gap.skipped) == ([], [])


def test_a_history_without_any_record_is_not_backfilled(git_repo):
    for i in range(3):
        (git_repo / f"f{i}.txt").write_text(str(i))
        head = commit_all(git_repo, f"commit {i}")
    gap = baseline.unrecorded(gitrepo.open_repo(git_repo), head, limit=3)
    assert (gap.anchor, gap.to_record, gap.skipped) == (None, [], [])


def test_only_first_parent_commits_are_gap_commits(trained_repo):
    """A merged branch's own commits were never main's: only the merge commit is a gap."""
    base = git(trained_repo, "rev-parse", "HEAD")
    git(trained_repo, "checkout", "-q", "-b", "topic")
    (trained_repo / "topic.txt").write_text("topic\n")
    topic = commit_all(trained_repo, "Topic work")
    git(trained_repo, "checkout", "-q", "main")
    git(trained_repo, "merge", "-q", "--no-ff", "-m", "Merge topic", "topic")
    merge = git(trained_repo, "rev-parse", "HEAD")
    (trained_repo / "NOTES.md").write_text("docs\n")
    head = commit_all(trained_repo, "Docs")
    gap = baseline.unrecorded(gitrepo.open_repo(trained_repo), head, limit=5)
    assert gap.anchor == base
    assert gap.to_record == [merge] and topic not in gap.to_record
