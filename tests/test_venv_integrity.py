"""mlci's cached venv on a persistent self-hosted runner: what one job plants there never runs in the next.

The tool cache outlives a job and its user can write it. Before issue 25 the install step reused a
venv whenever `.mlci-complete` existed, so a `.pth` planted by a PR's stage ran in the next job
(a main-branch baseline with a write token) as soon as mlci started. Now the runner's own python3
runs scripts/verify-venv.py first, against anchors the job cannot change (the lock, the wheels it
pins, this job's action source), and anything that differs is rebuilt.

Two jobs on one runner here: the same RUNNER_TOOL_CACHE, action.yml's "Find mlci's venv" and
"Install mlci" run as the runner runs them, offline from a wheelhouse; then mlci starts, as the
action's later steps start it. One venv is built per module and restored byte for byte (at the
same path) before each test.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_action import (  # noqa: F401  (fixtures)
    ACTION_DIR,
    _find_venv,
    offline_runner_env,
    run_install_steps,
    system_python,
    wheelhouse,
)

VERIFY = ACTION_DIR / "scripts" / "verify-venv.py"
SITE = f"lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages"


@pytest.fixture(scope="module")
def built(tmp_path_factory, wheelhouse) -> dict:  # noqa: F811
    """Job 1: the install step builds the venv in the runner's tool cache; a pristine copy is kept aside."""
    python = shutil.which("python3", path="/usr/bin")
    if python is None or subprocess.run([python, "-I", "-c", "import mlci"], capture_output=True).returncode == 0:
        pytest.skip("needs a system python3 without mlci")
    if (
        f"{sys.version_info[0]}.{sys.version_info[1]}"
        not in subprocess.run(
            [python, "-I", "-c", "import sys; print(sys.version)"], capture_output=True, text=True
        ).stdout.split()[0]
    ):
        pytest.skip("the test Python and the system python3 differ in version")
    runner = tmp_path_factory.mktemp("runner")
    env = offline_runner_env(runner, wheelhouse)
    first = run_install_steps(runner / "temp", env)
    assert first.returncode == 0, first.stdout + first.stderr
    (venv,) = (runner / "toolcache" / "mlci").iterdir()
    assert (venv / ".mlci-complete").exists() and (venv / ".mlci-wheels").is_dir()
    pristine = runner / "pristine"
    shutil.copytree(venv, pristine, symlinks=True)
    return {"runner": runner, "env": env, "venv": venv, "pristine": pristine}


def restore(venv: Path, pristine: Path) -> None:
    """Make `venv` byte for byte `pristine` again, copying only what a test changed (the venv is ~800 MB)."""
    want = {p.relative_to(pristine) for p in pristine.rglob("*")}
    for path in sorted(venv.rglob("*"), reverse=True):  # children before their directories
        rel = path.relative_to(venv)
        if rel not in want or path.is_symlink() != (pristine / rel).is_symlink():
            path.unlink() if path.is_symlink() or not path.is_dir() else shutil.rmtree(path)
    for rel in sorted(want):
        src, dst = pristine / rel, venv / rel
        if src.is_symlink():
            if not dst.is_symlink():
                os.symlink(os.readlink(src), dst)
        elif src.is_dir():
            dst.mkdir(exist_ok=True)
        elif not dst.is_file() or (dst.stat().st_size, dst.stat().st_mtime_ns) != (
            src.stat().st_size,
            src.stat().st_mtime_ns,
        ):
            dst.unlink(missing_ok=True)
            shutil.copy2(src, dst)


@pytest.fixture
def job(built) -> dict:
    """The runner after job 1, untouched; `marker` is what a planted payload writes when it runs."""
    venv = built["venv"]
    if not venv.exists():
        venv.mkdir()
    restore(venv, built["pristine"])
    shutil.rmtree(built["runner"] / "temp", ignore_errors=True)
    (built["runner"] / "temp").mkdir()  # a new job's RUNNER_TEMP
    marker = built["runner"] / "payload-ran"
    marker.unlink(missing_ok=True)
    return {**built, "marker": marker}


def next_job(job: dict) -> subprocess.CompletedProcess:
    """Job 2 on the same runner: the install steps, then mlci starts (as the admit step would start it)."""
    done = run_install_steps(job["runner"] / "temp", job["env"])
    assert done.returncode == 0, done.stdout + done.stderr
    mlci = job["runner"] / "temp" / "mlci-venv" / "bin" / "mlci"
    started = subprocess.run([str(mlci), "--version"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert started.returncode == 0, started.stderr
    return done


def plant_pth(venv: Path, marker: Path) -> Path:
    pth = venv / SITE / "zz-cache-helper.pth"
    pth.write_text(f"import os; open({str(marker)!r}, 'w').close()\n")
    return pth


def verify(venv: Path) -> subprocess.CompletedProcess:
    """scripts/verify-venv.py alone, as the install step runs it (the runner's python3, isolated)."""
    return subprocess.run(
        [
            shutil.which("python3", path="/usr/bin") or "python3",
            "-I",
            str(VERIFY),
            str(venv),
            "--lock",
            str(ACTION_DIR / "requirements.lock"),
            "--source",
            str(ACTION_DIR),
        ],
        capture_output=True,
        text=True,
    )


# --- two jobs on one runner --------------------------------------------------------------------


@pytest.mark.slow
def test_a_pth_planted_by_one_job_never_runs_in_the_next_and_the_venv_is_rebuilt(job):
    venv, marker = job["venv"], job["marker"]
    plant_pth(venv, marker)
    # the plant is real: any Python of that venv runs it at start-up
    subprocess.run([str(venv / "bin" / "python"), "-c", "pass"], check=True)
    assert marker.exists()
    marker.unlink()
    done = next_job(job)
    assert f"rebuilt: {SITE}/zz-cache-helper.pth: not installed by any verified package" in done.stdout
    assert not marker.exists(), "the planted .pth ran in the next job"
    assert not (venv / SITE / "zz-cache-helper.pth").exists()


@pytest.mark.slow
def test_a_pth_with_a_forged_record_line_is_refused_too(job):
    """RECORD is in the venv, so the job can add its file to it: RECORD alone is no anchor."""
    venv = job["venv"]
    pth = plant_pth(venv, job["marker"])
    (record,) = (venv / SITE).glob("click-*.dist-info/RECORD")
    digest = base64.urlsafe_b64encode(hashlib.sha256(pth.read_bytes()).digest()).decode().rstrip("=")
    record.write_text(record.read_text() + f"zz-cache-helper.pth,sha256={digest},{pth.stat().st_size}\n")
    done = verify(venv)
    assert done.returncode == 1
    assert done.stdout == f"{SITE}/zz-cache-helper.pth: not installed by any verified package\n"


@pytest.mark.slow
def test_an_installed_module_changed_by_one_byte_is_detected(job):
    venv = job["venv"]
    module = venv / SITE / "click" / "core.py"
    data = bytearray(module.read_bytes())
    data[100] ^= 0x01
    module.write_bytes(bytes(data))
    done = verify(venv)
    assert done.returncode == 1 and done.stdout == f"{SITE}/click/core.py: differs from the verified package\n"


@pytest.mark.slow
def test_an_untouched_venv_is_reused_without_reinstalling(job):
    venv = job["venv"]
    before = {p: p.stat().st_mtime_ns for p in [venv / ".mlci-complete", venv / SITE / "click" / "core.py"]}
    done = next_job(job)
    assert f"mlci venv {venv.name.removeprefix('venv-')} reused (verified)" in done.stdout
    assert "rebuilt" not in done.stdout
    assert {p: p.stat().st_mtime_ns for p in before} == before


# --- the verifier on its own: each kind of plant (fast) ----------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        (lambda v: (v / SITE / "sitecustomize.py").write_text("print('hi')\n"), "sitecustomize.py: not installed"),
        (lambda v: (v / SITE / "usercustomize.py").write_text("print('hi')\n"), "usercustomize.py: not installed"),
        (lambda v: (v / SITE / "mlci" / "evil.py").write_text("print('hi')\n"), "mlci/evil.py: not installed"),
        (
            lambda v: (v / SITE / "mlci" / "__init__.py").write_text("print('hi')\n"),
            "mlci/__init__.py: differs from the verified package",
        ),
        (lambda v: (v / "bin" / "git").write_text("#!/bin/sh\n"), "bin/git: not installed"),
        (
            lambda v: (v / "bin" / "mlci").write_text((v / "bin" / "mlci").read_text().replace("main", "xmain")),
            "bin/mlci: is not the console script pip writes",
        ),
        (lambda v: os.symlink("/usr/bin/env", v / SITE / "helper"), "helper: a symlink the venv does not need"),
        (
            lambda v: (v / "pyvenv.cfg").write_text(
                (v / "pyvenv.cfg")
                .read_text()
                .replace("include-system-site-packages = false", "include-system-site-packages = true")
            ),
            "pyvenv.cfg: include-system-site-packages is not false",
        ),
        (
            lambda v: (v / ".mlci-wheels" / "extra-1.0-py3-none-any.whl").write_bytes(b"PK"),
            "its sha256 is not in the lock",
        ),
        (
            lambda v: (
                v / SITE / next(p.name for p in (v / SITE).glob("click-*.dist-info")) / "entry_points.txt"
            ).write_text("[console_scripts]\nx = os:system\n"),
            "entry_points.txt: not installed",
        ),
        (lambda v: (v / SITE / "click" / "core.py").unlink(), "click/core.py: missing"),
    ],
    ids=[
        "sitecustomize",
        "usercustomize",
        "extra-module",
        "mlci-changed",
        "extra-script",
        "console-script",
        "symlink",
        "system-site",
        "unlocked-wheel",
        "entry-point",
        "deleted-module",
    ],
)
def test_the_verifier_names_the_first_thing_no_verified_source_explains(job, plant, expected):
    venv = job["venv"]
    assert verify(venv).returncode == 0
    plant(venv)
    done = verify(venv)
    assert done.returncode == 1 and expected in done.stdout, done.stdout + done.stderr
    assert len(done.stdout.splitlines()) == 1


@pytest.mark.slow
def test_bytecode_is_never_trusted_only_deleted(job):
    venv = job["venv"]
    cache = venv / SITE / "click" / "__pycache__"
    cache.mkdir()
    (cache / "core.cpython-311.pyc").write_bytes(b"planted bytecode")
    assert verify(venv).returncode == 0
    assert not cache.exists()


# --- the "already installed" shortcut ----------------------------------------------------------


def _action_copy(tmp_path: Path) -> Path:
    action = tmp_path / "action"
    (action / "mlci").mkdir(parents=True)
    shutil.copy(ACTION_DIR / "requirements.lock", action / "requirements.lock")
    shutil.copy(ACTION_DIR / "mlci" / "__init__.py", action / "mlci" / "__init__.py")
    return action


@pytest.mark.parametrize(
    ("kind", "preinstalled", "honoured"),
    [
        ("self-hosted", "", False),  # python3 may be the job-writable tool cache's (setup-python)
        ("self-hosted", "true", True),  # the runner image's root-owned /opt/mlci
        ("github-hosted", "", True),  # a fresh VM: nothing from an earlier job
    ],
)
def test_an_importable_mlci_is_used_only_where_no_earlier_job_can_have_planted_it(
    tmp_path, kind, preinstalled, honoured
):
    """The test venv's python3 imports mlci, standing for one a job planted (or an admin installed)."""
    temp = tmp_path / "temp"
    temp.mkdir()
    found = _find_venv(
        _action_copy(tmp_path),
        temp,
        str(Path(sys.executable).parent),
        runner_kind=kind,
        preinstalled=preinstalled,
    )
    assert found["installed"] == ("true" if honoured else "false")
