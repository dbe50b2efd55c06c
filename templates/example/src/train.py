"""Train a LightGBM binary classifier deterministically; save the model and its training curve.

train.device: cpu | gpu | auto. `auto` uses the GPU when an NVIDIA OpenCL platform is
registered (the rule `mlci doctor` checks; local engine only, Dask workers get `gpu` only when
asked) and falls back to CPU, saying so on stderr, if GPU training fails; `gpu` fails instead. train.engine: local | dask (lightgbm.dask on the cluster
at train.scheduler_address). What was used goes to eval/train_info.json.
"""

import json
import os
import sys
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import yaml

params = yaml.safe_load(Path("params.yaml").read_text())["train"]
device, engine = params.get("device", "cpu"), params.get("engine", "local")
if device not in ("cpu", "gpu", "auto") or engine not in ("local", "dask"):
    sys.exit(f"train.device must be cpu|gpu|auto and train.engine local|dask, not {device!r} / {engine!r}")
frame = pd.read_parquet("data/train.parquet")
features = [c for c in frame.columns if c not in ("row_id", "label")]

# Hold out every 10th training row to draw the validation curve; the test set stays unseen.
valid_mask = (frame["row_id"].to_numpy() % 10) == 0
train, valid = frame.loc[~valid_mask], frame.loc[valid_mask]

lgb_params = {
    "objective": "binary",
    "metric": ["binary_logloss", "auc"],
    "num_leaves": params["num_leaves"],
    "learning_rate": params["learning_rate"],
    "min_child_samples": params["min_child_samples"],
    "feature_fraction": params["feature_fraction"],
    "seed": params["seed"],
    "num_threads": params["num_threads"],
    "deterministic": True,
    "force_col_wise": True,
    "verbose": -1,
}


def nvidia_opencl_registered():
    """An ICD file naming libnvidia-opencl where the OpenCL loader looks (OCL_ICD_VENDORS or /etc)."""
    where = Path(os.environ.get("OCL_ICD_VENDORS") or "/etc/OpenCL/vendors")
    files = [where] if where.is_file() else sorted(where.glob("*.icd")) if where.is_dir() else []
    return any("libnvidia-opencl" in f.read_text(errors="replace") for f in files)


def train_local(device_type):
    curve = {}
    train_set = lgb.Dataset(train[features], train["label"])
    valid_set = lgb.Dataset(valid[features], valid["label"], reference=train_set)
    booster = lgb.train(
        {**lgb_params, "device_type": device_type},
        train_set,
        num_boost_round=params["n_estimators"],
        valid_sets=[train_set, valid_set],
        valid_names=["train", "valid"],
        callbacks=[lgb.record_evaluation(curve)],
    )
    return booster, curve["train"], curve["valid"]


def train_dask(device_type):
    import dask.dataframe as dd
    from distributed import Client

    address = params.get("scheduler_address") or ""
    if not address:
        sys.exit("train.engine is dask but train.scheduler_address is empty; set it to the scheduler, e.g. tcp://10.0.0.5:8786")
    with Client(address, timeout="30s") as client:
        parts = max(1, len(client.scheduler_info()["workers"]))
        to_dask = lambda data: dd.from_pandas(data, npartitions=parts)  # noqa: E731
        model = lgb.DaskLGBMClassifier(
            client=client, n_estimators=params["n_estimators"], device_type=device_type,
            **{k: v for k, v in lgb_params.items() if k not in ("objective", "num_threads")},
        )
        model.fit(
            to_dask(train[features]), to_dask(train["label"]),
            eval_set=[(to_dask(train[features]), to_dask(train["label"])),
                      (to_dask(valid[features]), to_dask(valid["label"]))],
            eval_names=["train", "valid"],
        )
        result = model.evals_result_
        return model.booster_, result["train"], result["valid"]


fit = train_dask if engine == "dask" else train_local
used, fallback = device, None
if device == "auto":
    used = "gpu" if engine == "local" and nvidia_opencl_registered() else "cpu"
try:
    booster, train_curve, valid_curve = fit(used)
except lgb.basic.LightGBMError as error:
    if device != "auto" or used != "gpu":
        sys.exit(f"training on {used} failed: {error}" + (" (run `mlci doctor`)" if used == "gpu" else ""))
    fallback = f"GPU training failed ({error}); trained on CPU instead"
    print(f"train.py: {fallback}", file=sys.stderr)
    used = "cpu"
    booster, train_curve, valid_curve = fit(used)

Path("models").mkdir(exist_ok=True)
Path("eval").mkdir(exist_ok=True)
booster.save_model("models/model.txt")
info = {"device": used, "requested_device": device, "engine": engine, "fallback": fallback,
        "lightgbm": lgb.__version__, "rows": len(train)}
Path("eval/train_info.json").write_text(json.dumps(info, indent=2) + "\n")
pd.DataFrame(
    {
        "iteration": np.arange(1, len(train_curve["binary_logloss"]) + 1),
        "train_logloss": train_curve["binary_logloss"],
        "valid_logloss": valid_curve["binary_logloss"],
        "valid_auc": valid_curve["auc"],
    }
).to_csv("eval/training_curve.csv", index=False, float_format="%.6f")
pd.DataFrame(
    {"feature": features, "gain": booster.feature_importance(importance_type="gain")}
).sort_values("gain", ascending=False).to_csv("eval/feature_importance.csv", index=False, float_format="%.4f")
