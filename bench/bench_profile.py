"""Profile a 1,000,000-row × 50-column Parquet table and print how long it took.

Target: under 10 s on 2 cores (reading included). Columns: 40 float, 5 int, 5 text categories.
Usage: python bench/bench_profile.py [ROWS] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mlci.analysis.profile import profile_file


def make_table(rows: int, path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = {f"f{i:02d}": rng.normal(i, 1 + i / 10, rows).astype(np.float32) for i in range(40)}
    frame.update({f"i{i}": rng.integers(0, 10 ** (i + 1), rows) for i in range(5)})
    cats = np.array([f"cat_{j}" for j in range(200)])
    frame.update({f"c{i}": cats[rng.zipf(1.5 + i / 10, rows) % 200] for i in range(5)})
    data = pd.DataFrame(frame)
    data.loc[rng.random(rows) < 0.02, "f00"] = np.nan
    data.to_parquet(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.parquet"
        make_table(args.rows, path)
        started = time.perf_counter()
        profile = profile_file(path, threads=args.threads)
        seconds = time.perf_counter() - started
    print(
        f"profiled {profile['rows']:,} rows x {len(profile['columns'])} columns "
        f"with {args.threads} thread(s) in {seconds:.2f} s (target < 10 s)"
    )


if __name__ == "__main__":
    main()
