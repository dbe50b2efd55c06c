"""Train a LightGBM binary classifier deterministically; save the model and its training curve."""

from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import yaml

params = yaml.safe_load(Path("params.yaml").read_text())["train"]
frame = pd.read_parquet("data/train.parquet")
features = [c for c in frame.columns if c not in ("row_id", "label")]

# Hold out every 10th training row to draw the validation curve; the test set stays unseen.
valid_mask = (frame["row_id"].to_numpy() % 10) == 0
train_set = lgb.Dataset(frame.loc[~valid_mask, features], frame.loc[~valid_mask, "label"])
valid_set = lgb.Dataset(frame.loc[valid_mask, features], frame.loc[valid_mask, "label"], reference=train_set)

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
    "device_type": "cpu" if params.get("device", "cpu") == "auto" else params.get("device", "cpu"),
    "verbose": -1,
}
curve: dict = {}
booster = lgb.train(
    lgb_params,
    train_set,
    num_boost_round=params["n_estimators"],
    valid_sets=[train_set, valid_set],
    valid_names=["train", "valid"],
    callbacks=[lgb.record_evaluation(curve)],
)

Path("models").mkdir(exist_ok=True)
Path("eval").mkdir(exist_ok=True)
booster.save_model("models/model.txt")
pd.DataFrame(
    {
        "iteration": np.arange(1, len(curve["train"]["binary_logloss"]) + 1),
        "train_logloss": curve["train"]["binary_logloss"],
        "valid_logloss": curve["valid"]["binary_logloss"],
        "valid_auc": curve["valid"]["auc"],
    }
).to_csv("eval/training_curve.csv", index=False, float_format="%.6f")
pd.DataFrame(
    {"feature": features, "gain": booster.feature_importance(importance_type="gain")}
).sort_values("gain", ascending=False).to_csv("eval/feature_importance.csv", index=False, float_format="%.4f")
