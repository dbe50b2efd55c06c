"""Run records are never lost or fatal: concurrent writers, corrupt or foreign notes, old and new schemas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.errors import CorruptRecordWarning, DataError
from mlci.model.record import SCHEMA_VERSION, RunRecord
from mlci.store import baseline, gitrepo
from tests.helpers import git, invoke

_WRITER = """
import sys
from mlci.store import baseline, gitrepo
from mlci.model.record import RunRecord
repo = gitrepo.open_repo(sys.argv[1])
head = gitrepo.head_commit(repo)
for i in range(int(sys.argv[3])):
    baseline.save(repo, RunRecord(commit=head, branch="main", dirty=False, params={},
                                  metrics={"m.json": {"auc": float(sys.argv[2] + str(i))}}))
"""


def record(commit: str, auc: float) -> RunRecord:
    return RunRecord(commit=commit, branch="main", dirty=False, params={}, metrics={"m.json": {"auc": auc}})


def put_note(root: Path, text: str, rev: str = "HEAD") -> None:
    git(root, "notes", "--ref=refs/notes/mlci", "add", "-f", "-m", text, rev)


def test_concurrent_writers_in_one_clone_lose_no_record(git_repo: Path):
    writers, each = 4, 8
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(git_repo), f"0.{w + 1}", str(each)])
        for w in range(writers)
    ]
    assert [p.wait(timeout=300) for p in procs] == [0] * writers
    repo = gitrepo.open_repo(git_repo)
    assert len(baseline.records_for(repo, gitrepo.head_commit(repo))) == writers * each


@pytest.mark.parametrize(
    "note",
    [
        "[1,2]",
        '{"schema":1}',
        "not json at all",
        '{"schema":1,"commit":"HEAD","dirty":false,"params":{},"metrics":{"m.json":{"auc":"high"}}}',
        '{"schema":1,"commit":"HEAD","dirty":false,"params":{},"metrics":{},"stages":[{"name":1}]}',
        '{"schema":99,"commit":"HEAD","dirty":false,"params":{},"metrics":{}}',
    ],
    ids=["list", "schema-only", "not-json", "string-metric", "bad-stage", "newer-schema"],
)
def test_an_unreadable_note_line_is_skipped_with_a_warning_naming_commit_and_fix(git_repo: Path, note: str):
    repo = gitrepo.open_repo(git_repo)
    head = gitrepo.head_commit(repo)
    put_note(git_repo, note.replace('"HEAD"', json.dumps(head)))
    baseline.save(repo, record(head, 0.9))
    with pytest.warns(CorruptRecordWarning, match=rf"commit {head[:12]}.*mlci record repair {head[:12]}"):
        assert [r.metrics for r in baseline.records_for(repo, head)] == [{"m.json": {"auc": 0.9}}]


def test_a_corrupt_note_elsewhere_does_not_hide_other_commits(git_repo: Path):
    repo = gitrepo.open_repo(git_repo)
    head = gitrepo.head_commit(repo)
    baseline.save(repo, record(head, 0.9))
    git(git_repo, "commit", "-q", "--allow-empty", "-m", "second")
    put_note(git_repo, "[1,2]")
    with pytest.warns(CorruptRecordWarning):
        assert [r.commit for r in baseline.all_records(repo)] == [head]


def test_record_show_warns_in_one_line_and_exits_zero(git_repo: Path):
    put_note(git_repo, "[1,2]")
    result = invoke(git_repo, "record", "show")
    assert result.exit_code == 0
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("mlci: warning: skipped an unreadable")


def test_repair_sets_unreadable_lines_aside_and_keeps_good_ones(git_repo: Path):
    repo = gitrepo.open_repo(git_repo)
    head = gitrepo.head_commit(repo)
    put_note(git_repo, "[1,2]")
    good = record(head, 0.8)
    baseline.save(repo, good)
    result = invoke(git_repo, "record", "repair", "--json")
    assert result.exit_code == 0, result.output
    assert [(m["commit"], m["line"]) for m in json.loads(result.stdout)] == [(head, "[1,2]")]
    assert git(git_repo, "notes", "--ref=refs/notes/mlci", "show", head) == good.to_json()
    assert git(git_repo, "notes", "--ref=refs/notes/mlci-quarantine", "show", head) == "[1,2]"
    assert invoke(git_repo, "record", "show").stderr == ""


def test_a_newer_schema_line_survives_a_save(git_repo: Path):
    repo = gitrepo.open_repo(git_repo)
    head = gitrepo.head_commit(repo)
    newer = json.dumps({**record(head, 0.7).to_dict(), "schema": SCHEMA_VERSION + 1}, sort_keys=True)
    put_note(git_repo, newer)
    baseline.save(repo, record(head, 0.9))
    assert newer in git(git_repo, "notes", "--ref=refs/notes/mlci", "show", head).splitlines()


def test_a_newer_schema_is_refused_with_the_upgrade_hint():
    with pytest.raises(DataError, match=r"newer than this mlci reads.*upgrade mlci \(a newer mlci action ref"):
        RunRecord.from_dict({"schema": SCHEMA_VERSION + 1, "commit": "c", "dirty": False, "params": {}, "metrics": {}})


def test_a_schema_0_record_is_migrated_on_read():
    old = {
        "schema": 0,
        "commit": "c" * 40,
        "branch": "main",
        "dirty": False,
        "params": {},
        "metrics": {"auc": 0.9},
        "id": "abc",
        "created_at": "2025-01-01T00:00:00+00:00",
    }
    migrated = RunRecord.from_dict(old)
    assert migrated.schema == SCHEMA_VERSION
    assert migrated.metrics == {"metrics.json": {"auc": 0.9}} and migrated.stages == [] and migrated.artifacts == {}


def test_a_corrupt_note_on_head_does_not_fail_mlci_run(trained_repo: Path):
    """It used to fail after training, with advice that could not work; now the run is recorded beside it."""
    from mlci.workflows import run

    put_note(trained_repo, "[1,2]")
    with pytest.warns(CorruptRecordWarning):
        run.run(trained_repo)
    repo = gitrepo.open_repo(trained_repo)
    head = gitrepo.head_commit(repo)
    lines = git(trained_repo, "notes", "--ref=refs/notes/mlci", "show", head).splitlines()
    assert "[1,2]" in lines and len(lines) == 2
    with pytest.warns(CorruptRecordWarning):
        assert len(baseline.records_for(repo, head)) == 1


def test_repair_keeps_a_newer_mlci_s_records(git_repo: Path):
    repo = gitrepo.open_repo(git_repo)
    head = gitrepo.head_commit(repo)
    newer = json.dumps({**record(head, 0.7).to_dict(), "schema": SCHEMA_VERSION + 1}, sort_keys=True)
    put_note(git_repo, newer)
    assert baseline.repair(repo, head) == []
    assert git(git_repo, "notes", "--ref=refs/notes/mlci", "show", head) == newer
