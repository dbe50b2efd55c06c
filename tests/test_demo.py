"""`mlci demo`: the whole PR loop on the bundled example, offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import git, invoke


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """One real demo run (about 20 s), shared by the tests that read what it left behind.

    The shell's first `python` is a bare venv without pandas or LightGBM (a user whose mlci
    lives in its own venv): the demo's stages must still run with mlci's own interpreter."""
    target = tmp_path_factory.mktemp("demo") / "demo"
    bare = tmp_path_factory.mktemp("bare") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", os.pathsep.join([str(bare / "bin"), os.environ.get("PATH", "")]))
        mp.setenv("VIRTUAL_ENV", str(bare))
        return invoke(target.parent, "demo", "--dir", str(target), "--json"), target


def test_demo_runs_the_pr_loop_and_writes_a_report(demo_run):
    result, target = demo_run
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    comparison = data["comparison"]
    assert comparison["base"]["source"] == "record"
    assert comparison["base"]["commit"] == git(target, "rev-parse", "main")
    assert {p["name"] for p in comparison["params"]} >= {"train.num_leaves", "train.n_estimators", "data.shift"}
    assert all(m["base"] is not None and m["head"] is not None for m in comparison["metrics"])
    assert Path(data["report"]).is_file()
    assert git(target, "rev-parse", "--abbrev-ref", "HEAD") == "pr/tune-model"
    assert "main: recording the baseline" in result.stderr
    assert "stage train unchanged, skipped" in result.stderr
    assert result.stderr.count("stage prepare unchanged, skipped") == 1  # checked early for data, said once


def test_demo_report_has_significance_data_checks_and_html(demo_run):
    result, _target = demo_run
    report = Path(json.loads(result.stdout)["report"])
    text = report.read_text()
    assert "two-sample bootstrap (evaluation data changed" in text  # the demo shifts test data
    assert "paired bootstrap" not in text
    assert "### Data checks" in text and "PSI" in text
    assert (report.parent / "report.html").is_file()


def test_demo_gates_the_pr_and_promotes_its_model_to_staging(demo_run):
    from mlci.store import baseline, gitrepo

    result, target = demo_run
    data = json.loads(result.stdout)
    repo = gitrepo.open_repo(target)
    head = baseline.latest(repo, gitrepo.head_commit(repo))
    assert head.gate is not None and head.gate["passed"] is True
    assert any(tag.startswith("churn#staging#") for tag in git(target, "tag", "--list").splitlines())
    assert Path(data["artifacts"]["model"]).read_bytes() == (target / "models" / "model.txt").read_bytes()


def test_demo_refuses_a_non_empty_directory(tmp_path: Path):
    (tmp_path / "keep.txt").write_text("precious")
    result = invoke(tmp_path, "demo", "--dir", str(tmp_path))
    assert result.exit_code == 2
    assert "is not empty; pass a new or empty --dir" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def _demo_report(demo_run) -> tuple[str, dict]:
    result, _target = demo_run
    report = Path(json.loads(result.stdout)["report"])
    return report.read_text(), json.loads((report.parent / "report.json").read_text())


def test_demo_first_line_is_the_verdict_with_each_warning_and_its_number(demo_run):
    from mlci.report import markdown as md

    text, data = _demo_report(demo_run)
    first = text.splitlines()[0]
    warnings = [f["message"] for f in data["gate"]["findings"] if f["level"] == "warning"]
    assert first.startswith(f"⚠️ **mlci: gate passed with {len(warnings)} warning(s)** — ")
    assert warnings and all(md.text(w) in first for w in warnings)
    assert all("PSI 0." in w for w in warnings)  # the number that triggered each warning


def test_demo_second_line_says_what_changed_and_that_deltas_are_not_paired(demo_run):
    text, _data = _demo_report(demo_run)
    second = text.split("\n\n")[1]
    assert second.startswith("**What changed:** params: data.shift `0.0` → `1.0`")
    assert "data/test.parquet changed, 2,500 rows → 2,500 rows" in second
    assert second.endswith("**Evaluation set changed: deltas are not paired (two-sample bootstrap).**")
    third = text.split("\n\n")[2:4]
    assert third[0] == "## Metrics" and third[1].startswith("| metric | base | head | Δ | Δ % | 95 % CI of Δ |")


def test_demo_folds_hashes_models_and_stable_columns(demo_run):
    text, _data = _demo_report(demo_run)
    outside = re.sub(r"<details>.*?</details>", "", text, flags=re.DOTALL)
    assert "models/model.txt" in text and "models/model.txt" not in outside  # a model is not an input
    assert "f3ee4" not in outside and not re.search(r"`[0-9a-f]{32}`", outside)  # no hash on the page
    data_checks = text.split("### Data checks", 1)[1].split("\n## ", 1)[0]
    assert "| `f00` |" not in data_checks  # a stable column is not a table row…
    assert "column(s) stable, PSI ≤ 0.0" in text  # …but one line, folded


def test_demo_prints_the_first_screen_in_the_terminal(tmp_path_factory: pytest.TempPathFactory):
    target = tmp_path_factory.mktemp("demo-human") / "demo"
    result = invoke(target.parent, "demo", "--dir", str(target))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    verdict = lines.index("⚠️ gate passed with 2 warning(s)")
    assert lines[verdict + 1].startswith("  ⚠ data/test.parquet: column 'f03' drifted, PSI 0.1")
    assert "  ⚠ evaluation set changed: deltas are not paired (two-sample bootstrap)" in lines
    # the same words as the report, from the two-sample interval: auc's CI of Δ includes 0
    assert any(re.match(r"  ≈ no significant change +auc: ", line) and "95 % CI [−" in line for line in lines)
    report = (target / "mlci-report" / "report.md").read_text()
    auc_row = next(line for line in report.splitlines() if line.startswith("| auc |"))
    assert auc_row.endswith("| ≈ no significant change |")
    table = [line for line in lines if "│ metrics.json │" in line]  # the comparison table, same words
    assert any(line.startswith(" auc ") and "≈ no significant change" in line for line in table)
    assert f"report:  {target / 'mlci-report' / 'report.md'}" in lines
    assert f"html:    {target / 'mlci-report' / 'report.html'}" in lines


def test_demo_main_has_several_recorded_runs_and_the_report_places_the_pr_among_them(demo_run):
    from mlci.workflows.demo import MAIN_HISTORY

    text, data = _demo_report(demo_run)
    _result, target = demo_run
    recorded = json.loads(invoke(target, "history", "--json").stdout)["runs"]
    assert len(recorded) == len(MAIN_HISTORY) + 2  # the first training, each tuning commit, the baseline
    assert data["history"]["auc"] == [{"commit": r["commit"], "value": r["metrics"]["auc"]} for r in recorded]
    section = text.split("## History of main", 1)[1].split("\n## ", 1)[0]
    assert f"among main's last {len(recorded)} runs" in section
    assert re.search(r"- \*\*auc\*\*: head 0\.\d{4} is (above all of|within) main's last \d runs", section)
    assert "(plots/history-churn.png)" in section


def test_demo_report_shows_the_feature_attributions_of_base_and_head(demo_run):
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

    text, data = _demo_report(demo_run)
    _result, target = demo_run
    churn = data["explanations"]["churn"]
    booster = lgb.Booster(model_file=str(target / "models" / "model.txt"))  # the PR's model, in the workspace
    table = pd.read_parquet(target / "data" / "test.parquet")[booster.feature_name()]
    expected = np.abs(booster.predict(table, pred_contrib=True)[:, :-1]).mean(axis=0)
    assert {e["feature"]: e["value"] for e in churn["head"]} == pytest.approx(
        dict(zip(booster.feature_name(), expected, strict=True))
    )
    assert len(churn["base"]) == len(churn["head"]) == 13  # twelve numeric features and the segment
    assert "## Feature attributions" in text and "(plots/attributions-churn.png)" in text
