"""Read metrics and params files (JSON or YAML) into flat `name -> value` maps.

Nested mappings are flattened with dots, as `dvc metrics diff` does (`train.auc`). A metric
must be a finite number: strings, booleans, lists, NaN and ±inf are rejected with the file
and key named, because comparing them silently would make every later verdict a lie.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mlci.errors import DataError


def _parse(text: str, source: str) -> Any:
    if not text.strip():
        raise DataError(f"{source} is empty; make the stage that writes it produce at least one metric")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    except (RecursionError, ValueError):  # nested thousands deep, or an integer of thousands of digits
        raise DataError(f"{source} is nested too deeply or holds a number too long to read; write a flat mapping of numbers") from None
    import yaml

    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise DataError(f"{source} is nested too deeply; write a flat mapping of numbers") from None
    except yaml.YAMLError:
        raise DataError(f"{source} is neither JSON nor YAML; write metrics as a JSON or YAML mapping") from None
    if isinstance(data, str):
        raise DataError(f"{source} is neither JSON nor YAML mapping; write metrics as a JSON or YAML mapping")
    return data


def flatten(data: dict, prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        part = flatten(value, f"{name}.") if isinstance(value, dict) else {name: value}
        clash = next((k for k in part if k in flat), None)
        if clash is not None:  # {"a.b": 1, "a": {"b": 2}}: one value would silently win
            raise DataError(f"key '{clash}' appears twice once nested keys are joined with dots; rename one of them")
        flat.update(part)
    return flat


def parse_metrics(text: str, source: str) -> dict[str, float]:
    data = _parse(text, source)
    if not isinstance(data, dict):
        raise DataError(f"{source} holds a {type(data).__name__}, not a mapping of metric names to numbers; write {{\"auc\": 0.9}}")
    try:
        flat = flatten(data)
    except DataError as exc:
        raise DataError(f"{source}: {exc.message}") from None
    if not flat:
        raise DataError(f"{source} holds no metrics; make the stage that writes it produce at least one")
    values: dict[str, float] = {}
    for name, value in flat.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DataError(
                f"{source}: metric '{name}' is {type(value).__name__} {value!r}, not a number; write numbers only"
            )
        if isinstance(value, int) and abs(value) > 2**1023:
            raise DataError(f"{source}: metric '{name}' is an integer of {len(str(abs(value)))} digits, too large to compare; write a float")
        if not math.isfinite(value):
            raise DataError(f"{source}: metric '{name}' is {value}; fix the evaluation so it produces a finite number")
        values[name] = value
    return values


def parse_params(text: str, source: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    data = _parse(text, source)
    if not isinstance(data, dict):
        raise DataError(f"{source} must be a mapping of parameter names to values; fix the file")
    try:
        return flatten(data)
    except DataError as exc:
        raise DataError(f"{source}: {exc.message}") from None


def read_metrics(root: Path, files: list[str] | tuple[str, ...], *, hint: str = "run `mlci run` first") -> dict[str, dict[str, float]]:
    """Metrics of the working tree, per file; a missing file is an error naming the fix."""
    result = {}
    for file in files:
        path = root / file
        if not path.exists():
            raise DataError(f"metrics file {file} does not exist; {hint} or fix the path in mlci.yaml")
        if not path.is_file() and not path.is_dir():  # a FIFO or device would block or never end
            raise DataError(f"metrics file {file} is not a regular file; point mlci.yaml at a JSON or YAML file")
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError):
            raise DataError(f"metrics file {file} is not a text file; point mlci.yaml at a JSON or YAML file") from None
        result[file] = parse_metrics(text, file)
    return result


def read_params(root: Path, files: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    result = {}
    for file in files:
        path = root / file
        if not path.exists():
            continue
        if not path.is_file() and not path.is_dir():  # a FIFO or device would block or never end
            raise DataError(f"params file {file} is not a regular file; save it as UTF-8 YAML or JSON")
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError):
            raise DataError(f"params file {file} is not a UTF-8 text file; save it as UTF-8 YAML or JSON") from None
        result[file] = parse_params(text, file)
    return result
