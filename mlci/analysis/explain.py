"""Feature attributions: each feature's mean |SHAP| over the evaluation rows, base vs head.

- LightGBM: the booster's own TreeSHAP (`predict(..., pred_contrib=True)`), no new dependency.
- scikit-learn tree models (forests, gradient boosting, single trees): shap's TreeExplainer
  (the `explain` extra: the action's `extras: explain`, or `pip install shap`).
- Any other model: the pipeline writes a file of feature -> attribution (`parse_file`), read
  and compared the same way.

A model's outputs decide how SHAP values become one number per feature: one output (a
regressor, LightGBM's binary log-odds) is used as is; two (a classifier's two class
probabilities) use the positive class; more (multi-class) add the classes' mean |SHAP|.

Heavy imports (numpy, pandas, lightgbm, shap) happen inside the functions.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from mlci.errors import DataError

MOVE = 3  # a rank change this large is named in the report's summary


@dataclass(frozen=True)
class Attribution:
    """One side's attributions, sorted by value (largest first), ties by name."""

    features: list[tuple[str, float]]
    method: str  # "lightgbm pred_contrib" | "shap TreeExplainer" | "pipeline file"
    source: str  # what was explained (for the report: "models/model.txt on data/test.parquet at head")
    rows: int | None = None  # evaluation rows explained (None: the pipeline's file)

    def rank(self) -> dict[str, int]:
        return {f: i + 1 for i, (f, _v) in enumerate(self.features)}

    def to_list(self) -> list[dict[str, Any]]:
        return [{"feature": f, "value": v} for f, v in self.features]


@dataclass(frozen=True)
class Move:
    feature: str
    base: int  # rank on base (1 = largest)
    head: int

    @property
    def by(self) -> int:
        return self.base - self.head  # > 0: rose


@dataclass
class ModelExplanation:
    model: str
    top: int
    base: Attribution | None
    head: Attribution | None
    notes: list[str] = field(default_factory=list)
    plot: str | None = None  # path relative to the report

    def moves(self, at_least: int = MOVE) -> list[Move]:
        return rank_moves(self.base, self.head, at_least)

    def to_dict(self) -> dict[str, Any]:
        side = self.head or self.base
        return {
            "base": self.base.to_list() if self.base else None,
            "head": self.head.to_list() if self.head else None,
            "method": side.method if side else None,
            "top": self.top,
            "moves": [{"feature": m.feature, "base_rank": m.base, "head_rank": m.head} for m in self.moves()],
            "notes": list(self.notes),
            "plot": self.plot,
        }


def ranked(values: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(((str(f), float(v)) for f, v in values.items()), key=lambda p: (-p[1], p[0]))


def rank_moves(base: Attribution | None, head: Attribution | None, at_least: int = MOVE) -> list[Move]:
    """Features ranked on both sides whose rank changed by `at_least` or more, largest move first."""
    if base is None or head is None:
        return []
    b, h = base.rank(), head.rank()
    moved = [Move(f, b[f], h[f]) for f in h if f in b and abs(b[f] - h[f]) >= at_least]
    return sorted(moved, key=lambda m: (-abs(m.by), m.head, m.feature))


def _mean_abs(contrib: Any, outputs: int, features: int) -> Any:
    """(rows, outputs × features) SHAP values -> one mean |SHAP| per feature (see the module doc)."""
    import numpy as np

    values = np.abs(np.asarray(contrib, dtype=np.float64).reshape(-1, outputs, features)).mean(axis=0)
    if outputs == 1:
        return values[0]
    if outputs == 2:
        return values[1]
    return values.sum(axis=0)


def evenly(frame: Any, rows: int) -> Any:
    """At most `rows` rows, evenly spaced (the same on both sides, whatever the table's order)."""
    import numpy as np

    if len(frame) <= rows:
        return frame
    return frame.iloc[np.linspace(0, len(frame) - 1, rows).round().astype(int)]


def _columns(frame: Any, features: list[str], source: str) -> Any:
    missing = [f for f in features if f not in frame.columns]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise DataError(f"{source}: the model's feature(s) {shown} are not columns of the evaluation table")
    return frame[features]


def lightgbm_booster(model: Any) -> Any:
    """The LightGBM booster of a model file's text or of an already-loaded model, else None."""
    import lightgbm as lgb

    if isinstance(model, (bytes, str)):
        text = model.decode("utf-8") if isinstance(model, bytes) else model
        return lgb.Booster(model_str=text)
    if isinstance(model, lgb.Booster):
        return model
    booster = getattr(model, "booster_", None)
    return booster if isinstance(booster, lgb.Booster) else None


def lightgbm(booster: Any, frame: Any, source: str) -> dict[str, float]:
    """Mean |SHAP| per feature from LightGBM's own TreeSHAP (`pred_contrib=True`)."""
    features = list(booster.feature_name())
    X = _columns(frame, features, source)
    contrib = booster.predict(X, pred_contrib=True)
    width = len(features) + 1  # each output's features, then its bias (expected value)
    outputs = contrib.shape[1] // width
    values = _mean_abs(contrib.reshape(-1, outputs, width)[:, :, :-1], outputs, len(features))
    return dict(zip(features, (float(v) for v in values), strict=True))


def sklearn_tree(model: Any, frame: Any, source: str) -> dict[str, float]:
    """Mean |SHAP| per feature from shap's TreeExplainer (scikit-learn tree models)."""
    import numpy as np

    try:
        import shap
    except ImportError:
        raise DataError(
            "explaining a scikit-learn model needs shap: give the mlci action extras: explain (or pip install shap) "
            "(or write the attributions in your pipeline: explain: {file: ...})"
        ) from None
    features = [str(f) for f in getattr(model, "feature_names_in_", [])]
    if not features:
        raise DataError(
            f"{source}: the model was fitted without column names; fit it on a pandas DataFrame "
            "(or write the attributions in your pipeline: explain: {file: ...})"
        )
    X = _columns(frame, features, source)
    try:
        explainer = shap.TreeExplainer(model)
    except Exception as exc:  # noqa: BLE001 - shap raises plain Exceptions for models it cannot read
        raise DataError(
            f"{source}: shap's TreeExplainer cannot explain a {type(model).__name__} ({exc}); "
            "write the attributions in your pipeline instead (explain: {file: ...})"
        ) from None
    values = np.asarray(explainer.shap_values(X, check_additivity=False))
    if values.ndim == 3 and values.shape[0] != len(X):  # older shap: (outputs, rows, features)
        values = np.moveaxis(values, 0, -1)
    outputs = values.shape[2] if values.ndim == 3 else 1
    per_feature = np.moveaxis(values, -1, 1) if values.ndim == 3 else values
    result = _mean_abs(per_feature, outputs, len(features))
    return dict(zip(features, (float(v) for v in result), strict=True))


def parse_file(data: bytes, source: str, suffix: str) -> dict[str, float]:
    """A pipeline-written attribution file: JSON `{"feature": value}` or `[{"feature", "value"}]`,
    or CSV with columns `feature,value`. Values are finite numbers (e.g. mean |SHAP|)."""
    if suffix.lower() == ".json":
        try:
            raw = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise DataError(f'{source}: not valid JSON; write {{"feature": value, ...}}') from None
        if isinstance(raw, list):
            pairs = []
            for item in raw:
                if not isinstance(item, dict) or "feature" not in item or "value" not in item:
                    raise DataError(f"{source}: every entry needs 'feature' and 'value'")
                pairs.append((item["feature"], item["value"]))
        elif isinstance(raw, dict):
            pairs = list(raw.items())
        else:
            raise DataError(f'{source}: a JSON {type(raw).__name__}; write {{"feature": value, ...}}')
    else:
        import pandas as pd

        try:
            frame = pd.read_csv(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - pandas raises many types for unreadable files
            raise DataError(
                f"{source}: cannot read it as CSV ({type(exc).__name__}); write feature,value rows"
            ) from None
        if list(frame.columns[:2]) != ["feature", "value"]:
            raise DataError(f"{source}: columns must be feature,value, got {','.join(map(str, frame.columns))}")
        pairs = list(zip(frame["feature"], frame["value"], strict=True))
    values: dict[str, float] = {}
    for feature, value in pairs:
        name = str(feature)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
            raise DataError(f"{source}: the value of {name!r} is {value!r}, not a finite number")
        if name in values:
            raise DataError(f"{source}: feature {name!r} appears more than once")
        values[name] = float(value)
    if not values:
        raise DataError(f"{source}: no features")
    return values


def read_table(data: bytes, source: str, suffix: str) -> Any:
    """The evaluation table (parquet or CSV) as a DataFrame."""
    import pandas as pd

    try:
        if suffix.lower() == ".parquet":
            return pd.read_parquet(io.BytesIO(data))
        return pd.read_csv(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pandas/pyarrow raise many types
        raise DataError(f"{source}: cannot read the evaluation table ({type(exc).__name__}: {exc})") from None


def load_model(data: bytes, source: str, suffix: str) -> Any:
    """A model file: LightGBM's text format (returned as text), else a pickle/joblib file."""
    if suffix.lower() == ".txt" or data[:5] == b"tree\n":
        return data.decode("utf-8", "replace")
    try:
        import joblib

        return joblib.load(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - unpickling raises anything
        raise DataError(
            f"{source}: not a LightGBM model text file nor a pickled model ({type(exc).__name__}); "
            "write the attributions in your pipeline instead (explain: {file: ...})"
        ) from None


def attribute(model: Any, frame: Any, source: str, rows: int) -> Attribution:
    """Mean |SHAP| per feature of `model` (loaded by `load_model`) on at most `rows` of `frame`."""
    sample = evenly(frame, rows)
    booster = lightgbm_booster(model) if isinstance(model, (bytes, str)) or _is_lightgbm(model) else None
    if booster is not None:
        return Attribution(ranked(lightgbm(booster, sample, source)), "lightgbm pred_contrib", source, len(sample))
    return Attribution(ranked(sklearn_tree(model, sample, source)), "shap TreeExplainer", source, len(sample))


def _is_lightgbm(model: Any) -> bool:
    return type(model).__module__.split(".")[0] == "lightgbm"
