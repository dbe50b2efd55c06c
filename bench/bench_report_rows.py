"""Issue 18, row 4: the real `mlci report` on 1,000,000-row predictions (paired bootstrap, 1,000 resamples).

    python bench/bench_report_rows.py [--rows 1000000] [--repeat 5]

Builds a git + DVC project whose predictions.csv (row_id,label,score) is committed on main and
changed on the branch, so the report runs the paired bootstrap of every binary metric on the
same rows. Prints the median wall time and the median peak RSS of the `mlci report` process
(its own `ru_maxrss`, children included) with the load average. Targets: <= 4 s and <= 300 MB.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench_cli import BIN, ENV, git


def write_predictions(path: Path, rows: int, noise: float) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, rows)
    score = np.clip(rng.random(rows) * 0.6 + label * 0.3, 0, 1)
    score = np.clip(score + np.random.default_rng(1).normal(0, noise, rows), 0, 1) if noise else score
    with path.open("w") as out:
        out.write("row_id,label,score\n")
        np.savetxt(out, np.column_stack([np.arange(rows), label, score]), fmt=["%d", "%d", "%.6f"], delimiter=",")


def project(root: Path, rows: int) -> None:
    git(root, "init", "-q", "-b", "main")
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=root, env=ENV, check=True)
    (root / "dvc.yaml").write_text("metrics:\n  - metrics.json\n")
    (root / "metrics.json").write_text('{"auc": 0.80}\n')
    (root / "mlci.yaml").write_text("metrics: [metrics.json]\npredictions: predictions.csv\ntask: binary\n")
    write_predictions(root / "predictions.csv", rows, 0.0)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "metrics.json").write_text('{"auc": 0.81}\n')
    write_predictions(root / "predictions.csv", rows, 0.05)


def run_once(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one run, measured by a fresh `python -c` wrapper."""
    probe = (
        "import resource,subprocess,sys,time; t=time.perf_counter(); "
        "subprocess.run(sys.argv[1:], check=True, capture_output=True); "
        "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run(
        [str(BIN / "python"), "-c", probe, *command], cwd=cwd, env=ENV, check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        project(root, args.rows)
        print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        command = [str(BIN / "mlci"), "report", "--base", "main", "-o", str(Path(tmp) / "report")]
        runs = [run_once(command, root) for _ in range(args.repeat)]
    wall, peak = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    print(
        f"mlci report, {args.rows:,} rows, paired bootstrap 1,000 resamples: {wall:5.2f} s wall, "
        f"{peak:5.0f} MB peak RSS (targets <= 4 s, <= 300 MB; median of {args.repeat})"
    )
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
