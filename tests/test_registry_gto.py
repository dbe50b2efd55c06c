"""The git-tags registry: GTO reads what mlci writes and vice versa, bytes are verified,
and every failure (rejected push, broken remote, lost race, corrupted file) leaves nothing half done."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from mlci.errors import RegistryError, RemoteError
from mlci.integrations.registry.gto_tags import GitTagsBackend
from mlci.model.refs import parse
from mlci.store.pipeline import run_dvc
from mlci.workflows import run
from mlci.workflows.promote import promote
from tests.helpers import commit_all, git, invoke, invoke_json, set_param
from tests.test_promote import remote_tags, tags, with_dvc_remote, with_origin

RETRAINED = "retrained"


@pytest.fixture(scope="session")
def _two_models(_trained_example: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained example plus a branch whose model differs (another n_estimators), recorded."""
    root = tmp_path_factory.mktemp("two-models") / "repo"
    shutil.copytree(_trained_example, root, symlinks=True)
    git(root, "checkout", "-q", "-b", RETRAINED)
    set_param(root, "train.n_estimators", 40)
    commit_all(root, "fewer trees")
    run.run(root)
    commit_all(root, "train with fewer trees")
    run.run(root)
    git(root, "checkout", "-q", "main")
    run_dvc(root, "checkout", "-q")
    return root


@pytest.fixture
def repo(_two_models: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(_two_models, root, symlinks=True)
    with_dvc_remote(root)
    with_origin(root)
    return root


def test_gto_reads_the_registry_mlci_wrote(repo: Path):
    import gto.api

    promote(repo, stage="staging")
    assert gto.api.find_latest_version(str(repo), "churn").version == "v0.0.1"
    assert [v.version for v in gto.api.find_versions_in_stage(str(repo), "churn", "staging")] == ["v0.0.1"]


def test_mlci_reads_and_pulls_a_registry_gto_wrote(repo: Path, tmp_path: Path):
    import gto.api

    gto.api.register(str(repo), "churn", "HEAD", version="v1.0.0")
    gto.api.assign(str(repo), "churn", "prod", version="v1.0.0")
    run_dvc(repo, "push", "-q")  # with plain GTO the user pushes the bytes
    listed = invoke_json(repo, "registry", "list")
    assert [(v["version"], v["stages"], v["sha256"]) for v in listed] == [("v1.0.0", ["prod"], None)]
    out = tmp_path / "out"
    result = invoke(repo, "registry", "pull", "churn#prod", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert (out / "model.txt").read_bytes() == (repo / "models" / "model.txt").read_bytes()


def test_pull_returns_exactly_the_promoted_bytes(repo: Path, tmp_path: Path):
    promoted = promote(repo, stage="prod").version
    data = invoke_json(repo, "registry", "pull", "churn#prod", "-o", str(tmp_path / "got"))
    assert data["sha256"] == promoted.sha256
    assert (tmp_path / "got" / "model.txt").read_bytes() == (repo / "models" / "model.txt").read_bytes()


def test_pull_refuses_an_artifact_corrupted_in_the_remote(repo: Path, tmp_path: Path):
    v = promote(repo).version
    stored = repo.parent / "dvc-store" / "files" / "md5" / v.metadata["md5"][:2] / v.metadata["md5"][2:]
    os.chmod(stored, stat.S_IWUSR | stat.S_IRUSR)
    stored.write_bytes(stored.read_bytes().replace(b"tree", b"TREE", 1))
    out = tmp_path / "out"
    result = invoke(repo, "registry", "pull", "churn@v0.0.1", "-o", str(out))
    assert result.exit_code == 8
    assert "integrity check failed" in result.stderr
    assert not out.exists() or list(out.iterdir()) == []


def test_a_rejected_push_leaves_no_tag_anywhere(repo: Path):
    hook = repo.parent / "origin.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'tags are frozen today' >&2\nexit 1\n")
    hook.chmod(0o755)
    result = invoke(repo, "promote", "--stage", "prod")
    assert result.exit_code == 7
    assert "rejected the registry tags" in result.stderr and "tags are frozen today" in result.stderr
    assert tags(repo) == [] and remote_tags(repo) == []


def test_an_unwritable_dvc_remote_creates_no_tag(repo: Path):
    store = repo.parent / "dvc-store"
    store.rmdir()
    store.write_text("a file where the remote directory should be\n")  # any write fails, even as root
    with pytest.raises((RemoteError, RegistryError)):
        promote(repo)
    assert tags(repo) == [] and remote_tags(repo) == []


def test_no_dvc_remote_is_a_clear_error(repo: Path):
    run_dvc(repo, "remote", "remove", "--local", "store")
    result = invoke(repo, "promote")
    assert result.exit_code == 8 and "dvc remote add -d" in result.stderr
    assert tags(repo) == []


def test_a_version_number_taken_during_the_push_is_renumbered(repo: Path, tmp_path: Path):
    """Clone B creates churn@v0.0.1 locally; clone A pushes that number first; B must retry as v0.0.2."""
    rival = tmp_path / "rival" / "repo"
    shutil.copytree(repo, rival, symlinks=True)
    git(repo, "checkout", "-q", RETRAINED)
    run_dvc(repo, "checkout", "-q")
    raced = []

    def rival_wins(step: str) -> None:
        if step == "tags-created" and not raced:
            raced.append(promote(rival).version.version)

    mine = promote(repo, force=True, on_step=rival_wins).version
    assert raced == ["v0.0.1"] and mine.version == "v0.0.2"
    assert remote_tags(repo) == ["churn@v0.0.1", "churn@v0.0.2"]
    assert tags(repo) == ["churn@v0.0.1", "churn@v0.0.2"]


def test_stage_moves_to_the_newest_assignment(repo: Path):
    promote(repo, stage="prod")
    git(repo, "checkout", "-q", RETRAINED)
    run_dvc(repo, "checkout", "-q")
    promote(repo, stage="prod", force=True)
    backend = GitTagsBackend(repo)
    assert backend.resolve(parse("churn#prod")).version == "v0.0.2"
    assert [(v.version, v.stages) for v in backend.versions("churn")] == [("v0.0.1", ()), ("v0.0.2", ("prod",))]
    import gto.api

    assert [v.version for v in gto.api.find_versions_in_stage(str(repo), "churn", "prod")] == ["v0.0.2"]


def test_list_and_show_speak_json(repo: Path):
    promote(repo, stage="staging")
    listed = invoke_json(repo, "registry", "list")
    assert [(v["name"], v["version"], v["stages"]) for v in listed] == [("churn", "v0.0.1", ["staging"])]
    shown = invoke_json(repo, "registry", "show", "churn#staging")
    assert shown["metadata"]["metrics"]["metrics.json"]["auc"] > 0.5
    human = invoke(repo, "registry", "show", "churn@v0.0.1")
    assert human.exit_code == 0 and "churn@v0.0.1" in human.stdout


def test_unknown_stage_and_bad_reference_are_clear_errors(repo: Path):
    promote(repo)
    missing = invoke(repo, "registry", "show", "churn#prod")
    assert missing.exit_code == 8 and "no version of 'churn' is in stage 'prod'" in missing.stderr
    bad = invoke(repo, "registry", "show", "churn@1.0")
    assert bad.exit_code == 2 and "invalid version '1.0'" in bad.stderr


def test_promote_json_reports_a_noop_on_the_second_call(repo: Path):
    first = json.loads(invoke(repo, "promote", "--json").stdout)
    second = json.loads(invoke(repo, "promote", "--json").stdout)
    assert (first["created"], second["created"]) == (True, False)
    assert second["version"]["version"] == first["version"]["version"]


def test_a_number_taken_locally_between_numbering_and_tagging_is_renumbered(repo: Path):
    """No origin: `git tag` itself is the lock; another process tagging v0.0.1 first makes us retry."""
    git(repo, "remote", "remove", "origin")

    def someone_else_tags(step: str) -> None:
        if step == "numbered" and "churn@v0.0.1" not in tags(repo):
            git(repo, "tag", "-a", "churn@v0.0.1", "-m", "Registering artifact churn version v0.0.1", "HEAD~1")

    v = promote(repo, on_step=someone_else_tags).version
    assert v.version == "v0.0.2"
    assert tags(repo) == ["churn@v0.0.1", "churn@v0.0.2"]


def test_two_promotions_at_once_get_different_numbers(repo: Path, tmp_path: Path):
    import subprocess
    import sys

    other = tmp_path / "other" / "repo"
    shutil.copytree(repo, other, symlinks=True)
    git(other, "checkout", "-q", RETRAINED)
    run_dvc(other, "checkout", "-q")
    mlci = [sys.executable, "-m", "mlci", "promote", "--force", "--json"]
    procs = [
        subprocess.Popen(mlci, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for root in (repo, other)
    ]
    results = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    versions = sorted(json.loads(out)["version"]["version"] for out, _err in results)
    assert versions == ["v0.0.1", "v0.0.2"]
    assert remote_tags(repo) == ["churn@v0.0.1", "churn@v0.0.2"]


def test_a_damaged_copy_already_in_the_remote_is_replaced_before_tagging(repo: Path):
    import hashlib

    model = (repo / "models" / "model.txt").read_bytes()
    md5 = hashlib.md5(model).hexdigest()  # noqa: S324 - DVC's object id
    stale = repo.parent / "dvc-store" / "files" / "md5" / md5[:2] / md5[2:]
    stale.parent.mkdir(parents=True)
    stale.write_bytes(model[:100])  # an interrupted upload from some earlier attempt
    v = promote(repo).version
    assert hashlib.sha256(stale.read_bytes()).hexdigest() == v.sha256
