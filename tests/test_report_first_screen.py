"""The report's first screen for a PR that changes the test set (another split: other rows).

(The demo PR's first screen is asserted in test_demo.py, the regressed PR's in test_report.py.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from mlci.workflows import report as reporting
from mlci.workflows import run
from tests.helpers import commit_all, pr_branch
from tests.test_report import RESAMPLES


def _blocks(result: reporting.ReportResult) -> list[str]:
    return result.markdown.read_text().split("\n\n")


def _outside_details(text: str) -> str:
    return re.sub(r"<details>.*?</details>", "", text, flags=re.DOTALL)


# --- a PR that changes the test set (another split: other rows) --------------------------------------


@pytest.fixture(scope="module")
def new_test_set(
    _trained_example: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, reporting.ReportResult]:
    root = pr_branch(
        _trained_example,
        tmp_path_factory.mktemp("split") / "repo",
        "pr/resplit",
        {"data.split_seed": 8},
        "Another train/test split",
    )
    run.run(root)
    commit_all(root, "Retrain on the new split")
    return root, reporting.build(root, base_ref="main", out_dir=root.parent / "report", resamples=RESAMPLES)


def test_changed_test_set_is_said_in_the_first_screen(new_test_set, _trained_example: Path):
    root, result = new_test_set
    blocks = _blocks(result)
    base_rows = len(pd.read_parquet(_trained_example / "data" / "test.parquet"))
    head_rows = len(pd.read_parquet(root / "data" / "test.parquet"))
    assert base_rows != head_rows
    assert blocks[0].startswith(result.gate.mark + " **mlci: ")
    assert blocks[1].startswith("**What changed:** params: data.split_seed `7` → `8`")
    assert f"data/test.parquet changed, {base_rows:,} rows → {head_rows:,} rows" in blocks[1]
    assert blocks[1].endswith("**Evaluation set changed: deltas are not paired (two-sample bootstrap).**")
    moved = blocks.pop(2)  # the third line: features whose attribution rank moved by 3 or more
    assert moved.startswith("**Feature attributions moved** (rank by mean \\|SHAP\\|, 3 or more places): ")
    assert blocks[2] == "## Metrics" and "95 % CI of Δ" in blocks[3].splitlines()[0]


def test_changed_test_set_gets_a_two_sample_ci_not_a_paired_one(new_test_set):
    _root, result = new_test_set
    data = json.loads(result.json.read_text())
    sig = data["models"]["churn"]["significance"]
    assert sig["paired"] is False
    assert all(
        m["ci_low"] < m["delta"] < m["ci_high"] and m["base_ci"] and m["head_ci"] for m in sig["metrics"].values()
    )
    assert data["summary"]["evaluation_changed"] == ["data/test.parquet"]
    text = result.markdown.read_text()
    assert "two-sample bootstrap (evaluation data changed" in text and "paired bootstrap (same rows" not in text
    assert "- data: data/test.parquet changed" in text and "(evaluation set: deltas not paired)" in text
