"""Issue 27: mlci at realistic scale, against the tools users would run otherwise.

    python bench/bench_shapes.py [--repeat 3] [--metrics 5000 10000] [--rows 20000] [--scaling 1000 5000 20000]

Each project is DVCLive-shaped (train/test segments with the same leaves, a `step` counter, the
overall test metrics the predictions reproduce) with a row_id,label,score predictions file: the
shape where the bootstrap, the interval binding and the big tables all run (bench/shapes.py).
Per size it prints the median wall time of:

    mlci diff (human table)   vs  dvc metrics diff (human table)
    mlci diff --json          vs  dvc metrics diff --json
    mlci gate, mlci report    (dvc has no equivalent)

then a scaling run (seconds per 1,000 metrics should stay flat: nothing quadratic) and
`mlci report` on the demo's PR against a hand-written CML-style script (`dvc metrics diff --md`,
`dvc params diff --md`, `dvc plots diff`). Figures, not assertions: the load average is printed
beside them, read the ratios with it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_cli import BIN, ENV, byte_compile_mlci

sys.path.insert(0, str(Path(__file__).parent))
import shapes  # noqa: E402


def timed(command: list[str], cwd: Path, repeat: int) -> float:
    """Median wall time; a non-zero exit (a failing gate) still counts, a crash does not."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
        samples.append(time.perf_counter() - start)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr[-500:]}")
    return statistics.median(samples)


def load() -> str:
    return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def at_size(metrics: int, rows: int, repeat: int, tmp: Path) -> dict[str, float]:
    root = tmp / f"project-{metrics}"
    mlci, dvc = str(BIN / "mlci"), str(BIN / "dvc")
    shapes.build(root, metrics=metrics, rows=rows, mlci=[mlci], env=ENV)
    commands = {
        "dvc metrics diff": [dvc, "metrics", "diff", "main"],
        "mlci diff": [mlci, "diff", "--base", "main"],
        "dvc metrics diff --json": [dvc, "metrics", "diff", "main", "--json"],
        "mlci diff --json": [mlci, "diff", "--base", "main", "--json"],
        "mlci gate": [mlci, "gate", "--base", "main"],
        "mlci report": [mlci, "report", "--base", "main", "-o", str(tmp / f"report-{metrics}")],
    }
    return {name: timed(cmd, root, repeat) for name, cmd in commands.items()}


def cml_comparison(tmp: Path, repeat: int) -> tuple[float, float]:
    """`mlci report` on the demo's PR vs the CML-style script a user would write instead."""
    demo = tmp / "demo"
    subprocess.run([str(BIN / "mlci"), "demo", "--dir", str(demo)], env=ENV, check=True, capture_output=True)
    dvc = BIN / "dvc"
    script = (
        f"{dvc} metrics diff main --md > report.md && {dvc} params diff main --md >> report.md && "
        f"{dvc} plots diff main -o plots-cml >/dev/null"
    )
    theirs = timed(["bash", "-c", script], demo, repeat)
    ours = timed([str(BIN / "mlci"), "report", "--base", "main", "-o", str(tmp / "demo-report")], demo, repeat)
    return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--metrics", type=int, nargs="+", default=[5000, 10000])
    parser.add_argument("--rows", type=int, default=20000, help="rows of the predictions file")
    parser.add_argument("--scaling", type=int, nargs="*", default=[1000, 5000, 20000])
    parser.add_argument("--no-cml", action="store_true", help="skip the demo vs CML-style script comparison")
    args = parser.parse_args()
    byte_compile_mlci()
    print(f"load average before (1, 5, 15 min): {load()}   cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for metrics in args.metrics:
            t = at_size(metrics, args.rows, args.repeat, tmp)
            print(f"\n{metrics:,} metrics, {args.rows:,} prediction rows (DVCLive layout), median of {args.repeat}:")
            for ours, theirs in (("mlci diff", "dvc metrics diff"), ("mlci diff --json", "dvc metrics diff --json")):
                print(f"  {ours:18s} {t[ours]:6.2f} s   {theirs} {t[theirs]:6.2f} s   ratio {t[ours] / t[theirs]:5.2f}")
            for name in ("mlci gate", "mlci report"):
                print(f"  {name:18s} {t[name]:6.2f} s")
        if args.scaling:
            print(f"\nscaling (mlci report / mlci gate, {args.rows:,} rows; s per 1,000 metrics should stay flat):")
            for metrics in args.scaling:
                t = at_size(metrics, args.rows, 1, tmp / "scaling")
                print(
                    f"  {metrics:6,} metrics: report {t['mlci report']:6.2f} s ({t['mlci report'] / metrics * 1000:5.2f}"
                    f" s/1k)   gate {t['mlci gate']:6.2f} s   diff {t['mlci diff']:5.2f} s"
                )
        if not args.no_cml:
            ours, theirs = cml_comparison(tmp, args.repeat)
            print(
                f"\ndemo PR: mlci report {ours:5.2f} s   CML-style script (dvc metrics/params/plots diff) "
                f"{theirs:5.2f} s   ratio {ours / theirs:4.2f}"
            )
    print(f"load average after: {load()}")


if __name__ == "__main__":
    main()
