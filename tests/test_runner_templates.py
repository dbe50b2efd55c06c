"""templates/runners: the two supported recipes for runners that run PR code, both ephemeral.

- Bare metal / VM: mlci-runner@.service (root) runs mlci-runner-pool.sh, which asks GitHub for a
  just-in-time runner config per job and starts one fresh container for it. The pool script runs
  for real here against the fake GitHub, with a stand-in `docker` that records what it was asked.
- Kubernetes: arc-gpu-values.yaml, a scale set (one job per pod).

The old recipe gave the registration PAT away: the job user owned the script systemd re-ran with
the PAT in its EnvironmentFile, and KillMode=process let a job's processes outlive it. The static
checks below are shown to catch that recipe (kept here verbatim as OLD_UNIT / OLD_ENV) and to pass
the new one.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.plugins.fake_github import TOKEN

ROOT = Path(__file__).resolve().parents[1]
RUNNERS = ROOT / "templates" / "runners"
POOL = RUNNERS / "mlci-runner-pool.sh"
UNIT = RUNNERS / "mlci-runner@.service"

# The recipe this replaces (templates/runners/mlci-runner.service and mlci-runner.env.example before issue 25).
OLD_UNIT = """\
[Unit]
Description=Ephemeral GitHub Actions runner for mlci (self-hosted,gpu)
[Service]
Type=simple
User=runner
Group=runner
WorkingDirectory=/opt/actions-runner
EnvironmentFile=/etc/mlci-runner.env
ExecStart=/opt/actions-runner/register-runner.sh
Restart=always
KillMode=process
[Install]
WantedBy=multi-user.target
"""
OLD_ENV = "GITHUB_URL=https://github.com/OWNER/REPO\nGITHUB_PAT=\nRUNNER_LABELS=self-hosted,gpu\n"


def _unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit's sections -> key -> every value given (keys like Environment= repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        else:
            key, value = line.split("=", 1)
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service_exposures(text: str) -> list[str]:
    """What in a runner unit lets a job reach the credential or outlive itself (empty: nothing)."""
    service = _unit(text)["Service"]
    found = []
    user = service.get("User", ["root"])[-1]
    if user != "root":
        found.append(f"runs as {user!r}: the user jobs run as can rewrite what it runs and read its settings")
    kill_mode = service.get("KillMode", ["control-group"])[-1]
    if kill_mode != "control-group":
        found.append(f"KillMode={kill_mode} lets a job's processes outlive the unit")
    for key in ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecStop", "ExecStopPost"):
        for command in service.get(key, []):
            if not command.lstrip("-@:+!").startswith("/usr/local/lib/mlci-runner/"):
                found.append(f"{key} runs {command.split()[0]}, outside the root-only /usr/local/lib/mlci-runner/")
    for env_file in service.get("EnvironmentFile", []):
        if not env_file.lstrip("-").startswith("/etc/mlci-runner/"):
            found.append(f"EnvironmentFile {env_file} is outside the root-only /etc/mlci-runner/")
    return found


def secret_settings(text: str) -> list[str]:
    """Setting names in an environment file that hold a credential."""
    names = [line.lstrip("#").split("=", 1)[0] for line in text.splitlines() if "=" in line]
    return [n for n in names if re.search(r"TOKEN|PAT\b|_PAT|SECRET|PASSWORD|PRIVATE_KEY|CREDENTIAL$", n)]


# --- the bare-metal recipe: static checks ----------------------------------------------------


def test_the_exposure_checks_catch_the_old_recipe():
    assert len(service_exposures(OLD_UNIT)) == 4  # User=runner, KillMode=process, ExecStart, EnvironmentFile
    assert secret_settings(OLD_ENV) == ["GITHUB_PAT"]


def test_the_unit_runs_the_pool_as_root_and_nothing_a_job_can_write():
    assert service_exposures(UNIT.read_text()) == []
    service = _unit(UNIT.read_text())["Service"]
    assert service["User"] == ["root"] and service["KillMode"] == ["control-group"]
    assert service["ExecStart"] == ["/usr/local/lib/mlci-runner/mlci-runner-pool.sh"]
    assert service["ExecStopPost"] == ["/usr/local/lib/mlci-runner/mlci-runner-pool.sh cleanup"]
    assert service["Restart"] == ["always"] and "MLCI_RUNNER_GPU=%i" in service["Environment"]


def test_the_install_commands_put_scripts_and_settings_where_only_root_writes():
    commands = [line.lstrip("# ").strip() for line in UNIT.read_text().splitlines() if "sudo install" in line]
    assert "sudo install -o root -g root -m 0755 mlci-runner-pool.sh /usr/local/lib/mlci-runner/" in commands
    assert "sudo install -d -o root -g root -m 0700 /etc/mlci-runner" in commands
    assert any(
        c.endswith("-m 0600 mlci-runner.env.example /etc/mlci-runner/pool.env   # then edit it") for c in commands
    )
    assert any("-m 0600 /dev/stdin /etc/mlci-runner/credential" in c for c in commands)
    docs = (ROOT / "docs" / "runners.md").read_text()
    for command in commands:  # the docs give the same commands
        assert command.split("   #")[0] in docs, command


def test_the_settings_file_holds_no_credential():
    text = (RUNNERS / "mlci-runner.env.example").read_text()
    assert secret_settings(text) == []
    values = dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))
    assert values["GITHUB_URL"].startswith("https://") and values["MLCI_RUNNER_LABELS"] == "self-hosted,gpu"


def test_the_old_registration_recipe_is_gone():
    assert not (RUNNERS / "register-runner.sh").exists() and not (RUNNERS / "mlci-runner.service").exists()
    for path in [*RUNNERS.iterdir(), ROOT / "docs" / "runners.md"]:
        text = path.read_text()
        assert "registration-token" not in text and "register-runner" not in text, path.name


def test_the_pool_script_is_valid_bash_and_shellcheck_clean():
    subprocess.run(["bash", "-n", str(POOL)], check=True)
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    scripts = sorted(RUNNERS.glob("*.sh"))
    proc = subprocess.run([shellcheck, *map(str, scripts)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_systemd_verify_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    instance = tmp_path / "mlci-runner@0.service"
    shutil.copy(UNIT, instance)
    proc = subprocess.run([analyze, "verify", "--man=no", str(instance)], capture_output=True, text=True)
    # The unit names install paths and docker.service, absent on a test machine; nothing else may be wrong.
    problems = [
        line
        for line in proc.stderr.splitlines()
        if "is not executable: No such file" not in line and "Unit docker.service not found" not in line
    ]
    assert problems == []


# --- the bare-metal recipe: the pool script, run ------------------------------------------------

# A stand-in for the docker CLI: appends {"argv", "env"} to $FAKE_DOCKER_LOG as one JSON line. `run`
# of the doctor exits $FAKE_DOCKER_DOCTOR_RC; `run` of a job "runs" until `docker stop/rm` names it
# (or $FAKE_DOCKER_JOB_SECONDS pass); `stop`/`rm` record the name; `ps` lists nothing.
FAKE_DOCKER = """\
import json, os, sys, time
from pathlib import Path

log = Path(os.environ["FAKE_DOCKER_LOG"])
with log.open("a") as f:
    f.write(json.dumps({"argv": sys.argv[1:], "env": dict(os.environ)}) + "\\n")
args = sys.argv[1:]
stopped = log.parent / "stopped"
stopped.mkdir(exist_ok=True)
if args[0] in ("stop", "rm"):
    for name in args[1:]:
        (stopped / name).touch()
elif args[0] == "ps":
    print("\\n".join(os.environ.get("FAKE_DOCKER_PS", "").split()))
elif args[0] == "run":
    if "doctor" in args:
        sys.exit(int(os.environ.get("FAKE_DOCKER_DOCTOR_RC", "0")))
    name = args[args.index("--name") + 1]
    deadline = time.monotonic() + float(os.environ.get("FAKE_DOCKER_JOB_SECONDS", "0.2"))
    while time.monotonic() < deadline and not (stopped / name).exists():
        time.sleep(0.05)
    sys.exit(143 if (stopped / name).exists() else 0)
"""


@pytest.fixture
def pool(tmp_path, fake_github):
    """Starts mlci-runner-pool.sh against the fake GitHub with a stand-in docker first on PATH.

    No Docker engine is available to the tests: the stand-in records the docker CLI's argv and
    environment, which is everything the pool hands a job container."""
    fake_github.permissions["administration"] = "write"  # a fine-grained PAT with Administration: write
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    docker.chmod(0o755)
    credential = tmp_path / "etc" / "credential"
    credential.parent.mkdir()
    credential.write_text(TOKEN + "\n")
    credential.chmod(0o600)
    docker_log = tmp_path / "docker" / "log.jsonl"
    docker_log.parent.mkdir()
    docker_log.touch()

    def start(*args: str, **env: str) -> subprocess.Popen:
        base = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "GITHUB_URL": f"https://github.com/{fake_github.repo}",
            "GITHUB_API_URL": fake_github.url,
            "MLCI_RUNNER_IMAGE": "ghcr.io/acme/mlci-gpu-runner:v1",
            "MLCI_RUNNER_CREDENTIAL_FILE": str(credential),
            "MLCI_RUNNER_NAME_PREFIX": "gpu-box",
            "MLCI_RUNNER_RETRY_SECONDS": "1",
            "FAKE_DOCKER_LOG": str(docker_log),
        }
        return subprocess.Popen(
            ["bash", str(POOL), *args], env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    start.credential = credential  # type: ignore[attr-defined]
    start.calls = lambda: [json.loads(line) for line in docker_log.read_text().splitlines()]  # type: ignore[attr-defined]
    return start


def _jobs(calls: list[dict]) -> list[dict]:
    return [c for c in calls if c["argv"][0] == "run" and "--name" in c["argv"]]


def _jit_requests(fake_github) -> list[dict]:
    return [
        {"status": r.status, "auth": r.headers.get("Authorization"), **json.loads(r.body)}
        for r in fake_github.requests
        if r.path.endswith("/actions/runners/generate-jitconfig")
    ]


def _runner_of(jit: str) -> dict:
    """The `.runner` file a JIT config makes the runner write."""
    files = json.loads(base64.b64decode(jit))
    return json.loads(base64.b64decode(files[".runner"]))


def _wait_for(predicate, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_each_job_gets_a_fresh_container_with_its_own_single_use_jit_config(pool, fake_github):
    proc = pool(MLCI_RUNNER_JOBS="2")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    calls = pool.calls()
    jobs = _jobs(calls)
    assert len(jobs) == 2
    requests = _jit_requests(fake_github)
    assert [r["status"] for r in requests] == [201, 201] and {r["auth"] for r in requests} == {f"Bearer {TOKEN}"}
    assert all(r["labels"] == ["self-hosted", "gpu"] and r["runner_group_id"] == 1 for r in requests)
    configs = [job["env"]["ACTIONS_RUNNER_INPUT_JITCONFIG"] for job in jobs]
    assert configs[0] != configs[1]
    # each container runs the runner GitHub registered for it, under the name the pool asked for
    assert [_runner_of(c)["agentName"] for c in configs] == [r["name"] for r in requests]
    assert len({r["name"] for r in requests}) == 2
    # the doctor checked the GPU before each request; each job container was removed after its job
    assert [c["argv"][0] for c in calls if c["argv"][0] == "run"] == ["run"] * 4
    assert sum("doctor" in c["argv"] for c in calls) == 2
    names = [job["argv"][job["argv"].index("--name") + 1] for job in jobs]
    assert all(["rm", "--force", name] in [c["argv"] for c in calls] for name in names)


def test_a_job_container_gets_nothing_from_the_host_but_the_jit_config(pool, fake_github):
    proc = pool(MLCI_RUNNER_JOBS="1")
    assert proc.wait(timeout=60) == 0
    calls = pool.calls()
    (job,) = _jobs(calls)
    argv = job["argv"]
    assert argv[:2] == ["run", "--rm"] and argv[-2:] == ["ghcr.io/acme/mlci-gpu-runner:v1", "/home/runner/run.sh"]
    # no host directory, socket or device beyond the GPU; no privilege; the job runs as `runner`
    assert not {"-v", "--volume", "--mount", "--privileged", "--device", "--env-file", "--volumes-from"} & set(argv)
    assert not any(a.startswith(("--volume=", "--mount=", "-v=", "--pid", "--ipc", "--network=host")) for a in argv)
    assert argv[argv.index("--user") + 1] == "runner" and argv[argv.index("--gpus") + 1] == "all"
    assert "no-new-privileges" in argv and argv[argv.index("--cap-drop") + 1] == "ALL"
    env_flags = [argv[i + 1] for i, a in enumerate(argv) if a == "--env"]
    assert env_flags == [
        "ACTIONS_RUNNER_INPUT_JITCONFIG",
        "MLCI_RUNNER_EPHEMERAL=true",
        "NVIDIA_DRIVER_CAPABILITIES=compute,utility",
    ]
    # the JIT config is in docker's environment (which passes it on by name), never on a command line
    jit = job["env"]["ACTIONS_RUNNER_INPUT_JITCONFIG"]
    assert not any(jit in a for c in calls for a in c["argv"])
    assert [c for c in calls if jit in json.dumps(c["env"])] == [job]
    # the credential is nowhere docker (or anything it starts) can see it; a container gets only the
    # --env variables above, never docker's own environment
    for call in calls:
        assert TOKEN not in json.dumps(call)


def test_one_unit_per_gpu_gives_each_container_only_its_gpu(pool, fake_github):
    proc = pool(MLCI_RUNNER_JOBS="1", MLCI_RUNNER_GPU="1")
    assert proc.wait(timeout=60) == 0
    (job,) = _jobs(pool.calls())
    assert job["argv"][job["argv"].index("--gpus") + 1] == "device=1"
    assert _jit_requests(fake_github)[0]["name"].startswith("gpu-box-")


def test_sigterm_stops_the_running_job_and_ends_the_loop(pool, fake_github):
    proc = pool(FAKE_DOCKER_JOB_SECONDS="60")  # jobs run until stopped; no job limit
    _wait_for(lambda: len(_jobs(pool.calls())) == 1)
    time.sleep(0.3)  # the pool is now waiting on the job's container
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    (job,) = _jobs(pool.calls())
    name = job["argv"][job["argv"].index("--name") + 1]
    assert ["stop", "--time", "30", name] in [c["argv"] for c in pool.calls()]
    assert len(_jit_requests(fake_github)) == 1, "no new runner is registered after the stop"
    assert "stopped after 1 job(s)" in err


def test_cleanup_removes_every_container_of_this_pool(pool):
    """The unit's ExecStopPost: job containers belong to dockerd, not to the unit's cgroup."""
    proc = pool("cleanup", FAKE_DOCKER_PS="c0ffee01 c0ffee02", GITHUB_URL="")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    calls = [c["argv"] for c in pool.calls()]
    assert calls == [
        ["ps", "--all", "--quiet", "--filter", "label=mlci-runner-pool=mlci-runner-all"],
        ["rm", "--force", "c0ffee01", "c0ffee02"],
    ]


def test_a_failing_doctor_keeps_the_machine_from_asking_for_jobs(pool, fake_github):
    proc = pool(FAKE_DOCKER_DOCTOR_RC="1")
    _wait_for(lambda: sum("doctor" in c["argv"] for c in pool.calls()) >= 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert "'mlci doctor --require-gpu' failed in ghcr.io/acme/mlci-gpu-runner:v1: fix this machine" in err
    assert _jit_requests(fake_github) == [] and _jobs(pool.calls()) == []


def test_a_credential_others_can_read_is_refused_before_anything_runs(pool, fake_github):
    pool.credential.chmod(0o644)
    proc = pool(MLCI_RUNNER_JOBS="1")
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert (
        err.strip()
        == f"mlci-runner-pool: {pool.credential} is mode 644; only root may read it (chmod 600 {pool.credential})"
    )
    assert fake_github.requests == [] and pool.calls() == []


def test_a_credential_without_administration_write_is_named_and_retried_without_starting_a_job(pool, fake_github):
    del fake_github.permissions["administration"]
    proc = pool()
    _wait_for(lambda: len(_jit_requests(fake_github)) >= 2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert "GitHub answered 403 to generate-jitconfig (Resource not accessible by integration)" in err
    assert "'Administration: write'" in err
    assert _jobs(pool.calls()) == []


def test_an_error_that_quotes_the_credential_is_logged_without_it(pool, fake_github):
    fake_github.echo_authorization(401)
    proc = pool(MLCI_RUNNER_JOBS="1")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "GitHub answered 401" in err and "Bearer ***" in err
    assert TOKEN not in err


def test_an_organisation_url_asks_the_organisation_endpoint(pool, fake_github):
    proc = pool(GITHUB_URL="https://github.com/acme")
    _wait_for(lambda: any(r.path == "/orgs/acme/actions/runners/generate-jitconfig" for r in fake_github.requests))
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)


def test_missing_settings_are_named(pool):
    for env, expected in (
        ({"GITHUB_URL": ""}, "set GITHUB_URL to https://github.com/OWNER/REPO"),
        ({"MLCI_RUNNER_IMAGE": ""}, "set MLCI_RUNNER_IMAGE to the runner image"),
        ({"MLCI_RUNNER_CREDENTIAL_FILE": "/nonexistent"}, "no credential file /nonexistent"),
        ({"MLCI_RUNNER_GPU": "0;reboot"}, "MLCI_RUNNER_GPU must be 'all' or a GPU index"),
    ):
        proc = pool(**env)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode != 0 and expected in err, (env, err)


# --- Kubernetes: ARC scale set ------------------------------------------------------------------


def _arc() -> dict:
    return yaml.safe_load((RUNNERS / "arc-gpu-values.yaml").read_text())


def test_arc_values_put_one_gpu_per_runner_pod_on_gpu_nodes():
    values = _arc()
    assert values["githubConfigUrl"].startswith("https://github.com/")
    assert values["runnerScaleSetName"] and values["githubConfigSecret"]
    assert 0 <= values["minRunners"] <= values["maxRunners"]
    spec = values["template"]["spec"]
    assert spec["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    runner = next(c for c in spec["containers"] if c["name"] == "runner")
    assert runner["command"] == ["/home/runner/run.sh"]
    assert runner["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "compute,utility"} in runner["env"]


def test_arc_runner_pods_are_ephemeral_non_root_and_hold_no_github_credential():
    values = _arc()
    assert "containerMode" not in values, "dind/kubernetes modes add a work volume and API access a job could reach"
    spec = values["template"]["spec"]
    assert "volumes" not in spec and "initContainers" not in spec
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] != 0
    for container in spec["containers"]:
        assert "volumeMounts" not in container and "envFrom" not in container
        assert all("valueFrom" not in env for env in container.get("env", []))
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert values["githubConfigSecret"] not in yaml.safe_dump(spec)
    runner = next(c for c in spec["containers"] if c["name"] == "runner")
    assert {"name": "MLCI_RUNNER_EPHEMERAL", "value": "true"} in runner["env"]


# --- the runner image --------------------------------------------------------------------------


def test_gpu_runner_image_registers_the_nvidia_opencl_icd():
    dockerfile = (RUNNERS / "Dockerfile.gpu-runner").read_text()
    assert dockerfile.startswith("#") and "FROM ghcr.io/actions/actions-runner" in dockerfile
    assert "echo libnvidia-opencl.so.1 > /etc/OpenCL/vendors/nvidia.icd" in dockerfile
    assert "ocl-icd-libopencl1" in dockerfile


def test_gpu_runner_image_keeps_the_runner_out_of_the_jobs_reach():
    """The base image gives `runner` passwordless sudo and owns /home/runner (the runner's files) to it."""
    dockerfile = (RUNNERS / "Dockerfile.gpu-runner").read_text()
    lines = [line.strip(" \\") for line in dockerfile.splitlines()]
    for step in (
        "RUN gpasswd --delete runner sudo",
        "&& sed -i '/NOPASSWD/d' /etc/sudoers",
        "&& chown -R root:root /home/runner",
        "&& chmod -R go-w /home/runner",
        "&& chmod 1775 /home/runner",
    ):
        assert step in lines, step
    assert [line for line in lines if line.startswith("USER ")][-1] == "USER runner"
    code = "\n".join(line for line in lines if not line.startswith("#"))
    # the image alone does not make a runner ephemeral: the recipes declare it
    assert "MLCI_RUNNER_EPHEMERAL=" not in code
    # its mlci is root's (installed before `USER runner`), so the action may use it instead of a venv
    assert "MLCI_PREINSTALLED=true" in code
    assert code.index("python3 -m venv /opt/mlci") < code.index("USER runner")
