"""Read metrics and params files (JSON or YAML) into flat `name -> value` maps.

Nested mappings are flattened with dots, as `dvc metrics diff` does (`train.auc`). Numbers
are compared; strings, booleans and lists are not numbers to compare, so they are set aside
(the caller shows them in a note, as dvc shows or skips them) and never stop a run. NaN and
±inf are rejected with the file and key named: they are a broken evaluation, not a value.
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
        raise DataError(
            f"{source} is nested too deeply or holds a number too long to read; write a flat mapping of numbers"
        ) from None
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


def split_metrics(text: str, source: str) -> tuple[dict[str, float], dict[str, Any]]:
    """(numbers, other values) of a metrics file; other values are strings, booleans, lists, nulls."""
    data = _parse(text, source)
    if not isinstance(data, dict):
        raise DataError(
            f'{source} holds a {type(data).__name__}, not a mapping of metric names to numbers; write {{"auc": 0.9}}'
        )
    try:
        flat = flatten(data)
    except DataError as exc:
        raise DataError(f"{source}: {exc.message}") from None
    if not flat:
        raise DataError(f"{source} holds no metrics; make the stage that writes it produce at least one")
    values: dict[str, float] = {}
    others: dict[str, Any] = {}
    for name, value in flat.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            others[name] = value
            continue
        if isinstance(value, int) and abs(value) > 2**1023:
            raise DataError(
                f"{source}: metric '{name}' is an integer of {len(str(abs(value)))} digits, too large to compare; write a float"
            )
        if not math.isfinite(value):
            raise DataError(f"{source}: metric '{name}' is {value}; fix the evaluation so it produces a finite number")
        values[name] = value
    return values, others


def parse_metrics(text: str, source: str, skipped: list[str] | None = None) -> dict[str, float]:
    """The numeric metrics of a file; what is not a number is named in `skipped`."""
    values, others = split_metrics(text, source)
    if skipped is not None:
        skipped.extend(describe_other(source, name, value) for name, value in others.items())
    return values


def describe_other(source: str, name: str, value: Any, base: Any = None, *, two_sided: bool = False) -> str:
    """One note line for a value that is not a number: shown, never compared."""
    kind = (
        "list"
        if isinstance(value, list)
        else "boolean"
        if isinstance(value, bool)
        else ("null" if value is None else "string" if isinstance(value, str) else type(value).__name__)
    )
    shown = _short(value) if not two_sided else f"{_short(base)} → {_short(value)}"
    return f"{source}: '{name}' is a {kind} ({shown}), shown here and not compared"


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "…"


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


def workspace_text(root: Path, file: str) -> str | None:
    """A file of the working tree; when absent, the version its dvc.lock recorded, from DVC's
    local cache (a fresh clone before `dvc pull`). None when neither has it."""
    from mlci.store import dvcfile

    path = root / file
    if path.is_file():
        return path.read_text(encoding="utf-8")
    lock = root / "dvc.lock"
    data = dvcfile.read_cached(root, lock.read_text(encoding="utf-8") if lock.exists() else None, file)
    return data.decode("utf-8") if data is not None else None


def read_metrics(
    root: Path,
    files: list[str] | tuple[str, ...],
    *,
    hint: str = "run `mlci run` first",
    others: dict[str, dict[str, Any]] | None = None,
    notes: list[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Metrics of the working tree, per file (numbers only; the rest goes to `others`).

    A missing file that dvc.lock records as a DVC output is read from DVC's cache, else named
    in `notes` (when given) as `dvc metrics show` reports what it can; any other missing file
    is an error naming the fix.
    """
    from mlci.store import dvcfile

    result = {}
    for file in files:
        path = root / file
        if path.is_dir():
            raise DataError(f"metrics file {file} is not a text file; point mlci.yaml at a JSON or YAML file")
        if path.exists() and not path.is_file():  # a FIFO or device would block or never end
            raise DataError(f"metrics file {file} is not a regular file; point mlci.yaml at a JSON or YAML file")
        try:
            text = workspace_text(root, file)
        except UnicodeDecodeError:
            raise DataError(f"metrics file {file} is not a text file; point mlci.yaml at a JSON or YAML file") from None
        if text is None:
            lock = root / "dvc.lock"
            if notes is not None and dvcfile.is_dvc_output(
                lock.read_text(encoding="utf-8") if lock.exists() else None, file
            ):
                notes.append(
                    f"metrics file {file} is in neither the workspace nor the local DVC cache: "
                    "skipped (run `dvc pull` or `mlci run`)"
                )
                continue
            raise DataError(f"metrics file {file} does not exist; {hint} or fix the path in mlci.yaml")
        values, other = split_metrics(text, file)
        result[file] = values
        if others is not None and other:
            others[file] = other
    return result


def scoped(params: dict[str, dict[str, Any]], scope: dict[str, set[str] | None] | None) -> dict[str, dict[str, Any]]:
    """Only the params the pipeline declares (`dvcfile.params_scope`), as `dvc params diff` shows."""
    if scope is None:
        return params
    from mlci.store.dvcfile import in_scope

    return {
        file: {k: v for k, v in values.items() if in_scope(k, scope.get(file))} if file in scope else values
        for file, values in params.items()
    }


def read_params(
    root: Path, files: list[str] | tuple[str, ...], scope: dict[str, set[str] | None] | None = None
) -> dict[str, dict[str, Any]]:
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
    return scoped(result, scope)
