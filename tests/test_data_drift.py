"""Base vs head profiles: schema breaks, null jumps and PSI drift become findings; the
section renders and the plot is byte-for-byte reproducible."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlci.analysis.drift import DriftThresholds, compare_profiles, psi
from mlci.analysis.profile import profile_file
from mlci.errors import ConfigError
from mlci.report.data_section import plot, render_markdown


def _profile(tmp_path: Path, frame: pd.DataFrame, name: str) -> dict:
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path, index=False)
    return {"data/train.parquet": profile_file(path, display="data/train.parquet")}


def _frame(seed: int = 0, shift: float = 0.0, rows: int = 5000, cities=("berlin", "paris", "rome")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1, rows),
            "y": rng.exponential(1, rows),
            "city": rng.choice(list(cities), rows),
        }
    )


def test_psi_is_zero_for_equal_distributions_and_grows_with_the_shift():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert 0 < psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.8, 0.2])


def test_same_distribution_fresh_sample_has_no_findings(tmp_path: Path):
    base = _profile(tmp_path, _frame(seed=1), "base")
    head = _profile(tmp_path, _frame(seed=2), "head")
    comparison = compare_profiles(base, head)
    assert comparison.findings == []
    assert all(c.psi is not None and c.psi < 0.02 for c in comparison.tables[0].columns)


def test_shifted_numeric_column_fails_with_its_psi(tmp_path: Path):
    base = _profile(tmp_path, _frame(seed=1), "base")
    head = _profile(tmp_path, _frame(seed=2, shift=1.0), "head")
    comparison = compare_profiles(base, head)
    x = next(c for c in comparison.tables[0].columns if c.column == "x")
    assert x.severity == "fail" and x.psi > 0.25 and x.method == "bins"
    assert [f.column for f in comparison.findings] == ["x"]
    assert comparison.findings[0].message.startswith("data/train.parquet: column 'x' drifted, PSI")
    assert comparison.failed


def test_small_shift_warns_between_the_thresholds(tmp_path: Path):
    base = _profile(tmp_path, _frame(seed=1), "base")
    head = _profile(tmp_path, _frame(seed=2, shift=0.35), "head")
    finding = compare_profiles(base, head).findings[0]
    assert finding.severity == "warn" and 0.1 <= finding.value < 0.25


def test_new_category_is_drift_over_categories(tmp_path: Path):
    base = _profile(tmp_path, _frame(seed=1), "base")
    head = _profile(tmp_path, _frame(seed=2, cities=("berlin", "paris", "oslo")), "head")
    city = next(c for c in compare_profiles(base, head).tables[0].columns if c.column == "city")
    assert city.method == "categories" and city.severity == "fail"
    assert {"rome", "oslo"} <= set(city.labels)


def test_removed_column_and_dtype_change_are_schema_failures(tmp_path: Path):
    base = _profile(tmp_path, _frame(seed=1), "base")
    changed = _frame(seed=1).drop(columns=["y"]).assign(city=lambda f: f["city"].astype("category"), z=1)
    head = _profile(tmp_path, changed, "head")
    comparison = compare_profiles(base, head)
    table = comparison.tables[0]
    assert table.removed_columns == ["y"] and table.added_columns == ["z"]
    assert table.dtype_changes == [("city", "string", "category<string>")]
    schema = [f.message for f in comparison.findings if f.check == "schema"]
    assert schema == [
        "data/train.parquet: column 'city' changed dtype string → category<string>",
        "data/train.parquet: column 'y' was removed",
    ]


def test_null_rate_jump_beyond_the_threshold_fails(tmp_path: Path):
    base = _profile(tmp_path, _frame(seed=1), "base")
    frame = _frame(seed=1)
    frame.loc[: len(frame) // 10, "y"] = np.nan  # 10 % nulls
    comparison = compare_profiles(base, _profile(tmp_path, frame, "head"))
    nulls = [f for f in comparison.findings if f.check == "nulls"]
    assert len(nulls) == 1 and nulls[0].column == "y" and "0.0% → 10.0%" in nulls[0].message


def test_thresholds_come_from_config_and_are_checked():
    limits = DriftThresholds.from_config({"psi_warn": 0.2, "psi_fail": 0.5, "ignore": ["id"]})
    assert limits.psi_fail == 0.5 and limits.ignore == ("id",)
    with pytest.raises(ConfigError, match="psi_fail"):
        DriftThresholds.from_config({"psi_warn": 0.3, "psi_fail": 0.2})


def test_ignored_columns_are_not_judged(tmp_path: Path):
    base = _profile(tmp_path, _frame(seed=1), "base")
    head = _profile(tmp_path, _frame(seed=2, shift=2.0), "head")
    comparison = compare_profiles(base, head, DriftThresholds(ignore=("x",)))
    assert comparison.findings == []


def test_base_without_profile_shows_head_tables_with_a_note(tmp_path: Path):
    head = _profile(tmp_path, _frame(), "head")
    comparison = compare_profiles(None, head)
    assert comparison.tables[0].status == "added" and comparison.findings == []
    assert "no data profile" in comparison.notes[0]
    assert "new table" in render_markdown(comparison)


def test_unreadable_head_table_is_a_finding_and_the_report_still_renders(tmp_path: Path):
    base = _profile(tmp_path, _frame(), "base")
    head = {"data/train.parquet": {"path": "data/train.parquet", "error": "data/train.parquet: cannot read as parquet"}}
    comparison = compare_profiles(base, head)
    assert comparison.findings[0].check == "profile" and comparison.failed
    assert "unreadable" in render_markdown(comparison)


def test_zero_row_and_single_row_heads_render(tmp_path: Path):
    base = _profile(tmp_path, _frame(), "base")
    for rows in (0, 1):
        comparison = compare_profiles(base, _profile(tmp_path, _frame(rows=rows), f"h{rows}"))
        text = render_markdown(comparison)
        assert f"5,000 → {rows}" in text
    assert any(
        f.message.endswith("has 0 rows")
        for f in compare_profiles(base, _profile(tmp_path, _frame(rows=0), "z")).findings
    )


def test_markdown_lists_findings_worst_first_and_links_the_plot(tmp_path: Path):
    base = _profile(tmp_path, _frame(seed=1), "base")
    head = _profile(tmp_path, _frame(seed=2, shift=1.0).assign(y=lambda f: f["y"] * 1.6), "head")
    text = render_markdown(compare_profiles(base, head), plot="data_drift.png")
    assert text.startswith("### Data\n")
    assert text.index("column 'x' drifted") < text.index("column 'y' drifted")
    assert "![base vs head distribution of the most drifted features](data_drift.png)" in text


def test_plot_is_byte_identical_across_runs_and_has_no_timestamp(tmp_path: Path):
    base = _profile(tmp_path, _frame(seed=1), "base")
    head = _profile(tmp_path, _frame(seed=2, shift=1.0), "head")
    comparison = compare_profiles(base, head)
    first = plot(comparison, tmp_path / "a.png").read_bytes()
    second = plot(comparison, tmp_path / "b.png").read_bytes()
    assert first == second and first.startswith(b"\x89PNG")
    assert b"tIME" not in first and b"Software" not in first


def test_no_plot_when_nothing_drifted_at_all(tmp_path: Path):
    base = _profile(tmp_path, _frame(seed=1), "base")
    assert plot(compare_profiles(base, base), tmp_path / "p.png") is None


def test_data_diff_compares_the_base_record_with_the_tables_on_disk(trained_repo: Path):
    import json

    from tests.helpers import invoke

    clean = invoke(trained_repo, "data", "diff")
    assert clean.exit_code == 0 and "no data findings" in clean.output
    path = trained_repo / "data" / "train.parquet"
    frame = pd.read_parquet(path)
    frame["f01"] = frame["f01"] * 3
    frame.drop(columns=["f02"]).to_parquet(path, index=False)
    result = invoke(trained_repo, "data", "diff", "--json")
    assert result.exit_code == 1
    findings = [f["message"] for f in json.loads(result.stdout)["findings"]]
    assert findings[0] == "data/train.parquet: column 'f02' was removed"
    assert any(m.startswith("data/train.parquet: column 'f01' drifted, PSI") for m in findings)


def test_data_findings_become_gate_findings_that_fail_the_gate(tmp_path: Path):
    from mlci.analysis.gate import GateVerdict
    from mlci.report.data_section import gate_findings

    base = _profile(tmp_path, _frame(seed=1), "base")
    head = _profile(tmp_path, _frame(seed=2, shift=1.0).assign(y=lambda f: f["y"] * 1.6), "head")
    findings = gate_findings(compare_profiles(base, head))
    assert [(f.kind, f.metric, f.passed, f.level) for f in findings] == [
        ("data", "x", False, "error"),
        ("data", "y", True, "warning"),
    ]
    verdict = GateVerdict(passed=True).with_findings(findings)
    assert verdict.status == "fail" and len(verdict.failures) == 1


def test_pr_report_has_a_data_section_and_data_findings_fail_the_gate(trained_repo: Path, tmp_path: Path):
    import json

    from mlci.workflows import report as reporting
    from mlci.workflows import run
    from tests.helpers import commit_all, git, set_param

    git(trained_repo, "checkout", "-q", "-b", "pr/more-noise")
    set_param(trained_repo, "data.noise", 0.1)
    commit_all(trained_repo, "noisier data")
    run.run(trained_repo)
    result = reporting.build(trained_repo, base_ref="main", out_dir=tmp_path / "report", resamples=50)
    text = result.markdown.read_text()
    assert "### Data checks" in text and "drifted, PSI" in text
    assert text.index("## Data and dependencies changed") < text.index("### Data checks") < text.index("## Plots")
    assert "![base vs head distribution of the most drifted features](plots/data_drift.png)" in text
    assert any(p.name == "data_drift.png" for p in result.images)
    data_findings = [f for f in result.gate.findings if f.kind == "data"]
    assert data_findings and not result.gate.passed
    assert json.loads(result.json.read_text())["data"]["failed"] is True
