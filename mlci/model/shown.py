"""Values from files a PR controls, shown in messages: cut to length while they are built.

`repr(value)[:60]` first builds the whole text: a YAML alias bomb is a small graph of shared
lists that expands to gigabytes, so repr (or json.dumps) hangs before the cut. `show` walks
the value and stops as soon as it has enough characters.
"""

from __future__ import annotations

from typing import Any

from mlci.model import numbers


def show(value: Any, limit: int = 60, *, as_json: bool = False, ellipsis: str = "...") -> str:
    """`repr(value)` (or `json.dumps(value, default=str)`) cut to `limit` characters, built
    without ever expanding more than that."""
    out: list[str] = []
    size = 0
    stack: list[Any] = [value]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, _Raw):
            piece = item.text
        elif isinstance(item, dict):
            pieces: list[Any] = [_Raw("{")]
            for i, (k, v) in enumerate(item.items()):
                if i:
                    pieces.append(_Raw(", "))
                pieces += [str(k) if as_json else k, _Raw(": "), v]
                if i * 4 > limit:
                    pieces.append(_Raw(", ..."))
                    break
            stack.extend(reversed([*pieces, _Raw("}")]))
            continue
        elif isinstance(item, (list, tuple)):
            pieces = [_Raw("[")]
            for i, v in enumerate(item):
                if i:
                    pieces.append(_Raw(", "))
                pieces.append(v)
                if i * 2 > limit:
                    pieces.append(_Raw(", ..."))
                    break
            stack.extend(reversed([*pieces, _Raw("]")]))
            continue
        elif isinstance(item, int) and not isinstance(item, bool) and not numbers.int_in_range(item):
            piece = f"<{numbers.describe(item)}>"
        elif as_json:
            piece = _json(item[: limit + 1] if isinstance(item, str) else item)[: limit + 1]
        elif isinstance(item, str):
            piece = repr(item[: limit + 1])
        else:
            piece = repr(item)[: limit + 1]
        out.append(piece)
        size += len(piece)
    text = "".join(out)
    return text if len(text) <= limit and not stack else text[: limit - len(ellipsis)] + ellipsis


def _json(item: Any) -> str:
    import json

    try:
        return json.dumps(item, default=str)
    except ValueError:  # a circular structure cannot reach here (walked above); a NaN can't fail
        return str(item)


class _Raw:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text
