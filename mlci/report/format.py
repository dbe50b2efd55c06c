"""Number formatting shared by every renderer, so tables agree to the last digit."""

from __future__ import annotations

import math
from typing import Any

VERDICT_MARKS = {
    "improved": "▲ improved",
    "regressed": "▼ regressed",
    "not_significant": "≈ no significant change",
    "changed": "~ changed",
    "unchanged": "= unchanged",
    "new": "+ new",
    "removed": "− removed",
    "unavailable": "? unavailable",
}


# `mlci diff` reads values only: its better/worse is the sign of Δ, never an interval.
UNTESTED_NOTE = (
    "improved/regressed without an interval is the sign of Δ, not tested: `mlci report` bootstraps "
    "each metric's interval from the predictions and says whether a change is more than noise"
)


def verdict_label(m: Any) -> str:
    """The words every renderer uses for a MetricDelta's verdict (report, terminal, diff, comment).

    improved/regressed without an interval say "(not tested)"; "changed" says why it has no
    better or worse (a counter or clock, or a name with no known direction).
    """
    text = VERDICT_MARKS[m.verdict]
    if m.verdict in ("improved", "regressed") and not m.tested:
        text += " (not tested)"
    elif m.verdict == "changed":
        text += " (counter)" if m.direction_source == "counter" else " (no direction)"
    return text


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


def param(value: Any, limit: int = 80) -> str:
    """A param's value for a table, cut to `limit` while it is built (a shared-list bomb never expands)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value if len(value) <= limit else value[: limit - 1] + "…"
    from mlci.model.shown import show

    return show(value, limit, ellipsis="…")
