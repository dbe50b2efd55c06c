"""Promotion is a recoverable transaction: the registry is what origin holds.

A `mlci promote` SIGKILLed at any boundary (bytes uploaded, version numbered, between the
version and stage tags, tags created, pushed) is completed or rolled back by the next call,
never left half-promoted; and same-bytes promotions from several clones converge on one version.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlci.faults import KILL_AT
from mlci.workflows.promote import promote
from tests.helpers import git
from tests.test_promote import remote_tags, tags
from tests.test_registry_gto import _two_models, repo  # noqa: F401 - fixtures
from tests.test_registry_mlflow import mlflow_repo  # noqa: F401 - fixture

PROMOTED = ["churn#prod#1", "churn@v0.0.1"]


def mlci(root: Path, *args: str, env: dict[str, str] | None = None, **popen) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlci", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
        timeout=300,
        **popen,
    )


def gto_stage(root: Path, tmp_path: Path, stage: str) -> list[str]:
    """What a fresh clone of origin says, read by GTO itself."""
    import gto.api

    clone = tmp_path / f"check-{stage}-{time.monotonic_ns()}"
    git(tmp_path, "clone", "-q", str(root.parent / "origin.git"), str(clone))
    return [v.version for v in gto.api.find_versions_in_stage(str(clone), "churn", stage)]


@pytest.mark.parametrize("point", ["uploaded", "numbered", "tag-created", "tags-created", "pushed"])
def test_a_promotion_killed_at_any_step_is_finished_by_the_retry(repo: Path, tmp_path: Path, point: str):  # noqa: F811
    killed = mlci(repo, "promote", "--stage", "prod", env={KILL_AT: point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    retry = mlci(repo, "promote", "--stage", "prod", "--json")
    assert retry.returncode == 0, retry.stderr
    assert json.loads(retry.stdout)["version"]["stages"] == ["prod"]
    assert remote_tags(repo) == PROMOTED and tags(repo) == PROMOTED
    assert gto_stage(repo, tmp_path, "prod") == ["v0.0.1"]


def test_listing_after_a_kill_changes_nothing_and_names_the_interrupted_write(repo: Path):  # noqa: F811
    assert mlci(repo, "promote", "--stage", "prod", env={KILL_AT: "tags-created"}).returncode == -signal.SIGKILL
    assert tags(repo) == PROMOTED and remote_tags(repo) == []
    for command in (("registry", "list", "--json"), ("registry", "history", "--json")):
        read = mlci(repo, *command)
        assert read.returncode == 0, read.stderr
        assert json.loads(read.stdout) == []  # the registry is what origin holds: nothing yet
        assert "mlci registry recover" in read.stderr and "churn@v0.0.1" in read.stderr
    assert tags(repo) == PROMOTED and remote_tags(repo) == []  # a read pushed nothing, deleted nothing


def test_recover_finishes_the_interrupted_promotion(repo: Path, tmp_path: Path):  # noqa: F811
    assert mlci(repo, "promote", "--stage", "prod", env={KILL_AT: "tags-created"}).returncode == -signal.SIGKILL
    recovered = mlci(repo, "registry", "recover", "--json")
    assert recovered.returncode == 0, recovered.stderr
    done = json.loads(recovered.stdout)
    assert (sorted(done["finished"]), done["undone"]) == (PROMOTED, [])
    assert remote_tags(repo) == PROMOTED
    listed = json.loads(mlci(repo, "registry", "list", "--json").stdout)
    assert [(v["version"], v["stages"]) for v in listed] == [("v0.0.1", ["prod"])]
    assert gto_stage(repo, tmp_path, "prod") == ["v0.0.1"]


def test_recover_undoes_a_half_created_set(repo: Path):  # noqa: F811
    assert mlci(repo, "promote", "--stage", "prod", env={KILL_AT: "tag-created"}).returncode == -signal.SIGKILL
    assert tags(repo) == ["churn@v0.0.1"]
    recovered = mlci(repo, "registry", "recover", "--json")
    assert json.loads(recovered.stdout) == {"finished": [], "undone": ["churn@v0.0.1"]}
    assert tags(repo) == [] and remote_tags(repo) == []


def test_a_half_created_tag_set_without_origin_is_rolled_back_and_redone(repo: Path):  # noqa: F811
    git(repo, "remote", "remove", "origin")
    assert mlci(repo, "promote", "--stage", "prod", env={KILL_AT: "tag-created"}).returncode == -signal.SIGKILL
    assert tags(repo) == ["churn@v0.0.1"]  # the version tag alone: half a promotion
    assert mlci(repo, "promote", "--stage", "prod").returncode == 0
    assert tags(repo) == PROMOTED


def test_a_promotion_killed_during_the_push_is_finished_by_the_retry(repo: Path, tmp_path: Path):  # noqa: F811
    """A real SIGKILL of the whole process group while origin's pre-receive hook holds the push."""
    marker = tmp_path / "push-started"
    hook = repo.parent / "origin.git" / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\ncat >/dev/null\n[ -e '{marker}' ] && exit 0\ntouch '{marker}'\nsleep 60\n")
    hook.chmod(0o755)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "promote", "--stage", "prod"],
        cwd=repo,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the push never reached origin"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert remote_tags(repo) == []
    assert mlci(repo, "promote", "--stage", "prod").returncode == 0
    assert remote_tags(repo) == PROMOTED and tags(repo) == PROMOTED


def test_same_bytes_from_two_clones_converge_with_both_stages(repo: Path, tmp_path: Path):  # noqa: F811
    """Clone B numbers v0.0.1 while clone A registers the same bytes: B assigns its stage to A's version."""
    other = tmp_path / "other" / "repo"
    shutil.copytree(repo, other, symlinks=True)
    raced = []

    def rival_first(step: str) -> None:
        if step == "numbered" and not raced:
            raced.append(promote(other, stage="staging"))
            time.sleep(1.1)  # tag objects carry second-resolution dates: make ours a different object

    mine = promote(repo, stage="prod", on_step=rival_first)
    assert raced[0].created and not mine.created
    assert raced[0].version.version == mine.version.version == "v0.0.1"
    assert mine.version.stages == ("prod", "staging")
    assert remote_tags(repo) == ["churn#prod#2", "churn#staging#1", "churn@v0.0.1"]


def test_same_bytes_promoted_at_once_from_two_clones_is_one_version(repo: Path, tmp_path: Path):  # noqa: F811
    other = tmp_path / "other" / "repo"
    shutil.copytree(repo, other, symlinks=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "mlci", "promote", "--stage", stage, "--json"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for root, stage in ((repo, "prod"), (other, "staging"))
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert {json.loads(out)["version"]["version"] for out, _err in results} == {"v0.0.1"}
    tagged = remote_tags(repo)
    assert [t for t in tagged if "@" in t] == ["churn@v0.0.1"]
    assert sorted(t.split("#")[1] for t in tagged if "#" in t) == ["prod", "staging"]
    assert gto_stage(repo, tmp_path, "prod") == gto_stage(repo, tmp_path, "staging") == ["v0.0.1"]


# --- MLflow: the server is the registry; the retry completes what a kill left ------------


@pytest.mark.parametrize("point", ["uploaded", "version-created", "ready"])
def test_an_mlflow_promotion_killed_at_any_step_is_completed_by_the_retry(
    mlflow_repo: Path,
    mlflow_server,  # noqa: F811
    point: str,
):
    from tests.test_registry_mlflow import client, model_name

    name = model_name(mlflow_repo)
    killed = mlci(mlflow_repo, "promote", "--stage", "prod", env={KILL_AT: point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    aliases = client(mlflow_server.uri).get_registered_model(name).aliases if point != "uploaded" else {}
    assert "prod" not in (aliases or {})  # the stage never points at a half-made version
    retry = mlci(mlflow_repo, "promote", "--stage", "prod", "--json")
    assert retry.returncode == 0, retry.stderr
    listed = json.loads(mlci(mlflow_repo, "registry", "list", "--json").stdout)
    assert [(v["stages"], v["sha256"]) for v in listed if v["name"] == name] == [
        (["prod"], json.loads(retry.stdout)["version"]["sha256"])
    ]
