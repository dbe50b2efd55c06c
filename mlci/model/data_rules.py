"""`data:` in mlci.yaml (tables, expectations, drift thresholds): values and their validation.

Parsing is strict (an unknown key is a ConfigError naming it) and happens once, in
`mlci.store.config.load`; `mlci.analysis.expectations` and `mlci.analysis.drift` check data
against these rules.

    data:
      expectations:
        data/train.parquet:
          min_rows: 1000            # also max_rows
          extra_columns: true       # false: columns not listed below are violations
          columns:
            label: {dtype: integer, max_null_fraction: 0, min: 0, max: 1}
            segment: {values: [a, b, c, d]}
            row_id: {unique: true}
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from mlci.errors import ConfigError
from mlci.model import numbers
from mlci.model.shown import show

DTYPE_FAMILIES = ("integer", "float", "numeric", "string", "category", "boolean", "datetime")
_TABLE_KEYS = {"min_rows": int, "max_rows": int, "extra_columns": bool, "columns": dict}
_COLUMN_KEYS = {
    "dtype": str,
    "required": bool,
    "max_null_fraction": (int, float),
    "min": (int, float),
    "max": (int, float),
    "values": list,
    "unique": bool,
}


@dataclass(frozen=True)
class ColumnRule:
    name: str
    dtype: str | None = None
    required: bool = True
    max_null_fraction: float | None = None
    min: float | None = None
    max: float | None = None
    values: tuple | None = None
    unique: bool = False


@dataclass(frozen=True)
class TableRule:
    table: str
    min_rows: int | None = None
    max_rows: int | None = None
    extra_columns: bool = True
    columns: tuple[ColumnRule, ...] = field(default_factory=tuple)


def _check(file: str, where: str, raw: Any, schema: dict[str, Any]) -> None:
    if not isinstance(raw, dict):
        raise ConfigError(f"{file}: '{where}' must be a mapping; see the data section of the README")
    for key, value in raw.items():
        if key not in schema:
            close = difflib.get_close_matches(str(key), list(schema), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(sorted(schema))}"
            raise ConfigError(f"{file}: unknown key '{where}.{key}'; {hint}")
        expected = schema[key]
        accepted = expected if isinstance(expected, tuple) else (expected,)
        if value is None or (isinstance(value, bool) and bool not in accepted) or not isinstance(value, accepted):
            kind = {int: "a whole number", bool: "true/false", str: "a string", list: "a list", dict: "a mapping"}.get(
                accepted[0], "a number"
            )
            raise ConfigError(f"{file}: '{where}.{key}' must be {kind}, got {show(value)}; fix it in {file}")


def parse(raw: dict[str, Any] | None, file: str = "mlci.yaml") -> list[TableRule]:
    """Validate and convert the `data.expectations` mapping."""
    rules = []
    for table, spec in (raw or {}).items():
        where = f"data.expectations.{table}"
        _check(file, where, spec, _TABLE_KEYS)
        columns = []
        for name, col in (spec.get("columns") or {}).items():
            cw = f"{where}.columns.{name}"
            _check(file, cw, col, _COLUMN_KEYS)
            dtype = col.get("dtype")
            if dtype is not None and not dtype.strip():
                raise ConfigError(
                    f"{file}: '{cw}.dtype' is empty; use one of {', '.join(DTYPE_FAMILIES)} or e.g. int64"
                )
            for key in ("min", "max", "max_null_fraction"):
                if col.get(key) is not None and not numbers.in_range(col[key]):
                    raise ConfigError(
                        f"{file}: '{cw}.{key}' is {show(col[key])}, which no value can be compared with; "
                        f"write a finite number {numbers.RANGE}"
                    )
            fraction = col.get("max_null_fraction")
            if fraction is not None and not 0 <= fraction <= 1:
                raise ConfigError(f"{file}: '{cw}.max_null_fraction' must be between 0 and 1, got {fraction}")
            if col.get("min") is not None and col.get("max") is not None and col["min"] > col["max"]:
                raise ConfigError(f"{file}: '{cw}': min {col['min']} is above max {col['max']}; swap them")
            columns.append(
                ColumnRule(name=str(name), **{**col, "values": tuple(col["values"]) if "values" in col else None})
            )
        for key in ("min_rows", "max_rows"):
            if spec.get(key) is not None and spec[key] < 0:
                raise ConfigError(f"{file}: '{where}.{key}' must be >= 0, got {spec[key]}")
        rules.append(
            TableRule(
                table=str(table),
                min_rows=spec.get("min_rows"),
                max_rows=spec.get("max_rows"),
                extra_columns=spec.get("extra_columns", True),
                columns=tuple(columns),
            )
        )
    return rules


@dataclass(frozen=True)
class DriftThresholds:
    """`data.drift` in mlci.yaml. PSI ≥ psi_warn warns, ≥ psi_fail fails the `data` goal."""

    psi_warn: float = 0.1
    psi_fail: float = 0.25
    null_rate_jump: float = 0.05  # absolute rise of a column's null fraction that fails
    row_change: float | None = None  # |Δrows| / base rows that warns (None: never)
    ignore: tuple[str, ...] = ()  # columns never judged for drift (ids, timestamps)
    plot_top: int = 4  # features in the drift plot

    @classmethod
    def from_config(cls, raw: dict[str, Any] | None, file: str = "mlci.yaml") -> DriftThresholds:
        raw = dict(raw or {})
        ignore = raw.pop("ignore", [])
        if not isinstance(ignore, list) or not all(isinstance(c, str) for c in ignore):
            raise ConfigError(f"{file}: 'data.drift.ignore' must be a list of column names; fix it in {file}")
        values = cls(**raw, ignore=tuple(ignore))
        for key in ("psi_warn", "psi_fail", "null_rate_jump", "row_change"):
            value = getattr(values, key)
            if value is not None and value < 0:
                raise ConfigError(f"{file}: 'data.drift.{key}' must be >= 0, got {value}; fix it in {file}")
        if values.psi_fail < values.psi_warn:
            raise ConfigError(
                f"{file}: 'data.drift.psi_fail' ({values.psi_fail}) is below 'psi_warn' ({values.psi_warn}); "
                "make psi_fail >= psi_warn"
            )
        return values


@dataclass(frozen=True)
class DataConfig:
    """`data:` of every model in mlci.yaml, merged (tables in order, first drift wins)."""

    tables: tuple[str, ...] = ()
    rules: tuple[TableRule, ...] = ()
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)


def build(sections: list[dict[str, Any]], file: str = "mlci.yaml") -> DataConfig:
    """The models' `data:` sections (in order) validated and merged into one DataConfig."""
    tables: list[str] = []
    rules: dict[str, TableRule] = {}
    drift: dict[str, Any] | None = None
    for data in sections:
        for table in data.get("tables") or []:
            if not isinstance(table, str):
                raise ConfigError(f"{file}: every entry of 'data.tables' must be a path string, got {show(table)}")
            if table not in tables:
                tables.append(table)
        for rule in parse(data.get("expectations"), file):
            rules.setdefault(rule.table, rule)
        if drift is None and data.get("drift") is not None:
            drift = data["drift"]
    return DataConfig(
        tables=tuple(tables), rules=tuple(rules.values()), thresholds=DriftThresholds.from_config(drift, file)
    )
