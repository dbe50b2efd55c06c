"""Number formatting shared by every renderer, so tables agree to the last digit."""

from __future__ import annotations

import math
from typing import Any

VERDICT_MARKS = {
    "improved": "▲ improved",
    "regressed": "▼ regressed",
    "unchanged": "= unchanged",
    "new": "+ new",
    "removed": "− removed",
}


def number(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1):
        return f"{int(value):,}" if abs(value) < 1e15 else f"{value:.4g}"
    if value != 0 and (abs(value) < 10**-digits or abs(value) >= 1e6):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}f}"


def signed(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "0"
    return ("+" if value > 0 else "−") + number(abs(value), digits)


def percent(fraction: float | None) -> str:
    if fraction is None or not math.isfinite(fraction):
        return "—"
    if fraction == 0:
        return "0 %"
    return ("+" if fraction > 0 else "−") + f"{abs(fraction) * 100:.2f} %"


def param(value: Any) -> str:
    return "—" if value is None else str(value)
