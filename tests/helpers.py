"""Small helpers the tests share: drive git and the CLI the way a user would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from click.testing import CliRunner, Result

from mlci.cli import cli


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit_all(cwd: Path, message: str) -> str:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD")


def invoke(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """Run `mlci -C cwd ARGS` in-process through click, as the console script does."""
    return CliRunner().invoke(cli, ["-C", str(cwd), *args], env=env, catch_exceptions=False)


def invoke_json(cwd: Path, *args: str) -> dict:
    result = invoke(cwd, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def set_param(root: Path, dotted: str, value) -> None:
    """Change one key of params.yaml, keeping the rest of the file as written."""
    import yaml

    path = root / "params.yaml"
    data = yaml.safe_load(path.read_text())
    section, key = dotted.split(".")
    data[section][key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def pr_branch(trained: Path, dest: Path, branch: str, params: dict[str, object], message: str) -> Path:
    """A copy of a trained repo on a new branch whose commit changes `params` (dotted keys)."""
    import shutil

    shutil.copytree(trained, dest, symlinks=True)
    git(dest, "checkout", "-q", "-b", branch)
    for key, value in params.items():
        set_param(dest, key, value)
    commit_all(dest, message)
    return dest


def with_origin(root: Path) -> Path:
    """A bare `origin.git` beside `root`, added as its `origin` with `main` pushed: what a clone has."""
    origin = root.parent / "origin.git"
    git(root.parent, "init", "-q", "--bare", str(origin))
    git(root, "remote", "add", "origin", str(origin))
    git(root, "push", "-q", "origin", "main")
    return origin
