"""A compact, JSON-ready profile of a table: enough to spot schema changes, null jumps and drift.

Per column: dtype, nulls, distinct count, numeric quantile edges with the exact CDF at each
edge (so a base and a head profile can be re-binned onto the same bins for PSI without the
raw data), and top categories. Distinct counts are exact: the sort (numbers) or hash table
(strings) that quantiles and top categories need already yields them at no extra cost.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from pathlib import Path
from typing import Any

from mlci.errors import DataError
from mlci.store import repopath

PROFILE_VERSION = 1
N_EDGES = 21  # ventiles: p0, p5, …, p100
TOP_K = 20  # categories (or distinct numbers) kept per column
FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv", ".gz": "csv"}
_NUMERIC_TEXT = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


def table_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if path.is_dir():
        return "parquet"  # a parquet dataset directory
    if suffixes[-2:] in ([".csv", ".gz"], [".tsv", ".gz"]):
        return suffixes[-2][1:]
    fmt = FORMATS.get(suffixes[-1] if suffixes else "")
    if fmt is None or (fmt == "csv" and suffixes[-1] == ".gz"):
        raise DataError(
            f"{path}: unknown table format '{''.join(path.suffixes) or 'no extension'}'; "
            "mlci reads .parquet/.pq, .csv, .tsv (optionally .gz): convert the file or rename it"
        )
    return fmt


def read_table(path: Path | str, display: str | None = None):
    """The file as a pyarrow Table; any failure is one DataError naming the file."""
    import pyarrow as pa

    path = Path(path)
    shown = display or str(path)
    if not path.exists():
        raise DataError(f"{shown}: no such file; run the stage that writes it or fix the path in mlci.yaml")
    if not (path.is_file() or path.is_dir()):  # os.stat: a FIFO or device is never opened (it would block)
        raise DataError(f"{shown} is not a regular file (a pipe, socket or device); make it a plain file")
    fmt = table_format(path)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        import pyarrow.csv as pacsv

        parse = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
        return pacsv.read_csv(path, parse_options=parse)
    except (pa.ArrowInvalid, pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "empty" in reason.lower() and fmt != "parquet":
            raise DataError(f"{shown}: the file is empty (no header row); write at least the column names") from exc
        raise DataError(
            f"{shown}: cannot read as {fmt} ({reason[:200]}); check the file is a valid {fmt} table"
        ) from exc


def _round(value: float, digits: int = 7) -> float | None:
    value = float(value)
    if not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def _iso(seconds: float) -> str:
    from datetime import datetime

    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _kind(dtype) -> str:
    import pyarrow as pa

    if pa.types.is_null(dtype):
        return "null"
    if pa.types.is_boolean(dtype):
        return "boolean"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return "numeric"
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        return "datetime"
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_dictionary(dtype):
        return "categorical"
    return "other"


def dtype_name(dtype) -> str:
    """A stable, readable dtype: `int64`, `float`, `string`, `category<string>`, …"""
    import pyarrow as pa

    if pa.types.is_dictionary(dtype):
        return f"category<{dtype.value_type}>"
    if pa.types.is_large_string(dtype):
        return "string"
    return str(dtype)


def _top(values: list, counts: list, total: int) -> tuple[list[list], bool]:
    order = sorted(range(len(values)), key=lambda i: (-counts[i], str(values[i])))
    return [[values[i], int(counts[i])] for i in order[:TOP_K]], len(values) <= TOP_K


def _numeric(column, kind: str) -> dict[str, Any]:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    digits = 7
    if kind == "datetime":  # as float seconds since the epoch, to the second
        column = column.cast(pa.timestamp("us")) if pa.types.is_date(column.type) else column
        column = pc.divide(pc.cast(pc.cast(column, pa.int64(), safe=False), pa.float64()), 1e6)
        digits = 12
    elif pa.types.is_decimal(column.type):
        column = column.cast(pa.float64())
    values = column.drop_null().to_numpy() if column.null_count else column.to_numpy()
    out: dict[str, Any] = {}
    extra_nulls = 0
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        if not finite.all():
            nan = int(np.isnan(values).sum())
            inf = int(len(values) - finite.sum() - nan)
            extra_nulls = nan
            if inf:
                out.setdefault("notes", []).append(f"{inf} infinite value(s), left out of quantiles")
            values = values[finite]
    n = len(values)
    out["extra_nulls"] = extra_nulls
    if n == 0:
        return out
    ordered = np.sort(values, kind="quicksort")
    changes = np.flatnonzero(ordered[1:] != ordered[:-1])
    out["distinct"] = int(len(changes) + 1)
    positions = np.round(np.linspace(0, n - 1, N_EDGES)).astype(np.int64)
    edges = ordered[positions]
    cdf = np.searchsorted(ordered, edges, side="right") / n
    as_float = ordered.astype(np.float64, copy=False) if ordered.dtype.kind != "f" else ordered
    out.update(
        min=_round(ordered[0], digits),
        max=_round(ordered[-1], digits),
        mean=_round(np.mean(as_float, dtype=np.float64), digits),
        std=_round(np.std(as_float, dtype=np.float64), digits),
        edges=[_round(e, digits) for e in edges],
        cdf=[_round(c) for c in cdf],
    )
    if kind == "datetime":
        out.update(min_time=_iso(float(ordered[0])), max_time=_iso(float(ordered[-1])))
    if out["distinct"] <= TOP_K:
        starts = np.concatenate(([0], changes + 1))
        counts = np.diff(np.concatenate((starts, [n])))
        uniques = ordered[starts]
        py = [int(u) if ordered.dtype.kind in "iu" else _round(u, digits) for u in uniques.tolist()]
        out["top"], out["top_complete"] = _top(py, counts.tolist(), n)
    return out


def _categorical(column) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if pa.types.is_boolean(column.type):
        column = column.cast(pa.string())
    counted = pc.value_counts(column.drop_null())
    distinct = len(counted)
    counts_array = counted.field("counts")
    if distinct > TOP_K:  # only the top K reach Python: id columns have millions of values
        kth = pc.select_k_unstable(counts_array, k=TOP_K, sort_keys=[("dummy", "descending")])
        threshold = pc.min(pc.take(counts_array, kth)).as_py()
        above = counted.filter(pc.greater(counts_array, threshold))
        tied = counted.filter(pc.equal(counts_array, threshold)).field("values")
        first = pc.select_k_unstable(tied, k=TOP_K - len(above), sort_keys=[("dummy", "ascending")])
        values = above.field("values").to_pylist() + pc.take(tied, first).to_pylist()
        counts = above.field("counts").to_pylist() + [threshold] * len(first)
    else:
        values = counted.field("values").to_pylist()
        counts = counts_array.to_pylist()
    out: dict[str, Any] = {"distinct": distinct}
    out["top"], _ = _top(values, counts, sum(counts))
    out["top_complete"] = distinct <= TOP_K
    if distinct and (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        sample = column.drop_null().slice(0, 100_000)
        if len(sample):
            numeric = pc.sum(pc.match_substring_regex(sample, _NUMERIC_TEXT)).as_py() or 0
            fraction = numeric / len(sample)
            if 0.5 <= fraction < 1:
                out["notes"] = [
                    f"mixed types: {fraction:.0%} of values are numbers, the rest text (e.g. a stray "
                    "'n/a'); the column is read as text"
                ]
    return out


def profile_column(name: str, column, rows: int) -> dict[str, Any]:
    kind = _kind(column.type)
    entry: dict[str, Any] = {"dtype": dtype_name(column.type), "kind": kind}
    nulls = column.null_count
    notes: list[str] = []
    if kind in ("numeric", "datetime"):
        stats = _numeric(column, kind)
        nulls += stats.pop("extra_nulls", 0)
        notes += stats.pop("notes", [])
        entry.update(stats)
    elif kind in ("categorical", "boolean"):
        stats = _categorical(column)
        notes += stats.pop("notes", [])
        entry.update(stats)
    elif kind == "other":
        notes.append(f"type {column.type} is not profiled (only nulls are counted)")
    entry["nulls"] = int(nulls)
    entry["null_fraction"] = _round(nulls / rows) if rows else 0.0
    entry.setdefault("distinct", 0)
    if rows and nulls == rows:
        notes.append("all values are null")
    if notes:
        entry["notes"] = notes
    return entry


def profile_table(table, *, path: str = "", fmt: str = "", threads: int = 2) -> dict[str, Any]:
    """Profile a pyarrow Table; columns are profiled in parallel (numpy sorts release the GIL)."""
    rows = table.num_rows
    names = table.column_names
    notes = []
    if rows == 0:
        notes.append("the table has 0 rows: nothing to profile beyond the schema")
    elif rows == 1:
        notes.append("the table has a single row: quantiles and drift are not meaningful")
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        notes.append(f"duplicate column name(s) {', '.join(dupes)}: only the first of each is profiled")
    unique_names = [n for n in dict.fromkeys(names) if not n.startswith("__index_level_")]  # pandas' saved index
    columns_arrays = [table.column(names.index(n)) for n in unique_names]
    if threads > 1 and len(unique_names) > 1:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            profiles = list(
                pool.map(lambda a: profile_column(a[0], a[1], rows), zip(unique_names, columns_arrays, strict=False))
            )
    else:
        profiles = [profile_column(n, c, rows) for n, c in zip(unique_names, columns_arrays, strict=False)]
    return {
        "version": PROFILE_VERSION,
        "path": path,
        "format": fmt,
        "rows": rows,
        "columns": dict(zip(unique_names, profiles, strict=False)),
        "notes": notes,
    }


def profile_file(path: Path | str, *, display: str | None = None, threads: int = 2) -> dict[str, Any]:
    """Read and profile one CSV/Parquet file; `display` is the name used in messages."""
    path = Path(path)
    shown = display or str(path)
    table = read_table(path, shown)
    return profile_table(table, path=shown, fmt=table_format(path), threads=threads)


def profile_tables(root: Path, tables: list[str]) -> dict[str, dict[str, Any]]:
    """Profiles of the declared tables; an unreadable one becomes an entry with its `error`."""
    result: dict[str, dict[str, Any]] = {}
    for rel in tables:
        try:
            repopath.check_tree(root, rel, rel, DataError)  # a stage may have left a link out, or a FIFO
            result[rel] = profile_file(root / rel, display=rel)
        except DataError as exc:
            result[rel] = {"version": PROFILE_VERSION, "path": rel, "error": exc.message}
    return result
