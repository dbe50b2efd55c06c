"""The report's first screen answers "may it merge, and why": a regressed PR and a PR that changes the test set.

(The demo PR's first screen is asserted in test_demo.py, on the demo's one shared run.)
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from mlci import run
from mlci.report import builder
from mlci.report import markdown as md
from tests.helpers import commit_all, git, invoke, pr_branch
from tests.test_report import RESAMPLES


def _blocks(result: builder.ReportResult) -> list[str]:
    return result.markdown.read_text().split("\n\n")


def _outside_details(text: str) -> str:
    return re.sub(r"<details>.*?</details>", "", text, flags=re.DOTALL)


# --- a regressed PR (3 trees instead of 60; the fixture is test_report.py's) -----------------------

@pytest.fixture(scope="module")
def regressed(regressed_pr: Path, tmp_path_factory: pytest.TempPathFactory) -> builder.ReportResult:
    return builder.build(regressed_pr, base_ref="main", out_dir=tmp_path_factory.mktemp("first"), resamples=RESAMPLES)


from tests.test_report import regressed_pr  # noqa: E402,F401 - the module-scoped fixture, shared


def test_regressed_first_line_names_each_failing_goal_with_its_numbers(regressed: builder.ReportResult):
    first = _blocks(regressed)[0]
    failures = regressed.gate.failures
    assert first.startswith(f"❌ **mlci: gate failed: {len(failures)} goal(s) not met** — ")
    auc = next(f for f in failures if f.metric == "auc" and f.kind == "regression")
    assert auc.message.startswith("auc dropped ") and ", CI [" in auc.message
    assert md.text(auc.message) in first


def test_regressed_second_line_lists_params_and_no_evaluation_caveat(regressed: builder.ReportResult):
    second = _blocks(regressed)[1]
    assert second.startswith("**What changed:** params: train.n_estimators `60` → `3`, train.num_leaves `15` → `4`")
    assert "Evaluation set changed" not in regressed.markdown.read_text()
    assert "paired bootstrap (same rows, same evaluation data)" in regressed.markdown.read_text()


def test_regressed_metric_table_comes_right_after_the_two_lines(regressed: builder.ReportResult):
    blocks = _blocks(regressed)
    assert blocks[2] == "## Metrics"
    table = blocks[3].splitlines()
    assert table[0] == "| metric | base | head | Δ | Δ % | 95 % CI of Δ | verdict |"
    assert table[2].startswith("| ") and "**▼ regressed (significant)**" in table[2]


def test_regressed_details_are_folded(regressed: builder.ReportResult):
    text = regressed.markdown.read_text()
    outside = _outside_details(text)
    assert "<summary>" in text and "gate finding(s)</summary>" in text
    assert "- ❌ " not in outside  # the findings are in the first line; their list is folded
    assert "No code or data input changed (1 output(s) of earlier stages differ, as expected)." in outside


def test_base_stage_times_come_from_the_run_that_executed_them(regressed: builder.ReportResult,
                                                                _trained_example: Path):
    """The base record is a no-op run (every stage skipped); its times come from the training run."""
    base = regressed.comparison.base_record
    assert base is not None and {s.status for s in base.stages} == {"skipped"}
    trained_at = git(_trained_example, "rev-parse", "main~1")  # the run that trained is recorded there
    rows = [line for line in regressed.markdown.read_text().split("## Run facts")[1].splitlines()
            if line.startswith("| prepare ") or line.startswith("| train ") or line.startswith("| evaluate ")]
    assert len(rows) == 3
    for row in rows:
        base_cell = row.split(" | ")[1]
        assert re.fullmatch(rf"\d+\.\d s \(ran, at `{trained_at[:12]}`\)", base_cell), row
    assert "skipped" not in regressed.markdown.read_text().split("## Run facts")[1].split("<sub>")[0]


def test_mlci_report_prints_the_verdict_each_failure_and_both_paths(regressed_pr: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(regressed_pr, root, symlinks=True)
    result = invoke(root, "report", "--base", "main")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("❌ gate failed: ")
    assert any(line.startswith("  ✗ auc dropped ") and ", CI [" in line for line in lines)
    assert any(line.startswith("  ▼ regressed  auc: ") and "95 % CI [" in line for line in lines)
    assert any(line.startswith("report:  ") and line.endswith("mlci-report/report.md") for line in lines)
    assert any(line.startswith("html:    ") and line.endswith("mlci-report/report.html") for line in lines)


def test_a_report_from_a_dirty_tree_warns_before_the_reproduce_line(regressed_pr: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(regressed_pr, root, symlinks=True)
    (root / "src" / "train.py").write_text((root / "src" / "train.py").read_text() + "\n# local edit\n")
    text = builder.build(root, base_ref="main", out_dir=tmp_path / "out", resamples=20, plots=False
                         ).markdown.read_text()
    reproduce = text.split("## Reproduce")[1]
    assert reproduce.index("uncommitted changes") < reproduce.index("mlci reproduce ")
    assert "will not give these numbers" in reproduce


# --- a PR that changes the test set (another split: other rows) --------------------------------------

@pytest.fixture(scope="module")
def new_test_set(_trained_example: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, builder.ReportResult]:
    root = pr_branch(_trained_example, tmp_path_factory.mktemp("split") / "repo", "pr/resplit",
                     {"data.split_seed": 8}, "Another train/test split")
    run.run(root)
    commit_all(root, "Retrain on the new split")
    return root, builder.build(root, base_ref="main", out_dir=root.parent / "report", resamples=RESAMPLES)


def test_changed_test_set_is_said_in_the_first_screen(new_test_set, _trained_example: Path):
    root, result = new_test_set
    blocks = _blocks(result)
    base_rows = len(pd.read_parquet(_trained_example / "data" / "test.parquet"))
    head_rows = len(pd.read_parquet(root / "data" / "test.parquet"))
    assert base_rows != head_rows
    assert blocks[0].startswith(result.gate.mark + " **mlci: ")
    assert blocks[1].startswith("**What changed:** params: data.split_seed `7` → `8`")
    assert f"data/test.parquet changed, {base_rows:,} rows → {head_rows:,} rows" in blocks[1]
    assert blocks[1].endswith("**Evaluation set changed: deltas are not paired.**")
    assert blocks[2] == "## Metrics" and "95 % CI of each side" in blocks[3].splitlines()[0]


def test_changed_test_set_gets_no_paired_ci(new_test_set):
    _root, result = new_test_set
    data = json.loads(result.json.read_text())
    sig = data["models"]["churn"]["significance"]
    assert sig["paired"] is False
    assert all(m["ci_low"] is None and m["base_ci"] and m["head_ci"] for m in sig["metrics"].values())
    assert data["summary"]["evaluation_changed"] == ["data/test.parquet"]
    text = result.markdown.read_text()
    assert "paired bootstrap" not in text and "(significant)" not in text
    assert "- data: data/test.parquet changed" in text and "(evaluation set: deltas not paired)" in text
