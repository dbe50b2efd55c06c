"""action.yml run the way the Actions runner runs a composite action, against the fake GitHub.

The harness (tests/plugins/actions_runner.py) reads action.yml, resolves inputs (defaults +
`with:`), expands `${{ … }}` with GitHub's expression semantics, runs each `run:` step with
`bash --noprofile --norc -eo pipefail` as the runner does, applies what a step writes to
$GITHUB_ENV and $GITHUB_PATH to every later step, gives every step its own GITHUB_OUTPUT file,
honours `::add-mask::`, and maps step outputs to the action's outputs. `uses:` steps cannot
run here: setup-python is skipped by its `if:` with the default empty python-version,
actions/cache (GitHub-hosted runners only) by the runner kind unless a test gives a stand-in.
The install step skips itself because this exact mlci version is importable from the test venv
and MLCI_PREINSTALLED=true says so, as a runner image with a root-owned mlci does (its
documented behaviour); the slow install tests run it without mlci importable.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import commit_all, git
from tests.plugins.actions_runner import ACTION_DIR, ActionRun, expand, run_action
from tests.plugins.actions_runner import condition as _condition
from tests.plugins.fake_github import TOKEN, actions_env, read_outputs

__all__ = ["ACTION_DIR", "ActionRun", "run_action", "sha"]


def _lookup(expr: str, ctx: dict) -> str:
    """An `if:` as the runner decides it: 'True' or 'False'."""
    return str(_condition(expr, ctx, {"success": lambda: True, "always": lambda: True}))


def _expand(text: str, ctx: dict) -> str:
    return expand(text, ctx)


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def pr_repo(trained_repo: Path) -> Path:
    git(trained_repo, "checkout", "-q", "-b", "feature")
    (trained_repo / "NOTES.md").write_text("docs only\n")
    commit_all(trained_repo, "Docs")
    return trained_repo


def sha(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def assert_token_nowhere(run: ActionRun, *roots: Path) -> None:
    assert TOKEN not in run.raw
    assert TOKEN not in "".join(run.outputs.values())
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file() and ".dvc/cache" not in path.as_posix() and path.stat().st_size < 5_000_000:
                assert TOKEN.encode() not in path.read_bytes(), f"token leaked into {path}"


# --- cases -----------------------------------------------------------------------------------


def test_first_run_creates_the_comment_and_a_second_run_updates_it(pr_repo, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    first = run_action(pr_repo, env)
    assert first.rc == 0, first.log
    assert first.masks == [TOKEN]
    [comment] = fake_github.issue_comments(12)
    assert first.outputs["comment-url"] == comment["html_url"]
    assert first.outputs["verdict"] == "success"
    assert Path(first.outputs["report-path"]).is_file()
    assert "auc" in first.outputs["metrics-json"]
    assert "auc" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert fake_github.check_runs[0]["conclusion"] == "success"

    second = run_action(pr_repo, env)
    assert second.rc == 0, second.log
    assert len(fake_github.issue_comments(12)) == 1
    assert second.outputs["comment-url"] == comment["html_url"]
    assert_token_nowhere(second, pr_repo, tmp_path / "runner")


def test_the_old_comment_on_page_three_is_updated(pr_repo, fake_github, tmp_path):
    fake_github.add_comments(12, [f"review chatter {i}" for i in range(205)])
    [old] = fake_github.add_comments(12, ["<!-- mlci:comment id=mlci -->\nold report"])
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    run = run_action(pr_repo, env)
    assert run.rc == 0, run.log
    assert len(fake_github.issue_comments(12)) == 206
    assert "old report" not in fake_github.comments[old["id"]]["body"]
    assert run.outputs["comment-url"] == old["html_url"]


def test_two_transient_failures_then_success(pr_repo, fake_github, tmp_path):
    fake_github.fail_next(2, 502, retry_after=1)
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    run = run_action(pr_repo, env)
    assert run.rc == 0, run.log
    first, second, third = fake_github.requests[:3]  # the first call is now a permission preflight probe
    assert [first.status, second.status] == [502, 502]
    assert (third.method, third.path) == (first.method, first.path) and third.status < 500  # retried, answered
    assert len(fake_github.issue_comments(12)) == 1


def test_a_200000_character_report_is_trimmed_in_the_comment_and_whole_in_the_summary(pr_repo, fake_github, tmp_path):
    # A stage that writes 4,000 metrics with long, nested names: a real, huge report even with
    # its tables capped at 200 rows. It also notes whether the PR's code could see the GitHub
    # token (it must not).
    (pr_repo / "src" / "wide.py").write_text(
        "import json, os\npath = '/'.join(['customer_lifetime_value_bucket'] * 12)\n"
        "json.dump({f'importance_share/{path}/feature_{i:04d}': i / 4000 for i in range(4000)},"
        " open('wide.json', 'w'))\n"
        "open('token_seen.txt', 'w').write(str(any('TOKEN' in k for k in os.environ)))\n"
    )
    dvc = yaml.safe_load((pr_repo / "dvc.yaml").read_text())
    dvc["stages"]["wide"] = {
        "cmd": "python src/wide.py",
        "deps": ["src/wide.py"],
        "metrics": [{"wide.json": {"cache": False}}],
    }
    (pr_repo / "dvc.yaml").write_text(yaml.safe_dump(dvc, sort_keys=False))
    config = yaml.safe_load((pr_repo / "mlci.yaml").read_text())
    config["metrics"] = ["metrics.json", "wide.json"]
    (pr_repo / "mlci.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    commit_all(pr_repo, "Report feature importances as metrics")
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    run = run_action(pr_repo, env)
    assert run.rc == 0, run.log
    report = Path(run.outputs["report-path"]).read_text()
    assert len(report) > 65536 and "3,800 more" in report  # over a comment's limit; the rest in report.json
    [comment] = fake_github.issue_comments(12)
    assert len(comment["body"]) <= 65536
    assert report.splitlines()[0] in comment["body"] and "shortened to fit" in comment["body"]
    from mlci.integrations.github.assets import without_local_images

    report_dir = Path(run.outputs["report-path"]).parent  # no origin here: plots become artifact pointers
    assert without_local_images(report, report_dir).strip() in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert (pr_repo / "token_seen.txt").read_text() == "False"


def test_the_single_job_refuses_a_fork_pr_in_one_line_before_anything_runs(pr_repo, fake_github, tmp_path):
    """phase: all puts the PR's code and the token in one job: forks go through the split instead."""
    fake_github.read_only()
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo), fork=True)
    run = run_action(pr_repo, env)
    assert run.rc == 3
    [line] = [line for line in run.log.splitlines() if line.startswith("mlci: error:")]
    assert "refusing to run fork PR #12 (forker/models) in one job with the token (phase: all)" in line
    assert "split workflow" in line and "Traceback" not in run.log
    assert fake_github.requests == [] and not (Path(env["RUNNER_TEMP"]) / "mlci" / "report").exists()


def test_missing_token_fails_with_the_fix_and_no_traceback(pr_repo, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo), token=None)
    run = run_action(pr_repo, env)
    assert run.rc == 7
    assert "github-token" in run.log and "Traceback" not in run.log
    assert run.masks == []


def test_cml_publisher_without_cml_installed_fails_clearly(pr_repo, fake_github, tmp_path):
    assert shutil.which("cml") is None
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    run = run_action(pr_repo, env, {"publisher": "cml"})
    assert run.rc == 3
    assert "`cml` CLI" in run.log and "publisher: mlci" in run.log
    assert fake_github.requests == []


def test_inputs_reach_mlci_without_shell_interpretation(pr_repo, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    run = run_action(
        pr_repo, env, {"comment-id": "model-b", "fail-on-regression": "false", "base-ref": "main; touch pwned"}
    )
    assert run.rc != 0  # the whole string is one (unknown) ref, never a command
    assert "unknown base ref 'main; touch pwned'" in run.log
    assert not (pr_repo / "pwned").exists()
    run = run_action(pr_repo, env, {"comment-id": "model-b", "extra-args": "--base main"})
    assert run.rc == 0, run.log
    assert fake_github.issue_comments(12)[0]["body"].startswith("<!-- mlci:comment id=model-b -->")


# --- trust boundaries ---------------------------------------------------------------------------


def test_a_forks_mlci_package_never_runs_before_the_gate(pr_repo, fake_github, tmp_path):
    """The fork adds mlci/__init__.py; the install step once imported it from the workspace."""
    marker = tmp_path / "fork-code-ran"
    (pr_repo / "mlci").mkdir()
    (pr_repo / "mlci" / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('owned')\n__version__ = '0.0.0'\n")
    (pr_repo / "sitecustomize.py").write_text(f"open({str(marker)!r}, 'w').write('owned')\n")
    head = commit_all(pr_repo, "Fork: a package that shadows mlci")
    fake_github.add_pull(12, head_sha=head, head_owner="forker", labels=("safe-to-train",))
    env = actions_env(
        fake_github, tmp_path / "runner", sha=head, fork=True, self_hosted=True, labels=("safe-to-train",)
    )
    run = run_action(pr_repo, env, ADMIT)
    assert run.rc == 3, run.log
    assert "refusing to run fork PR #12" in run.log and f"/mlci train {head}" in run.log
    assert not marker.exists()
    assert not (Path(env["RUNNER_TEMP"]) / "mlci" / "report").exists()
    assert run.outputs["admitted"] == "false"


ADMIT = {"phase": "admit", "runner-environment": "self-hosted"}


def test_an_approved_fork_is_admitted_then_trained_by_steps_that_hold_no_token(pr_repo, fake_github, tmp_path):
    """The split: the admit job outputs the approved head; the train job runs it with no token in any step."""
    head = sha(pr_repo)
    fake_github.add_pull(12, head_sha=head, head_owner="forker")
    fake_github.collaborators["maint"] = "write"
    fake_github.comment_as(12, "maint", f"/mlci train {head}")
    fake_github.read_only()
    admit = run_action(pr_repo, actions_env(fake_github, tmp_path / "admit", sha=head, fork=True), ADMIT)
    assert admit.rc == 0, admit.log
    assert (admit.outputs["admitted"], admit.outputs["head-sha"]) == ("true", head) and "admitted at" in admit.log
    requests = len(fake_github.requests)
    env = actions_env(fake_github, tmp_path / "runner", sha=head, fork=True, self_hosted=True)  # the job token is there
    train = run_action(pr_repo, env, {"phase": "train", "admitted-sha": admit.outputs["head-sha"]})
    assert train.rc == 0, train.log
    assert train.outputs["verdict"] == "success" and Path(train.outputs["bundle-path"], "manifest.json").is_file()
    assert train.masks == [] and len(fake_github.requests) == requests  # no step got the token; no API call
    assert_token_nowhere(train, pr_repo, tmp_path / "runner")


def test_the_train_phase_runs_nothing_without_the_admit_jobs_sha(pr_repo, fake_github, tmp_path):
    marker = tmp_path / "fork-code-ran"
    (pr_repo / "src" / "train.py").write_text(f"open({str(marker)!r}, 'w').write('owned')\n")
    head = commit_all(pr_repo, "Unapproved fork code")
    env = actions_env(fake_github, tmp_path / "runner", sha=head, fork=True, self_hosted=True)
    run = run_action(pr_repo, env, {"phase": "train", "dvc-pull": "true"})  # admitted-sha left out
    assert run.rc == 3 and "needs the admit job's head SHA" in run.log
    assert not marker.exists() and fake_github.requests == []


@pytest.mark.parametrize("with_", [{}, {"phase": "train", "admitted-sha": ""}], ids=["all", "train"])
def test_a_state_planted_before_the_action_admits_no_unapproved_fork(with_, pr_repo, fake_github, tmp_path):
    """A poisoned cache restore can drop files in RUNNER_TEMP: an admission there counts for nothing."""
    marker = tmp_path / "fork-code-ran"
    (pr_repo / "src" / "train.py").write_text(f"open({str(marker)!r}, 'w').write('owned')\n")
    head = commit_all(pr_repo, "Unapproved fork code")
    fake_github.add_pull(12, head_sha=head, head_owner="forker")
    env = actions_env(fake_github, tmp_path / "runner", sha=head, fork=True, self_hosted=True)
    state = Path(env["RUNNER_TEMP"]) / "mlci" / "state" / "state.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"event": "pull_request", "sha": head, "admission": head, "nonce": "0" * 32}))
    run = run_action(pr_repo, env, with_)
    assert run.rc == 3, run.log
    assert not marker.exists() and not (Path(env["RUNNER_TEMP"]) / "mlci" / "report").exists()


def test_the_pipeline_step_has_no_token_in_its_environment():
    import yaml as _yaml

    steps = _yaml.safe_load((ACTION_DIR / "action.yml").read_text())["runs"]["steps"]
    [run_step] = [s for s in steps if (s.get("env") or {}).get("MLCI_PHASE") == "run"]
    assert not any("TOKEN" in k.upper() or "token" in str(v) for k, v in run_step["env"].items())
    train = {
        "inputs": {"phase": "train", "python-version": "3.11"},
        "runner": {"environment": "github-hosted"},
        "steps": {"mlci-venv": {"outputs": {"installed": "false"}}},
    }
    train_steps = [s for s in steps if _lookup(s.get("if", "true"), train) == "True"]
    assert {(s.get("env") or {}).get("MLCI_PHASE") for s in train_steps} >= {"verify", "pull", "train"}
    for step in train_steps:  # phase train: not one step of the action gets the token
        assert "token" not in yaml.safe_dump(step.get("env") or {}).lower(), step.get("name")
    install = next(s for s in steps if s.get("name") == "Install mlci")
    assert install["working-directory"] == "${{ runner.temp }}" and "python3 -c" not in install["run"]


def test_a_labelled_fork_pr_approved_then_pushed_to_is_refused_by_the_action(pr_repo, fake_github, tmp_path):
    approved = sha(pr_repo)
    fake_github.add_pull(12, head_sha=approved, head_owner="forker", labels=("safe-to-train",))
    fake_github.collaborators["maint"] = "write"
    fake_github.comment_as(12, "maint", f"/mlci train {approved}")
    fake_github.read_only()
    env = actions_env(
        fake_github, tmp_path / "runner", sha=approved, fork=True, self_hosted=True, labels=("safe-to-train",)
    )
    assert run_action(pr_repo, env, ADMIT).rc == 0
    marker = tmp_path / "unreviewed-code-ran"
    (pr_repo / "src" / "train.py").write_text(f"open({str(marker)!r}, 'w').write('owned')\n")
    pushed = commit_all(pr_repo, "Push after the approval")
    fake_github.pulls[12]["head"]["sha"] = pushed
    env = actions_env(
        fake_github, tmp_path / "runner2", sha=pushed, fork=True, self_hosted=True, labels=("safe-to-train",)
    )  # `synchronize`, the label still on the PR
    run = run_action(pr_repo, env, ADMIT)
    assert run.rc == 3 and run.outputs["admitted"] == "false"
    assert f"/mlci train {pushed}" in run.log
    assert not marker.exists()


def test_a_fork_pr_approved_then_changes_requested_is_refused_by_the_action(pr_repo, fake_github, tmp_path):
    marker = tmp_path / "unapproved-code-ran"
    (pr_repo / "src" / "train.py").write_text(f"open({str(marker)!r}, 'w').write('owned')\n")
    head = commit_all(pr_repo, "A change the maintainer approved, then asked to change")
    fake_github.add_pull(12, head_sha=head, head_owner="forker", labels=("safe-to-train",))
    fake_github.collaborators["maint"] = "write"
    fake_github.add_review(12, "maint", "APPROVED", head)
    fake_github.add_review(12, "maint", "CHANGES_REQUESTED", head)
    fake_github.read_only()
    env = actions_env(fake_github, tmp_path / "admit", sha=head, fork=True, labels=("safe-to-train",))
    run = run_action(pr_repo, env, ADMIT)  # the admit job of the split decides for the self-hosted train job
    assert run.rc == 3 and run.outputs["admitted"] == "false"
    assert f"maint requested changes at {head[:12]} after approving" in run.log
    assert not marker.exists()
    fake_github.add_review(12, "maint", "APPROVED", head)  # the control: approved again, the same code runs
    admit = run_action(pr_repo, actions_env(fake_github, tmp_path / "admit2", sha=head, fork=True), ADMIT)
    assert (admit.outputs["admitted"], admit.outputs["head-sha"]) == ("true", head)
    env = actions_env(fake_github, tmp_path / "runner", sha=head, fork=True, self_hosted=True)
    train = run_action(pr_repo, env, {"phase": "train", "admitted-sha": admit.outputs["head-sha"]})
    assert marker.exists(), train.log  # the approved code ran (this stand-in stage then writes no model)


def test_the_admit_phase_judges_for_a_self_hosted_runner_and_runs_nothing(pr_repo, fake_github, tmp_path):
    """pr.yml's `admit` job: GitHub-hosted, but deciding for the self-hosted `train` job."""
    head = sha(pr_repo)
    fake_github.add_pull(12, head_sha=head, head_owner="forker")
    env = actions_env(fake_github, tmp_path / "runner", sha=head, fork=True)  # a GitHub-hosted runner
    admit = {"phase": "admit", "runner-environment": "self-hosted"}
    refused = run_action(pr_repo, env, admit)
    assert refused.rc == 3 and refused.outputs["admitted"] == "false"
    fake_github.collaborators["maint"] = "admin"
    fake_github.comment_as(12, "maint", f"/mlci train {head}")
    admitted = run_action(pr_repo, env, admit)
    assert admitted.rc == 0, admitted.log
    assert (
        admitted.outputs["admitted"] == "true" and admitted.outputs["verdict"] == "skipped"
    )  # issue 14: outputs always set
    assert not (Path(env["RUNNER_TEMP"]) / "mlci" / "report").exists()  # no pipeline ran


# --- install path and outputs (issue 14) -----------------------------------------------------


def test_a_windows_runner_is_refused_with_one_line(pr_repo, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    run = run_action(pr_repo, {**env, "RUNNER_OS": "Windows"})
    assert run.rc == 1
    assert run.log.strip().splitlines() == [
        "::error::mlci runs on Linux and macOS runners only; use runs-on: ubuntu-latest or a Linux self-hosted runner"
    ]
    assert fake_github.requests == []


def test_outputs_are_set_when_the_step_fails_before_mlci_runs(pr_repo, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    run = run_action(pr_repo, {**env, "RUNNER_OS": "Windows"})
    declared = yaml.safe_load((ACTION_DIR / "action.yml").read_text())["outputs"]
    assert set(run.outputs) == set(declared)  # every output a later step may read is set
    assert (run.outputs["admitted"], run.outputs["verdict"]) == ("false", "skipped")
    assert {v for k, v in run.outputs.items() if k not in ("admitted", "verdict")} == {""}


def _download(house: Path, lock: str) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--require-hashes",
            "-r",
            str(ACTION_DIR / lock),
            "-d",
            str(house),
        ],
        check=True,
    )
    return house


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory) -> Path:
    """Every locked package once per session (pip's own cache makes this local after the first)."""
    return _download(tmp_path_factory.mktemp("wheelhouse"), "requirements.lock")


@pytest.fixture(scope="session")
def mlflow_wheelhouse(tmp_path_factory) -> Path:
    return _download(tmp_path_factory.mktemp("wheelhouse-mlflow"), "requirements-mlflow.lock")


@pytest.fixture
def system_python() -> str:
    """The runner's own python3, which must not see mlci: the install step then really installs."""
    python = shutil.which("python3", path="/usr/bin")
    if (
        python is None
        or subprocess.run([python, "-I", "-c", "import mlci"], check=False, capture_output=True).returncode == 0
    ):
        pytest.skip("needs a system python3 without mlci")
    return python


def offline_runner_env(tmp_path: Path, wheelhouse: Path, **extra: str) -> dict[str, str]:
    """A self-hosted runner's step environment whose pip can only install from `wheelhouse`."""
    temp = tmp_path / "temp"
    temp.mkdir(exist_ok=True)
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "RUNNER_TEMP": str(temp),
        "RUNNER_TOOL_CACHE": str(tmp_path / "toolcache"),
        "MLCI_ACTION_PATH": str(ACTION_DIR),
        "MLCI_RUNNER_OS": "Linux",
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheelhouse),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_CACHE_DIR": "1",
        **extra,
    }


def run_install_steps(temp: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """action.yml's "Find mlci's venv" then "Install mlci", as the runner runs them (no cache stand-in)."""
    steps = {s.get("name"): s for s in yaml.safe_load((ACTION_DIR / "action.yml").read_text())["runs"]["steps"]}
    output = temp / "_find_output"
    output.write_text("")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", steps["Find mlci's venv"]["run"]],
        cwd=temp,
        env={**env, "GITHUB_OUTPUT": str(output)},
        capture_output=True,
        text=True,
        check=False,
    )
    found = read_outputs(output)
    if done.returncode != 0 or found.get("installed") != "false":
        return done
    second = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", steps["Install mlci"]["run"]],
        cwd=temp,
        env={**env, "MLCI_VENV": found["path"], "MLCI_LOCK": found["lock"]},
        capture_output=True,
        text=True,
        check=False,
    )
    return subprocess.CompletedProcess(
        second.args, second.returncode, done.stdout + second.stdout, done.stderr + second.stderr
    )


@pytest.mark.slow
def test_the_install_step_builds_a_locked_venv_once_and_reuses_it(system_python, wheelhouse, tmp_path):
    """No mlci importable: the step really installs, from the wheelhouse only, hashes checked."""
    temp, cache = tmp_path / "temp", tmp_path / "toolcache"
    env = offline_runner_env(tmp_path, wheelhouse)

    def install() -> subprocess.CompletedProcess:
        return run_install_steps(temp, env)

    first = install()
    assert first.returncode == 0, first.stderr
    venvs = list((cache / "mlci").iterdir())
    assert len(venvs) == 1 and (venvs[0] / ".mlci-complete").exists()
    mlci = temp / "mlci-venv" / "bin" / "mlci"
    assert (
        subprocess.run([str(mlci), "--version"], capture_output=True, text=True, check=True)
        .stdout.strip()
        .endswith(
            subprocess.run(
                [sys.executable, "-c", "import mlci; print(mlci.__version__)"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        )
    )
    second = install()
    assert second.returncode == 0 and "reused" in second.stdout
    assert list((cache / "mlci").iterdir()) == venvs


def test_the_install_phase_installs_only_and_runs_no_mlci_command(pr_repo, fake_github, tmp_path):
    """promote.yml / retrain.yml / sweep.yml get mlci this way instead of an unpublished `pip install mlci`."""
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    run = run_action(pr_repo, env, {"phase": "install"})
    assert run.rc == 0, run.log
    assert fake_github.requests == []
    assert run.outputs["admitted"] == "false" and run.outputs["verdict"] == "skipped"
    assert not (Path(env["RUNNER_TEMP"]) / "mlci" / "state").exists()


def bare_mlci_installs(text: str) -> list[str]:
    """`pip install … mlci[…]` commands that name mlci as a requirement (not a path or a lock)."""
    found = []
    for m in re.finditer(r"pip install([^\n;&|`()]*)", text):
        names = [token.strip("\"'") for token in m.group(1).split()]
        if any(name == "mlci" or name.startswith(("mlci[", "mlci=", "mlci>", "mlci<", "mlci~")) for name in names):
            found.append(m.group(0))
    return found


def test_the_bare_name_check_catches_the_old_install_lines():
    assert bare_mlci_installs("run: pip install mlci\n") == ["pip install mlci"]
    assert bare_mlci_installs('pip install --no-cache-dir "mlci[dask,gpu]"') != []
    assert bare_mlci_installs("`pip install 'mlci[mlflow]'`") != []
    assert bare_mlci_installs("pip install -e . && mlci demo\npip install --no-deps /opt/mlci/src\n") == []


def test_nothing_installs_mlci_by_its_bare_name_from_the_registry():
    """Until a release is on PyPI, `pip install mlci` fetches whatever someone registered under that name."""
    files = [
        *ACTION_DIR.glob("templates/workflows*/*.yml"),
        *ACTION_DIR.glob("templates/runners/*"),
        ACTION_DIR / "README.md",
        *ACTION_DIR.glob("mlci/**/*.py"),
        *ACTION_DIR.glob("docs/**/*.md"),
    ]
    assert len(files) > 20
    for path in files:
        assert bare_mlci_installs(path.read_text()) == [], path.relative_to(ACTION_DIR)


def _find_venv(
    action_path: Path, temp: Path, python_dir: str, extras: str = "", runner_kind: str = "", preinstalled: str = ""
) -> dict[str, str]:
    steps = {s.get("name"): s for s in yaml.safe_load((ACTION_DIR / "action.yml").read_text())["runs"]["steps"]}
    output = temp / "_find_output"
    output.write_text("")
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", steps["Find mlci's venv"]["run"]],
        cwd=temp,
        check=True,
        capture_output=True,
        env={
            "PATH": f"{python_dir}:/usr/bin:/bin",
            "RUNNER_TEMP": str(temp),
            "GITHUB_OUTPUT": str(output),
            "RUNNER_TOOL_CACHE": "/opt/hostedtoolcache",
            "MLCI_ACTION_PATH": str(action_path),
            "MLCI_EXTRAS": extras,
            "MLCI_RUNNER_KIND": runner_kind,
            "MLCI_PREINSTALLED": preinstalled,
        },
    )
    return read_outputs(output)


def test_github_hosted_runners_cache_the_venv_by_lock_python_and_os(system_python, tmp_path):
    """actions/cache restores exactly the directory the install step builds, under a key that
    changes with the lock, mlci's version, the Python and the OS/arch; self-hosted runners skip it."""
    action = tmp_path / "action"
    (action / "mlci").mkdir(parents=True)
    for lock in ("requirements.lock", "requirements-mlflow.lock"):
        shutil.copy(ACTION_DIR / lock, action / lock)
    shutil.copy(ACTION_DIR / "mlci" / "__init__.py", action / "mlci" / "__init__.py")
    temp = tmp_path / "temp"
    temp.mkdir()
    found = _find_venv(action, temp, "/usr/bin")
    assert found["installed"] == "false" and found["path"] == f"/opt/hostedtoolcache/mlci/venv-{found['key']}"

    steps = {s.get("name"): s for s in yaml.safe_load((ACTION_DIR / "action.yml").read_text())["runs"]["steps"]}
    cache, install = steps["Restore mlci's venv (GitHub-hosted runners)"], steps["Install mlci"]
    assert cache["uses"].startswith("actions/cache@") and re.fullmatch(r"actions/cache@[0-9a-f]{40}", cache["uses"])
    ctx = {"steps": {"mlci-venv": {"outputs": found}}, "runner": {"os": "Linux", "arch": "X64"}, "inputs": {}}
    hosted = {**ctx, "runner": {**ctx["runner"], "environment": "github-hosted"}}
    assert _lookup(cache["if"], hosted) == "True"
    # the job that holds the write token never restores a cache a PR's job could have written
    assert _lookup(cache["if"], {**hosted, "inputs": {"phase": "publish"}}) == "False"
    assert _lookup(cache["if"], {**ctx, "runner": {**ctx["runner"], "environment": "self-hosted"}}) == "False"
    assert _expand(cache["with"]["path"], ctx) == _expand(install["env"]["MLCI_VENV"], ctx) == found["path"]
    assert _expand(cache["with"]["key"], ctx) == f"mlci-venv-Linux-X64-{found['key']}"

    assert found["lock"] == str(action / "requirements.lock")
    with_mlflow = _find_venv(action, temp, "/usr/bin", extras="mlflow")
    assert with_mlflow["lock"] == str(action / "requirements-mlflow.lock") and with_mlflow["key"] != found["key"]
    with (action / "requirements.lock").open("a") as lock:
        lock.write("# a changed lock\n")
    assert _find_venv(action, temp, "/usr/bin")["key"] != found["key"]


def test_an_extra_the_action_does_not_install_is_refused_with_one_line(pr_repo, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    run = run_action(pr_repo, env, {"phase": "install", "extras": "torch"})
    assert run.rc == 1
    expected = (
        "::error::the mlci action's extras: input must be empty or mlflow (dask and gpu are always installed; "
        "put torch in your project's requirements.txt)"
    )
    assert run.log.strip().splitlines() == [expected]


def _locked(lock: Path) -> dict[str, list[str]]:
    """name -> the `name==version` pins (one per Python marker) of a uv hash lock; every one hashed."""
    pins: dict[str, list[str]] = {}
    for entry in re.split(r"\n(?=[a-z0-9])", lock.read_text().split("\n", 2)[2]):
        if not entry.strip() or entry.startswith("#"):
            continue
        assert "--hash=sha256:" in entry, entry.splitlines()[0]
        name, version = entry.split()[0].split("==")
        pins.setdefault(name, []).append(version)
    return pins


def test_the_mlflow_lock_is_the_whole_environment_with_mlflow_every_package_hashed():
    base, mlflow = _locked(ACTION_DIR / "requirements.lock"), _locked(ACTION_DIR / "requirements-mlflow.lock")
    assert {"mlflow", "mlflow-skinny"} <= set(mlflow) and "mlflow" not in base
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ACTION_DIR / "pyproject.toml").read_text())["project"]
    direct = {re.split(r"[<>=\[ ]", req)[0].lower() for req in project["dependencies"]}
    extras = {
        re.split(r"[<>=\[ ]", req)[0].lower()
        for e in ("dask", "gpu", "mlflow")
        for req in project["optional-dependencies"][e]
    }
    assert direct | extras | {"hatchling"} <= set(mlflow), "the mlflow lock replaces the base lock: all of mlci's needs"
    assert "torch" not in mlflow and "torch" not in base


def test_the_install_phase_on_a_github_hosted_runner_with_mlci_installed_restores_no_cache(
    pr_repo, fake_github, tmp_path
):
    restored = []
    env = actions_env(fake_github, tmp_path / "runner", sha=sha(pr_repo))
    run = run_action(
        pr_repo,
        {**env, "RUNNER_ENVIRONMENT": "github-hosted"},
        {"phase": "install"},
        uses={"actions/cache": restored.append},
    )
    assert run.rc == 0, run.log
    assert "already installed" in run.log and restored == []


@pytest.mark.slow
def test_extras_mlflow_installs_the_mlflow_lock_into_its_own_venv(system_python, mlflow_wheelhouse, tmp_path):
    """`extras: mlflow` really installs: mlci and mlflow import from one venv, hashes checked, offline."""
    temp = tmp_path / "temp"
    env = offline_runner_env(tmp_path, mlflow_wheelhouse, MLCI_EXTRAS="mlflow")
    done = run_install_steps(temp, env)
    assert done.returncode == 0, done.stderr
    venv_python = temp / "mlci-venv" / "bin" / "python"
    probe = subprocess.run(
        [str(venv_python), "-I", "-c", "import mlci, mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    assert f"mlflow=={probe.stdout.strip()} " in (ACTION_DIR / "requirements-mlflow.lock").read_text()
