"""Generate a deterministic binary classification table and split it into train and test CSVs."""

from pathlib import Path

import numpy as np
import yaml

p = yaml.safe_load(Path("params.yaml").read_text())["data"]
rng = np.random.default_rng(p["seed"])
x = rng.normal(size=(p["n_rows"], p["n_features"])).astype("float32")
weights = np.linspace(1.0, -1.0, p["n_features"])
logit = x @ weights + 0.8 * x[:, 0] * x[:, 1]
label = (logit + rng.normal(scale=0.5, size=p["n_rows"]) > 0).astype(int)
flip = rng.random(p["n_rows"]) < p["noise"]
label[flip] = 1 - label[flip]
test = rng.random(p["n_rows"]) < p["test_fraction"]
Path("data").mkdir(exist_ok=True)
header = "row_id,label," + ",".join(f"f{i}" for i in range(p["n_features"]))
for name, mask in (("train", ~test), ("test", test)):
    rows = np.column_stack([np.flatnonzero(mask), label[mask], x[mask]])
    fmt = ["%d", "%d"] + ["%.6f"] * p["n_features"]
    np.savetxt(f"data/{name}.csv", rows, delimiter=",", header=header, comments="", fmt=fmt)
