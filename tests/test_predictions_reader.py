"""Predictions CSVs: the numpy reader of plain files gives what the pandas reader gives."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

from mlci.errors import DataError
from mlci.store import predictions

PLAIN = "row_id,label,score\n3,1,0.91\n1,0,0.125\n2,1,0.5\n"


@pytest.mark.parametrize(
    "text",
    [
        PLAIN,
        "score,row_id,label\n0.91,3,1\n0.125,1,0\n0.5,2,1\n",  # another column order
        PLAIN.replace("\n", "\r\n"),  # Windows line ends
        "row_id,label,score\n10.5,1,0.9\n11.5,0,1e-3\n",  # non-integer ids stay floats
    ],
    ids=["plain", "reordered", "crlf", "float-ids"],
)
def test_plain_csv_is_read_by_numpy_as_pandas_reads_it(text):
    import pandas as pd

    assert predictions._plain_csv(text.encode()) is not None
    fast = predictions.parse(text.encode(), "p.csv")
    frame = pd.read_csv(io.StringIO(text))
    np.testing.assert_array_equal(fast.row_id, frame["row_id"].to_numpy())
    assert fast.row_id.dtype == frame["row_id"].to_numpy().dtype
    np.testing.assert_array_equal(fast.label, frame["label"].to_numpy().astype(np.int64))
    np.testing.assert_array_equal(fast.score, frame["score"].to_numpy(dtype=float))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("row_id,label,score\n1,0,\n2,1,0.5\n", "1 row(s) with a missing or non-numeric score"),
        ("row_id,label,score\n1,0,nan\n2,1,0.5\n", "1 row(s) with a missing or non-numeric score"),
        ("row_id,label,score\n1,0,inf\n2,1,0.5\n", "infinite score values"),
        ("row_id,label,score\n1,0,0.1\n1,1,0.5\n", "appears more than once"),
        ("row_id,label,score\n", "0 rows"),
        ("row_id,label\n1,0\n", "missing column(s) score"),
        ("row_id,label,score\n#1,0,0.1\n2,1,0.5\n", None),  # text ids: not a comment line, read by pandas
        ("row_id,label,score\n9007199254740993,0,0.1\n9007199254740992,1,0.5\n", None),  # ids beyond float64
    ],
    ids=["empty-cell", "nan", "inf", "duplicate-id", "no-rows", "missing-column", "hash-id", "huge-ids"],
)
def test_unusual_csv_falls_back_to_the_reader_that_explains(text, message):
    if "duplicate" not in (message or "") and "more than once" not in (message or ""):
        assert predictions._plain_csv(text.encode()) is None  # duplicates: parse() hands them to pandas
    if message is None:
        assert len(predictions.parse(text.encode(), "p.csv")) == 2
        return
    with pytest.raises(DataError, match=re.escape(message)):
        predictions.parse(text.encode(), "p.csv")
