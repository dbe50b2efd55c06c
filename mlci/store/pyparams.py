"""Params written as Python (`params.py`), read as DVC reads them (dvc/utils/serialize/_py.py).

DVC takes module-level assignments (`LR = 0.1`, `LR: float = 0.1`), class bodies as nested
mappings (`class Train: lr = 0.1` is `Train.lr`) and `self.x = …` in a class's `__init__`,
each value only when `ast.literal_eval` accepts it; anything else (a call, an expression, a
tuple target) is skipped, as DVC skips it. The file is parsed, never run.
"""

from __future__ import annotations

import ast
from typing import Any

from mlci.errors import DataError


def parse(text: str, source: str) -> dict[str, Any]:
    """The params of a Python file; DataError (one line) when it is not valid Python."""
    try:
        tree = ast.parse(text, filename=source)
    except SyntaxError as exc:
        where = f":{exc.lineno}" if exc.lineno else ""
        raise DataError(f"{source}{where}: not valid Python ({exc.msg}); fix the syntax") from None
    except (RecursionError, MemoryError):
        raise DataError(f"{source}: nested too deeply; fix the file") from None
    except ValueError as exc:  # an integer literal of thousands of digits, a NUL byte
        raise DataError(f"{source}: cannot read it ({exc}); fix the file") from None
    try:
        return _plain(_body(tree.body))
    except RecursionError:
        raise DataError(f"{source}: nested too deeply; fix the file") from None


def _plain(value: Any) -> Any:
    """Tuples and sets as lists: a record is JSON (DVC's `--json` prints a tuple as a list)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    return value


def _body(body: list[ast.stmt], only_self: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for node in body:
        try:
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                result.update(_assign(node, only_self))
            elif isinstance(node, ast.ClassDef):
                result[node.name] = _body(node.body)
            elif isinstance(node, ast.FunctionDef) and node.name == "__init__":
                result.update(_body(node.body, only_self=True))
        except (ValueError, TypeError, AttributeError, SyntaxError, MemoryError):
            continue  # not a literal (or not a plain name): DVC skips it too
    return result


def _assign(node: ast.Assign | ast.AnnAssign, only_self: bool) -> dict[str, Any]:
    target: ast.expr
    if isinstance(node, ast.AnnAssign):
        target = node.target
    elif len(node.targets) == 1:
        target = node.targets[0]
    else:
        raise AttributeError("several targets")
    name = _name(target, only_self)
    value = node.value
    if value is None:
        raise ValueError("an annotation without a value")
    if isinstance(value, ast.Dict):
        return {name: {ast.literal_eval(k): ast.literal_eval(v) for k, v in zip(value.keys, value.values, strict=True)}}  # type: ignore[arg-type]
    if isinstance(value, ast.List):
        return {name: [ast.literal_eval(v) for v in value.elts]}
    if isinstance(value, ast.Set):
        return {name: {ast.literal_eval(v) for v in value.elts}}
    if isinstance(value, ast.Tuple):
        return {name: tuple(ast.literal_eval(v) for v in value.elts)}
    return {name: ast.literal_eval(value)}


def _name(target: ast.expr, only_self: bool) -> str:
    if isinstance(target, ast.Name) and not only_self:
        return target.id
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "self":
        return target.attr
    raise AttributeError("not a plain name")
