"""A corrupt refs/notes/mlci (issue 29, finding 9) is found before work and repaired on request.

git reads a notes ref pointing at a blob, a tree, a missing object or garbage as "no notes" in
some commands and as a fatal error in others; mlci used to say "no run records" and let
`mlci run` train fully before failing to store its record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlci.cli import cli
from tests.helpers import git
from tests.test_bad_inputs import template  # noqa: F401  (fixture)

REF = "refs/notes/mlci"
MISSING = "1234567890abcdef1234567890abcdef12345678"


def _write_ref(root: Path, value: str) -> None:
    """Point the ref where git itself would refuse to (a plain file write, as a bad tool or disk does)."""
    (root / ".git" / "refs" / "notes" / "mlci").write_text(value + "\n")


def _blob(root: Path) -> str:
    return git_input(root, "hash-object", "-w", "--stdin", input_text="not a notes tree\n")


CORRUPTIONS: dict[str, Callable[[Path], str]] = {
    "blob": _blob,
    "tree": lambda root: git(root, "rev-parse", "HEAD^{tree}"),
    "missing-object": lambda root: MISSING,
    "garbage": lambda root: "this is not an object name",
}


def corrupt(root: Path, kind: str) -> str:
    value = CORRUPTIONS[kind](root)
    _write_ref(root, value)
    return value


def mlci(root: Path, *args: str):
    return CliRunner().invoke(cli, ["-C", str(root), *args])


def one_error(result, code: int = 4) -> str:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlci: error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture
def repo(template: Path, tmp_path: Path) -> Path:  # noqa: F811
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(template, root, symlinks=True)
    return root


def git_input(root: Path, *args: str, input_text: str) -> str:
    import subprocess

    return subprocess.run(
        ["git", *args], cwd=root, input=input_text, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_the_control_records_read_while_the_ref_is_sound(repo: Path):
    shown = mlci(repo, "record", "show", "main")
    assert shown.exit_code == 0 and "no run records" not in shown.output, shown.output


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", list(CORRUPTIONS))
@pytest.mark.parametrize("command", [("record", "show", "main"), ("diff",), ("history",)], ids=" ".join)
def test_readers_name_a_corrupt_ref_instead_of_saying_no_records(repo: Path, kind: str, command: tuple[str, ...]):
    corrupt(repo, kind)
    line = one_error(mlci(repo, *command))
    assert f"{REF} is corrupt" in line and "mlci record repair" in line, line


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_mlci_run_refuses_before_the_pipeline_runs(trained_repo: Path, kind: str):
    model = next(p for p in (trained_repo / "models").iterdir() if p.is_file())
    stamp = model.stat().st_mtime_ns
    corrupt(trained_repo, kind)
    started = time.monotonic()
    line = one_error(mlci(trained_repo, "run", "--force"))
    assert f"{REF} is corrupt" in line
    assert model.stat().st_mtime_ns == stamp  # nothing was trained
    assert time.monotonic() - started < 20


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["blob", "tree", "missing-object", "garbage"])
def test_record_repair_restores_the_last_good_value_from_the_reflog(repo: Path, kind: str):
    good = git(repo, "rev-parse", REF)
    git(repo, "update-ref", "-m", "a later good value", REF, good)  # the reflog has the good value
    bad = corrupt(repo, kind)
    repaired = mlci(repo, "record", "repair")
    assert repaired.exit_code == 0, repaired.output
    assert f"restored {good[:12]}" in repaired.stdout, repaired.stdout
    assert git(repo, "rev-parse", REF) == good
    if kind in ("blob", "tree"):  # nothing destroyed: the bad value is kept
        assert git(repo, "rev-parse", "refs/notes/mlci-corrupt") == bad
    shown = mlci(repo, "record", "show", "main")
    assert shown.exit_code == 0 and "no run records" not in shown.output, shown.output


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["blob", "missing-object", "garbage"])
def test_record_repair_without_a_good_reflog_value_starts_afresh_and_says_so(repo: Path, kind: str):
    (repo / ".git" / "logs" / "refs" / "notes" / "mlci").unlink()
    corrupt(repo, kind)
    repaired = mlci(repo, "record", "repair")
    assert repaired.exit_code == 0, repaired.output
    assert "records start afresh" in repaired.stdout
    assert git_ok(repo, "rev-parse", "--verify", "--quiet", REF) is None
    shown = mlci(repo, "record", "show", "main")
    assert shown.exit_code == 0 and "no run records" in shown.output


def test_record_repair_on_a_sound_ref_changes_nothing(repo: Path):
    before = git(repo, "rev-parse", REF)
    repaired = mlci(repo, "record", "repair")
    assert repaired.exit_code == 0 and "corrupt" not in repaired.output
    assert git(repo, "rev-parse", REF) == before


def git_ok(root: Path, *args: str) -> str | None:
    import subprocess

    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


# --- a record that fails validation: skipped with a warning, set aside by `record repair` --------

WRONG = ["null", "42", '"x"', "[]", "{}", "true", "1" + "0" * 500, "-1e999", '[{"a": 1}]', '{"k": [null]}']


def _valid_record(commit: str) -> dict:
    from mlci.model.record import Artifact, RunRecord, StageRun

    return RunRecord(
        commit=commit,
        branch="main",
        dirty=False,
        params={"params.yaml": {"train.lr": 0.1}},
        metrics={"metrics.json": {"auc": 0.9}},
        stages=[StageRun(name="train", status="ran", seconds=1.5)],
        artifacts={"model": Artifact(path="model.bin", sha256="0" * 64, size=3)},
        gate={"passed": True},
        pr=3,
    ).to_dict()


def _fields() -> list[str]:
    """Every top-level field, and a few nested ones (dotted)."""
    top = list(_valid_record("0" * 40))
    return top + [
        "metrics.metrics.json",
        "metrics.metrics.json.auc",
        "params.params.yaml",
        "stages.0",
        "stages.0.seconds",
        "artifacts.model",
        "artifacts.model.size",
    ]


def _mutated(record: dict, dotted: str, raw: str) -> str:
    """The record's JSON line with `dotted` set to the raw JSON text `raw`."""
    import json

    marker = "\u0000MUTATE\u0000"
    data = json.loads(json.dumps(record))
    *parents, last = _split(dotted)
    target = data
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = marker
    else:
        target[last] = marker
    return json.dumps(data, sort_keys=True, separators=(",", ":")).replace(json.dumps(marker), raw)


def _split(dotted: str) -> list[str]:
    for name in ("metrics.json", "params.yaml"):  # file names hold a dot
        dotted = dotted.replace(name, name.replace(".", "\u0001"))
    return [p.replace("\u0001", ".") for p in dotted.split(".")]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("field", _fields())
def test_a_record_with_a_wrong_value_anywhere_is_skipped_then_set_aside(repo: Path, field: str):
    main = git(repo, "rev-parse", "main")
    record = _valid_record(main)
    lines = [_mutated(record, field, raw) for raw in WRONG]
    note = "\n".join(sorted(set(lines)))
    git_input(repo, "notes", "--ref=refs/notes/mlci", "add", "-f", "-F", "-", main, input_text=note + "\n")
    for command in (("record", "show", "main"), ("record", "show", "main", "--json"), ("history",)):
        shown = mlci(repo, *command)
        assert shown.exit_code == 0, (command, shown.output)
        assert "Traceback" not in shown.output
        assert all(line.startswith("mlci: warning: ") for line in shown.stderr.splitlines()), shown.stderr
    import json

    warned = mlci(repo, "record", "show", "main").stderr
    accepted = len(json.loads(mlci(repo, "record", "show", "main", "--json").stdout))
    repaired = mlci(repo, "record", "repair", "--json")
    assert repaired.exit_code == 0, repaired.output
    moved = len(json.loads(repaired.stdout))
    newer = {"42", WRONG[6]} if field == "schema" else set()  # a newer mlci's records: kept, not damage
    assert moved + accepted + len(newer) == len(set(lines))
    assert moved >= 1 and "skipped an unreadable run record" in warned  # every field refuses some wrong value
    after = mlci(repo, "record", "show", "main")
    assert after.exit_code == 0 and ("newer than this mlci" in after.stderr if newer else after.stderr == ""), after
