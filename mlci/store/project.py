"""A project: the git repository, its root and its validated mlci.yaml, opened once per command.

Commands open it once and hand it down, so a command reads and validates mlci.yaml once and
resolves the repository once; library users may still pass a path (`opened` opens it then).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci.store import config as config_mod
from mlci.store import gitrepo


@dataclass(frozen=True)
class Project:
    repo: Any  # git.Repo
    root: Path
    config: config_mod.Config
    config_path: Path | None = None

    @classmethod
    def open(cls, path: Path | str = ".", config_path: Path | None = None, *, pipeline: bool = True) -> Project:
        """`pipeline=False`: settings only (config.load's), for reads that need no pipeline."""
        repo = gitrepo.open_repo(path)
        root = gitrepo.root(repo)
        return cls(repo, root, config_mod.load(root, config_path, start=path, pipeline=pipeline), config_path)

    @property
    def dvc_dir(self) -> str:
        """The DVC project's folder from the git root ("" when the git root is the DVC project)."""
        return self.config.dvc_dir

    @property
    def dvc_root(self) -> Path:
        return self.config.dvc_root


def opened(target: Project | Path | str, config_path: Path | None = None) -> Project:
    """`target` itself when it is a Project, else the project at that path."""
    return target if isinstance(target, Project) else Project.open(target, config_path)
