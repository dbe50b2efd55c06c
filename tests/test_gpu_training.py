"""train.device in the example: auto picks the GPU only when OpenCL is there, falls back only when auto.

The example's train.py runs as the pipeline runs it (a `python src/train.py` subprocess in a
copy of the example); without a GPU, LightGBM's own "No OpenCL device found" is the real failure.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.runner import doctor
from tests.helpers import commit_all, invoke, set_param

EXAMPLE = Path(__file__).resolve().parents[1] / "templates" / "example"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    """The example with its data prepared once (10k rows)."""
    root = tmp_path_factory.mktemp("gpu-example") / "example"
    shutil.copytree(EXAMPLE, root)
    subprocess.run([sys.executable, "src/prepare.py"], cwd=root, check=True)
    return root


@pytest.fixture
def example(prepared, tmp_path) -> Path:
    root = tmp_path / "example"
    shutil.copytree(prepared, root)
    return root


@pytest.fixture(scope="module")
def lightgbm_gpu_works() -> bool:
    facts = doctor.diagnose(".", probe=True)
    return facts.lightgbm_gpu.status == "works"


def vendors_with_nvidia_icd(tmp_path: Path) -> str:
    where = tmp_path / "vendors"
    where.mkdir()
    (where / "nvidia.icd").write_text("libnvidia-opencl.so.1\n")
    return str(where)


def train(root: Path, device: str, *, vendors: str | None = None) -> subprocess.CompletedProcess:
    set_param(root, "train.device", device)
    env = {k: v for k, v in os.environ.items() if k != "OCL_ICD_VENDORS"}
    if vendors is not None:
        env["OCL_ICD_VENDORS"] = vendors
    return subprocess.run([sys.executable, "src/train.py"], cwd=root, env=env, capture_output=True, text=True)


def info(root: Path) -> dict:
    return json.loads((root / "eval" / "train_info.json").read_text())


def test_cpu_device_trains_on_cpu_and_says_so(example):
    proc = train(example, "cpu")
    assert proc.returncode == 0, proc.stderr
    used = info(example)
    assert (used["device"], used["requested_device"], used["engine"], used["fallback"]) == ("cpu", "cpu", "local", None)
    assert 6000 < used["rows"] < 8000  # 10k rows less the test quarter
    assert (example / "models" / "model.txt").stat().st_size > 0


def test_cpu_training_is_byte_for_byte_deterministic(example):
    assert train(example, "cpu").returncode == 0
    first = (example / "models" / "model.txt").read_bytes()
    assert train(example, "cpu").returncode == 0
    assert (example / "models" / "model.txt").read_bytes() == first


def test_auto_without_an_opencl_icd_uses_cpu_quietly(example, tmp_path):
    empty = tmp_path / "no-vendors"
    empty.mkdir()
    proc = train(example, "auto", vendors=str(empty))
    assert proc.returncode == 0, proc.stderr
    assert info(example)["device"] == "cpu" and info(example)["fallback"] is None
    assert "trained on CPU instead" not in proc.stderr


def test_auto_falls_back_to_cpu_and_says_so_when_gpu_training_fails(example, tmp_path, lightgbm_gpu_works):
    if lightgbm_gpu_works:
        pytest.skip("LightGBM trains on the GPU here, so GPU training cannot be made to fail")
    proc = train(example, "auto", vendors=vendors_with_nvidia_icd(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "train.py: GPU training failed (No OpenCL device found); trained on CPU instead" in proc.stderr
    assert info(example)["device"] == "cpu"
    assert "No OpenCL device found" in info(example)["fallback"]


def test_explicit_gpu_fails_clearly_instead_of_falling_back(example, tmp_path, lightgbm_gpu_works):
    if lightgbm_gpu_works:
        pytest.skip("LightGBM trains on the GPU here")
    proc = train(example, "gpu", vendors=vendors_with_nvidia_icd(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == "training on gpu failed: No OpenCL device found (run `mlci doctor`)"
    assert not (example / "models" / "model.txt").exists()


def test_unknown_device_is_one_clear_line(example):
    proc = train(example, "tpu")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "train.device must be cpu|gpu|auto and train.engine local|dask, not 'tpu' / 'local'"


def test_device_used_lands_in_the_run_record(trained_repo, monkeypatch):
    monkeypatch.chdir(trained_repo)
    set_param(trained_repo, "train.device", "auto")
    commit_all(trained_repo, "Train on whatever this runner has")
    result = invoke(trained_repo, "run", "--json")
    assert result.exit_code == 0, result.output
    training = json.loads(result.stdout)["environment"]["training"]
    assert training["requested_device"] == "auto"
    assert training["device"] == ("gpu" if doctor.quick_facts()["lightgbm_gpu"] == "opencl-registered" else "cpu")


@pytest.mark.gpu
def test_gpu_device_trains_on_the_gpu(example, lightgbm_gpu_works):
    if not lightgbm_gpu_works:
        pytest.skip("needs an NVIDIA GPU on which LightGBM's OpenCL path works (see `mlci doctor`)")
    proc = train(example, "gpu")
    assert proc.returncode == 0, proc.stderr
    assert info(example)["device"] == "gpu" and info(example)["fallback"] is None


@pytest.mark.gpu
def test_auto_picks_the_gpu_when_doctor_says_it_works(example, lightgbm_gpu_works):
    if not lightgbm_gpu_works:
        pytest.skip("needs an NVIDIA GPU on which LightGBM's OpenCL path works (see `mlci doctor`)")
    assert train(example, "auto").returncode == 0
    assert info(example)["device"] == "gpu"
