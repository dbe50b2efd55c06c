"""Release-ready: the wheel and sdist build offline and pass `twine check --strict`, carry what
the action and `mlci init` need, and .github/workflows/release.yml publishes on a version tag
with PyPI trusted publishing and moves the major tag."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from mlci import __version__
from tests.helpers import commit_all, git

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / ".github" / "workflows" / "release.yml"


def _build(source: Path, out: Path, *what: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", *what, "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The distributions as release.yml builds them, from a copy (the build writes nothing here)."""
    out = tmp_path_factory.mktemp("dist")
    _build(ROOT, out)
    return out


def _wheel(dist: Path) -> zipfile.ZipFile:
    return zipfile.ZipFile(dist / f"mlci-{__version__}-py3-none-any.whl")


def _sdist_names(dist: Path) -> set[str]:
    with tarfile.open(dist / f"mlci-{__version__}.tar.gz") as sdist:
        return {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}


def test_build_gives_one_wheel_and_one_sdist_that_twine_check_strict_accepts(dist):
    assert sorted(p.name for p in dist.iterdir()) == [
        f"mlci-{__version__}-py3-none-any.whl",
        f"mlci-{__version__}.tar.gz",
    ]
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2


def test_twine_check_strict_would_reject_a_broken_description(tmp_path):
    """The check above can fail: a README that does not render is refused."""
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "mlci", copy / "mlci", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "templates", copy / "templates")
    shutil.copy(ROOT / "LICENSE", copy / "LICENSE")
    pyproject = (
        (ROOT / "pyproject.toml")
        .read_text()
        .replace('readme = "README.md"', 'readme = {file = "README.rst", content-type = "text/x-rst"}')
    )
    (copy / "pyproject.toml").write_text(pyproject)
    (copy / "README.rst").write_text("mlci\n====\n\n.. broken-directive::\n\n`unclosed\n")
    out = tmp_path / "dist"
    _build(copy, out, "--wheel")
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, out.iterdir())],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "FAILED" in done.stdout


def test_the_wheel_carries_the_templates_mlci_init_writes_and_the_entry_point(dist):
    with _wheel(dist) as wheel:
        names = set(wheel.namelist())
        for template in [*ROOT.glob("templates/workflows*/*.yml"), *ROOT.glob("templates/example*/*.yaml")]:
            rel = template.relative_to(ROOT).as_posix()
            assert wheel.read(f"mlci/{rel}") == template.read_bytes(), rel
        assert "mlci/workflows/templategen.py" in names and "mlci/cli/__init__.py" in names
        assert f"mlci-{__version__}.dist-info/licenses/LICENSE" in names
        entry = wheel.read(f"mlci-{__version__}.dist-info/entry_points.txt").decode()
        metadata = wheel.read(f"mlci-{__version__}.dist-info/METADATA").decode()
    assert "mlci = mlci.cli:main" in entry
    assert "License-Expression: Apache-2.0" in metadata and "Provides-Extra: mlflow" in metadata
    assert not any(name.startswith("tests/") for name in names)


def test_the_sdist_carries_the_tests_the_action_and_its_locks(dist):
    names = _sdist_names(dist)
    for required in (
        "README.md",
        "LICENSE",
        "pyproject.toml",
        "action.yml",
        "scripts/action-step.sh",
        "scripts/gen-templates",
        "requirements.lock",
        "requirements-release.lock",
        "tests/conftest.py",
        "tests/helpers.py",
        "tests/plugins/fake_github.py",
        "templates/workflows/pr.yml",
        "templates/workflows-cpu/pr.yml",
    ):
        assert required in names, required
    assert not any(name.startswith((".git/", ".benchmarks/")) or "__pycache__" in name for name in names)


def test_a_wheel_built_from_the_sdist_is_the_wheel(dist, tmp_path):
    with tarfile.open(dist / f"mlci-{__version__}.tar.gz") as sdist:
        sdist.extractall(tmp_path, filter="data")
    _build(tmp_path / f"mlci-{__version__}", tmp_path / "again", "--wheel")
    with _wheel(dist) as first, _wheel(tmp_path / "again") as second:
        assert sorted(first.namelist()) == sorted(second.namelist())


# --- release.yml ---------------------------------------------------------------------------


def _release() -> dict:
    return yaml.safe_load(RELEASE.read_text())


def test_release_runs_on_version_tags_only_with_no_default_permissions():
    workflow = _release()
    assert workflow[True] == {"push": {"tags": ["v*.*.*"]}}
    assert workflow["permissions"] == {}
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_only_the_publish_job_can_mint_an_oidc_token_and_it_uses_the_pypi_environment():
    jobs = _release()["jobs"]
    assert [name for name, job in jobs.items() if "id-token" in job.get("permissions", {})] == ["publish"]
    publish = jobs["publish"]
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi" and publish["needs"] == "build"
    uses = [step["uses"] for step in publish["steps"] if "pypa/gh-action-pypi-publish" in step.get("uses", "")]
    assert len(uses) == 1 and len(uses[0].split("@")[1]) == 40, "pin the publish action by commit SHA"
    assert not any("password" in (step.get("with") or {}) for step in publish["steps"]), "trusted publishing only"


def test_release_builds_with_the_locked_tools_and_checks_before_publishing():
    build = "\n".join(step.get("run", "") for step in _release()["jobs"]["build"]["steps"])
    assert "--require-hashes" in build and "-r requirements-release.lock" in build
    assert build.index("-m build --no-isolation") < build.index("twine check --strict")


def _tag_step() -> str:
    steps = _release()["jobs"]["move-major-tag"]["steps"]
    return next(step["run"] for step in steps if step.get("name") == "Point the major tag at this release")


@pytest.fixture
def released(tmp_path) -> tuple[Path, Path, str, str]:
    """A clone whose origin has v1 at an old commit and the new release commit."""
    origin, clone = tmp_path / "origin.git", tmp_path / "clone"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(tmp_path, "clone", "-q", str(origin), str(clone))
    (clone / "a").write_text("1\n")
    old = commit_all(clone, "1.0.0")
    git(clone, "tag", "v1")
    (clone / "a").write_text("2\n")
    new = commit_all(clone, "1.1.0")
    git(clone, "push", "-q", "origin", "HEAD:refs/heads/main", "refs/tags/v1")
    return origin, clone, old, new


def _move(clone: Path, tag: str, sha: str) -> subprocess.CompletedProcess:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
        "TAG": tag,
        "GITHUB_SHA": sha,
        "GITHUB_TOKEN": "ghs_release_token",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", _tag_step()],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_release_moves_the_major_tag_on_the_origin_to_the_release_commit(released):
    origin, clone, old, new = released
    assert git(origin, "rev-parse", "v1^{commit}") == old
    done = _move(clone, "v1.1.0", new)
    assert done.returncode == 0, done.stderr
    assert git(origin, "rev-parse", "v1^{commit}") == new
    assert "ghs_release_token" not in done.stdout + done.stderr.replace("::add-mask::", "")


def test_a_pre_release_leaves_the_major_tag_alone(released):
    origin, clone, old, new = released
    done = _move(clone, "v1.1.0rc1", new)
    assert done.returncode == 0, done.stderr
    assert git(origin, "rev-parse", "v1^{commit}") == old
