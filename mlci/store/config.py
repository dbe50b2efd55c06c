"""`mlci.yaml`: what to compare, which direction is better, and the quality gates.

A repo without `mlci.yaml` still works: metrics files come from `dvc.yaml` and each
metric's direction is guessed from its name (and the guess is reported, never hidden).

Validation is strict, early and in one place (`load`): every key, enum value and number is
checked, with `file:line`, the key and the fix in one line. Unknown keys and enum values
get a did-you-mean; NaN/inf and duplicate keys are refused; paths must stay inside the
repository. A goal naming no metric of its model is an error listing the known names, but
only once every metrics file of that model exists (on a first run nothing has produced them
yet, and the gate reports the goal as unchecked instead).
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.errors import ConfigError
from mlci.model import data_rules, flavors, metric_names
from mlci.model.data_rules import DataConfig
from mlci.store import dvcfile, repopath, safeyaml

CONFIG_NAME = "mlci.yaml"
DIRECTIONS = ("higher", "lower", "none")  # none: shown as "changed", never judged
TASKS = ("binary", "regression", "multiclass")
BACKENDS = ("gto", "mlflow")
PROMOTE_ON = ("approval", "main", "both")
# key path (models' keys without their `models[i].` prefix) -> allowed values
_ENUMS: dict[str, tuple[str, ...]] = {
    "task": TASKS,
    "registry.backend": BACKENDS,
    "registry.promote_on": PROMOTE_ON,
    "model.flavor": flavors.FLAVORS,
}
# numbers that make no sense below zero (limits, tolerances, counts)
_NON_NEGATIVE = {
    "max_regression",
    "max_regression_rel",
    "tolerance",
    "psi_warn",
    "psi_fail",
    "null_rate_jump",
    "row_change",
    "metric_change",
    "plot_top",
}


def guess_direction(metric: str) -> str:
    """The direction a metric's name implies (mlci.model.metric_names): "higher", "lower", or
    "none" for counters, clocks and names no table knows (shown as "changed", never judged)."""
    return metric_names.direction(metric) or metric_names.NONE


@dataclass(frozen=True)
class Goal:
    """One metric's direction and gates, as written under `goals:` in `mlci.yaml`."""

    metric: str
    direction: str  # DIRECTIONS
    min: float | None = None
    max: float | None = None
    max_regression: float | None = None  # absolute, in the metric's own units
    max_regression_rel: float | None = None  # fraction of the base value (0.02 = 2 %)
    significant_only: bool = False  # fail on a regression only when it is significant
    tolerance: float = 0.0  # relative tolerance for `mlci reproduce`


@dataclass(frozen=True)
class ExplainConfig:
    """`explain:`: feature attributions of the model, base vs head (mlci.analysis.explain)."""

    data: str | None = None  # the evaluation table the attributions are computed on (parquet or CSV)
    file: str | None = None  # or: a feature -> attribution file the pipeline writes itself
    top: int = 10  # features shown side by side
    rows: int = 10_000  # at most this many evaluation rows (evenly spaced) are explained


@dataclass(frozen=True)
class ModelConfig:
    """One model (one report section, one gate) of the project."""

    name: str
    metrics: tuple[str, ...]
    params: tuple[str, ...] = ("params.yaml",)
    predictions: str | None = None
    # which metrics the predictions measure: a metrics file of this model or a name prefix
    # (`test` for test.auc, test.f1 …); None: found by value (mlci.analysis.significance.attach)
    predictions_metrics: str | None = None
    model: str | None = None  # the model file (`model:`, or `model.path:`)
    # `model: {path, flavor, example}`: what the file is (None: read from its bytes, mlci.model.flavors)
    # and a table of its inputs (MLflow's input example and signature), less the `drop` columns
    model_flavor: str | None = None
    model_example: str | None = None
    model_example_drop: tuple[str, ...] = ()
    task: str = "binary"
    goals: dict[str, Goal] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    explain: ExplainConfig | None = None

    def goal_for(self, file: str, metric: str) -> Goal:
        """The configured goal (by `file:metric` or bare `metric`), else the name's direction."""
        goal = self.goals.get(f"{file}:{metric}") or self.goals.get(metric)
        if goal is not None:
            return goal
        return Goal(metric=metric, direction=guess_direction(metric))

    def direction_is_guessed(self, file: str, metric: str) -> bool:
        return f"{file}:{metric}" not in self.goals and metric not in self.goals

    def direction_source(self, file: str, metric: str) -> str:
        """Where a metric's direction comes from: "config" (a goal), "name" (the tables of
        mlci.model.metric_names), "counter" (a counter or clock) or "unknown" (no direction)."""
        if not self.direction_is_guessed(file, metric):
            return "config"
        if metric_names.is_counter(metric):
            return "counter"
        return "name" if metric_names.direction(metric) else "unknown"


@dataclass(frozen=True)
class RegistrySettings:
    """`registry:`: where promoted models go, and which events promote."""

    configured: bool = False  # the file has a `registry:` section (a push to main promotes only then)
    backend: str = "gto"  # BACKENDS
    stage: str | None = None
    remote: str | None = None  # DVC remote for the model bytes (default: DVC's default remote)
    promote_on: str = "both"  # PROMOTE_ON
    tracking_uri: str | None = None  # MLflow (MLFLOW_TRACKING_URI wins)
    registry_uri: str | None = None  # MLflow's model registry (MLFLOW_REGISTRY_URI wins; default: the tracking URI)
    git_remote: str = "origin"
    experiment: str = "mlci"


@dataclass(frozen=True)
class CiSettings:
    """`ci:`: what `mlci ci` does on GitHub."""

    fork_label: str = "safe-to-train"
    comment_id: str = "mlci"
    fail_on_regression: bool = True
    assets_branch: str = "mlci-assets"
    baseline_backfill: int = 3  # each is a full pipeline run


@dataclass(frozen=True)
class ReproduceSettings:
    """`reproduce:`."""

    tolerance: float | None = None  # relative; None: exact unless a goal says otherwise


@dataclass(frozen=True)
class RetrainSettings:
    """`retrain:`."""

    branch: str = "mlci/retrain"
    metric_change: float = 0.01  # relative move of any metric that is worth a PR
    against: str = "production"


_SETTINGS = {"registry": RegistrySettings, "ci": CiSettings, "reproduce": ReproduceSettings, "retrain": RetrainSettings}


@dataclass(frozen=True)
class Config:
    """mlci.yaml, validated once by `load`: every consumer reads typed fields, never the raw YAML."""

    root: Path
    models: tuple[ModelConfig, ...]
    path: Path | None  # None: defaults derived from dvc.yaml
    registry: RegistrySettings = RegistrySettings()
    ci: CiSettings = CiSettings()
    reproduce: ReproduceSettings = ReproduceSettings()
    retrain: RetrainSettings = RetrainSettings()
    data: DataConfig = DataConfig()  # every model's `data:`, merged and validated
    dvc_dir: str = ""  # the DVC project, from the git root ("": the root; `dvc init --subdir`: its folder)

    @property
    def dvc_root(self) -> Path:
        return self.root / self.dvc_dir if self.dvc_dir else self.root

    @property
    def metrics_files(self) -> list[str]:
        return sorted({f for m in self.models for f in m.metrics})

    @property
    def params_files(self) -> list[str]:
        return sorted({f for m in self.models for f in m.params})

    def model_for_metrics_file(self, file: str) -> ModelConfig:
        for model in self.models:
            if file in model.metrics:
                return model
        return self.models[0]


# --- schema -----------------------------------------------------------------------------
# Each key maps to the accepted Python types (or a nested schema dict). Sections owned by
# other capabilities (registry, ci, data) are declared here too, so that one validator
# speaks for the whole file.

_NUM = (int, float)
_GOAL_SCHEMA: dict[str, Any] = {
    "direction": str,
    "min": _NUM,
    "max": _NUM,
    "max_regression": _NUM,
    "max_regression_rel": _NUM,
    "significant_only": bool,
    "tolerance": _NUM,
}
_DATA_SCHEMA: dict[str, Any] = {
    "tables": list,
    "expectations": dict,  # validated in detail by mlci.model.data_rules.parse
    "drift": {
        "psi_warn": _NUM,
        "psi_fail": _NUM,
        "null_rate_jump": _NUM,
        "row_change": _NUM,
        "ignore": list,
        "plot_top": int,
    },
}
_MODEL_SCHEMA: dict[str, Any] = {
    "name": str,
    "metrics": list,
    "params": list,
    "predictions": (str, dict),  # a path, or {path: ..., metrics: <file or name prefix>}
    "model": (str, dict),  # a path, or {path: ..., flavor: ..., example: {data: ..., drop: [...]}}
    "task": str,
    "goals": dict,
    "data": _DATA_SCHEMA,
    "explain": {"data": str, "file": str, "top": int, "rows": int},
}
_SECTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "registry": {
        "backend": str,
        "stage": str,
        "remote": str,
        "promote_on": str,
        "tracking_uri": str,
        "registry_uri": str,
        "git_remote": str,
        "experiment": str,
    },
    "ci": {
        "fork_label": str,
        "comment_id": str,
        "fail_on_regression": bool,
        "assets_branch": str,
        "baseline_backfill": int,
    },
    "reproduce": {"tolerance": _NUM},
    "retrain": {"branch": str, "metric_change": _NUM, "against": str},
}
_TOP_SCHEMA: dict[str, Any] = {
    "version": int,
    "models": list,
    **_MODEL_SCHEMA,
    **{name: dict for name in _SECTION_SCHEMAS},
}


def json_schema() -> dict[str, Any]:
    """The JSON Schema of mlci.yaml, generated from the very tables `load` validates with (the
    docs publish it; editors can use it). Semantic checks (paths exist, goal names match metrics)
    stay in `load`."""

    enums = {"direction": DIRECTIONS, **_ENUMS}

    def of(spec: Any, key: str = "") -> dict[str, Any]:
        if isinstance(spec, dict):
            return {
                "type": "object",
                "additionalProperties": False,
                "properties": {k: of(v, f"{key}.{k}" if key in _SECTION_SCHEMAS else k) for k, v in spec.items()},
            }
        types = spec if isinstance(spec, tuple) else (spec,)
        names = sorted(
            {
                {
                    int: "number" if float in types else "integer",
                    float: "number",
                    str: "string",
                    bool: "boolean",
                    list: "array",
                    dict: "object",
                }[t]
                for t in types
            }
        )
        out: dict[str, Any] = {"type": names[0] if len(names) == 1 else names}
        if key in enums:
            out["enum"] = list(enums[key])
        if key.rpartition(".")[2] in _NON_NEGATIVE:
            out["minimum"] = 0
        return out

    goal = of(_GOAL_SCHEMA)
    model = of(_MODEL_SCHEMA)
    model["properties"]["goals"] = {"type": "object", "additionalProperties": {"anyOf": [goal, {"type": "null"}]}}
    model["properties"]["predictions"] = {
        "anyOf": [{"type": "string"}, {**of(_PREDICTIONS_SCHEMA), "required": ["path"]}]
    }
    model_file = of(_MODEL_FILE_SCHEMA)
    model_file["properties"]["flavor"]["enum"] = list(flavors.FLAVORS)
    model["properties"]["model"] = {"anyOf": [{"type": "string"}, {**model_file, "required": ["path"]}]}
    top = of(_TOP_SCHEMA)
    top["properties"].update(model["properties"])
    top["properties"]["models"] = {"type": "array", "items": model}
    for name, section in _SECTION_SCHEMAS.items():
        top["properties"][name] = of(section, name)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "mlci.yaml", **top}


def _type_name(types: Any) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {int: "a number", float: "a number", str: "a string", bool: "true/false", list: "a list", dict: "a mapping"}
    return " or ".join(sorted({names.get(t, t.__name__) for t in types}))


def _at(file: str, data: Any, key: Any = None) -> str:
    """`file:line` of `key` in the mapping `data` (or of the mapping itself), as loaded by `_load_yaml`."""
    line = getattr(data, "lines", {}).get(key) if key is not None else None
    line = line or getattr(data, "line", None)
    return f"{file}:{line}" if line else file


def _check_keys(where: str, data: dict, schema: dict, file: str, parent: Any = None, key_in_parent: Any = None) -> None:
    if not isinstance(data, dict):
        raise ConfigError(
            f"{_at(file, parent, key_in_parent)}: '{where or 'top level'}' must be a mapping; "
            "see the README's mlci.yaml section"
        )
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        at = _at(file, data, key)
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(sorted(schema))}"
            raise ConfigError(f"{at}: unknown key '{path}'; {hint}")
        expected = schema[key]
        if isinstance(expected, dict):
            _check_keys(path, value, expected, file, data, key)
            continue
        accepted = expected if isinstance(expected, tuple) else (expected,)
        if value is None or (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted):
            raise ConfigError(
                f"{at}: '{path}' must be {_type_name(expected)}, got {type(value).__name__} {_show(value)}; fix it in {file}"
            )
        _check_value(at, path, str(key), value)


def _show(value: Any) -> str:
    return safeyaml.show(value)  # cut while it is built: a shared-structure bomb is never expanded


def _check_value(at: str, path: str, key: str, value: Any) -> None:
    """Enum membership and number sanity for one scalar."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{at}: '{path}' is {value}, which can never be compared; write a finite number")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if abs(value) > 1e300:
            raise ConfigError(f"{at}: '{path}' is out of range; write a number between -1e300 and 1e300")
        if key in _NON_NEGATIVE and value < 0:
            raise ConfigError(f"{at}: '{path}' must be >= 0, got {value}")
    if path == "registry.stage" and isinstance(value, str):
        from mlci.model.refs import NAME

        if not re.fullmatch(NAME, value):
            raise ConfigError(
                f"{at}: 'registry.stage' {_show(value)} is not a valid stage name; "
                "use letters, digits, '-', '_' or '/', e.g. staging"
            )
    enum_key = re.sub(r"^models\[\d+\]\.", "", path)
    allowed = _ENUMS.get(enum_key)
    if allowed is not None and value not in allowed:
        close = difflib.get_close_matches(str(value), allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"{at}: '{path}' must be one of {', '.join(allowed)}, got {_show(value)}{hint}")


def _check_path(file: str, at: str, where: str, value: str, root: Path) -> str:
    """An input path must name a file (or a directory) inside the repository: no absolute path,
    no `..` or symlink leading out, and neither the root itself nor anything in `.git`."""
    if not value.strip():
        raise ConfigError(f"{at}: '{where}' has an empty path; write the file's path relative to the repo root")
    if repopath.escapes(root, value):
        raise ConfigError(
            f"{at}: '{where}' path {_show(value)} is outside the repository; use a path relative to {root.name or 'the repo root'}/"
        )
    try:
        parts = (root / value).resolve().relative_to(root.resolve()).parts
    except (RuntimeError, OSError, ValueError):  # a symlink loop: the reader says it cannot read it
        parts = Path(value).parts
    if not parts or parts[0] == ".git":
        what = "the repository root" if not parts else "git's own directory"
        raise ConfigError(f"{at}: '{where}' path {_show(value)} names {what}; name a file or directory inside the repo")
    return value


def _string_list(file: str, where: str, value: list, at: str, root: Path) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{at}: every entry of '{where}' must be a path string; fix it in {file}")
    return tuple(_check_path(file, at, where, v, root) for v in value)


def _goals(file: str, where: str, raw: dict) -> dict[str, Goal]:
    goals = {}
    for metric, spec in raw.items():
        path = f"{where}.{metric}"
        if not isinstance(metric, str) or not metric:
            raise ConfigError(f"{_at(file, raw, metric)}: goal name {_show(metric)} must be a metric name string")
        _check_keys(path, spec, _GOAL_SCHEMA, file, raw, metric)
        direction = spec.get("direction", guess_direction(str(metric)))
        if direction not in DIRECTIONS:
            close = difflib.get_close_matches(str(direction), DIRECTIONS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(
                f"{_at(file, spec, 'direction')}: '{path}.direction' must be 'higher', 'lower' or 'none', "
                f"got {_show(direction)}{hint}"
            )
        judged = [k for k in ("max_regression", "max_regression_rel", "significant_only") if spec.get(k)]
        if direction == "none" and judged:
            why = (
                "it says 'none'"
                if "direction" in spec
                else "its name says nothing about which way is better (or names a counter)"
            )
            raise ConfigError(
                f"{_at(file, spec, judged[0])}: goal '{path}' sets {judged[0]} but has no direction ({why}); "
                "add direction: higher or direction: lower"
            )
        if spec.get("min") is not None and spec.get("max") is not None and spec["min"] > spec["max"]:
            raise ConfigError(
                f"{_at(file, spec, 'min')}: '{path}.min' {spec['min']} is above its max {spec['max']}; no value could pass"
            )
        goals[str(metric)] = Goal(metric=str(metric), **{**spec, "direction": direction})
    return goals


def _model(
    file: str, where: str, raw: dict, root: Path, default_name: str, project: str = "", pipeline: bool = True
) -> ModelConfig:
    metrics = raw.get("metrics")
    at = _at(file, raw)
    if metrics is None:  # none declared: nothing to compare, as `dvc metrics diff` prints {}
        metrics = dvcfile.metrics_files(root, project) if pipeline else []
        at = "dvc.yaml"
    prefix = f"{where}." if where else ""
    params = raw.get("params") or (dvcfile.params_files(root, project) if pipeline else [])
    predictions, measures = _predictions(file, prefix, raw)
    model_file = _model_file(file, prefix, raw)
    for key, value in (("predictions", predictions), ("model", model_file["path"])):
        if value is not None:
            _check_path(file, _at(file, raw, key), f"{prefix}{key}", value, root)
    if model_file["example"] is not None:
        at = _at(file, raw["model"]["example"], "data")
        _check_path(file, at, f"{prefix}model.example.data", model_file["example"], root)
    model = ModelConfig(
        name=raw.get("name", default_name),
        metrics=_string_list(
            file, f"{prefix}metrics", list(metrics), _at(file, raw, "metrics") if "metrics" in raw else at, root
        ),
        params=_string_list(
            file, f"{prefix}params", list(params), _at(file, raw, "params") if "params" in raw else "dvc.yaml", root
        ),
        predictions=predictions,
        predictions_metrics=measures,
        model=model_file["path"],
        model_flavor=model_file["flavor"],
        model_example=model_file["example"],
        model_example_drop=model_file["drop"],
        task=raw.get("task", "binary"),
        goals=_goals(file, f"{prefix}goals", raw.get("goals", {})),
        data=raw.get("data", {}),
        explain=_explain(file, prefix, raw, root),
    )
    if pipeline:
        _check_goal_names(file, raw.get("goals", {}), f"{prefix}goals", model, root)
    return model


_PREDICTIONS_SCHEMA: dict[str, Any] = {"path": str, "metrics": str}
_MODEL_FILE_SCHEMA: dict[str, Any] = {"path": str, "flavor": str, "example": {"data": str, "drop": list}}


def _model_file(file: str, prefix: str, raw: dict) -> dict[str, Any]:
    """`model: path` or `model: {path, flavor, example: {data, drop}}` → its parts (checked)."""
    value = raw.get("model")
    if not isinstance(value, dict):
        return {"path": value, "flavor": None, "example": None, "drop": ()}
    _check_keys(f"{prefix}model", value, _MODEL_FILE_SCHEMA, file, raw, "model")
    if "path" not in value:
        raise ConfigError(f"{_at(file, raw, 'model')}: '{prefix}model' needs a 'path:' (the model file)")
    example = value.get("example") or {}
    if example and "data" not in example:
        raise ConfigError(
            f"{_at(file, value, 'example')}: '{prefix}model.example' needs 'data:' (a csv or parquet table of model inputs)"
        )
    drop = example.get("drop", [])
    if not all(isinstance(c, str) and c for c in drop):
        raise ConfigError(
            f"{_at(file, example, 'drop')}: '{prefix}model.example.drop' lists column names (strings); fix it in {file}"
        )
    return {"path": value["path"], "flavor": value.get("flavor"), "example": example.get("data"), "drop": tuple(drop)}


def _explain(file: str, prefix: str, raw: dict, root: Path) -> ExplainConfig | None:
    """`explain: {data: data/test.parquet, top: 10}` (the model's own `model:` file, explained on
    that table) or `explain: {file: eval/attributions.csv}` (written by the pipeline)."""
    if "explain" not in raw:
        return None
    value = raw["explain"]  # its keys and types were checked with the model's schema
    where = f"{prefix}explain"
    if not value.get("data") and not value.get("file"):
        raise ConfigError(
            f"{_at(file, raw, 'explain')}: '{where}' needs 'data:' (the evaluation table to explain the model on) "
            "or 'file:' (a feature,value file your pipeline writes)"
        )
    if value.get("data") and value.get("file"):
        raise ConfigError(
            f"{_at(file, value, 'file')}: '{where}' has both 'data:' and 'file:'; keep one (file: when the "
            "pipeline computes the attributions itself)"
        )
    if value.get("data") and not raw.get("model"):
        raise ConfigError(
            f"{_at(file, value, 'data')}: '{where}.data' needs the model file: add '{prefix}model: <path>' "
            "(a LightGBM model text file, or a pickled scikit-learn tree model)"
        )
    for key in ("top", "rows"):
        if key in value and value[key] < 1:
            raise ConfigError(f"{_at(file, value, key)}: '{where}.{key}' must be at least 1, got {value[key]}")
    for key in ("data", "file"):
        if value.get(key) is not None:
            _check_path(file, _at(file, value, key), f"{where}.{key}", value[key], root)
    return ExplainConfig(**dict(value))


def _predictions(file: str, prefix: str, raw: dict) -> tuple[str | None, str | None]:
    """`predictions: path` or `predictions: {path: ..., metrics: test}` → (path, what it measures)."""
    value = raw.get("predictions")
    if not isinstance(value, dict):
        return value, None
    _check_keys(f"{prefix}predictions", value, _PREDICTIONS_SCHEMA, file, raw, "predictions")
    if "path" not in value:
        raise ConfigError(
            f"{_at(file, raw, 'predictions')}: '{prefix}predictions' needs a 'path:' (the row_id,label,score file)"
        )
    measures = value.get("metrics")
    if measures is not None and not measures.strip():
        raise ConfigError(
            f"{_at(file, value, 'metrics')}: '{prefix}predictions.metrics' is empty; name a metrics file or a "
            "metric name prefix such as test"
        )
    return value["path"], measures


def _check_goal_names(file: str, raw_goals: dict, where: str, model: ModelConfig, root: Path) -> None:
    """A goal must name a metric of its model: checked once every metrics file exists and reads."""
    from mlci.errors import DataError
    from mlci.store.metrics import read_metrics

    if not model.goals or not all((root / f).is_file() for f in model.metrics):
        return  # first run: nothing produced the metrics yet; the gate says the goal is unchecked
    others: dict[str, dict] = {}
    try:
        values = read_metrics(root, model.metrics, others=others)
    except (DataError, OSError):
        return  # the metrics files' own error is reported where they are read
    for f, vals in others.items():  # a goal on a string/bool/list: the metric exists but cannot be gated
        for name, value in vals.items():
            if name in model.goals or f"{f}:{name}" in model.goals:
                raise DataError(
                    f"{f}: goal metric '{name}' is {type(value).__name__} {_show(value)}, not a number; "
                    "write a number for it or drop its goal"
                )
    known = sorted(
        {name for vals in values.values() for name in vals}
        | {f"{f}:{name}" for f, vals in values.items() for name in vals}
    )
    for key in model.goals:
        if key not in known:
            bare = sorted({k for k in known if ":" not in k})
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(
                f"{_at(file, raw_goals, key)}: goal '{where}.{key}' names no metric of {', '.join(model.metrics)}; "
                f"{hint}known: {', '.join(bare[:20])}{' …' if len(bare) > 20 else ''}"
            )


def load(
    root: Path, config_path: Path | None = None, start: Path | str | None = None, *, pipeline: bool = True
) -> Config:
    """Read and validate `mlci.yaml` at `root` (or `config_path`), else derive defaults from the
    DVC project (`start`: where mlci was started, which picks a DVC sub-project).

    `pipeline=False`: for commands that read settings only (the registry): the dvc.yaml files are
    not resolved and no metrics file is read, so a broken pipeline cannot stop them; metrics and
    params not written in mlci.yaml are then empty.
    """
    path = config_path or root / CONFIG_NAME
    try:
        project = dvcfile.choose(root, start)
    except ConfigError:
        if pipeline:
            raise
        project = ""
    if not path.exists() and not path.is_symlink():
        if config_path is not None:
            raise ConfigError(f"config file {config_path} does not exist; pass an existing --config or run `mlci init`")
        if not pipeline:
            return Config(root=root, models=(ModelConfig(name=root.name or "model", metrics=(), params=()),), path=None)
        return _defaults(root, project)
    file = path.name if path.parent == root else str(path)
    if path.is_symlink() and not path.exists():  # defaults would silently drop every goal
        raise ConfigError(f"{file} is a symbolic link that leads nowhere (dangling or a loop); fix or remove the link")
    if config_path is None and repopath.escapes(root, CONFIG_NAME):
        raise ConfigError(f"{file} is a link leading outside the repository; make it a file in the repo")
    raw = _load_yaml(safeyaml.read_text(path, file, ConfigError, hint="pass the mlci.yaml file itself"), file)
    if raw is None:
        raw = {}
    _check_keys("", raw, _TOP_SCHEMA, file)
    if raw.get("version", 1) != 1:
        raise ConfigError(
            f"{_at(file, raw, 'version')}: 'version' {raw['version']} is not supported by this mlci; use version: 1"
        )
    sections: dict[str, Any] = {}
    for name, schema in _SECTION_SCHEMAS.items():
        if name in raw:
            _check_keys(name, raw[name], schema, file, raw, name)
            extra = {"configured": bool(raw[name])} if name == "registry" else {}
            sections[name] = _SETTINGS[name](**{**dict(raw[name] or {}), **extra})
    if "models" in raw:
        clash = sorted(k for k in raw if k in _MODEL_SCHEMA)
        if clash:
            raise ConfigError(
                f"{_at(file, raw, clash[0])}: '{clash[0]}' at top level conflicts with 'models:'; move it into a model entry"
            )
        models = []
        for i, entry in enumerate(raw["models"]):
            _check_keys(f"models[{i}]", entry, _MODEL_SCHEMA, file, raw, "models")
            models.append(_model(file, f"models[{i}]", entry, root, f"model{i + 1}", project, pipeline))
        if not models:
            raise ConfigError(
                f"{_at(file, raw, 'models')}: 'models' is empty; list at least one model or remove the key"
            )
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ConfigError(
                f"{_at(file, raw, 'models')}: model names must be unique, got {names}; rename the duplicates"
            )
    else:
        top = (
            raw.subset(_MODEL_SCHEMA)
            if isinstance(raw, _Lined)
            else {k: v for k, v in raw.items() if k in _MODEL_SCHEMA}
        )
        models = [_model(file, "", top, root, root.name or "model", project, pipeline)]
    data = data_rules.build([m.data or {} for m in models], file)
    for where, tables in (("data.tables", data.tables), ("data.expectations", [r.table for r in data.rules])):
        for table in tables:
            _check_path(file, file, where, table, root)
    return Config(root=root, models=tuple(models), path=path, data=data, dvc_dir=project, **sections)


_Lined = safeyaml.Lined  # a mapping from mlci.yaml that knows where it and each of its keys were written


def _load_yaml(text: str, file: str) -> Any:
    """YAML with every mapping remembering its keys' lines, bounded (aliases, numbers) and with
    duplicate keys refused, merge keys accepted (mlci.store.safeyaml)."""
    import yaml

    try:
        return safeyaml.load(text, file, ConfigError, lines=True)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{file}{where}: cannot parse YAML ({problem}); fix the syntax") from None


def _defaults(root: Path, project: str = "") -> Config:
    where = dvcfile.describe(root, project)
    if not dvcfile.dvcyaml_paths(root, project):
        raise ConfigError(
            f"no {CONFIG_NAME} and no dvc.yaml in {root / project if project else root}; "
            "write a dvc.yaml pipeline (`dvc stage add`), or run `mlci init --example` for a starter project"
        )
    metrics = dvcfile.metrics_files(root, project)  # none: nothing to compare, as `dvc metrics diff` prints {}
    model = ModelConfig(
        name=(root / project).name if project else root.name or "model",
        metrics=_string_list(where, "metrics", metrics, where, root),
        params=_string_list(where, "params", dvcfile.params_files(root, project), where, root),
    )
    return Config(root=root, models=(model,), path=None, dvc_dir=project)
