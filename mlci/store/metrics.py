"""Read metrics and params files into flat `name -> value` maps, in every format DVC reads:
YAML, JSON, TOML and Python (chosen by the file's suffix, as DVC's `LOADERS` choose; YAML for
any other suffix, and a JSON-looking file named otherwise is read as JSON, as before).

Nested mappings are flattened with dots, as `dvc metrics diff` does (`train.auc`). Numbers
are compared; strings, booleans and lists are not numbers to compare, so they are set aside
(the caller shows them in a note, as dvc shows or skips them) and never stop a run. NaN and
±inf are rejected with the file and key named: they are a broken evaluation, not a value.
"""

from __future__ import annotations

import json
import math
from pathlib import Path, PurePosixPath
from typing import Any

from mlci.errors import DataError
from mlci.model import numbers
from mlci.model.shown import show
from mlci.store import repopath, safeyaml


def _suffix(file: str) -> str:
    return PurePosixPath(file).suffix.lower()


def _parse(text: str, source: str, file: str | None = None) -> Any:
    """`file` (default: the first word of `source`) picks the format by its suffix."""
    if not text.strip():
        raise DataError(f"{source} is empty; make the stage that writes it produce at least one metric")
    if len(text) > safeyaml.MAX_BYTES:
        raise DataError(f"{source} is over mlci's limit of {safeyaml.MAX_BYTES:,} bytes; make it smaller")
    suffix = _suffix(file or source.split(" ", 1)[0])
    if suffix == ".toml":
        return safeyaml.load_toml(text, source, DataError)
    if suffix == ".py":
        from mlci.store import pyparams

        return pyparams.parse(text, source)
    try:
        return json.loads(text, parse_int=lambda digits: _json_int(digits, source))
    except json.JSONDecodeError:
        pass
    except RecursionError:
        raise DataError(f"{source} is nested too deeply; write a flat mapping of numbers") from None
    import yaml

    try:
        data = safeyaml.load(text, source, DataError)
    except yaml.YAMLError:
        raise DataError(f"{source} is neither JSON nor YAML; write metrics as a JSON or YAML mapping") from None
    if isinstance(data, str):
        raise DataError(f"{source} is neither JSON nor YAML mapping; write metrics as a JSON or YAML mapping")
    return data


def _json_int(digits: str, source: str) -> int:
    """JSON integers are bounded before conversion: int() of 5,000 digits raises ValueError."""
    if len(digits.lstrip("-")) > numbers.MAX_DIGITS:
        raise DataError(
            f"{source} holds an integer of {len(digits.lstrip('-')):,} digits, too long to read; "
            f"write numbers {numbers.RANGE}"
        )
    return int(digits)


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


def split_metrics(text: str, source: str, file: str | None = None) -> tuple[dict[str, float], dict[str, Any]]:
    """(numbers, other values) of a metrics file; other values are strings, booleans, lists, nulls."""
    data = _parse(text, source, file)
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
        if isinstance(value, int) and not numbers.int_in_range(value):
            raise DataError(
                f"{source}: metric '{name}' is {numbers.describe(value)}, too large to compare; "
                f"write a number {numbers.RANGE}"
            )
        if not math.isfinite(value):
            raise DataError(f"{source}: metric '{name}' is {value}; fix the evaluation so it produces a finite number")
        if not numbers.in_range(value):
            raise DataError(
                f"{source}: metric '{name}' is {value:g}, too large to compare; write a number {numbers.RANGE}"
            )
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
    return show(value, as_json=True, ellipsis="…")  # cut while built: an alias bomb is never expanded


def parse_params(text: str, source: str, file: str | None = None) -> dict[str, Any]:
    if not text.strip():
        return {}
    data = _parse(text, source, file)
    if not isinstance(data, dict):
        raise DataError(f"{source} must be a mapping of parameter names to values; fix the file")
    try:
        flat = flatten(data)
    except DataError as exc:
        raise DataError(f"{source}: {exc.message}") from None
    for name, value in flat.items():
        huge = numbers.oversized(value)
        if huge is not None:
            raise DataError(
                f"{source}: param '{name}' holds {numbers.describe(huge)}, out of range; write a number "
                f"{numbers.RANGE} (or quote it as a string)"
            )
    return flat


def workspace_text(root: Path, file: str, shown: str | None = None) -> str | None:
    """A file of the working tree (inside the repository, a regular UTF-8 file within mlci's size
    limit); when absent, the version its dvc.lock recorded, from DVC's local cache (a fresh
    clone before `dvc pull`). None when neither has it."""
    from mlci.store import dvcfile

    shown = shown or file
    path = repopath.inside(root, file, shown, DataError)
    if path.exists():
        return safeyaml.read_text(path, shown, DataError)
    data = dvcfile.read_cached(root, dvcfile.locks(root), file)
    if data is not None and len(data) > safeyaml.MAX_BYTES:
        raise DataError(f"{shown} is over mlci's limit of {safeyaml.MAX_BYTES:,} bytes; make it smaller")
    try:
        return data.decode("utf-8") if data is not None else None
    except UnicodeDecodeError:
        raise DataError(f"{shown} is not UTF-8 text; save it as UTF-8") from None


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
        text = workspace_text(root, file, f"metrics file {file}")
        if text is None:
            if notes is not None and dvcfile.is_dvc_output(dvcfile.locks(root), file, root):
                notes.append(
                    f"metrics file {file} is in neither the workspace nor the local DVC cache: "
                    "skipped (run `dvc pull` or `mlci run`)"
                )
                continue
            raise DataError(f"metrics file {file} does not exist; {hint} or fix the path in mlci.yaml")
        values, other = split_metrics(text, file, file)
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
        path = repopath.inside(root, file, f"params file {file}", DataError)
        if not path.exists():
            continue
        result[file] = parse_params(safeyaml.read_text(path, f"params file {file}", DataError), file, file)
    return scoped(result, scope)
