"""The one way the benchmarks time a command: the median wall time of `repeat` runs."""

from __future__ import annotations

import statistics
import subprocess
import time
from pathlib import Path


def timed(command: list[str], *, env: dict[str, str], cwd: Path | None = None, repeat: int = 5) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
