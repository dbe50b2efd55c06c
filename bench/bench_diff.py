"""Issue 18, rows 1-2: `mlci diff` against `dvc metrics diff` on the same repo, in the same run.

    python bench/bench_diff.py [--repeat 5] [--metrics 50 5000]

Prints the load average, then per metric count the median wall time of `mlci diff --json`
and of `dvc metrics diff --json` and their ratio (targets: <= 0.20x at 50 metrics; <= 2 s
at 5,000). Numbers, not assertions: the machine is shared, so read the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from pathlib import Path

from bench_cli import BIN, ENV, byte_compile_mlci, git
from timing import timed


def metric_repo(root: Path, count: int) -> None:
    git(root, "init", "-q", "-b", "main")
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=root, env=ENV, check=True)
    names = [f"metric_{i:04d}" for i in range(count)]
    (root / "dvc.yaml").write_text("metrics:\n  - metrics.json\n")
    (root / "metrics.json").write_text(json.dumps({n: 0.5 + i / 10**6 for i, n in enumerate(names)}))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "metrics.json").write_text(json.dumps({n: 0.6 - i / 10**6 for i, n in enumerate(names)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--metrics", type=int, nargs="+", default=[50, 5000])
    args = parser.parse_args()
    byte_compile_mlci()
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    for count in args.metrics:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            metric_repo(root, count)
            ours = timed([str(BIN / "mlci"), "diff", "--base", "main", "--json"], env=ENV, cwd=root, repeat=args.repeat)
            theirs = timed(
                [str(BIN / "dvc"), "metrics", "diff", "main", "--json"], env=ENV, cwd=root, repeat=args.repeat
            )
        print(
            f"{count:5d} metrics: mlci diff {ours * 1000:7.0f} ms   dvc metrics diff {theirs * 1000:7.0f} ms   "
            f"ratio {ours / theirs:5.2f}   (median of {args.repeat})"
        )
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
