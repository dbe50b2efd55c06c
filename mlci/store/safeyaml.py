"""Bounded reading of the YAML, JSON and TOML files a PR controls: mlci.yaml, dvc.yaml, dvc.lock,
params and metrics files. Every one of them goes through `read_text` and `load`.

Plain `yaml.safe_load` trusts its input: a 700-byte alias bomb ("billion laughs") becomes a
structure that expands to gigabytes as soon as anything walks it (flattening, `repr`, JSON),
an integer of 5,000 digits raises ValueError, and opening a FIFO blocks forever. Here, before
anything is built:

- the file must be a regular file (checked with `os.stat`, never opened otherwise) of at most
  `MAX_BYTES`, in UTF-8;
- the node graph, aliases followed, may hold at most `MAX_VALUES` values and `MAX_TEXT`
  characters of scalars (a bomb is refused, naming the file); a recursive alias is refused;
- integers are bounded (`mlci.model.numbers`) before they are converted;
- duplicate keys are refused (DVC refuses them too), while merge keys (`<<: *base`) are
  accepted, an explicit key overriding the merged one as YAML specifies.

Errors are raised as the caller's error class (ConfigError for mlci.yaml and dvc.yaml,
DataError for params and metrics) with one line naming the file; YAML syntax errors pass
through as `yaml.YAMLError` so each caller phrases them as before.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from mlci.errors import MlciError
from mlci.model import numbers
from mlci.model.shown import show

MAX_BYTES = 4 * 2**20  # a params or metrics file of 4 MiB is ~100,000 lines
MAX_VALUES = 1_000_000  # mappings, lists and scalars once aliases are expanded
MAX_TEXT = MAX_BYTES  # characters of scalars once aliases are expanded: what the file could hold written out


class Lined(dict):
    """A mapping that knows where it and each of its keys were written (for `file:line` messages)."""

    line: int | None = None
    lines: dict[Any, int]

    def subset(self, keys) -> Lined:
        part = Lined({k: v for k, v in self.items() if k in keys})
        part.line, part.lines = self.line, {k: n for k, n in self.lines.items() if k in keys}
        return part


def read_text(path: Path, shown: str, error: type[MlciError], *, hint: str = "") -> str:
    """The file's text, refused (one line, `error`) when it is not a regular file, too large,
    or not UTF-8. A FIFO or device is never opened: `os.stat` decides first."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{shown} does not exist{'; ' + hint if hint else ''}") from None
    except OSError as exc:  # a symlink loop, a path through a file, permissions
        raise error(f"cannot read {shown}: {exc.strerror}; fix the path or the link") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{shown} is a directory, not a file{'; ' + hint if hint else ''}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{shown} is not a regular file (a pipe, socket or device); make it a plain file")
    if info.st_size > MAX_BYTES:
        raise error(f"{shown} is {info.st_size:,} bytes, over mlci's limit of {MAX_BYTES:,}; make it smaller")
    data = path.read_bytes()[: MAX_BYTES + 1]  # the file may have grown since the stat
    if len(data) > MAX_BYTES:
        raise error(f"{shown} is over mlci's limit of {MAX_BYTES:,} bytes; make it smaller")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{shown}: not UTF-8 text; save it as UTF-8") from None


def load(text: str, shown: str, error: type[MlciError], *, lines: bool = False) -> Any:
    """One YAML document, bounded as the module says; `lines`: mappings are `Lined`.

    Raises `error` for a limit, a duplicate key or a malformed merge, and `yaml.YAMLError`
    for a syntax error (the caller words it).
    """
    import yaml

    if len(text) > MAX_BYTES:
        raise error(f"{shown} is over mlci's limit of {MAX_BYTES:,} bytes; make it smaller")
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: fast, and it caps nesting depth
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # git's output decoded with surrogateescape: the bytes were not UTF-8
        raise error(f"{shown}: not UTF-8 text; save it as UTF-8") from None
    loader = loader_cls(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise error(f"{shown}: nested too deeply; fix the file") from None
        except yaml.YAMLError as exc:
            if "nesting depth" in str(getattr(exc, "problem", "")):  # libyaml's own cap
                raise error(f"{shown}: nested too deeply; fix the file") from None
            raise
        if node is None:
            return None
        _check_graph(node, shown, error)
        builder = _Builder(loader, shown, error, lines)
        try:
            return builder.build(node)
        except RecursionError:
            raise error(f"{shown}: nested too deeply; fix the file") from None
    finally:
        loader.dispose()


def _check_graph(root: Any, shown: str, error: type[MlciError]) -> None:
    """Count the values and scalar text the document expands to (each alias a full copy), without
    expanding it: sizes are summed over the node graph, each node once. A cycle (an alias inside
    its own anchor) is refused."""
    import yaml

    size: dict[int, tuple[int, int]] = {}  # id(node) -> (values, characters) of its expansion
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            values, chars = 1, 0
            for child in _children(node):
                v, c = size[id(child)]
                values, chars = values + v, chars + c
            if values > MAX_VALUES or chars > MAX_TEXT:
                raise error(
                    f"{shown}: its aliases expand it beyond mlci's limit ({MAX_VALUES:,} values, {MAX_TEXT:,} "
                    f"characters), line {node.start_mark.line + 1}; write the values out or drop the aliases"
                )
            size[key] = (values, chars)
            continue
        if key in size:
            continue
        if key in on_path:
            raise error(
                f"{shown}:{node.start_mark.line + 1}: an alias refers to its own anchor (a recursive "
                "structure); write the values out"
            )
        if isinstance(node, yaml.ScalarNode):
            size[key] = (1, len(node.value))
            continue
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


_MERGE = "tag:yaml.org,2002:merge"
_INT = "tag:yaml.org,2002:int"
_COLLECTIONS = {f"tag:yaml.org,2002:{name}" for name in ("map", "seq", "set", "omap", "pairs")}


class _Builder:
    """Python values from the checked node graph; an aliased node is built once and shared."""

    def __init__(self, loader: Any, shown: str, error: type[MlciError], lines: bool):
        self.loader, self.shown, self.error, self.lines = loader, shown, error, lines
        self.built: dict[int, Any] = {}

    def build(self, node: Any) -> Any:
        import yaml

        key = id(node)
        if key in self.built:
            return self.built[key]
        if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and node.tag not in _COLLECTIONS:
            raise self.error(
                f"{self.shown}:{node.start_mark.line + 1}: unknown tag {show(node.tag)}; remove it (plain YAML only)"
            )
        if isinstance(node, yaml.MappingNode):
            value: Any = self._mapping(node)
        elif isinstance(node, yaml.SequenceNode):
            value = [self.build(child) for child in node.value]
        else:
            value = self._scalar(node)
        self.built[key] = value
        return value

    def _scalar(self, node: Any) -> Any:
        import yaml

        if node.tag == _INT:
            digits = node.value.replace("_", "").lstrip("+-")
            if len(digits) > numbers.MAX_DIGITS:
                raise self._too_large(node, f"an integer of {len(digits):,} digits")
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, OverflowError):  # a malformed timestamp or float the resolver matched
            raise self.error(
                f"{self.shown}:{node.start_mark.line + 1}: cannot read the value {show(node.value)}; quote it or fix it"
            ) from None
        except yaml.constructor.ConstructorError as exc:
            raise self.error(
                f"{self.shown}:{node.start_mark.line + 1}: {exc.problem or 'unreadable value'}; fix the value"
            ) from None
        if isinstance(value, int) and not isinstance(value, bool) and not numbers.int_in_range(value):
            raise self._too_large(node, numbers.describe(value))
        return value

    def _too_large(self, node: Any, what: str) -> MlciError:
        return self.error(
            f"{self.shown}:{node.start_mark.line + 1}: {what} is out of range; write a number {numbers.RANGE} (or quote it as a string)"
        )

    def _mapping(self, node: Any) -> dict:
        import yaml

        result: dict = Lined() if self.lines else {}
        where: dict[Any, int] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise self.error(
                            f"{self.shown}:{key_node.start_mark.line + 1}: a merge key ('<<') takes a mapping or a "
                            "list of mappings; fix the file"
                        )
                    for k, v in self.build(source).items():
                        merged.setdefault(k, v)  # the first mapping listed wins, as YAML specifies
                continue
            key = self.build(key_node)
            try:
                hash(key)
            except TypeError:
                raise self.error(
                    f"{self.shown}:{key_node.start_mark.line + 1}: a key must be a plain name; fix the syntax"
                ) from None
            line = key_node.start_mark.line + 1
            if key in result:
                raise self.error(
                    f"{self.shown}:{line}: duplicate key {show(key)} (first on line {where[key]}); keep one"
                )
            result[key] = self.build(value_node)
            where[key] = line
        for k, v in merged.items():
            if k not in result:  # an explicit key overrides a merged one
                result[k] = v
        if isinstance(result, Lined):
            result.line, result.lines = node.start_mark.line + 1, where
        return result


def load_toml(text: str, shown: str, error: type[MlciError]) -> dict[str, Any]:
    """A TOML document (params.toml), under the same size bound; a syntax error is one `error`
    line. Values are what `dvc params diff` shows (DVC reads TOML with tomlkit; `tomllib` gives
    the same values); dates and times become ISO strings, as DVC's JSON prints them."""
    import tomllib

    if len(text) > MAX_BYTES:
        raise error(f"{shown} is over mlci's limit of {MAX_BYTES:,} bytes; make it smaller")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{shown}: cannot parse TOML ({exc}); fix the syntax") from None
    except RecursionError:
        raise error(f"{shown}: nested too deeply; fix the file") from None
    except ValueError:  # an integer of thousands of digits (the interpreter's own limit)
        raise error(f"{shown}: holds an integer too long to read; write numbers {numbers.RANGE}") from None
    return _plain(data)


def _plain(value: Any) -> Any:
    import datetime

    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return value
