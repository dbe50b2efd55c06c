"""GTO's whole lifecycle through mlci: the tags mlci writes are the tags `gto` writes.

One sequence (register + stage, assign, a second version taking the stage, unassign,
deregister, deprecate) is driven once by the real `gto` CLI and once by mlci, on two copies of
the same repository; after every step `gto show --json` and `gto history --json` must read the
same registry from both (times aside: they are when each ran; registration messages aside
their first line: mlci appends its metadata and card there, which GTO keeps verbatim).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlci.integrations.registry.gto_tags import GitTagsBackend
from mlci.store.pipeline import run_dvc
from mlci.workflows.promote import promote
from tests.helpers import git, invoke, invoke_json
from tests.test_promote import remote_tags
from tests.test_registry_gto import RETRAINED, _two_models, repo  # noqa: F401 - fixtures

GTO = str(Path(sys.executable).parent / "gto")
_TIMES = {"created_at", "activated_at", "timestamp"}


def gto(root: Path, *args: str) -> str:
    return subprocess.run([GTO, *args], cwd=root, check=True, capture_output=True, text=True).stdout


def gto_json(root: Path, *args: str):
    return normalized(json.loads(gto(root, *args, "--json")))


def normalized(data):
    """Drop wall-clock times, keep a message's first line (see the module docstring)."""
    if isinstance(data, dict):
        return {
            k: (v.splitlines()[0] if k == "message" and isinstance(v, str) and v else normalized(v))
            for k, v in data.items()
            if k not in _TIMES
        }
    if isinstance(data, list):
        return [normalized(v) for v in data]
    return data


def next_second() -> None:
    """gto stamps its tags with the current second and cannot tell two events of one second apart."""
    time.sleep(1.05 - time.time() % 1)


def tag_seconds(root: Path) -> list[int]:
    out = git(root, "for-each-ref", "refs/tags/churn*", "--format=%(taggerdate:unix)")
    return [int(s) for s in out.split()]


@pytest.fixture
def pair(repo: Path, tmp_path: Path) -> tuple[Path, Path]:  # noqa: F811
    """(mlci's clone, gto's clone): the same commits, no registry tags yet."""
    theirs = tmp_path / "gto-driven" / "repo"
    shutil.copytree(repo, theirs, symlinks=True)
    git(theirs, "remote", "remove", "origin")
    return repo, theirs


def same_registry(ours: Path, theirs: Path) -> dict:
    shown = gto_json(theirs, "show")
    assert gto_json(ours, "show") == shown
    assert gto_json(ours, "show", "churn") == gto_json(theirs, "show", "churn")
    assert gto_json(ours, "history") == gto_json(theirs, "history")
    return shown


def test_the_same_lifecycle_by_gto_and_by_mlci_reads_the_same(pair: tuple[Path, Path]):
    ours, theirs = pair
    first = git(ours, "rev-parse", "HEAD")
    second = git(ours, "rev-parse", RETRAINED)

    steps = [
        # (gto's command, mlci's command, what `gto show` says afterwards: stage -> version)
        (["register", "churn", first, "--version", "v0.0.1"], None, {}),
        (["assign", "churn", "--version", "v0.0.1", "--stage", "staging"], None, {"staging": "v0.0.1"}),
        (["assign", "churn", "--version", "v0.0.1", "--stage", "prod"], ["assign", "churn@v0.0.1", "prod"], None),
        (["register", "churn", second, "--version", "v0.0.2"], None, None),
        (["assign", "churn", "--version", "v0.0.2", "--stage", "prod"], ["assign", "churn@v0.0.2", "prod"], None),
        (["deprecate", "churn", "v0.0.2", "prod"], ["unassign", "churn#prod"], {"staging": "v0.0.1", "prod": "v0.0.1"}),
        (["deprecate", "churn", "v0.0.1"], ["deregister", "churn@v0.0.1"], {"staging": None, "prod": None}),
        (["deprecate", "churn"], ["deprecate", "churn"], "deprecated"),
    ]
    promote(ours, stage="staging")  # mlci registers and stages in one promotion: gto's first two steps
    git(ours, "checkout", "-q", RETRAINED)
    run_dvc(ours, "checkout", "-q")
    for index, (theirs_args, ours_args, expected) in enumerate(steps):
        next_second()
        gto(theirs, *theirs_args)
        if ours_args is not None:
            result = invoke(ours, "registry", *ours_args)
            assert result.exit_code == 0, result.output
        elif index == 3:
            promote(ours, force=True)  # the second version, registered by mlci's promote
        if index == 0:
            continue  # mlci's promotion did steps 0 and 1 together: compare after step 1
        shown = same_registry(ours, theirs)
        if expected == "deprecated":
            assert shown == {}
        elif expected is not None:
            assert {s: shown["churn"]["stage"].get(s) for s in expected} == expected
    assert remote_tags(ours) == sorted(git(ours, "tag", "--list").split())  # every event reached origin


def test_mlci_lists_what_gto_shows_at_every_step(pair: tuple[Path, Path]):
    ours, _theirs = pair
    promote(ours, stage="prod")
    git(ours, "checkout", "-q", RETRAINED)
    run_dvc(ours, "checkout", "-q")
    promote(ours, stage="prod", force=True)
    steps = [["unassign", "churn#prod"], ["assign", "churn@v0.0.2", "prod"], ["deregister", "churn@v0.0.2"]]
    for step in steps:
        assert invoke(ours, "registry", *step).exit_code == 0
        shown = json.loads(gto(ours, "show", "--json"))["churn"]["stage"]
        listed = {s: v["version"] for v in invoke_json(ours, "registry", "list") for s in v["stages"]}
        assert listed == {s: v for s, v in shown.items() if v}


def test_no_two_events_of_a_model_share_a_second(repo: Path):  # noqa: F811
    """GTO orders events by their tag's second: a promotion that registers and assigns, then
    assigns again, must date every tag apart, or `gto show` picks another version than mlci."""
    promote(repo, stage="prod")  # register + assign, in one atomic push
    backend = GitTagsBackend(repo)
    v1 = backend.resolve(backend.parse("churn@v0.0.1"))
    backend.assign(v1, "staging")
    backend.unassign(v1, "staging")
    backend.assign(v1, "staging")
    seconds = tag_seconds(repo)
    assert len(seconds) == 5 and len(set(seconds)) == 5
    assert json.loads(gto(repo, "show", "--json"))["churn"]["stage"] == {"prod": "v0.0.1", "staging": "v0.0.1"}


def test_history_lists_every_event_newest_first_like_gto(repo: Path):  # noqa: F811
    promote(repo, stage="staging")
    assert invoke(repo, "registry", "unassign", "churn#staging").exit_code == 0
    ours = invoke_json(repo, "registry", "history")
    theirs = json.loads(gto(repo, "history", "--json"))
    assert [(e["event"], e["version"], e["stage"], e["ref"]) for e in ours] == [
        (e["event"], e["version"], e["stage"], e["ref"]) for e in theirs
    ]
    assert [e["event"] for e in ours] == ["unassignment", "assignment", "registration"]


def test_lifecycle_writes_are_atomic_a_rejected_push_leaves_nothing(repo: Path):  # noqa: F811
    promote(repo, stage="prod")
    before = sorted(git(repo, "tag", "--list").split())
    hook = repo.parent / "origin.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'registry frozen' >&2\nexit 1\n")
    hook.chmod(0o755)
    for step in (["unassign", "churn#prod"], ["deregister", "churn@v0.0.1"], ["deprecate", "churn"]):
        result = invoke(repo, "registry", *step)
        assert result.exit_code == 7, result.output
        assert f"{step[0]} churn" in result.stderr and "registry frozen" in result.stderr
        assert sorted(git(repo, "tag", "--list").split()) == before and remote_tags(repo) == before


def test_lifecycle_refusals_name_the_fix(repo: Path):  # noqa: F811
    promote(repo, stage="prod")
    cases = [
        (["unassign", "churn@v0.0.1", "staging"], "is not in stage 'staging'"),
        (["unassign", "churn@v0.0.1"], "which stage?"),
        (["deregister", "churn"], "deregister needs one version"),
        (["deregister", "churn@v0.0.9"], "churn@v0.0.9 is not registered"),
        (["deprecate", "churn#prod"], "deprecate takes a model name"),
        (["deprecate", "nosuch"], "no registry tags for 'nosuch'"),
    ]
    for args, message in cases:
        result = invoke(repo, "registry", *args)
        assert result.exit_code in (2, 8), result.output
        assert message in result.stderr, result.stderr
    assert invoke(repo, "registry", "deprecate", "churn").exit_code == 0
    again = invoke(repo, "registry", "deprecate", "churn")
    assert again.exit_code == 8 and "deprecated already" in again.stderr
    shown = invoke(repo, "registry", "show", "churn#prod")
    assert shown.exit_code == 8 and "'churn' is deprecated" in shown.stderr


def test_a_new_version_revives_a_deprecated_model_as_in_gto(repo: Path):  # noqa: F811
    promote(repo)
    assert invoke(repo, "registry", "deprecate", "churn").exit_code == 0
    assert invoke_json(repo, "registry", "list") == []
    git(repo, "checkout", "-q", RETRAINED)
    run_dvc(repo, "checkout", "-q")
    promote(repo, force=True)
    assert [v["version"] for v in invoke_json(repo, "registry", "list")] == ["v0.0.1", "v0.0.2"]
    assert json.loads(gto(repo, "show", "--json"))["churn"]["version"] == "v0.0.2"


def test_reads_use_the_configured_git_remote_and_never_push(repo: Path, tmp_path: Path):  # noqa: F811
    """`registry.git_remote: upstream`: promotions push there; list and show touch no remote."""
    git(repo, "remote", "rename", "origin", "upstream")
    config = repo / "mlci.yaml"
    config.write_text(config.read_text() + "registry:\n  git_remote: upstream\n")
    promote(repo, stage="prod")
    pushed = git(repo, "ls-remote", "--tags", "upstream")
    assert "refs/tags/churn@v0.0.1" in pushed and "refs/tags/churn#prod#1" in pushed
    git(repo, "tag", "-d", "churn#prod#1")  # as if it never came in: a read must not fetch or push it
    assert [v["stages"] for v in invoke_json(repo, "registry", "list")] == [[]]
    assert "churn#prod#1" not in git(repo, "tag", "--list")
