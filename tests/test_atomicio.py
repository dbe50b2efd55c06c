"""Files are written whole, with the mode the umask asks for; directories are swapped in whole."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mlci.store import atomicio


@pytest.fixture
def umask():
    def set_to(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    os.umask(old)
    yield set_to
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_a_written_file_gets_the_mode_the_umask_gives(tmp_path: Path, umask, mask: int, mode: int):
    umask(mask)
    target = tmp_path / "report.md"
    atomicio.write_text(target, "hello\n")
    assert stat.S_IMODE(target.stat().st_mode) == mode
    plain = tmp_path / "plain.txt"
    plain.write_text("what open() gives\n")
    assert stat.S_IMODE(plain.stat().st_mode) == mode


def test_a_staged_directory_replaces_the_old_one_whole(tmp_path: Path):
    final = tmp_path / "report"
    final.mkdir()
    (final / "report.md").write_text("old\n")
    (final / "stale.png").write_text("old plot\n")
    staged = atomicio.staging_dir(final)
    (staged / "report.md").write_text("new\n")
    assert (final / "report.md").read_text() == "old\n"  # nothing visible until the swap
    atomicio.swap_dir(staged, final)
    assert sorted(p.name for p in final.iterdir()) == ["report.md"]
    assert (final / "report.md").read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_leftovers_of_a_killed_build_are_removed_by_the_next(tmp_path: Path):
    final = tmp_path / "report"
    atomicio.staging_dir(final)  # never swapped: the process died
    atomicio.swap_dir(atomicio.staging_dir(final), final)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_pulled_model_is_readable_by_others_under_the_usual_umask(tmp_path: Path, umask):
    """A deploy step running as another user must be able to read the model (was 0600)."""
    from mlci.integrations.registry import dvc_storage

    umask(0o022)
    store = tmp_path / "store"
    blob = b"model bytes\n"
    digests = dvc_storage.file_digests(_write(tmp_path / "m.txt", blob))
    obj = store / "files" / "md5" / digests.md5[:2] / digests.md5[2:]
    obj.parent.mkdir(parents=True)
    obj.write_bytes(blob)
    root = tmp_path / "repo"
    root.mkdir()
    from mlci.store.pipeline import run_dvc
    from tests.helpers import git

    git(root, "init", "-q")
    run_dvc(root, "init", "-q")
    run_dvc(root, "remote", "add", "-d", "store", str(store))
    out = tmp_path / "deploy" / "model.txt"
    dvc_storage.download(root, digests.md5, None, out, sha256=digests.sha256)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_directory_whose_writing_fails_is_left_as_it_was(tmp_path: Path):
    final = tmp_path / "report"
    final.mkdir()
    (final / "report.md").write_text("old\n")
    with pytest.raises(OSError), atomicio.replacing_dir(final, {"report.md", "report.json"}) as staged:
        atomicio.write_text(staged / "report.json", "{}\n")
        raise OSError(28, "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging leftovers
    assert sorted(p.name for p in final.iterdir()) == ["report.md"] and (final / "report.md").read_text() == "old\n"
