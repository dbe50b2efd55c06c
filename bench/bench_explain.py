"""Issue 28: feature attributions of a LightGBM model on 10,000 rows × 50 features (target ≤ 2 s).

    python bench/bench_explain.py [--repeat 3] [--rows 10000] [--features 50] [--models 60x15,150x31,200x31]

For each model size (trees × leaves: the example's baseline, the demo PR's, a larger one), trains
a binary LightGBM model on synthetic data (not timed), then times what a report does per side
(median of `repeat`): parse the model text, compute `pred_contrib` on the evaluation table and
average |SHAP| per feature (`mlci.analysis.explain.attribute`). Prints wall and CPU seconds and
LightGBM's plain `predict` for scale. TreeSHAP's cost grows with trees × leaves × depth², so the
2 s target holds for some model sizes only; `explain: rows:` caps the rows explained. Numbers only.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--models", default="60x15,150x31,200x31", help="trees x leaves, comma-separated")
    args = parser.parse_args()
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    from mlci.analysis import explain

    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.rows * 3, args.features)).astype(np.float32)
    y = (X[:, : args.features // 3].sum(axis=1) + rng.normal(size=len(X)) > 0).astype(int)
    frame = pd.DataFrame(X, columns=[f"f{i:02d}" for i in range(args.features)])
    table = frame.iloc[: args.rows]
    for size in args.models.split(","):
        trees, leaves = (int(n) for n in size.split("x"))
        booster = lgb.train(
            {"objective": "binary", "num_leaves": leaves, "verbose": -1, "seed": 0, "deterministic": True},
            lgb.Dataset(frame.iloc[args.rows :], y[args.rows :]),
            num_boost_round=trees,
        )
        text = booster.model_to_string().encode()
        walls, cpus, predict = [], [], []
        for _ in range(args.repeat):
            start, cpu = time.perf_counter(), time.process_time()
            found = explain.attribute(explain.load_model(text, "model.txt", ".txt"), table, "bench", rows=args.rows)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
            start = time.perf_counter()
            booster.predict(table)
            predict.append(time.perf_counter() - start)
        print(
            f"{args.rows:,} rows × {args.features} features, {trees} trees of {leaves} leaves: "
            f"{statistics.median(walls):6.2f} s wall, {statistics.median(cpus):6.2f} s CPU "
            f"(target ≤ 2 s; plain predict {statistics.median(predict):5.2f} s); top: "
            + ", ".join(f for f, _v in found.features[:3])
        )
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
