"""`mlci.yaml`: what to compare, which direction is better, and the quality gates.

A repo without `mlci.yaml` still works: metrics files come from `dvc.yaml` and each
metric's direction is guessed from its name (and the guess is reported, never hidden).

Validation is strict and early: an unknown key, a wrong type or an unparsable file is one
line naming the file, the key and the fix.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci import dvcfile
from mlci.errors import ConfigError

CONFIG_NAME = "mlci.yaml"
DIRECTIONS = ("higher", "lower")
TASKS = ("binary", "regression", "multiclass")

_LOWER_IS_BETTER = re.compile(
    r"(loss|error|err$|rmse|mse|mae|mape|smape|wer|cer|perplexity|latency|duration|seconds|"
    r"time|memory|size|fpr|fnr|brier|ece|drift|psi)",
    re.IGNORECASE,
)


def guess_direction(metric: str) -> str:
    """Well-known names: loss/error/rmse/mae… are better lower; everything else higher."""
    leaf = metric.rsplit(".", 1)[-1]
    return "lower" if _LOWER_IS_BETTER.search(leaf) else "higher"


@dataclass(frozen=True)
class Goal:
    """One metric's direction and gates, as written under `goals:` in `mlci.yaml`."""

    metric: str
    direction: str
    min: float | None = None
    max: float | None = None
    max_regression: float | None = None  # absolute, in the metric's own units
    max_regression_rel: float | None = None  # fraction of the base value (0.02 = 2 %)
    significant_only: bool = False  # fail on a regression only when it is significant
    tolerance: float = 0.0  # relative tolerance for `mlci reproduce`


@dataclass(frozen=True)
class ModelConfig:
    """One model (one report section, one gate) of the project."""

    name: str
    metrics: tuple[str, ...]
    params: tuple[str, ...] = ("params.yaml",)
    predictions: str | None = None
    model: str | None = None
    task: str = "binary"
    goals: dict[str, Goal] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def goal_for(self, file: str, metric: str) -> Goal:
        """The configured goal (by `file:metric` or bare `metric`), else a guessed direction."""
        goal = self.goals.get(f"{file}:{metric}") or self.goals.get(metric)
        if goal is not None:
            return goal
        return Goal(metric=metric, direction=guess_direction(metric))

    def direction_is_guessed(self, file: str, metric: str) -> bool:
        return f"{file}:{metric}" not in self.goals and metric not in self.goals


@dataclass(frozen=True)
class Config:
    root: Path
    models: tuple[ModelConfig, ...]
    path: Path | None  # None: defaults derived from dvc.yaml
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)  # registry, ci, …

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

    def section(self, name: str) -> dict[str, Any]:
        return self.sections.get(name, {})


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
    "expectations": dict,  # validated in detail by mlci.data.expectations.parse
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
    "predictions": str,
    "model": str,
    "task": str,
    "goals": dict,
    "data": _DATA_SCHEMA,
}
_SECTION_SCHEMAS: dict[str, dict[str, Any]] = {
    "registry": {
        "backend": str,
        "stage": str,
        "remote": str,
        "promote_on": str,
        "tracking_uri": str,
        "git_remote": str,
        "experiment": str,
    },
    "ci": {
        "fork_label": str,
        "comment_id": str,
        "fail_on_regression": bool,
        "assets_branch": str,
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


def _type_name(types: Any) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {int: "a number", float: "a number", str: "a string", bool: "true/false",
             list: "a list", dict: "a mapping"}
    return " or ".join(sorted({names.get(t, t.__name__) for t in types}))


def _check_keys(where: str, data: dict, schema: dict, file: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: '{where or 'top level'}' must be a mapping; see the README's mlci.yaml section")
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(sorted(schema))}"
            raise ConfigError(f"{file}: unknown key '{path}'; {hint}")
        expected = schema[key]
        if isinstance(expected, dict):
            _check_keys(path, value, expected, file)
            continue
        accepted = expected if isinstance(expected, tuple) else (expected,)
        if value is None or (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted):
            raise ConfigError(
                f"{file}: '{path}' must be {_type_name(expected)}, got {type(value).__name__} {value!r}; fix it in {file}"
            )


def _string_list(file: str, where: str, value: list) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{file}: every entry of '{where}' must be a path string; fix it in {file}")
    return tuple(value)


def _goals(file: str, where: str, raw: dict) -> dict[str, Goal]:
    goals = {}
    for metric, spec in raw.items():
        path = f"{where}.{metric}"
        _check_keys(path, spec, _GOAL_SCHEMA, file)
        direction = spec.get("direction", guess_direction(str(metric)))
        if direction not in DIRECTIONS:
            raise ConfigError(f"{file}: '{path}.direction' must be 'higher' or 'lower', got {direction!r}")
        for key in ("max_regression", "max_regression_rel", "tolerance"):
            if spec.get(key) is not None and spec[key] < 0:
                raise ConfigError(f"{file}: '{path}.{key}' must be >= 0, got {spec[key]}")
        goals[str(metric)] = Goal(metric=str(metric), **{**spec, "direction": direction})
    return goals


def _model(file: str, where: str, raw: dict, root: Path, default_name: str) -> ModelConfig:
    metrics = raw.get("metrics")
    if metrics is None:
        metrics = dvcfile.metrics_files(root)
        if not metrics:
            raise ConfigError(
                f"{file}: no metrics files: add 'metrics: [metrics.json]' to {file} or declare metrics in dvc.yaml"
            )
    task = raw.get("task", "binary")
    if task not in TASKS:
        raise ConfigError(f"{file}: '{where + '.' if where else ''}task' must be one of {', '.join(TASKS)}, got {task!r}")
    prefix = f"{where}." if where else ""
    return ModelConfig(
        name=raw.get("name", default_name),
        metrics=_string_list(file, f"{prefix}metrics", list(metrics)),
        params=_string_list(file, f"{prefix}params", raw.get("params") or dvcfile.params_files(root)),
        predictions=raw.get("predictions"),
        model=raw.get("model"),
        task=task,
        goals=_goals(file, f"{prefix}goals", raw.get("goals", {})),
        data=raw.get("data", {}),
    )


def load(root: Path, config_path: Path | None = None) -> Config:
    """Read and validate `mlci.yaml` at `root` (or `config_path`), else derive defaults."""
    import yaml

    path = config_path or root / CONFIG_NAME
    if not path.exists():
        if config_path is not None:
            raise ConfigError(f"config file {config_path} does not exist; pass an existing --config or run `mlci init`")
        return _defaults(root)
    file = path.name if path.parent == root else str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{file}{where}: cannot parse YAML ({problem}); fix the syntax") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: not UTF-8 text; save it as UTF-8") from exc
    if raw is None:
        raw = {}
    _check_keys("", raw, _TOP_SCHEMA, file)
    if raw.get("version", 1) != 1:
        raise ConfigError(f"{file}: 'version' {raw['version']} is not supported by this mlci; use version: 1")
    sections = {}
    for name, schema in _SECTION_SCHEMAS.items():
        if name in raw:
            _check_keys(name, raw[name], schema, file)
            sections[name] = raw[name]
    if "models" in raw:
        clash = sorted(k for k in raw if k in _MODEL_SCHEMA)
        if clash:
            raise ConfigError(f"{file}: '{clash[0]}' at top level conflicts with 'models:'; move it into a model entry")
        models = []
        for i, entry in enumerate(raw["models"]):
            _check_keys(f"models[{i}]", entry, _MODEL_SCHEMA, file)
            models.append(_model(file, f"models[{i}]", entry, root, f"model{i + 1}"))
        if not models:
            raise ConfigError(f"{file}: 'models' is empty; list at least one model or remove the key")
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ConfigError(f"{file}: model names must be unique, got {names}; rename the duplicates")
    else:
        models = [_model(file, "", {k: v for k, v in raw.items() if k in _MODEL_SCHEMA}, root, root.name or "model")]
    return Config(root=root, models=tuple(models), path=path, sections=sections)


def _defaults(root: Path) -> Config:
    if not (root / "dvc.yaml").exists():
        raise ConfigError(
            f"no {CONFIG_NAME} and no dvc.yaml in {root}; run `mlci init --example` or add a DVC pipeline"
        )
    metrics = dvcfile.metrics_files(root)
    if not metrics:
        raise ConfigError(
            "dvc.yaml declares no metrics; add `metrics: [metrics.json]` to a stage or write mlci.yaml (mlci init)"
        )
    model = ModelConfig(name=root.name or "model", metrics=tuple(metrics), params=tuple(dvcfile.params_files(root)))
    return Config(root=root, models=(model,), path=None)
