"""Base vs head data profiles: schema changes, row counts, null-rate jumps and drift (PSI).

Pure: two profile dicts (see `mlci.analysis.profile`) and thresholds in, a `DataComparison` out.
Numbers are re-binned onto the base's decile bins through each side's stored CDF, so the
two profiles never need the raw data; categories compare on the buckets both sides know.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mlci.model.data_rules import DriftThresholds

_EPS = 1e-4  # PSI smoothing for empty bins
SEVERITY_ORDER = {"fail": 0, "warn": 1, "ok": 2, "skipped": 3}
_CHECK_ORDER = ("table", "profile", "schema", "rows", "nulls", "drift")


@dataclass(frozen=True)
class DataFinding:
    """One line of the gate: a schema break or a threshold crossing."""

    severity: str  # "fail" | "warn"
    table: str
    column: str | None
    check: str  # "schema" | "table" | "profile" | "rows" | "nulls" | "drift"
    message: str
    value: float | None = None  # the measured PSI / null rise / row change


@dataclass
class ColumnDrift:
    column: str
    kind: str
    method: str  # "bins" (numbers on base deciles) | "categories" | "none"
    psi: float | None
    base_null: float
    head_null: float
    severity: str  # "fail" | "warn" | "ok" | "skipped"
    labels: list[str] = field(default_factory=list)  # bins or categories, for the plot
    base_share: list[float] = field(default_factory=list)
    head_share: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def null_jump(self) -> float:
        return self.head_null - self.base_null


@dataclass
class TableComparison:
    table: str
    status: str  # "compared" | "added" | "removed" | "error"
    base_rows: int | None
    head_rows: int | None
    added_columns: list[str] = field(default_factory=list)
    removed_columns: list[str] = field(default_factory=list)
    dtype_changes: list[tuple[str, str, str]] = field(default_factory=list)  # column, base, head
    columns: list[ColumnDrift] = field(default_factory=list)  # worst first
    notes: list[str] = field(default_factory=list)


@dataclass
class DataComparison:
    tables: list[TableComparison]
    findings: list[DataFinding]
    thresholds: DriftThresholds
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(f.severity == "fail" for f in self.findings)

    def worst(self, n: int) -> list[tuple[str, ColumnDrift]]:
        """The `n` most drifted columns over all tables (PSI above zero; each column name once)."""
        scored = [(t.table, c) for t in self.tables for c in t.columns if c.psi]
        scored.sort(key=lambda tc: (-(tc[1].psi or 0.0), tc[0], tc[1].column))
        seen: set[str] = set()
        unique = []
        for table, column in scored:
            if column.column not in seen:
                seen.add(column.column)
                unique.append((table, column))
        return unique[:n]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tables": [asdict(t) for t in self.tables],
            "findings": [asdict(f) for f in self.findings],
            "thresholds": asdict(self.thresholds),
            "notes": list(self.notes),
            "failed": self.failed,
        }


# --- PSI ---------------------------------------------------------------------------------


def psi(base: list[float], head: list[float]) -> float:
    """Population stability index of two distributions over the same buckets."""
    total = 0.0
    for b, h in zip(base, head, strict=False):
        b, h = max(b, _EPS), max(h, _EPS)
        total += (h - b) * math.log(h / b)
    return total


def _cdf(entry: dict[str, Any]):
    """(x, F(x)) points of a numeric column, duplicates collapsed to their right limit."""
    xs: list[float] = []
    fs: list[float] = []
    for x, f in zip(entry.get("edges") or [], entry.get("cdf") or [], strict=False):
        if x is None or f is None:
            continue
        if xs and x == xs[-1]:
            fs[-1] = max(fs[-1], f)
        else:
            xs.append(x)
            fs.append(f)
    return xs, fs


def _cdf_at(points, x: float) -> float:
    import numpy as np

    xs, fs = points
    return float(np.interp(x, xs, fs, left=0.0, right=1.0))


def _binned(base: dict, head: dict) -> tuple[list[str], list[float], list[float]] | None:
    b_points, h_points = _cdf(base), _cdf(head)
    if not b_points[0] or not h_points[0]:
        return None
    edges = base.get("edges") or []
    deciles = sorted({e for e in edges[2:-1:2] if e is not None})
    cuts = [_cdf_at(b_points, d) for d in deciles]
    head_cuts = [_cdf_at(h_points, d) for d in deciles]
    b_share = [hi - lo for lo, hi in zip([0.0, *cuts], [*cuts, 1.0], strict=False)]
    h_share = [hi - lo for lo, hi in zip([0.0, *head_cuts], [*head_cuts, 1.0], strict=False)]
    bounds = [f"{d:.4g}" for d in deciles]
    labels = [f"≤{bounds[0]}"] if bounds else ["all"]
    labels += [f"{lo}…{hi}" for lo, hi in zip(bounds, bounds[1:], strict=False)]
    if bounds:
        labels.append(f">{bounds[-1]}")
    return labels, b_share, h_share


def _known(entry: dict, value) -> int | None:
    for v, count in entry.get("top") or []:
        if v == value:
            return count
    return 0 if entry.get("top_complete") else None


def _categories(base: dict, head: dict, base_n: int, head_n: int):
    if base_n <= 0 or head_n <= 0:
        return None
    seen = []
    for v, _count in (base.get("top") or []) + (head.get("top") or []):
        if v not in seen:
            seen.append(v)
    buckets = []
    for v in seen:
        b, h = _known(base, v), _known(head, v)
        if b is not None and h is not None:
            buckets.append((v, b, h))
    if not buckets:
        return None
    other_b = base_n - sum(b for _v, b, _h in buckets)
    other_h = head_n - sum(h for _v, _b, h in buckets)
    labels = [str(v) for v, _b, _h in buckets]
    b_share = [b / base_n for _v, b, _h in buckets]
    h_share = [h / head_n for _v, _b, h in buckets]
    if other_b > 0 or other_h > 0:
        labels.append("(other)")
        b_share.append(other_b / base_n)
        h_share.append(other_h / head_n)
    return labels, b_share, h_share


def _column_drift(
    name: str, base: dict, head: dict, base_rows: int, head_rows: int, limits: DriftThresholds
) -> ColumnDrift:
    kind = head.get("kind", "other")
    drift = ColumnDrift(
        column=name,
        kind=kind,
        method="none",
        psi=None,
        base_null=float(base.get("null_fraction") or 0.0),
        head_null=float(head.get("null_fraction") or 0.0),
        severity="skipped",
    )
    if name in limits.ignore:
        drift.note = "ignored (data.drift.ignore)"
        return drift
    if base.get("kind") != kind:
        drift.note = "kind changed: not comparable"
        return drift
    if kind in ("other", "null"):
        drift.note = "all null" if kind == "null" else "type not profiled"
        return drift
    base_n = base_rows - int(base.get("nulls") or 0)
    head_n = head_rows - int(head.get("nulls") or 0)
    if base_n < 2 or head_n < 2:
        drift.note = "fewer than 2 values on a side: drift not measured"
        return drift
    bins = None
    if base.get("top_complete") and head.get("top_complete"):
        bins, drift.method = _categories(base, head, base_n, head_n), "categories"
    elif kind in ("numeric", "datetime"):
        bins, drift.method = _binned(base, head), "bins"
    elif kind in ("categorical", "boolean"):
        bins, drift.method = _categories(base, head, base_n, head_n), "categories"
    if bins is None:
        drift.method = "none"
        drift.note = "no common buckets (high-cardinality or empty column)"
        return drift
    drift.labels, drift.base_share, drift.head_share = bins
    drift.psi = round(psi(drift.base_share, drift.head_share), 6)
    if drift.psi >= limits.psi_fail:
        drift.severity = "fail"
    elif drift.psi >= limits.psi_warn:
        drift.severity = "warn"
    else:
        drift.severity = "ok"
    return drift


def _compare_table(
    table: str, base: dict, head: dict, limits: DriftThresholds, findings: list[DataFinding]
) -> TableComparison:
    result = TableComparison(table=table, status="compared", base_rows=base.get("rows"), head_rows=head.get("rows"))
    b_cols, h_cols = base.get("columns") or {}, head.get("columns") or {}
    result.added_columns = [c for c in h_cols if c not in b_cols]
    result.removed_columns = [c for c in b_cols if c not in h_cols]
    for column in result.removed_columns:
        findings.append(DataFinding("fail", table, column, "schema", f"{table}: column '{column}' was removed"))
    for column, entry in h_cols.items():
        if column in b_cols and b_cols[column].get("dtype") != entry.get("dtype"):
            change = (column, str(b_cols[column].get("dtype")), str(entry.get("dtype")))
            result.dtype_changes.append(change)
            findings.append(
                DataFinding(
                    "fail",
                    table,
                    column,
                    "schema",
                    f"{table}: column '{column}' changed dtype {change[1]} → {change[2]}",
                )
            )
    base_rows, head_rows = int(base.get("rows") or 0), int(head.get("rows") or 0)
    if limits.row_change is not None and base_rows:
        row_change = (head_rows - base_rows) / base_rows
        if abs(row_change) > limits.row_change:
            findings.append(
                DataFinding(
                    "warn",
                    table,
                    None,
                    "rows",
                    f"{table}: row count {base_rows:,} → {head_rows:,} ({row_change:+.1%}, limit ±{limits.row_change:.0%})",
                )
            )
    if head_rows == 0:
        findings.append(DataFinding("fail", table, None, "rows", f"{table}: the table has 0 rows"))
    for note in head.get("notes") or []:
        result.notes.append(f"head: {note}")
    columns = []
    for column, entry in h_cols.items():
        if column not in b_cols:
            continue
        drift = _column_drift(column, b_cols[column], entry, base_rows, head_rows, limits)
        columns.append(drift)
        if drift.null_jump >= limits.null_rate_jump and drift.null_jump > 0:
            findings.append(
                DataFinding(
                    "fail",
                    table,
                    column,
                    "nulls",
                    f"{table}: column '{column}' nulls {drift.base_null:.1%} → {drift.head_null:.1%} "
                    f"(rise ≥ {limits.null_rate_jump:.1%})",
                    drift.null_jump,
                )
            )
        if drift.severity in ("fail", "warn"):
            limit = limits.psi_fail if drift.severity == "fail" else limits.psi_warn
            findings.append(
                DataFinding(
                    drift.severity,
                    table,
                    column,
                    "drift",
                    f"{table}: column '{column}' drifted, PSI {drift.psi:.3f} ≥ {limit:g}",
                    drift.psi,
                )
            )
    columns.sort(key=lambda c: (SEVERITY_ORDER[c.severity], -(c.psi or 0.0), -abs(c.null_jump), c.column))
    result.columns = columns
    return result


def compare_profiles(
    base: dict[str, dict] | None, head: dict[str, dict], thresholds: DriftThresholds | None = None
) -> DataComparison:
    """Compare two `data_profile` mappings (table path -> profile)."""
    limits = thresholds or DriftThresholds()
    findings: list[DataFinding] = []
    tables: list[TableComparison] = []
    notes: list[str] = []
    if base is None:
        notes.append(
            "the base run has no data profile (recorded before data.tables was set): showing the head's tables only"
        )
        base = {}
    for table in sorted(set(base) | set(head)):
        b, h = base.get(table), head.get(table)
        if h is None:
            tables.append(TableComparison(table, "removed", (b or {}).get("rows"), None))
            findings.append(DataFinding("fail", table, None, "table", f"{table}: table no longer profiled in head"))
        elif h.get("error"):
            tables.append(TableComparison(table, "error", (b or {}).get("rows"), None, notes=[h["error"]]))
            findings.append(DataFinding("fail", table, None, "profile", h["error"]))
        elif b is None or b.get("error"):
            entry = TableComparison(table, "added", None, h.get("rows"), added_columns=list(h.get("columns") or {}))
            entry.notes += [f"head: {n}" for n in h.get("notes") or []]
            if b is not None:
                entry.notes.append(f"base could not be profiled: {b['error']}")
            tables.append(entry)
        else:
            tables.append(_compare_table(table, b, h, limits, findings))
    findings.sort(
        key=lambda f: (
            SEVERITY_ORDER[f.severity],
            _CHECK_ORDER.index(f.check),
            -(f.value or 0.0),
            f.table,
            f.column or "",
        )
    )
    return DataComparison(tables=tables, findings=findings, thresholds=limits, notes=notes)
