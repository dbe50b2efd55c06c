"""What this runner can do: GPUs, OpenCL for LightGBM's GPU path, CPU, memory, disk, tool versions.

Self-hosted GPU runners fail in quiet ways: the driver is there but LightGBM's PyPI wheel
trains on GPU through OpenCL, which needs an ICD file naming the vendor's OpenCL library;
without it `device_type="gpu"` fails with "No OpenCL device found". `diagnose()` gathers the
facts and names the exact fix for each problem. `quick_facts()` is the cheap subset every run
record carries (no subprocess unless NVML is missing and `nvidia-smi` exists, no training).

No GPU is a valid state: it is reported, not raised.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlci.runner import machine

DEFAULT_VENDORS_DIR = Path("/etc/OpenCL/vendors")
NVIDIA_OPENCL_LIBRARY = "libnvidia-opencl.so.1"
_SMI_FIELDS = "index,name,memory.total,memory.used,utilization.gpu,driver_version,uuid"
_PROBE_TIMEOUT_S = 120

# Run in a fresh interpreter: a broken OpenCL driver can crash the process that loads it.
_LIGHTGBM_GPU_PROBE = """
import numpy as np, lightgbm as lgb
rng = np.random.default_rng(0)
X = rng.random((2000, 4)); y = (X[:, 0] > 0.5).astype(int)
lgb.train({"objective": "binary", "device_type": "gpu", "verbose": -1, "num_threads": 1},
          lgb.Dataset(X, y), num_boost_round=2)
print("ok")
"""


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    memory_total_mib: int | None
    memory_used_mib: int | None
    utilization_pct: int | None
    uuid: str | None = None


@dataclass(frozen=True)
class GpuScan:
    """What NVML (or `nvidia-smi`) says; `source` is "nvml", "nvidia-smi" or "none"."""

    source: str
    gpus: list[Gpu] = field(default_factory=list)
    driver_version: str | None = None
    cuda_version: str | None = None
    error: str | None = None  # why neither NVML nor nvidia-smi answered, when they did not


@dataclass(frozen=True)
class OpenClCheck:
    """Whether an OpenCL platform for an NVIDIA GPU is registered with the ICD loader."""

    vendors_dir: str
    icd_files: list[str]  # every *.icd file found, as paths
    nvidia_icd: str | None  # the ICD file that names libnvidia-opencl.so.1, if any
    source: str  # "OCL_ICD_VENDORS" or "default"

    @property
    def registered(self) -> bool:
        return self.nvidia_icd is not None


@dataclass(frozen=True)
class LightGbmGpu:
    """Whether `device_type="gpu"` works: "works", "fails", "not-checked" (see `detail`)."""

    status: str
    detail: str = ""


@dataclass(frozen=True)
class Problem:
    what: str
    fix: str


@dataclass
class RunnerFacts:
    gpu: GpuScan
    opencl: OpenClCheck
    lightgbm_gpu: LightGbmGpu
    cpu_count: int | None
    cpu_model: str
    memory_gib: float | None
    work_dir: str
    disk_free_gib: float | None
    versions: dict[str, str | None]
    problems: list[Problem] = field(default_factory=list)

    @property
    def has_gpu(self) -> bool:
        return bool(self.gpu.gpus)

    @property
    def recommended_device(self) -> str:
        """What `train.device: auto` will pick here."""
        return "gpu" if self.has_gpu and self.opencl.registered and self.lightgbm_gpu.status != "fails" else "cpu"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["has_gpu"] = self.has_gpu
        data["opencl"]["registered"] = self.opencl.registered
        data["recommended_device"] = self.recommended_device
        return data


# --- GPUs -------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def scan_nvml() -> GpuScan:
    """GPUs through NVML (nvidia-ml-py, the `gpu` extra), imported only here."""
    try:
        import pynvml
    except ImportError:
        return GpuScan(
            source="none",
            error="nvidia-ml-py is not installed (pip install nvidia-ml-py; the mlci action's venv has it)",
        )
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return GpuScan(source="none", error=f"NVML unavailable: {exc}")
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = None
        try:
            raw = pynvml.nvmlSystemGetCudaDriverVersion_v2()
            cuda = f"{raw // 1000}.{raw % 1000 // 10}"
        except pynvml.NVMLError:
            pass
        gpus = []
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            try:
                utilization = int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
            except pynvml.NVMLError:
                utilization = None
            gpus.append(
                Gpu(
                    index=index,
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    memory_total_mib=int(memory.total) // 2**20,
                    memory_used_mib=int(memory.used) // 2**20,
                    utilization_pct=utilization,
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                )
            )
        return GpuScan(source="nvml", gpus=gpus, driver_version=driver, cuda_version=cuda)
    except pynvml.NVMLError as exc:
        return GpuScan(source="none", error=f"NVML query failed: {exc}")
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def _int_or_none(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None


def parse_nvidia_smi(csv_text: str, header_text: str = "") -> GpuScan:
    """Parse `nvidia-smi --query-gpu=<_SMI_FIELDS> --format=csv,noheader,nounits` (+ its banner for CUDA)."""
    gpus, driver = [], None
    for line in csv_text.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(_SMI_FIELDS.split(",")):
            continue
        index, name, total, used, util, driver, uuid = cells
        gpus.append(Gpu(int(index), name, _int_or_none(total), _int_or_none(used), _int_or_none(util), uuid))
    cuda = None
    if "CUDA Version:" in header_text:
        cuda = header_text.split("CUDA Version:", 1)[1].split()[0].strip("|")
    return GpuScan(source="nvidia-smi", gpus=gpus, driver_version=driver, cuda_version=cuda)


def scan_nvidia_smi(executable: str | None = None) -> GpuScan:
    smi = executable or shutil.which("nvidia-smi")
    if not smi:
        return GpuScan(source="none", error="nvidia-smi not found on PATH")
    try:
        query = subprocess.run(
            [smi, f"--query-gpu={_SMI_FIELDS}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        banner = subprocess.run([smi], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return GpuScan(source="none", error=f"nvidia-smi failed: {exc}")
    if query.returncode != 0:
        reason = (query.stderr or query.stdout).strip().splitlines()[-1:] or ["no output"]
        return GpuScan(source="none", error=f"nvidia-smi failed: {reason[0]}")
    return parse_nvidia_smi(query.stdout, banner.stdout)


def scan_gpus() -> GpuScan:
    """NVML first (fast, in-process); `nvidia-smi` only when NVML cannot answer."""
    nvml = scan_nvml()
    if nvml.source != "none":
        return nvml
    smi = scan_nvidia_smi()
    if smi.source != "none":
        return smi
    return GpuScan(source="none", error=f"{nvml.error}; {smi.error}")


# --- OpenCL -----------------------------------------------------------------------------------


def opencl_check(vendors_dir: Path | str | None = None) -> OpenClCheck:
    """Look for an ICD file naming libnvidia-opencl.so.1, where the ICD loader looks.

    The loader reads `OCL_ICD_VENDORS` (a directory, or one .icd file) before the default
    /etc/OpenCL/vendors; `vendors_dir` overrides both (for tests and unusual installs).
    """
    if vendors_dir is not None:
        where, source = Path(vendors_dir), "argument"
    elif os.environ.get("OCL_ICD_VENDORS"):
        where, source = Path(os.environ["OCL_ICD_VENDORS"]), "OCL_ICD_VENDORS"
    else:
        where, source = DEFAULT_VENDORS_DIR, "default"
    if where.is_file():
        files = [where]
    elif where.is_dir():
        files = sorted(p for p in where.iterdir() if p.suffix == ".icd" and p.is_file())
    else:
        files = []
    nvidia = None
    for path in files:
        try:
            if NVIDIA_OPENCL_LIBRARY.split(".so")[0] in path.read_text(encoding="utf-8", errors="replace"):
                nvidia = str(path)
                break
        except OSError:
            continue
    return OpenClCheck(vendors_dir=str(where), icd_files=[str(p) for p in files], nvidia_icd=nvidia, source=source)


def opencl_fix(check: OpenClCheck) -> str:
    """The exact commands that register NVIDIA's OpenCL platform (the driver ships the library)."""
    target = check.vendors_dir if check.source != "default" else str(DEFAULT_VENDORS_DIR)
    if target.endswith(".icd"):
        target = str(Path(target).parent)
    return (
        f"sudo mkdir -p {target} && echo {NVIDIA_OPENCL_LIBRARY} | sudo tee {target}/nvidia.icd"
        " (in containers: run with NVIDIA_DRIVER_CAPABILITIES=compute,utility so the driver mounts"
        f" {NVIDIA_OPENCL_LIBRARY}; Debian/Ubuntu also need `apt-get install ocl-icd-libopencl1`)"
    )


def probe_lightgbm_gpu(timeout: float = _PROBE_TIMEOUT_S) -> LightGbmGpu:
    """Train two trees with `device_type="gpu"` in a child interpreter: the only real proof."""
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _LIGHTGBM_GPU_PROBE], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return LightGbmGpu("fails", f"a 2-tree GPU training did not finish in {timeout:.0f}s")
    if proc.returncode == 0 and proc.stdout.strip().endswith("ok"):
        return LightGbmGpu("works", "trained 2 trees with device_type=gpu")
    lines = [line for line in (proc.stderr or proc.stdout).strip().splitlines() if line.strip()]
    return LightGbmGpu("fails", lines[-1] if lines else f"probe exited with code {proc.returncode}")


# --- the rest of the machine ------------------------------------------------------------------


def _disk_free_gib(path: Path) -> float | None:
    try:
        return round(shutil.disk_usage(path).free / 2**30, 1)
    except OSError:
        return None


def _command_version(*command: str) -> str | None:
    if not shutil.which(command[0]) and not Path(command[0]).is_file():
        return None
    try:
        proc = subprocess.run(list(command), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (proc.stdout or proc.stderr).strip().splitlines()
    return out[0].strip() if proc.returncode == 0 and out else None


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    git = _command_version("git", "--version")
    return {
        "python": platform.python_version(),
        "git": git.removeprefix("git version ") if git else None,
        "dvc": _package_version("dvc"),
        "lightgbm": _package_version("lightgbm"),
        "dask": _package_version("dask"),
        "distributed": _package_version("distributed"),
        "nvidia-ml-py": _package_version("nvidia-ml-py"),
    }


def find_problems(facts: RunnerFacts) -> list[Problem]:
    problems = []
    if facts.has_gpu and not facts.opencl.registered:
        where = facts.opencl.vendors_dir
        problems.append(
            Problem(
                f"GPU found but no OpenCL ICD naming {NVIDIA_OPENCL_LIBRARY} in {where}:"
                " LightGBM device_type=gpu will fail with 'No OpenCL device found'",
                opencl_fix(facts.opencl),
            )
        )
    if facts.has_gpu and facts.lightgbm_gpu.status == "fails" and facts.opencl.registered:
        problems.append(
            Problem(
                f"LightGBM GPU training fails: {facts.lightgbm_gpu.detail}",
                f"check that {NVIDIA_OPENCL_LIBRARY} exists (ldconfig -p | grep nvidia-opencl) and matches"
                " the driver version; reinstall the driver's OpenCL component if not",
            )
        )
    if facts.gpu.source == "nvidia-smi":
        problems.append(
            Problem("NVML not importable, used nvidia-smi", "pip install nvidia-ml-py (the mlci action's venv has it)")
        )
    if facts.disk_free_gib is not None and facts.disk_free_gib < 5:
        problems.append(
            Problem(
                f"only {facts.disk_free_gib} GiB free in {facts.work_dir}",
                "free disk space or point the runner's work dir elsewhere (`dvc gc` clears old cache)",
            )
        )
    for tool in ("git", "dvc", "lightgbm"):
        if facts.versions.get(tool) is None:
            fix = "install git (apt-get install git)" if tool == "git" else f"pip install {tool}"
            problems.append(Problem(f"{tool} is not installed", fix))
    return problems


def diagnose(
    work_dir: Path | str = ".",
    *,
    vendors_dir: Path | str | None = None,
    probe: bool = True,
) -> RunnerFacts:
    """All the facts `mlci doctor` shows. `probe=False` skips the LightGBM GPU training probe."""
    work = Path(work_dir).resolve()
    gpu = scan_gpus()
    opencl = opencl_check(vendors_dir)
    if not gpu.gpus:
        lightgbm_gpu = LightGbmGpu("not-checked", "no NVIDIA GPU: training runs on CPU")
    elif not opencl.registered:
        lightgbm_gpu = LightGbmGpu("fails", f"no OpenCL ICD naming {NVIDIA_OPENCL_LIBRARY}")
    elif probe:
        lightgbm_gpu = probe_lightgbm_gpu()
    else:
        lightgbm_gpu = LightGbmGpu("not-checked", "probe skipped")
    facts = RunnerFacts(
        gpu=gpu,
        opencl=opencl,
        lightgbm_gpu=lightgbm_gpu,
        cpu_count=os.cpu_count(),
        cpu_model=machine.cpu_model(),
        memory_gib=machine.memory_gib(),
        work_dir=str(work),
        disk_free_gib=_disk_free_gib(work),
        versions=versions(),
    )
    facts.problems = find_problems(facts)
    return facts


def quick_facts(vendors_dir: Path | str | None = None) -> dict[str, Any]:
    """The cheap subset every run record carries under environment["gpu"] / ["lightgbm_gpu"].

    NVML only (no `nvidia-smi` subprocess, no training probe): a few milliseconds.
    """
    scan = scan_nvml()
    opencl = opencl_check(vendors_dir)
    gpu = None
    if scan.gpus:
        gpu = {
            "count": len(scan.gpus),
            "names": [g.name for g in scan.gpus],
            "memory_total_mib": [g.memory_total_mib for g in scan.gpus],
            "driver_version": scan.driver_version,
            "cuda_version": scan.cuda_version,
        }
    if not scan.gpus:
        lightgbm_gpu = "no-gpu"
    else:
        lightgbm_gpu = "opencl-registered" if opencl.registered else "no-opencl-icd"
    return {"gpu": gpu, "lightgbm_gpu": lightgbm_gpu}


TRAIN_INFO = "eval/train_info.json"


def training_info(root: Path) -> dict[str, Any] | None:
    """What the example's train stage says it used (device, engine, fallback), if it wrote it."""
    import json

    try:
        data = json.loads((root / TRAIN_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
