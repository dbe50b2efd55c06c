"""Generate a deterministic binary-classification dataset and split it into train/test."""

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.datasets import make_classification

params = yaml.safe_load(Path("params.yaml").read_text())["data"]

X, y = make_classification(
    n_samples=params["n_rows"],
    n_features=params["n_features"],
    n_informative=max(2, params["n_features"] // 2),
    n_redundant=min(2, params["n_features"] // 4),
    flip_y=params["noise"],
    class_sep=0.8,
    random_state=params["seed"],
)
frame = pd.DataFrame(X.astype(np.float32), columns=[f"f{i:02d}" for i in range(X.shape[1])])
frame["segment"] = pd.Categorical(
    pd.cut(frame["f00"], bins=[-np.inf, -1, 0, 1, np.inf], labels=["a", "b", "c", "d"])
)
frame["f03"] += np.float32(params.get("shift", 0.0))
frame["label"] = y.astype(np.int8)
frame.insert(0, "row_id", np.arange(len(frame), dtype=np.int64))

rng = np.random.default_rng(params["split_seed"])
is_test = rng.random(len(frame)) < params["test_fraction"]
Path("data").mkdir(exist_ok=True)
frame[~is_test].to_parquet("data/train.parquet", index=False)
frame[is_test].to_parquet("data/test.parquet", index=False)
