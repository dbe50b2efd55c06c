"""Shared fixtures: real git repos, a real DVC project trained once per session.

Everything runs offline: git identity and HOME are set here so that no user config or
network setting leaks in, and DVC analytics are off.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers import commit_all, git, pr_branch

# Server fixtures (fake_github, mlflow_server, …) live one module each in tests/plugins/.
pytest_plugins = [
    f"tests.plugins.{p.stem}" for p in sorted((Path(__file__).parent / "plugins").glob("*.py")) if p.stem != "__init__"
]


# Fixtures that start a server once per session; with pytest-xdist every module using one runs on
# the same worker, so the whole run starts each server once.
_SESSION_SERVERS = ("mlflow_server", "dask_cluster")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):  # noqa: ANN001, ANN201
    """Workers (`-n auto`) take whole modules, so a module's fixtures are built once, and every
    module of one session server (found by the fixture's name in its text) is one unit.
    (`--dist loadgroup` would do it with marks, but pytest 9.2 ignores the node ids it rewrites.)"""
    from xdist.scheduler import LoadScopeScheduling

    shared = {}
    for path in sorted(Path(__file__).parent.glob("test_*.py")):
        text = path.read_text()
        for fixture in _SESSION_SERVERS:
            if fixture in text:
                shared[f"tests/{path.name}"] = fixture
                break

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return shared.get(module, module)

    return ByModule(config, log)


_HOME = tempfile.mkdtemp(prefix="mlci-test-home-")
os.environ.update(
    {
        "HOME": _HOME,
        "GIT_AUTHOR_NAME": "mlci test",
        "GIT_AUTHOR_EMAIL": "test@mlci.invalid",
        "GIT_COMMITTER_NAME": "mlci test",
        "GIT_COMMITTER_EMAIL": "test@mlci.invalid",
        "GIT_CONFIG_NOSYSTEM": "1",
        "DVC_NO_ANALYTICS": "1",
        "MPLBACKEND": "Agg",
    }
)
for _var in ("GITHUB_ACTIONS", "GITHUB_TOKEN", "GITHUB_EVENT_NAME", "GITHUB_HEAD_REF", "MLCI_DVC"):
    os.environ.pop(_var, None)
# Stages run the project's own `python` (first on PATH); here the project's environment is the
# test interpreter's, activated as a user would, however pytest itself was started.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
if sys.prefix != sys.base_prefix:
    os.environ["VIRTUAL_ENV"] = sys.prefix
Path(_HOME, ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty-ish git repo on `main` with one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README.md").write_text("test repo\n")
    commit_all(root, "initial commit")
    return root


@pytest.fixture(scope="session")
def _trained_example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example pipeline on `main`: committed, trained, outputs committed, baseline recorded."""
    from mlci.workflows import run, scaffold

    root = tmp_path_factory.mktemp("trained") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    scaffold.init(root, example=True)
    commit_all(root, "Add pipeline")
    run.run(root)
    commit_all(root, "Train baseline")
    run.run(root)
    return root


@pytest.fixture
def trained_repo(_trained_example: Path, tmp_path: Path) -> Path:
    """A private copy of the trained example (git history, notes and DVC cache included)."""
    root = tmp_path / "repo"
    shutil.copytree(_trained_example, root, symlinks=True)
    return root


@pytest.fixture
def clean_pr(trained_repo: Path) -> Path:
    """A PR that changes no input of the pipeline: every metric unchanged."""
    git(trained_repo, "checkout", "-q", "-b", "feature")
    (trained_repo / "NOTES.md").write_text("docs only\n")
    commit_all(trained_repo, "Docs")
    return trained_repo


@pytest.fixture
def gh_env(fake_github, monkeypatch):
    """The loopback GitHub as the environment of an Actions job names it."""
    monkeypatch.setenv("GITHUB_API_URL", fake_github.url)
    monkeypatch.setenv("GITHUB_TOKEN", fake_github.token)
    monkeypatch.setenv("GITHUB_REPOSITORY", fake_github.repo)
    return fake_github


@pytest.fixture(scope="module")
def _regressed_pr(_trained_example: Path, tmp_path_factory) -> Path:
    """A PR branch that makes the model much worse, already trained (so each test only reports)."""
    from mlci.workflows.run import run

    root = pr_branch(
        _trained_example,
        tmp_path_factory.mktemp("pr") / "repo",
        "feature",
        {"train.n_estimators": 2, "train.num_leaves": 2},
        "Shrink the model",
    )
    run(root, store=False)
    return root
