"""Bootstrap speed: AUC confidence intervals on 1,000,000 rows × 1,000 resamples.

Target (issue 3): under 5 s on 2 cores. Prints wall-clock seconds for one side's AUC CI and
for the paired Δ-AUC CI (two models, the same resampled rows), plus the machine's load
average, because on a shared machine the numbers are only as good as the idle cores.

    python bench/bench_bootstrap.py [--rows N] [--resamples B] [--all-metrics]
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--all-metrics", action="store_true", help="every binary metric, not only AUC")
    args = parser.parse_args()

    import numpy as np

    from mlci.analysis import stats

    rng = np.random.default_rng(0)
    label = rng.integers(0, 2, args.rows)
    base = np.clip(rng.random(args.rows) * 0.6 + label * 0.3, 0, 1)
    head = np.clip(base + rng.normal(0, 0.05, args.rows), 0, 1)
    metrics = stats.BINARY_METRICS if args.all_metrics else ("auc",)
    exact = args.rows * args.resamples <= stats.EXACT_AUC_BUDGET
    print(
        f"rows {args.rows:,} × resamples {args.resamples:,}, metrics {', '.join(metrics)}, "
        f"AUC {'exact' if exact else 'placement (first-order)'}; cores {os.cpu_count()}, "
        f"load average {os.getloadavg()[0]:.2f}"
    )

    start, cpu = time.perf_counter(), time.process_time()
    single = stats.bootstrap("binary", label, head, metrics=metrics, resamples=args.resamples)
    single_s, single_cpu = time.perf_counter() - start, time.process_time() - cpu
    ci, point = single["auc"] if "auc" in single else next(iter(single.values()))
    print(
        f"one side  : {single_s:6.2f} s wall, {single_cpu:6.2f} s CPU   AUC {point:.5f}  "
        f"95 % CI [{ci[0]:.5f}, {ci[1]:.5f}]"
    )

    start, cpu = time.perf_counter(), time.process_time()
    paired = stats.paired_bootstrap("binary", label, base, head, metrics=metrics, resamples=args.resamples)
    paired_s, paired_cpu = time.perf_counter() - start, time.process_time() - cpu
    auc = paired.get("auc") or next(iter(paired.values()))
    print(
        f"paired Δ  : {paired_s:6.2f} s wall, {paired_cpu:6.2f} s CPU   ΔAUC {auc.delta:+.5f}  "
        f"95 % CI [{auc.ci_low:+.5f}, {auc.ci_high:+.5f}]  significant {auc.significant}"
    )
    print(
        "(CPU = this process's CPU seconds on all cores; on a busy machine it bounds the idle wall time:"
        " wall <= CPU when nothing else runs)"
    )
    print(
        f"target    : < 5 s on 2 cores -> one side {'OK' if single_s < 5 else 'SLOWER'}, "
        f"paired {'OK' if paired_s < 5 else 'SLOWER'} (load average now {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()
