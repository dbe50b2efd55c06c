"""Issue 29's small contracts: an empty ref refused, git missing and a full disk in one line, a
binary --body-file refused, killed `mlci reproduce` worktrees pruned by the next run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import git, invoke
from tests.test_bad_inputs import _mlci_limited, template  # noqa: F401  (fixture)
from tests.test_registry_gto import _two_models, repo  # noqa: F401  (fixtures)
from tests.test_reproduce import _tiny_recorded, tiny  # noqa: F401  (fixtures)
from tests.test_retrain import cloned  # noqa: F401  (fixture)


def one_error(result, code: int) -> str:
    output = result.output if hasattr(result, "output") else result.stdout + result.stderr
    exit_code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    assert exit_code == code, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlci: error: "), result.stderr
    assert "Traceback" not in output
    return lines[0]


@pytest.fixture
def bad_repo(template: Path, tmp_path: Path) -> Path:  # noqa: F811
    root = tmp_path / "repo"
    shutil.copytree(template, root, symlinks=True)
    return root


# --- refs: empty or option-like values are refused, never read as HEAD ------------------------------

REF_OPTIONS = [
    ("promote", "--force", "--commit", "{}"),
    ("diff", "--base", "{}"),
    ("gate", "--base", "{}"),
    ("report", "--base", "{}", "-o", "{out}"),
    ("history", "--branch", "{}"),
    ("data", "diff", "--base", "{}"),
    ("record", "show", "{}"),
    ("record", "repair", "{}"),
    ("reproduce", "{}"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("value", ["", "  ", "-x", "--output=/tmp/x"], ids=["empty", "blank", "dash", "option"])
@pytest.mark.parametrize("args", REF_OPTIONS, ids=[" ".join(a[:2]) for a in REF_OPTIONS])
def test_a_ref_that_is_empty_or_an_option_is_refused(bad_repo: Path, tmp_path: Path, args, value: str):
    filled = [a.replace("{}", value).replace("{out}", str(tmp_path / "out")) for a in args]
    refs_before = git(bad_repo, "for-each-ref")
    line = one_error(invoke(bad_repo, *filled), 2)
    assert "name a commit, branch or tag" in line or "No such option" in line, line  # a positional '-x': click's
    assert git(bad_repo, "for-each-ref") == refs_before  # nothing promoted, nothing written


@pytest.mark.timeout(120)
def test_promote_force_with_an_empty_commit_promotes_nothing(repo: Path):  # noqa: F811
    """It used to promote HEAD."""
    line = one_error(invoke(repo, "promote", "--force", "--commit", ""), 2)
    assert "'--commit': is empty" in line
    assert git(repo, "tag", "--list") == ""


@pytest.mark.timeout(120)
def test_the_control_promote_force_with_a_named_commit_promotes_it(repo: Path):  # noqa: F811
    result = invoke(repo, "promote", "--force", "--commit", "main")
    assert result.exit_code == 0, result.output
    assert git(repo, "tag", "--list") != ""


# --- git missing from PATH: one line, exit 4 ------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "args",
    [("diff",), ("record", "show"), ("run",), ("history",), ("report", "-o", "{out}"), ("promote", "--force")],
    ids=" ".join,
)
def test_git_missing_from_path_is_one_line_exit_4(bad_repo: Path, tmp_path: Path, args):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(PATH=str(empty), PYTHONPATH=str(Path(__file__).parents[1]))
    filled = [a.replace("{out}", str(tmp_path / "out")) for a in args]
    done = subprocess.run(
        [sys.executable, "-m", "mlci", *filled], cwd=bad_repo, env=env, capture_output=True, text=True, timeout=100
    )
    line = one_error(done, 4)
    assert "git is not installed or not on PATH" in line


# --- a full disk: exit 9 ----------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_a_full_disk_at_the_start_of_mlci_run_is_one_line_exit_9(trained_repo: Path):
    before = git(trained_repo, "for-each-ref")
    done = _mlci_limited(trained_repo, 0, "run")
    line = one_error(done, 9)
    assert "could not write" in line and "free some space" in line
    assert git(trained_repo, "for-each-ref") == before


_SAVE = """
import sys
from mlci.errors import MlciError
from mlci.model.record import RunRecord
from mlci.store import baseline, gitrepo
repo = gitrepo.open_repo(sys.argv[1])
record = RunRecord(commit=gitrepo.head_commit(repo), branch="main", dirty=False, params={}, metrics={"m.json": {"a": 1.0}})
try:
    baseline.save(repo, record)
except MlciError as exc:
    print(type(exc).__name__, exc.exit_code, exc.message)
"""


@pytest.mark.timeout(120)
def test_a_full_disk_while_git_writes_a_note_is_a_storage_error(bad_repo: Path, tmp_path: Path):
    """git itself out of space (a shim in front of git answers `notes add` as git does on ENOSPC)."""
    shim = tmp_path / "git"
    shim.write_text(
        "#!/bin/sh\n"
        'if [ "$3" = "notes" ] || [ "$1" = "notes" ] || [ "$2" = "notes" ]; then\n'
        '  case "$*" in *" add "*) echo "error: unable to write file .git/objects/ab/cd: No space left on device" >&2;'
        ' echo "fatal: unable to write note object" >&2; exit 128;; esac\n'
        "fi\n"
        f'exec {shutil.which("git")} "$@"\n'
    )
    shim.chmod(0o755)
    before = git(bad_repo, "for-each-ref")
    done = subprocess.run(
        [sys.executable, "-c", _SAVE, str(bad_repo)],
        capture_output=True,
        text=True,
        timeout=100,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "GIT_PYTHON_GIT_EXECUTABLE": str(shim)},
    )
    assert done.stdout.startswith("StorageError 9 cannot store the run record in refs/notes/mlci"), done
    assert "No space left on device" in done.stdout
    assert git(bad_repo, "for-each-ref") == before


@pytest.mark.timeout(300)
def test_a_full_local_disk_during_registry_pull_is_exit_9_not_7(repo: Path, tmp_path: Path):  # noqa: F811
    from mlci.workflows.promote import promote

    version = promote(repo).version
    out = tmp_path / "out"
    out.mkdir()
    model = repo / "models" / "model.txt"
    limit = model.stat().st_size - 1024  # DVC's own state fits (its databases are < 90 KB), the model does not
    assert limit > 90_000
    done = _mlci_limited(repo, limit, "registry", "pull", f"churn@{version.version}", "-o", str(out))
    line = one_error(done, 9)
    assert f"cannot access {out}/" in line and "File too large" in line, line
    assert list(out.iterdir()) == []  # nothing half-written


@pytest.mark.timeout(300)
def test_dvc_state_on_a_full_disk_during_registry_pull_is_exit_9(repo: Path, tmp_path: Path):  # noqa: F811
    from mlci.workflows.promote import promote

    version = promote(repo).version
    done = _mlci_limited(repo, 1000, "registry", "pull", f"churn@{version.version}", "-o", str(tmp_path / "out"))
    line = one_error(done, 9)
    assert "DVC cannot open its state" in line


# --- a binary --body-file ------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("body", [b"\x89PNG\r\n\x1a\n\x00\xff\xfe", b"caf\xe9 latin-1\n"], ids=["png", "latin-1"])
def test_a_binary_body_file_for_mlci_comment_is_one_line(gh_env, tmp_path: Path, body: bytes):
    (tmp_path / "report.md").write_bytes(body)
    result = invoke(tmp_path, "comment", "--pr", "12", "--body-file", str(tmp_path / "report.md"))
    line = one_error(result, 5)
    assert "not UTF-8" in line and "report.md" in line
    assert gh_env.requests == []  # refused before asking GitHub anything


@pytest.mark.timeout(60)
def test_a_binary_body_file_for_mlci_pr_create_is_one_line(cloned, fake_github):  # noqa: F811
    root, origin = cloned
    (root / "report.md").write_bytes(b"\x00\xff\xfe binary")
    (root / "data.csv").write_text("a,b\n1,2\n3,4\n")
    env = {"GITHUB_TOKEN": fake_github.token, "GITHUB_API_URL": fake_github.url, "GITHUB_REPOSITORY": fake_github.repo}
    result = invoke(root, "pr", "create", "--body-file", "report.md", env=env)
    line = one_error(result, 5)
    assert "not UTF-8" in line
    assert fake_github.requests == [] and "mlci/retrain" not in git(origin, "branch", "--list")


# --- a killed `mlci reproduce` leaves a worktree the next run removes ---------------------------


def _worktrees(root: Path) -> list[str]:
    return [
        line[len("worktree ") :]
        for line in git(root, "worktree", "list", "--porcelain").splitlines()
        if line.startswith("worktree ")
    ]


def _killed_reproduce(root: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-m", "mlci", "reproduce"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=200,
        env={**os.environ, "MLCI_TEST_KILL_AT": "worktree-added", "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert done.returncode == -9, done.stderr
    [left] = [Path(p) for p in _worktrees(root) if Path(p) != root]
    assert left.is_dir()
    return left


@pytest.mark.timeout(300)
def test_the_next_reproduce_removes_a_killed_reproduces_worktree(tiny: Path):  # noqa: F811
    left = _killed_reproduce(tiny)
    result = invoke(tiny, "reproduce")
    assert result.exit_code == 0, result.output
    assert _worktrees(tiny) == [str(tiny)]
    assert not left.parent.exists()


@pytest.mark.timeout(300)
def test_a_live_or_kept_worktree_is_not_removed(tiny: Path):  # noqa: F811
    import fcntl

    left = _killed_reproduce(tiny)
    with open(left.parent / "mlci-owner.lock", "a") as handle:  # as if its process still lived
        fcntl.flock(handle, fcntl.LOCK_EX)
        kept = invoke(tiny, "reproduce", "--keep", "--json")
        assert kept.exit_code == 0, kept.output
        assert left.is_dir()
    again = invoke(tiny, "reproduce")  # the live one has died now; the kept one stays
    assert again.exit_code == 0, again.output
    assert not left.exists()
    remaining = [Path(p) for p in _worktrees(tiny) if Path(p) != tiny]
    assert len(remaining) == 1 and remaining[0].is_dir()  # --keep's worktree
