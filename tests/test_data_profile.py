"""Table profiles: what each column looks like, and bad files named in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlci.analysis.profile import profile_file, profile_tables
from mlci.errors import DataError
from tests.helpers import invoke


def _frame(rows: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(0, 1, rows),
            "n": rng.integers(0, 5, rows),
            "city": rng.choice(["berlin", "paris", "rome"], rows, p=[0.5, 0.3, 0.2]),
        }
    )


def test_numeric_column_has_quantile_edges_and_exact_cdf(tmp_path: Path):
    path = tmp_path / "t.parquet"
    _frame().to_parquet(path)
    col = profile_file(path)["columns"]["x"]
    assert col["kind"] == "numeric" and col["dtype"] == "double"
    assert len(col["edges"]) == 21 and col["edges"] == sorted(col["edges"])
    assert col["cdf"][-1] == 1.0 and col["cdf"][10] == pytest.approx(0.5, abs=0.002)
    assert col["distinct"] == 1000 and col["nulls"] == 0


def test_low_cardinality_numbers_keep_every_value_with_its_count(tmp_path: Path):
    path = tmp_path / "t.parquet"
    frame = _frame()
    frame.to_parquet(path)
    col = profile_file(path)["columns"]["n"]
    assert col["distinct"] == 5 and col["top_complete"] is True
    assert dict((v, c) for v, c in col["top"]) == frame["n"].value_counts().to_dict()


def test_text_column_lists_top_categories_most_frequent_first(tmp_path: Path):
    path = tmp_path / "t.csv"
    _frame().to_csv(path, index=False)
    profile = profile_file(path)
    col = profile["columns"]["city"]
    assert profile["format"] == "csv" and col["kind"] == "categorical" and col["dtype"] == "string"
    assert [v for v, _c in col["top"]] == ["berlin", "paris", "rome"]


def test_nan_counts_as_null(tmp_path: Path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"x": [1.0, np.nan, 3.0, np.nan]}).to_parquet(path)
    col = profile_file(path)["columns"]["x"]
    assert col["nulls"] == 2 and col["null_fraction"] == 0.5


def test_all_null_column_is_noted_not_an_error(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,\n2,\n")
    col = profile_file(path)["columns"]["b"]
    assert col["null_fraction"] == 1.0 and "all values are null" in col["notes"]


def test_single_row_table_is_profiled_with_a_note(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,x\n")
    profile = profile_file(path)
    assert profile["rows"] == 1 and profile["columns"]["a"]["min"] == 1
    assert any("single row" in n for n in profile["notes"])


def test_zero_row_table_keeps_its_schema(tmp_path: Path):
    path = tmp_path / "t.parquet"
    _frame().iloc[:0].to_parquet(path)
    profile = profile_file(path)
    assert profile["rows"] == 0 and set(profile["columns"]) == {"x", "n", "city"}
    assert any("0 rows" in n for n in profile["notes"])


def test_mixed_types_in_a_column_are_read_as_text_with_a_note(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("v\n" + "\n".join(["1", "2", "3", "oops", "5"]) + "\n")
    col = profile_file(path)["columns"]["v"]
    assert col["dtype"] == "string"
    assert any("mixed types" in n for n in col["notes"])


def test_unknown_format_names_the_file_and_the_formats(tmp_path: Path):
    path = tmp_path / "t.xlsx"
    path.write_bytes(b"PK")
    with pytest.raises(DataError, match=r"t\.xlsx: unknown table format '\.xlsx'.*\.parquet"):
        profile_file(path)


def test_corrupt_parquet_is_one_clear_line(tmp_path: Path):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match=r"t\.parquet: cannot read as parquet") as info:
        profile_file(path)
    assert "\n" not in info.value.message


def test_empty_csv_file_says_it_is_empty(tmp_path: Path):
    path = tmp_path / "t.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty"):
        profile_file(path)


def test_unreadable_declared_table_becomes_an_error_entry(tmp_path: Path):
    (tmp_path / "bad.csv").write_text("")
    profiles = profile_tables(tmp_path, ["missing.parquet", "bad.csv"])
    assert "no such file" in profiles["missing.parquet"]["error"]
    assert "empty" in profiles["bad.csv"]["error"]


def test_profile_is_deterministic_and_json_ready(tmp_path: Path):
    path = tmp_path / "t.parquet"
    _frame().to_parquet(path)
    assert json.dumps(profile_file(path), sort_keys=True) == json.dumps(profile_file(path, threads=1), sort_keys=True)


def test_cli_profile_prints_a_table_and_json(git_repo: Path):
    _frame().to_parquet(git_repo / "t.parquet")
    human = invoke(git_repo, "data", "profile", "t.parquet")
    assert human.exit_code == 0 and "1,000 rows, 3 columns" in human.output and "berlin" in human.output
    as_json = invoke(git_repo, "data", "profile", "t.parquet", "--json")
    assert json.loads(as_json.stdout)["columns"]["x"]["kind"] == "numeric"


def test_cli_profile_of_a_missing_file_exits_5(git_repo: Path):
    result = invoke(git_repo, "data", "profile", "nope.parquet")
    assert result.exit_code == 5 and "nope.parquet: no such file" in result.output


def test_datetimes_are_profiled_in_seconds_with_readable_bounds(tmp_path: Path):
    path = tmp_path / "t.parquet"
    pd.DataFrame({"when": pd.date_range("2024-01-01", periods=48, freq="h")}).to_parquet(path)
    col = profile_file(path)["columns"]["when"]
    assert col["kind"] == "datetime" and col["min_time"] == "2024-01-01T00:00:00Z"
    assert col["max_time"] == "2024-01-02T23:00:00Z" and col["max"] - col["min"] == 47 * 3600


def test_unsupported_column_types_are_noted(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"tags": [[1, 2], [3]]}), path)
    col = profile_file(path)["columns"]["tags"]
    assert col["kind"] == "other" and "not profiled" in col["notes"][0]


def test_many_categories_keep_the_exact_top_20_ties_broken_by_value(tmp_path: Path):
    import collections

    rng = np.random.default_rng(3)
    values = [f"c{int(x)}" for x in rng.zipf(1.3, 20000)]
    path = tmp_path / "t.parquet"
    pd.DataFrame({"c": values}).to_parquet(path)
    col = profile_file(path)["columns"]["c"]
    expected = sorted(collections.Counter(values).items(), key=lambda kv: (-kv[1], kv[0]))[:20]
    assert col["top"] == [list(e) for e in expected]
    assert col["distinct"] == len(set(values)) and col["top_complete"] is False
