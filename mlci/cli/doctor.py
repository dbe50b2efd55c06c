"""`mlci doctor`: what this runner can do, and the exact fix for what it cannot."""

from __future__ import annotations

import click

from mlci.cli.options import here
from mlci.cli.output import emit_json, table


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (RunnerFacts.to_dict()).")
@click.option("--no-probe", is_flag=True, help="Skip the 2-tree LightGBM GPU training probe.")
@click.option(
    "--require-gpu", is_flag=True, help="Exit 1 unless LightGBM can train on a GPU here (a runner health check)."
)
def doctor(as_json: bool, no_probe: bool, require_gpu: bool) -> None:
    """Report GPUs (NVML / nvidia-smi), OpenCL for LightGBM, CPU, RAM, disk and tool versions."""
    from mlci.errors import VerdictFailed
    from mlci.runner.doctor import diagnose

    facts = diagnose(here(), probe=not no_probe)
    if as_json:
        emit_json(facts.to_dict())
    else:
        _print(facts)
    if require_gpu and facts.lightgbm_gpu.status != "works":
        raise VerdictFailed(f"LightGBM cannot train on a GPU here ({facts.lightgbm_gpu.detail}); see `mlci doctor`")


def _print(facts) -> None:
    gpu = facts.gpu
    if gpu.gpus:
        rows = [
            [
                str(g.index),
                g.name,
                f"{g.memory_used_mib} / {g.memory_total_mib} MiB",
                "-" if g.utilization_pct is None else f"{g.utilization_pct} %",
            ]
            for g in gpu.gpus
        ]
        table(
            f"GPUs (via {gpu.source}; driver {gpu.driver_version}, CUDA {gpu.cuda_version or '?'})",
            ["#", "name", "memory used / total", "utilisation"],
            rows,
        )
    else:
        click.echo(f"GPUs: none found — a CPU-only runner ({gpu.error})")
    opencl = facts.opencl
    icd = opencl.nvidia_icd or f"no ICD naming libnvidia-opencl.so.1 in {opencl.vendors_dir}"
    versions = ", ".join(f"{k} {v}" for k, v in facts.versions.items() if v)
    rows = [
        ["OpenCL (NVIDIA ICD)", icd],
        ["LightGBM GPU", f"{facts.lightgbm_gpu.status}: {facts.lightgbm_gpu.detail}"],
        ["train.device auto", facts.recommended_device],
        ["CPU", f"{facts.cpu_count} cores, {facts.cpu_model}"],
        ["memory", f"{facts.memory_gib} GiB"],
        ["disk free", f"{facts.disk_free_gib} GiB in {facts.work_dir}"],
        ["versions", versions],
    ]
    table("Runner", ["fact", "value"], rows)
    if not facts.problems:
        click.echo("no problems found")
    for problem in facts.problems:
        click.echo(f"problem: {problem.what}\n  fix: {problem.fix}")
