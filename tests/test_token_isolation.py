"""No GitHub token in any process that runs pipeline code: a hostile DVC stage walks /proc.

The stage reads `/proc/*/environ` of every process it can (its ancestors included, as the
attack in the issue did) and records every `*TOKEN*` variable and every value that holds the
test's unique token. mlci runs as a real process (`python -m mlci …`), started with the token
in its environment, as a user or a workflow step would start it.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import commit_all, git
from tests.plugins.fake_github import actions_env

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

PROBE = r"""
import json, os, sys

def environ(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            return dict(e.split(b"=", 1) for e in handle.read().split(b"\0") if b"=" in e)
    except OSError:
        return None

def parent(pid):
    with open(f"/proc/{pid}/status") as handle:
        return int(next(l for l in handle if l.startswith("PPid:")).split()[1])

seen = {}
for entry in os.listdir("/proc"):
    if entry.isdigit() and (env := environ(entry)) is not None:
        seen[entry] = {k.decode(): v.decode("utf-8", "replace") for k, v in env.items()
                       if b"TOKEN" in k.upper() or b"ghs_" in v or b"AUTHORIZATION" in v.upper()}
chain, pid = [], os.getpid()
while pid > 1:
    chain.append(pid)
    pid = parent(pid)
with open(os.environ["PROBE_OUT"], "w") as out:
    json.dump({"chain": chain, "found": {p: v for p, v in seen.items() if v}, "readable": len(seen)}, out)
"""


@pytest.fixture(scope="module")
def _probed(_trained_example: Path, tmp_path_factory) -> Path:
    """The example with an extra always-running stage (the probe), committed and recorded clean."""
    import shutil

    from mlci.workflows.run import run

    root = tmp_path_factory.mktemp("probed") / "repo"
    shutil.copytree(_trained_example, root, symlinks=True)
    (root / "src" / "probe.py").write_text(PROBE)
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    dvc["stages"]["probe"] = {"cmd": "python src/probe.py", "deps": ["src/probe.py"], "always_changed": True}
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    commit_all(root, "A stage that looks for tokens")
    os.environ["PROBE_OUT"] = str(root.parent / "setup-probe.json")
    try:
        run(root)
        commit_all(root, "Lock the probe stage")
        run(root)
    finally:
        del os.environ["PROBE_OUT"]
    return root


@pytest.fixture
def probed(_probed: Path, tmp_path: Path) -> Path:
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(_probed, root, symlinks=True)
    return root


@pytest.fixture
def secret(fake_github) -> str:
    token = f"ghs_isolation{secrets.token_hex(16)}"
    fake_github.token = token
    return token


def _mlci(root: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess, dict, int]:
    probe_out = root.parent / f"probe-{args[0]}.json"
    env = {**env, "PROBE_OUT": str(probe_out), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", *args],
        cwd=root,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(timeout=600)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert probe_out.exists(), f"the probe stage did not run:\n{out}\n{err}"
    return done, json.loads(probe_out.read_text()), proc.pid


def _assert_no_token(report: dict, mlci_pid: int, token: str) -> None:
    chain = report["chain"]
    assert mlci_pid in chain, "the probe must run under the mlci process the test started"
    ours = chain[: chain.index(mlci_pid) + 1]  # the stage, DVC, the shell, …, mlci itself
    assert report["readable"] >= len(ours)
    leaked_to_ancestors = {p: v for p, v in report["found"].items() if int(p) in ours}
    assert leaked_to_ancestors == {}, f"*TOKEN* variables in the stage's process tree: {leaked_to_ancestors}"
    assert token not in json.dumps(report["found"]), "the token is readable in some process's environment"


def _base_env(token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "TOKEN" not in k.upper()}
    env.update({"GITHUB_TOKEN": token, "GH_TOKEN": token, "MLCI_TOKEN": token})
    return env


def test_mlci_ci_runs_stages_where_no_process_holds_the_token_and_still_publishes(
    probed, fake_github, secret, tmp_path
):
    git(probed, "checkout", "-q", "-b", "feature")
    (probed / "NOTES.md").write_text("docs\n")
    sha = commit_all(probed, "Docs")
    env = {**_base_env(secret), **actions_env(fake_github, tmp_path / "runner", sha=sha, token=secret)}
    done, report, pid = _mlci(probed, env, "ci")
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_no_token(report, pid, secret)
    [comment] = fake_github.issue_comments(12)  # the token reached the publish step through the pipe
    assert "auc" in comment["body"]
    assert secret not in done.stdout + done.stderr


def test_mlci_reproduce_runs_stages_where_no_process_holds_the_token(probed, secret):
    done, report, pid = _mlci(probed, _base_env(secret), "reproduce", "HEAD")
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_no_token(report, pid, secret)


def test_mlci_retrain_runs_stages_where_no_process_holds_the_token(probed, secret):
    done, report, pid = _mlci(probed, _base_env(secret), "retrain", "--against", "main")
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_no_token(report, pid, secret)


def test_the_probe_would_see_a_token_left_in_an_ancestor(probed, secret):
    """The check above can fail: a shell that holds the token, above `mlci run`, is caught."""
    probe_out = probed.parent / "probe-shell.json"
    env = {**_base_env(secret), "PROBE_OUT": str(probe_out), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    shell = subprocess.Popen(
        ["bash", "-c", f"'{sys.executable}' -m mlci run; true"],
        cwd=probed,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert shell.wait(timeout=600) == 0
    report = json.loads(probe_out.read_text())
    assert shell.pid in report["chain"]
    assert secret in json.dumps(report["found"][str(shell.pid)])


def test_stage_environment_drops_token_variables_and_git_auth_headers_only():
    from mlci.integrations.github.gitauth import auth_env
    from mlci.runner.tokenenv import stage_env

    environ = {
        "PATH": "/bin",
        "ACTIONS_RUNTIME_TOKEN": "x" * 20,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "y" * 20,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "core.autocrlf",
        "GIT_CONFIG_VALUE_0": "false",
    }
    environ.update(auth_env("ghs_" + "z" * 36, "https://github.com", environ))
    env = stage_env(environ)
    assert env == {
        "PATH": "/bin",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "core.autocrlf",
        "GIT_CONFIG_VALUE_0": "false",
    }
