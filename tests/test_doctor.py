"""`mlci doctor`: runner facts, the OpenCL ICD check (real files, OCL_ICD_VENDORS) and its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlci.runner import doctor, environment
from tests.helpers import invoke

NVIDIA_ICD = "libnvidia-opencl.so.1\n"


@pytest.fixture(scope="module")
def facts() -> doctor.RunnerFacts:
    return doctor.diagnose(".", probe=False)


@pytest.fixture
def vendors(tmp_path: Path) -> Path:
    where = tmp_path / "vendors"
    where.mkdir()
    return where


def needs_no_gpu(facts: doctor.RunnerFacts) -> None:
    if facts.has_gpu:
        pytest.skip("this machine has a GPU; the no-GPU behaviour cannot be observed here")


def test_icd_file_naming_the_nvidia_library_registers_opencl(vendors, monkeypatch):
    (vendors / "nvidia.icd").write_text(NVIDIA_ICD)
    monkeypatch.setenv("OCL_ICD_VENDORS", str(vendors))
    check = doctor.opencl_check()
    assert check.registered
    assert check.nvidia_icd == str(vendors / "nvidia.icd")
    assert check.source == "OCL_ICD_VENDORS"


def test_icd_of_another_vendor_does_not_count_as_nvidia(vendors, monkeypatch):
    (vendors / "pocl.icd").write_text("libpocl.so.2\n")
    monkeypatch.setenv("OCL_ICD_VENDORS", str(vendors))
    check = doctor.opencl_check()
    assert not check.registered
    assert check.icd_files == [str(vendors / "pocl.icd")]


def test_files_not_ending_in_icd_are_ignored(vendors):
    (vendors / "nvidia.icd.bak").write_text(NVIDIA_ICD)
    assert not doctor.opencl_check(vendors).registered


def test_ocl_icd_vendors_may_name_a_single_icd_file(vendors, monkeypatch):
    (vendors / "nvidia.icd").write_text("/usr/lib/x86_64-linux-gnu/libnvidia-opencl.so.1\n")
    monkeypatch.setenv("OCL_ICD_VENDORS", str(vendors / "nvidia.icd"))
    assert doctor.opencl_check().registered


def test_vendors_dir_argument_wins_over_the_environment(vendors, tmp_path, monkeypatch):
    (vendors / "nvidia.icd").write_text(NVIDIA_ICD)
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("OCL_ICD_VENDORS", str(vendors))
    check = doctor.opencl_check(empty)
    assert not check.registered and check.vendors_dir == str(empty)


def test_missing_vendors_dir_is_unregistered_and_the_fix_writes_the_icd_there(tmp_path):
    where = tmp_path / "does-not-exist"
    check = doctor.opencl_check(where)
    assert not check.registered and check.icd_files == []
    fix = doctor.opencl_fix(check)
    assert f"mkdir -p {where}" in fix
    assert f"echo libnvidia-opencl.so.1 | sudo tee {where}/nvidia.icd" in fix


def test_a_gpu_without_opencl_is_a_problem_with_the_exact_fix(vendors, facts):
    gpu = doctor.GpuScan(source="nvml", gpus=[doctor.Gpu(0, "NVIDIA H100", 81559, 0, 0)], driver_version="550.54")
    check = doctor.opencl_check(vendors)
    with_gpu = doctor.RunnerFacts(
        gpu=gpu,
        opencl=check,
        lightgbm_gpu=doctor.LightGbmGpu("fails", "no ICD"),
        cpu_count=16,
        cpu_model="x",
        memory_gib=128.0,
        work_dir=".",
        disk_free_gib=100.0,
        versions=facts.versions,
    )
    problems = doctor.find_problems(with_gpu)
    assert len(problems) == 1
    assert "No OpenCL device found" in problems[0].what
    assert problems[0].fix == doctor.opencl_fix(check)
    assert with_gpu.recommended_device == "cpu"


def test_nvidia_smi_csv_and_banner_are_parsed():
    csv = "0, NVIDIA H100 80GB HBM3, 81559, 1024, 37, 550.54.15, GPU-1234\n1, NVIDIA H100 80GB HBM3, 81559, 3, 0, 550.54.15, GPU-5678\n"
    banner = "| NVIDIA-SMI 550.54.15    Driver Version: 550.54.15    CUDA Version: 12.4     |"
    scan = doctor.parse_nvidia_smi(csv, banner)
    assert scan.source == "nvidia-smi"
    assert [g.name for g in scan.gpus] == ["NVIDIA H100 80GB HBM3"] * 2
    assert scan.gpus[0].memory_total_mib == 81559 and scan.gpus[0].utilization_pct == 37
    assert scan.driver_version == "550.54.15" and scan.cuda_version == "12.4"


def test_unavailable_nvidia_smi_values_become_none():
    scan = doctor.parse_nvidia_smi("0, Tesla T4, 15360, [N/A], [N/A], 535.1, GPU-1\n")
    assert scan.gpus[0].memory_used_mib is None and scan.gpus[0].utilization_pct is None


def test_a_runner_without_gpu_is_reported_not_raised(facts):
    needs_no_gpu(facts)
    assert facts.gpu.source == "none" and facts.gpu.error
    assert facts.lightgbm_gpu.status == "not-checked"
    assert facts.recommended_device == "cpu"
    assert not any("OpenCL" in p.what for p in facts.problems)


def test_facts_cover_cpu_memory_disk_and_tool_versions(facts):
    assert facts.cpu_count and facts.cpu_count >= 1
    assert facts.memory_gib and facts.memory_gib > 0
    assert facts.disk_free_gib is not None and facts.work_dir == str(Path(".").resolve())
    assert facts.versions["git"] and facts.versions["dvc"] and facts.versions["lightgbm"]
    assert facts.versions["python"].count(".") == 2


def test_doctor_json_is_the_runner_facts(git_repo, facts):
    result = invoke(git_repo, "doctor", "--json", "--no-probe")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["has_gpu"] == facts.has_gpu
    assert data["recommended_device"] == facts.recommended_device
    assert {"gpu", "opencl", "lightgbm_gpu", "cpu_count", "memory_gib", "disk_free_gib", "versions", "problems"} <= set(
        data
    )
    assert data["work_dir"] == str(git_repo.resolve())


def test_doctor_says_plainly_when_there_is_no_gpu(git_repo, facts):
    needs_no_gpu(facts)
    result = invoke(git_repo, "doctor")
    assert result.exit_code == 0, result.output
    assert "GPUs: none found — a CPU-only runner" in result.stdout
    assert "train.device auto" in result.stdout and "cpu" in result.stdout


def test_require_gpu_fails_with_one_line_on_a_cpu_runner(git_repo, facts):
    needs_no_gpu(facts)
    result = invoke(git_repo, "doctor", "--require-gpu", "--no-probe")
    assert result.exit_code == 1
    assert "mlci: error: LightGBM cannot train on a GPU here" in result.stderr
    assert "Traceback" not in result.output


def test_run_record_environment_carries_cheap_gpu_facts(tmp_path, facts):
    env = environment.collect(tmp_path)
    assert env["lightgbm_gpu"] in ("no-gpu", "no-opencl-icd", "opencl-registered")
    assert (env["gpu"] is None) == (not facts.has_gpu)
    assert env["training"] is None  # no train stage wrote eval/train_info.json here


def test_run_record_environment_carries_what_training_used(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "train_info.json").write_text(
        '{"device": "cpu", "requested_device": "auto", "engine": "local"}'
    )
    assert environment.collect(tmp_path)["training"]["requested_device"] == "auto"


@pytest.mark.gpu
def test_lightgbm_trains_on_the_gpu_when_doctor_finds_one(facts):
    if not (facts.has_gpu and facts.opencl.registered):
        pytest.skip("needs an NVIDIA GPU with a registered OpenCL ICD")
    assert doctor.probe_lightgbm_gpu().status == "works"


def test_gpu_probe_reports_lightgbms_own_error_without_a_gpu(facts):
    needs_no_gpu(facts)
    probe = doctor.probe_lightgbm_gpu()
    assert probe.status == "fails"
    assert "OpenCL" in probe.detail  # LightGBM: "No OpenCL device found"
