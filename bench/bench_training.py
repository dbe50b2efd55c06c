"""Training time and peak memory of the example model: CPU vs GPU, local vs Dask.

    python bench/bench_training.py --rows 1000000 [--rows 10000000] [--dask-workers 2]

Data is generated like templates/example/src/prepare.py; training uses the example's
`train:` params (params.yaml). Each configuration trains in its own child process, so
`ru_maxrss` is that configuration's peak RSS (LightGBM's native memory included); tracemalloc
adds the Python-heap peak. Dask runs on a LocalCluster of N single-threaded worker processes
on 127.0.0.1 (the local run gets N threads, so both use the same cores); worker peak RSS comes
from the workers themselves. GPU runs only when `mlci doctor` finds LightGBM's GPU path
working; otherwise it says so. Numbers and ratios, never assertions.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import yaml

PARAMS = Path(__file__).resolve().parents[1] / "templates" / "example" / "params.yaml"


def generate(rows: int, path: Path) -> float:
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    start = time.perf_counter()
    data = yaml.safe_load(PARAMS.read_text())["data"]
    X, y = make_classification(
        n_samples=rows,
        n_features=data["n_features"],
        n_informative=max(2, data["n_features"] // 2),
        n_redundant=min(2, data["n_features"] // 4),
        flip_y=data["noise"],
        class_sep=0.8,
        random_state=data["seed"],
    )
    frame = pd.DataFrame(X.astype(np.float32), columns=[f"f{i:02d}" for i in range(X.shape[1])])
    frame["label"] = y.astype(np.int8)
    frame.to_parquet(path, index=False)
    return time.perf_counter() - start


def lgb_params(device: str, threads: int) -> dict:
    train = yaml.safe_load(PARAMS.read_text())["train"]
    return {
        "objective": "binary",
        "num_leaves": train["num_leaves"],
        "learning_rate": train["learning_rate"],
        "min_child_samples": train["min_child_samples"],
        "feature_fraction": train["feature_fraction"],
        "seed": train["seed"],
        "num_threads": threads,
        "deterministic": True,
        "verbose": -1,
        "device_type": device,
        "n_estimators": train["n_estimators"],
    }


def child(config: str, data: Path, threads: int, scheduler: str | None) -> dict:
    """Train once; return seconds, peak RSS (MiB), Python-heap peak (MiB) and a holdout AUC."""
    import lightgbm as lgb
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    frame = pd.read_parquet(data)
    holdout = frame.index % 10 == 0
    features = [c for c in frame.columns if c != "label"]
    train, test = frame[~holdout], frame[holdout]
    params = lgb_params("gpu" if config == "gpu" else "cpu", threads)
    rounds = params.pop("n_estimators")
    tracemalloc.start()
    start = time.perf_counter()
    workers_rss = None
    if config == "dask":
        import dask.dataframe as dd
        from distributed import Client

        with Client(scheduler) as client:
            parts = len(client.scheduler_info()["workers"])
            params.pop("num_threads")
            model = lgb.DaskLGBMClassifier(client=client, n_estimators=rounds, **params)
            model.fit(
                dd.from_pandas(train[features], npartitions=parts), dd.from_pandas(train["label"], npartitions=parts)
            )
            seconds = time.perf_counter() - start
            booster = model.booster_
            rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            workers_rss = sum(rss.values()) / 1024
    else:
        booster = lgb.train(params, lgb.Dataset(train[features], train["label"]), num_boost_round=rounds)
        seconds = time.perf_counter() - start
    _, heap_peak = tracemalloc.get_traced_memory()
    auc = roc_auc_score(test["label"], booster.predict(test[features]))
    return {
        "config": config,
        "rows": len(frame),
        "seconds": round(seconds, 3),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "workers_peak_rss_mib": None if workers_rss is None else round(workers_rss, 1),
        "python_heap_peak_mib": round(heap_peak / 2**20, 1),
        "auc": round(auc, 4),
    }


def run_child(config: str, data: Path, threads: int, scheduler: str | None = None) -> dict:
    command = [sys.executable, __file__, "--child", config, "--data", str(data), "--threads", str(threads)]
    if scheduler:
        command += ["--scheduler", scheduler]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"config": config, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gpu_available() -> tuple[bool, str]:
    from mlci.runner import doctor

    facts = doctor.diagnose(".", probe=True)
    return facts.lightgbm_gpu.status == "works", facts.lightgbm_gpu.detail


def bench(rows: int, workers: int, configs: tuple[str, ...] = ("cpu", "gpu", "dask")) -> list[dict]:
    from distributed import LocalCluster

    results = []
    with tempfile.TemporaryDirectory(prefix="mlci-bench-train-") as tmp:
        data = Path(tmp) / "data.parquet"
        print(f"\n== {rows:,} rows: generated in {generate(rows, data):.1f}s", flush=True)
        if "cpu" in configs:
            results.append(run_child("cpu", data, workers))
        has_gpu, why = gpu_available() if "gpu" in configs else (False, "not asked for")
        if has_gpu:
            results.append(run_child("gpu", data, workers))
        else:
            print(f"GPU: no GPU found for LightGBM ({why}); CPU vs GPU not measured", flush=True)
        if "dask" in configs:
            with LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=40,
            ) as cluster:
                results.append(run_child("dask", data, workers, cluster.scheduler_address))
    for r in results:
        if "error" in r:
            print(f"{r['config']:>5}: failed: {r['error']}")
            continue
        workers_rss = f", workers peak RSS {r['workers_peak_rss_mib']} MiB" if r["workers_peak_rss_mib"] else ""
        print(
            f"{r['config']:>5}: {r['seconds']:8.2f}s  peak RSS {r['peak_rss_mib']} MiB{workers_rss},"
            f" Python heap peak {r['python_heap_peak_mib']} MiB, holdout AUC {r['auc']}"
        )
    by = {r["config"]: r for r in results if "error" not in r}
    if "cpu" in by and "gpu" in by:
        print(f"GPU speed-up (cpu / gpu time): {by['cpu']['seconds'] / by['gpu']['seconds']:.2f}x")
    if "cpu" in by and "dask" in by:
        print(
            f"Dask on {workers} workers vs local {workers} threads (local / dask time):"
            f" {by['cpu']['seconds'] / by['dask']['seconds']:.2f}x"
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="rows to train on (repeatable; default 1,000,000)")
    parser.add_argument("--dask-workers", type=int, default=2)
    parser.add_argument("--configs", default="cpu,gpu,dask", help="which of cpu,gpu,dask to run (default: all)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", choices=["cpu", "gpu", "dask"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=2, help=argparse.SUPPRESS)
    parser.add_argument("--scheduler", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.threads, args.scheduler)))
        return
    results = [
        r for rows in (args.rows or [1_000_000]) for r in bench(rows, args.dask_workers, tuple(args.configs.split(",")))
    ]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
