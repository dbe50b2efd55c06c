"""Train a small MLP with PyTorch, deterministically; log metrics and plots with DVCLive.

train.device: cpu | cuda | auto (cuda when torch sees a GPU). Full-batch training with a
fixed seed and deterministic algorithms, so `mlci reproduce` gets the same numbers on CPU.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
import yaml
from dvclive import Live

p = yaml.safe_load(Path("params.yaml").read_text())["train"]
device = p.get("device", "cpu")
if device == "auto":
    device = "cuda" if torch.cuda.is_available() else "cpu"
if device not in ("cpu", "cuda"):
    sys.exit(f"train.device must be cpu|cuda|auto, not {device!r}")
if device == "cuda" and not torch.cuda.is_available():
    sys.exit("train.device is cuda but torch sees no GPU; use auto or cpu")
torch.manual_seed(p["seed"])
torch.use_deterministic_algorithms(True, warn_only=device == "cuda")
torch.set_num_threads(1)


def load(name):
    table = np.loadtxt(f"data/{name}.csv", delimiter=",", skiprows=1, ndmin=2)
    return table[:, 0].astype(int), torch.tensor(table[:, 2:], dtype=torch.float32, device=device), \
        torch.tensor(table[:, 1], dtype=torch.float32, device=device)


_, x_train, y_train = load("train")
row_id, x_test, y_test = load("test")
model = torch.nn.Sequential(torch.nn.Linear(x_train.shape[1], p["hidden"]), torch.nn.ReLU(),
                            torch.nn.Linear(p["hidden"], 1)).to(device)
optimizer = torch.optim.Adam(model.parameters(), lr=p["lr"], weight_decay=p["weight_decay"])
loss_fn = torch.nn.BCEWithLogitsLoss()


def evaluate(x, y):
    with torch.no_grad():
        logits = model(x).squeeze(1)
        score = torch.sigmoid(logits)
        loss = loss_fn(logits, y).item()
    label = y.cpu().numpy().astype(int)
    score = score.cpu().numpy().astype(float)
    order = np.argsort(score)
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    positives = label.sum()
    auc = (ranks[label == 1].sum() - positives * (positives + 1) / 2) / (positives * (len(label) - positives))
    return {"loss": round(loss, 6), "auc": round(float(auc), 6),
            "accuracy": round(float(((score >= 0.5) == label).mean()), 6)}, label, score


with Live("dvclive", dvcyaml=False, save_dvc_exp=False) as live:
    for epoch in range(p["epochs"]):
        model.train()
        optimizer.zero_grad()
        loss = loss_fn(model(x_train).squeeze(1), y_train)
        loss.backward()
        optimizer.step()
        model.eval()
        train_metrics, _, _ = evaluate(x_train, y_train)
        test_metrics, label, score = evaluate(x_test, y_test)
        for name, value in train_metrics.items():
            live.log_metric(f"train/{name}", value)
        for name, value in test_metrics.items():
            live.log_metric(f"test/{name}", value)
        live.next_step()
    live.log_sklearn_plot("roc", label, score)
    live.log_sklearn_plot("confusion_matrix", label, (score >= 0.5).astype(int))

Path("models").mkdir(exist_ok=True)
# TorchScript: the network and its weights, loadable without this script (torch.jit.load, MLflow's
# pytorch flavour); a state dict alone would need this file's code to rebuild the network
torch.jit.save(torch.jit.script(model.cpu().eval()), "models/model.pt")
Path("eval").mkdir(exist_ok=True)
lines = ["row_id,label,score"] + [f"{r},{y},{s:.8f}" for r, y, s in zip(row_id, label, score)]
Path("eval/predictions.csv").write_text("\n".join(lines) + "\n")
Path("eval/train_info.json").write_text(json.dumps({"device": device, "engine": "torch",
                                                   "torch": torch.__version__}) + "\n")
