"""Score the test set: metrics.json for the diff, predictions.csv for significance tests."""

import json
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn import metrics

frame = pd.read_parquet("data/test.parquet")
booster = lgb.Booster(model_file="models/model.txt")
features = booster.feature_name()
score = booster.predict(frame[features])
label = frame["label"].to_numpy()
predicted = (score >= 0.5).astype(int)

Path("eval").mkdir(exist_ok=True)
pd.DataFrame({"row_id": frame["row_id"], "label": label, "score": score}).to_csv(
    "eval/predictions.csv", index=False, float_format="%.8f"
)
result = {
    "auc": metrics.roc_auc_score(label, score),
    "accuracy": metrics.accuracy_score(label, predicted),
    "f1": metrics.f1_score(label, predicted),
    "precision": metrics.precision_score(label, predicted, zero_division=0),
    "recall": metrics.recall_score(label, predicted),
    "logloss": metrics.log_loss(label, np.clip(score, 1e-15, 1 - 1e-15)),
}
Path("metrics.json").write_text(json.dumps({k: round(float(v), 6) for k, v in result.items()}, indent=2) + "\n")
