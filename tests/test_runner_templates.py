"""templates/runners: the ephemeral runner script (run for real against a stand-in runner and a
loopback API), the systemd unit's keys, the ARC scale-set values and the GPU runner image."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

RUNNERS = Path(__file__).resolve().parents[1] / "templates" / "runners"
SCRIPT = RUNNERS / "register-runner.sh"


def test_registration_script_is_valid_bash():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_registration_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    proc = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.fixture
def runner_dir(tmp_path: Path) -> Path:
    """A stand-in for the unpacked actions runner: config.sh records its arguments, run.sh its start."""
    root = tmp_path / "actions-runner"
    root.mkdir()
    (root / "config.sh").write_text('#!/bin/sh\nprintf "%s\\n" "$@" > config.args\n')
    (root / "run.sh").write_text("#!/bin/sh\necho started > run.log\n")
    for name in ("config.sh", "run.sh"):
        (root / name).chmod(0o755)
    return root


def register(runner_dir: Path, **env: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ["HOME"],
        "RUNNER_DIR": str(runner_dir),
        "GITHUB_URL": "https://github.com/acme/churn",
        "MLCI_DOCTOR": "",
        "RUNNER_NAME": "gpu-box-1",
    }
    return subprocess.run(["bash", str(SCRIPT)], env={**base, **env}, capture_output=True, text=True, timeout=60)


def config_args(runner_dir: Path) -> list[str]:
    return (runner_dir / "config.args").read_text().splitlines()


def test_runner_registers_ephemeral_with_gpu_labels_then_runs(runner_dir):
    proc = register(runner_dir, RUNNER_TOKEN="REGTOKEN")
    assert proc.returncode == 0, proc.stderr
    args = config_args(runner_dir)
    assert {"--unattended", "--ephemeral", "--replace"} <= set(args)
    assert args[args.index("--labels") + 1] == "self-hosted,gpu"
    assert args[args.index("--url") + 1] == "https://github.com/acme/churn"
    assert args[args.index("--token") + 1] == "REGTOKEN"
    assert (runner_dir / "run.log").read_text() == "started\n"


def test_a_failing_doctor_keeps_the_machine_from_registering(runner_dir):
    proc = register(runner_dir, RUNNER_TOKEN="REGTOKEN", MLCI_DOCTOR="false")
    assert proc.returncode == 1
    assert "'false' failed: fix this machine" in proc.stderr
    assert not (runner_dir / "config.args").exists()


def test_missing_settings_are_named(runner_dir, tmp_path):
    proc = register(runner_dir, GITHUB_URL="")
    assert proc.returncode != 0 and "set GITHUB_URL" in proc.stderr
    proc = register(runner_dir)
    assert proc.returncode == 1 and "set RUNNER_TOKEN (a registration token) or GITHUB_PAT" in proc.stderr
    proc = register(tmp_path / "nowhere", RUNNER_TOKEN="x")
    assert proc.returncode == 1 and "no actions runner in" in proc.stderr


@pytest.fixture
def token_api():
    """A loopback stand-in for GitHub's registration-token endpoint; records what it was sent."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            seen.append({"path": self.path, "auth": self.headers.get("Authorization")})
            body = json.dumps({"token": "FROM-API", "expires_at": "2030-01-01T00:00:00Z"}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", seen
    server.shutdown()


def test_pat_requests_a_registration_token_and_never_reaches_the_runner(runner_dir, token_api):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    url, seen = token_api
    proc = register(runner_dir, GITHUB_PAT="ghp_SECRET", GITHUB_API_URL=url)
    assert proc.returncode == 0, proc.stderr
    assert seen == [{"path": "/repos/acme/churn/actions/runners/registration-token", "auth": "Bearer ghp_SECRET"}]
    args = config_args(runner_dir)
    assert args[args.index("--token") + 1] == "FROM-API"
    assert "ghp_SECRET" not in proc.stdout + proc.stderr + "\n".join(args)


def test_organisation_url_asks_the_org_endpoint(runner_dir, token_api):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    url, seen = token_api
    assert (
        register(runner_dir, GITHUB_PAT="p", GITHUB_API_URL=url, GITHUB_URL="https://github.com/acme").returncode == 0
    )
    assert seen[0]["path"] == "/orgs/acme/actions/runners/registration-token"


def test_systemd_unit_restarts_the_ephemeral_runner_forever():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # systemd keys are case-sensitive
    unit.read(RUNNERS / "mlci-runner.service")
    assert unit["Unit"]["Description"] and "network-online.target" in unit["Unit"]["After"]
    service = unit["Service"]
    assert service["ExecStart"].endswith("/register-runner.sh")
    assert service["Restart"] == "always" and service["User"] and service["EnvironmentFile"]
    assert unit["Unit"]["StartLimitIntervalSec"] == "0"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_verify_accepts_the_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    proc = subprocess.run(
        [analyze, "verify", "--man=no", str(RUNNERS / "mlci-runner.service")], capture_output=True, text=True
    )
    # The unit names absolute install paths that do not exist on a test machine; nothing else may be wrong.
    problems = [line for line in proc.stderr.splitlines() if "is not executable: No such file" not in line]
    assert problems == []


def test_environment_file_example_holds_no_token():
    values = dict(
        line.split("=", 1)
        for line in (RUNNERS / "mlci-runner.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert values["GITHUB_URL"].startswith("https://") and values["RUNNER_LABELS"] == "self-hosted,gpu"
    assert values["GITHUB_PAT"] == ""


def test_arc_values_put_one_gpu_per_runner_pod_on_gpu_nodes():
    values = yaml.safe_load((RUNNERS / "arc-gpu-values.yaml").read_text())
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


def test_gpu_runner_image_registers_the_nvidia_opencl_icd():
    dockerfile = (RUNNERS / "Dockerfile.gpu-runner").read_text()
    assert dockerfile.startswith("#") and "FROM ghcr.io/actions/actions-runner" in dockerfile
    assert "echo libnvidia-opencl.so.1 > /etc/OpenCL/vendors/nvidia.icd" in dockerfile
    assert "ocl-icd-libopencl1" in dockerfile
