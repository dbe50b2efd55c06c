"""`data.expectations` in mlci.yaml: what a table must look like before a model trains on it.

The rules (their format: `mlci.model.data_rules`) are parsed once, with the rest of mlci.yaml (`mlci.model.data_rules`); checking
returns one `Violation` per broken rule, each a single line naming the file and the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci.errors import DataError
from mlci.model.data_rules import ColumnRule, TableRule
from mlci.store import repopath


@dataclass(frozen=True)
class Violation:
    table: str
    column: str | None
    rule: str
    message: str  # one line, names the file and the column

    def __str__(self) -> str:
        return self.message


def _dtype_matches(expected: str, dtype) -> bool:
    import pyarrow as pa

    from mlci.analysis.profile import dtype_name

    value_type = dtype.value_type if pa.types.is_dictionary(dtype) else dtype
    family = {
        "integer": pa.types.is_integer(dtype),
        "float": pa.types.is_floating(dtype),
        "numeric": pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype),
        "string": pa.types.is_string(value_type) or pa.types.is_large_string(value_type),
        "category": pa.types.is_dictionary(dtype),
        "boolean": pa.types.is_boolean(dtype),
        "datetime": pa.types.is_timestamp(dtype) or pa.types.is_date(dtype),
    }
    if expected in family:
        return family[expected]
    return expected in (dtype_name(dtype), str(dtype))


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else f"{value:g}" if isinstance(value, float) else str(value)


def _check_column(rule: ColumnRule, table: str, column, rows: int) -> list[Violation]:
    import pyarrow as pa
    import pyarrow.compute as pc

    out: list[Violation] = []
    where = f"{table}: column '{rule.name}'"

    def add(kind: str, message: str) -> None:
        out.append(Violation(table, rule.name, kind, f"{where} {message}"))

    from mlci.analysis.profile import dtype_name

    if rule.dtype is not None and not _dtype_matches(rule.dtype, column.type):
        add("dtype", f"is {dtype_name(column.type)}, expected {rule.dtype}")
        return out  # value checks on the wrong type would only repeat the problem
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    nulls = column.null_count
    if pa.types.is_floating(column.type):
        nulls += pc.sum(pc.is_nan(column)).as_py() or 0
    if rule.max_null_fraction is not None and rows:
        if nulls / rows > rule.max_null_fraction:
            add(
                "max_null_fraction",
                f"is {nulls / rows:.2%} null ({nulls:,} of {rows:,} rows), "
                f"allowed at most {rule.max_null_fraction:.2%} (max_null_fraction)",
            )
    numeric = pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_decimal(column.type)
    if (rule.min is not None or rule.max is not None) and not numeric:
        add("dtype", f"is {dtype_name(column.type)}, but min/max need numbers")
    elif numeric:
        if rule.min is not None:
            below = pc.sum(pc.less(column, rule.min)).as_py() or 0
            if below:
                low = pc.min(column).as_py()
                add("min", f"has {below:,} value(s) below min {_show(rule.min)} (lowest {_show(low)})")
        if rule.max is not None:
            above = pc.sum(pc.greater(column, rule.max)).as_py() or 0
            if above:
                high = pc.max(column).as_py()
                add("max", f"has {above:,} value(s) above max {_show(rule.max)} (highest {_show(high)})")
    if rule.values is not None:
        try:
            allowed = pa.array(list(rule.values)).cast(column.type)
            outside = pc.invert(pc.is_in(column.drop_null(), value_set=allowed))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            add("values", f"({dtype_name(column.type)}) cannot hold the listed values {list(rule.values)}")
        else:
            bad = pc.sum(outside).as_py() or 0
            if bad:
                example = column.drop_null().filter(outside)[0].as_py()
                add("values", f"has {bad:,} value(s) outside values {list(rule.values)} (e.g. {_show(example)})")
    if rule.unique:
        distinct = pc.count_distinct(column, mode="only_valid").as_py()
        valid = len(column) - column.null_count
        if distinct < valid:
            add("unique", f"has {valid - distinct:,} duplicate value(s), expected unique")
    return out


def check_table(rule: TableRule, table) -> list[Violation]:
    """Every violation of `rule` by a pyarrow Table."""
    out: list[Violation] = []
    rows = table.num_rows
    name = rule.table
    if rule.min_rows is not None and rows < rule.min_rows:
        out.append(
            Violation(
                name, None, "min_rows", f"{name}: has {rows:,} row(s), expected at least {rule.min_rows:,} (min_rows)"
            )
        )
    if rule.max_rows is not None and rows > rule.max_rows:
        out.append(
            Violation(
                name, None, "max_rows", f"{name}: has {rows:,} rows, expected at most {rule.max_rows:,} (max_rows)"
            )
        )
    present = table.column_names
    for col in rule.columns:
        if col.name not in present:
            if col.required:
                shown = ", ".join(present[:8]) + (" …" if len(present) > 8 else "")
                out.append(
                    Violation(
                        name,
                        col.name,
                        "required",
                        f"{name}: required column '{col.name}' is missing (has: {shown or 'no columns'})",
                    )
                )
            continue
        out.extend(_check_column(col, name, table.column(present.index(col.name)), rows))
    if not rule.extra_columns:
        listed = {c.name for c in rule.columns}
        for extra in present:
            if extra not in listed:
                out.append(
                    Violation(
                        name, extra, "extra_columns", f"{name}: unexpected column '{extra}' (extra_columns: false)"
                    )
                )
    return out


def check_file(root: Path, rule: TableRule) -> list[Violation]:
    """Read the file and check it; an unreadable file is itself one violation."""
    from mlci.analysis.profile import read_table

    try:
        repopath.check_tree(root, rule.table, rule.table, DataError)  # a link out, or a FIFO that would block
        table = read_table(root / rule.table, rule.table)
    except DataError as exc:
        return [Violation(rule.table, None, "read", exc.message)]
    return check_table(rule, table)


def raise_for(violations: list[Violation], when: str) -> None:
    """Stop with one line per violation (the first in the message, all in the details)."""
    if not violations:
        return
    count = f"{len(violations)} data expectation(s) failed {when}"
    raise DataError(
        f"{count}: {violations[0].message}; fix the data or data.expectations in mlci.yaml",
        details="\n".join(v.message for v in violations),
    )
