"""`mlci pull` / the action's `dvc-pull` input against a real local DVC remote and fresh clones.

The project tracks an input with `dvc add`, pushes it to a directory remote, and is cloned
afresh (no DVC cache), as a CI checkout is.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path

import pytest
import yaml

from mlci.store.pipeline import run_dvc
from tests.helpers import commit_all, git, invoke
from tests.plugins.fake_github import actions_env
from tests.test_action import run_action, sha

_STAGE = """\
import json, os
rows = open('inputs/extra.csv').read().split()
json.dump({'extra_rows': len(rows)}, open('extra.json', 'w'))
json.dump({'seen': sorted(k for k in os.environ if k.startswith(('AWS_', 'AZURE_', 'GOOGLE_')))},
          open('stage_env.json', 'w'))
# What the stage could read from its ancestors in the step (/proc/<pid>/environ: same user).
found, pid = set(), os.getppid()
while pid > 1:
    try:
        env = open(f'/proc/{pid}/environ', 'rb').read().split(b'\\0')
    except OSError:
        break
    if b'MLCI_PHASE=run' not in env:
        break  # above the action's run step
    found |= {e.split(b'=')[0].decode() for e in env if e.startswith((b'AWS_', b'AZURE_', b'GOOGLE_'))}
    pid = int(open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[1])
json.dump({'ancestors': sorted(found)}, open('ancestors.json', 'w'))
"""


def _track_input(root: Path, remote: Path) -> None:
    """Add a `dvc add`-tracked input, a stage that reads it, and a directory remote holding it."""
    (root / "inputs").mkdir(exist_ok=True)
    (root / "inputs" / "extra.csv").write_text("".join(f"{i},{i * i}\n" for i in range(50)))
    run_dvc(root, "add", "inputs/extra.csv")
    (root / "src" / "extra.py").write_text(_STAGE)
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    dvc["stages"]["extra"] = {
        "cmd": "python src/extra.py",
        "deps": ["src/extra.py", "inputs/extra.csv"],
        "outs": [{"stage_env.json": {"cache": False}}, {"ancestors.json": {"cache": False}}],
        "metrics": [{"extra.json": {"cache": False}}],
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    run_dvc(root, "remote", "add", "-d", "store", str(remote))
    run_dvc(root, "push")  # the stage never ran here: a clone has to run it, on the pulled input
    commit_all(root, "Track inputs/extra.csv with DVC, pushed to the store remote")


def _fresh_clone(origin: Path, dest: Path, branch: str = "main") -> Path:
    git(origin.parent, "clone", "-q", "-b", branch, str(origin), str(dest))
    assert not (dest / ".dvc" / "cache").exists() and not (dest / "inputs" / "extra.csv").exists()
    assert not (dest / "stage_env.json").exists()
    return dest


@pytest.fixture
def tracked(trained_repo: Path, tmp_path: Path) -> Path:
    """The trained example plus a DVC-tracked input, pushed to tmp/remote; a `feature` PR on top."""
    _track_input(trained_repo, tmp_path / "remote")
    git(trained_repo, "checkout", "-q", "-b", "feature")
    (trained_repo / "NOTES.md").write_text("docs only\n")
    commit_all(trained_repo, "Docs")
    return trained_repo


def test_pull_fetches_the_stages_tracked_inputs_into_a_fresh_clone(tracked, tmp_path):
    clone = _fresh_clone(tracked, tmp_path / "clone", "feature")
    result = invoke(clone, "pull", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["targets"] == ["inputs/extra.csv.dvc"]
    assert (clone / "inputs" / "extra.csv").read_text() == (tracked / "inputs" / "extra.csv").read_text()


def test_pull_takes_no_stage_output_from_the_remote(tracked, tmp_path):
    # models/model.txt (an output of `train`) is in the remote too; only inputs are pulled
    run_dvc(tracked, "push")
    clone = _fresh_clone(tracked, tmp_path / "clone", "feature")
    assert invoke(clone, "pull").exit_code == 0
    assert (clone / "inputs" / "extra.csv").is_file()
    assert not (clone / "models" / "model.txt").exists()


def test_explicit_targets_are_passed_to_dvc_pull(tracked, tmp_path):
    clone = _fresh_clone(tracked, tmp_path / "clone", "feature")
    result = invoke(clone, "pull", "inputs/extra.csv.dvc", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["targets"] == ["inputs/extra.csv.dvc"]
    assert (clone / "inputs" / "extra.csv").is_file()


def test_a_remote_directory_that_does_not_exist_is_unreachable_exit_7(tracked, tmp_path):
    clone = _fresh_clone(tracked, tmp_path / "clone", "feature")
    run_dvc(clone, "remote", "modify", "--local", "store", "url", str(tmp_path / "nowhere"))
    result = invoke(clone, "pull")
    assert result.exit_code == 7
    assert result.stderr.startswith("mlci: error: DVC remote 'store'")
    assert "cannot be reached" in result.stderr and "Traceback" not in result.stderr


def test_a_refused_port_is_unreachable_exit_7(tracked, tmp_path):
    import socket

    with socket.socket() as sock:  # a port that was just free: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    clone = _fresh_clone(tracked, tmp_path / "clone", "feature")
    run_dvc(clone, "remote", "modify", "--local", "store", "url", f"http://127.0.0.1:{port}/dvc")
    result = invoke(clone, "pull")
    assert result.exit_code == 7
    assert f"DVC remote 'store' (http://127.0.0.1:{port}/dvc) cannot be reached" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_a_remote_missing_the_object_is_exit_8(tracked, tmp_path):
    remote = tmp_path / "remote"
    digest = yaml.safe_load((tracked / "inputs" / "extra.csv.dvc").read_text())["outs"][0]["md5"]
    [obj] = [p for p in remote.rglob("*") if p.is_file() and p.parent.name + p.name == digest]
    obj.unlink()
    clone = _fresh_clone(tracked, tmp_path / "clone", "feature")
    result = invoke(clone, "pull")
    assert result.exit_code == 8
    first = result.stderr.splitlines()[0]
    assert first == (
        f"mlci: error: the DVC remote lacks 1 object(s) (md5 {digest}) that this commit needs; "
        "`dvc push` them from a machine that has the data"
    )
    assert not (clone / "inputs" / "extra.csv").exists()


def test_no_remote_configured_is_a_config_error(tracked, tmp_path):
    clone = _fresh_clone(tracked, tmp_path / "clone", "feature")
    run_dvc(clone, "remote", "remove", "store")
    result = invoke(clone, "pull")
    assert result.exit_code == 3
    assert "no DVC remote" in result.stderr


def test_a_pipeline_without_tracked_inputs_pulls_nothing(trained_repo):
    result = invoke(trained_repo, "pull", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["targets"] == []


# --- through the action's steps --------------------------------------------------------------


def _recording_dvc(tmp_path: Path) -> Path:
    """MLCI_DVC: the real DVC, after noting which cloud credential variables its process sees."""
    log = tmp_path / "dvc-env.jsonl"
    script = tmp_path / "dvc-recording"
    script.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'cmd': sys.argv[1], 'env': sorted(k for k in os.environ"
        " if k.startswith(('AWS_', 'AZURE_', 'GOOGLE_')))}) + '\\n')\n"
        f"os.execv({sys.executable!r}, [{sys.executable!r}, '-m', 'dvc', *sys.argv[1:]])\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_the_action_pulls_then_runs_a_fresh_clone_and_cloud_credentials_stay_out_of_stages(
    tracked, fake_github, tmp_path
):
    clone = _fresh_clone(tracked, tmp_path / "clone", "feature")
    recorder = _recording_dvc(tmp_path)
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(clone))
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "AKIAEXAMPLEEXAMPLE",
            "AWS_SECRET_ACCESS_KEY": "not-a-real-secret-key",
            "MLCI_DVC": str(recorder),
        }
    )
    run = run_action(clone, env, {"dvc-pull": "true"})
    assert run.rc == 0, run.log
    assert run.outputs["verdict"] == "success"
    assert json.loads((clone / "extra.json").read_text()) == {"extra_rows": 50}  # ran on the pulled input
    calls = [json.loads(line) for line in (tmp_path / "dvc-env.jsonl").read_text().splitlines()]
    [pull] = [c for c in calls if c["cmd"] == "pull"]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(pull["env"])  # the pull gets them...
    assert all(c["env"] == [] for c in calls if c["cmd"] != "pull")  # ...DVC in the run step does not
    assert json.loads((clone / "stage_env.json").read_text()) == {"seen": []}  # nor does the stage
    assert json.loads((clone / "ancestors.json").read_text()) == {"ancestors": []}  # nor its step's shells


def test_without_dvc_pull_a_fresh_clone_fails_on_the_missing_input(tracked, fake_github, tmp_path):
    clone = _fresh_clone(tracked, tmp_path / "clone", "feature")
    run = run_action(clone, actions_env(fake_github, tmp_path / "runner", sha=sha(clone)))
    assert run.rc == 6, run.log
    assert "inputs/extra.csv" in run.log


def test_the_action_stops_with_7_before_running_when_the_remote_is_unreachable(tracked, fake_github, tmp_path):
    clone = _fresh_clone(tracked, tmp_path / "clone", "feature")
    shutil.rmtree(tmp_path / "remote")
    run = run_action(
        clone, actions_env(fake_github, tmp_path / "runner", sha=sha(clone)), {"dvc-pull": "inputs/extra.csv.dvc"}
    )
    assert run.rc == 7
    assert "mlci: error: DVC remote 'store'" in run.log
    assert fake_github.check_runs == [] and fake_github.issue_comments(12) == []  # nothing ran after
