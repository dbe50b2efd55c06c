"""The one bound on numbers mlci reads from files a PR (or anyone with push access) controls.

Python's ints have no size: a 400-digit integer is valid JSON and YAML, but `float()` and
`math.isfinite()` raise OverflowError on it and `str()` refuses one over 4,300 digits. So every
number read from a file is checked here first, by comparing ints as ints (never converting):
a magnitude above `MAX_MAGNITUDE` is a data error, not a traceback. Documented in
docs/commands.md ("Limits").
"""

from __future__ import annotations

import math
from typing import Any

MAX_MAGNITUDE = 1e300  # any number mlci compares or stores; leaves room for deltas and ratios
_MAX_INT = 10**300
RANGE = "between -1e300 and 1e300"  # for messages
MAX_DIGITS = 400  # an integer written with more digits is refused before it is converted


def int_in_range(value: int) -> bool:
    """|value| <= 1e300, compared as ints: no OverflowError, whatever the size."""
    return -_MAX_INT <= value <= _MAX_INT


def in_range(value: Any) -> bool:
    """A number mlci can compare: an int or float (not a bool), finite, |value| <= 1e300."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, int):
        return int_in_range(value)
    return math.isfinite(value) and abs(value) <= MAX_MAGNITUDE


def digits(value: int) -> int:
    """How many decimal digits `value` has, without str() (refused past 4,300 digits)."""
    size = abs(value)
    estimate = math.floor(size.bit_length() * math.log10(2)) + 1  # exact, or one too many
    return estimate - 1 if estimate > 1 and size < 10 ** (estimate - 1) else estimate


def oversized(data: Any, *, floats: bool = False) -> Any | None:
    """The first int in `data` (nested lists and mappings, keys too) beyond the bound, or None;
    with `floats`, a float that is not finite or beyond the bound counts as well.
    Walked without recursion: a record nested deeply must not raise RecursionError here."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not int_in_range(item):
                return item
        elif isinstance(item, float):
            if floats and not in_range(item):
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None


def describe(value: Any) -> str:
    """A short phrase for an out-of-range number, never its full text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"an integer of {digits(value)} digits"
    return str(value)


NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}  # strict JSON has no such numbers


def json_safe(data: Any) -> Any:
    """A copy of `data` that strict JSON (`allow_nan=False`) can encode: each NaN/±inf float
    becomes the string "NaN", "Infinity" or "-Infinity" (documented in docs/commands.md), each
    key a string. Walked without recursion."""
    root = [data]
    stack: list[tuple[Any, Any]] = [(root, 0)]
    while stack:
        container, key = stack.pop()
        value = container[key]
        if isinstance(value, float) and not math.isfinite(value):
            container[key] = NON_FINITE[str(value)]
        elif isinstance(value, dict):
            copy = {k if isinstance(k, str) else json_key(k): v for k, v in value.items()}
            container[key] = copy
            stack.extend((copy, k) for k in copy)
        elif isinstance(value, (list, tuple)):
            items = list(value)
            container[key] = items
            stack.extend((items, i) for i in range(len(items)))
    return root[0]


def dumps(data: Any, *, indent: int | None = None) -> str:
    """Strict JSON text of `data`, keys sorted. Encoded as it is whenever it can be (the C
    encoder when `indent` is None); only data holding NaN/±inf or non-string keys is first walked
    by `json_safe` — a 5,000-metric report.json took a second to walk for nothing."""
    import json

    try:
        return json.dumps(data, indent=indent, sort_keys=True, default=str, allow_nan=False)
    except (ValueError, TypeError):
        return json.dumps(json_safe(data), indent=indent, sort_keys=True, default=str, allow_nan=False)


def json_key(key: Any) -> str:
    if isinstance(key, float) and not math.isfinite(key):
        return NON_FINITE[str(key)]
    return json_text(key)


def json_text(value: Any) -> str:
    """How json.dumps writes a scalar key (true/false/null, numbers), as a string."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    return str(value)
