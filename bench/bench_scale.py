"""Issue 18, row 2: `mlci diff`, `mlci gate` and `mlci report` on a 5,000-metric project.

    python bench/bench_scale.py [--repeat 5] [--metrics 5000]

Builds the project bench_diff.py builds (one metrics.json, every metric changed on the branch,
one goal in mlci.yaml), then prints the load average and the median wall time of each command
(target: each <= 2 s), with `dvc metrics diff` on the same repo in the same run as the peer.
Numbers, not assertions: the machine is shared, so read them with the load beside them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench_cli import BIN, ENV, byte_compile_mlci
from bench_diff import metric_repo
from timing import timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--metrics", type=int, default=5000)
    args = parser.parse_args()
    byte_compile_mlci()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "repo"
        root.mkdir()
        metric_repo(root, args.metrics)
        (root / "mlci.yaml").write_text("goals:\n  metric_0001:\n    direction: higher\n    max_regression: 0.5\n")
        print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
        mlci = str(BIN / "mlci")
        commands = {
            "dvc metrics diff": [str(BIN / "dvc"), "metrics", "diff", "main", "--json"],
            "mlci diff": [mlci, "diff", "--base", "main", "--json"],
            "mlci gate": [mlci, "gate", "--base", "main"],
            "mlci report": [mlci, "report", "--base", "main", "-o", str(Path(tmp) / "report")],
        }
        figures = {name: timed(cmd, env=ENV, cwd=root, repeat=args.repeat) for name, cmd in commands.items()}
    peer = figures.pop("dvc metrics diff")
    for name, seconds in figures.items():
        print(
            f"{args.metrics} metrics: {name:12s} {seconds:6.2f} s   ({seconds / peer:4.2f}x dvc metrics diff "
            f"{peer:.2f} s; target <= 2 s; median of {args.repeat})"
        )
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
