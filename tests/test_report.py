"""`mlci report`: the full report on real repos, its numbers checked against a reference bootstrap."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlci.analysis import stats
from mlci.integrations.github.limits import fit_comment, fit_summary
from mlci.report import diff_markdown
from mlci.report import format as fmt
from mlci.report import markdown as md
from mlci.workflows import report as reporting
from mlci.workflows import run
from tests.helpers import commit_all, git, invoke, pr_branch
from tests.test_stats import reference_paired_ci

RESAMPLES = 200


@pytest.fixture(scope="module")
def regressed_pr(_trained_example: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example on a PR branch whose model is much weaker (3 trees): run, recorded, committed."""
    root = pr_branch(
        _trained_example,
        tmp_path_factory.mktemp("pr") / "repo",
        "pr/weaker",
        {"train.n_estimators": 3, "train.num_leaves": 4},
        "Fewer trees",
    )
    run.run(root)
    commit_all(root, "Retrain")
    return root


@pytest.fixture(scope="module")
def pr_report(regressed_pr: Path, tmp_path_factory: pytest.TempPathFactory) -> reporting.ReportResult:
    return reporting.build(
        regressed_pr, base_ref="main", out_dir=tmp_path_factory.mktemp("report"), resamples=RESAMPLES
    )


def _predictions(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "eval" / "predictions.csv").sort_values("row_id").reset_index(drop=True)


def test_report_has_every_section_in_order(pr_report: reporting.ReportResult):
    text = pr_report.markdown.read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Metrics",
        "## History of main",
        "## Feature attributions",
        "## Params changed",
        "## Data and dependencies",
        "## Plots",
        "## Run facts",
        "## Reproduce",
    ]  # nothing to note here: no empty Notes section
    first = text.splitlines()[0]
    assert first.startswith("❌ **mlci: gate failed")
    assert f"head `{pr_report.comparison.head_commit[:12]}`" in first
    assert f"base `{pr_report.comparison.base_commit[:12]}`" in first
    assert f"mlci reproduce {pr_report.comparison.head_commit}" in text


def test_notes_come_just_before_the_reproduce_line(regressed_pr: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(regressed_pr, root, symlinks=True)
    text = reporting.build(
        root, base_ref="main", out_dir=tmp_path / "report", resamples=20, plots=False, notes=["a caller's note"]
    ).markdown.read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[-2:] == ["## Notes", "## Reproduce"]
    assert "- a caller's note" in text


def test_ci_numbers_equal_the_reference_bootstrap(
    pr_report: reporting.ReportResult, regressed_pr: Path, _trained_example: Path
):
    base, head = _predictions(_trained_example), _predictions(regressed_pr)  # main's tree holds base's file
    assert (base["row_id"] == head["row_id"]).all()
    label = head["label"].to_numpy()
    expected = reference_paired_ci(
        "binary", label, base["score"].to_numpy(), head["score"].to_numpy(), RESAMPLES, stats.DEFAULT_SEED
    )
    data = json.loads(pr_report.json.read_text())
    got = data["models"]["churn"]["significance"]
    assert got["paired"] is True and got["rows"] == len(label)
    markdown = pr_report.markdown.read_text()
    for name in ("auc", "accuracy", "logloss"):
        low, high = expected[name]
        assert got["metrics"][name]["ci_low"] == pytest.approx(low, abs=1e-9)
        assert got["metrics"][name]["ci_high"] == pytest.approx(high, abs=1e-9)
        assert f"[{fmt.signed(low)}, {fmt.signed(high)}]" in markdown


def test_metric_rows_show_base_head_and_delta_from_the_metrics_files(
    pr_report: reporting.ReportResult, regressed_pr: Path, _trained_example: Path
):
    base = json.loads((_trained_example / "metrics.json").read_text())
    head = json.loads((regressed_pr / "metrics.json").read_text())
    text = pr_report.markdown.read_text()
    for name in ("auc", "logloss"):
        delta = head[name] - base[name]
        row = (
            f"| {name} | {fmt.number(base[name])} | {fmt.number(head[name])} | {fmt.signed(delta)} | "
            f"{fmt.percent(delta / abs(base[name]))} |"
        )
        assert row in text, row


def test_regressions_come_first_bold_and_significant(pr_report: reporting.ReportResult):
    rows = [
        line for line in pr_report.markdown.read_text().splitlines() if line.startswith("| ") and "regressed" in line
    ]
    table = [
        line
        for line in pr_report.markdown.read_text().split("## Metrics")[1].splitlines()
        if line.startswith("| ") and not line.startswith("| metric")
    ]
    assert rows and table[: len(rows)] == rows
    auc_row = next(line for line in rows if line.startswith("| auc "))
    assert "**▼ regressed**" in auc_row and "not tested" not in auc_row


def test_gate_failure_is_in_the_report_and_json(pr_report: reporting.ReportResult):
    data = json.loads(pr_report.json.read_text())
    assert data["gate"]["passed"] is False and data["summary"]["status"] == "fail"
    auc = next(f for f in data["gate"]["findings"] if f["metric"] == "auc" and f["kind"] == "regression")
    assert auc["message"].startswith("auc dropped ") and ", limit 0.01, 95 % CI of Δ [" in auc["message"]
    assert f"- ❌ {md.text(auc['message'])}" in pr_report.markdown.read_text()


def test_params_and_changed_dependencies_are_listed(pr_report: reporting.ReportResult):
    text = pr_report.markdown.read_text()
    assert "| train.n_estimators | params.yaml | `60` | `3` |" in text
    deps = text.split("## Data and dependencies")[1].split("\n## ")[0]
    assert "No code or data input changed (1 output(s) of earlier stages differ" in deps
    assert "models/model.txt" not in deps  # a model is an output, not an input


def test_every_plot_is_written_and_linked_relatively(pr_report: reporting.ReportResult):
    text = pr_report.markdown.read_text()
    names = sorted(p.name for p in pr_report.images)
    assert names == [
        "attributions-churn.png",
        "churn-calibration.png",
        "churn-confusion.png",
        "churn-pr.png",
        "churn-roc.png",
        "feature_importance.png",
        "history-churn.png",
        "training_curve.png",
    ]
    for image in pr_report.images:
        assert f"](plots/{image.name})" in text
        assert image.read_bytes().startswith(b"\x89PNG")


def test_html_is_self_contained(pr_report: reporting.ReportResult):
    page = pr_report.html.read_text()
    assert page.count('src="data:image/png;base64,') == len(pr_report.images)
    assert 'src="plots/' not in page
    assert "<table>" in page and page.startswith("<!DOCTYPE html>")


def test_same_inputs_give_the_same_bytes(regressed_pr: Path, pr_report: reporting.ReportResult, tmp_path: Path):
    again = reporting.build(regressed_pr, base_ref="main", out_dir=tmp_path / "again", resamples=RESAMPLES)
    assert again.markdown.read_text() == pr_report.markdown.read_text()
    for image in pr_report.images:
        assert (tmp_path / "again" / "plots" / image.name).read_bytes() == image.read_bytes(), image.name


def test_mlci_report_cli_writes_into_the_repo_without_dirtying_it(regressed_pr: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(regressed_pr, root, symlinks=True)
    result = invoke(root, "report", "--base", "main")
    assert result.exit_code == 0, result.output
    assert (root / "mlci-report" / "report.md").exists() and (root / "mlci-report" / "report.html").exists()
    assert git(root, "status", "--porcelain") == ""


def test_base_predictions_missing_from_the_cache_skip_significance_not_the_report(regressed_pr: Path, tmp_path: Path):
    import yaml

    root = tmp_path / "repo"
    shutil.copytree(regressed_pr, root, symlinks=True)
    lock = yaml.safe_load(git(root, "show", "main:dvc.lock"))
    md5 = next(o["md5"] for o in lock["stages"]["evaluate"]["outs"] if o["path"] == "eval/predictions.csv")
    (root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]).unlink()
    result = reporting.build(root, base_ref="main", out_dir=tmp_path / "out", resamples=50)
    text = result.markdown.read_text()
    assert "base predictions unavailable: significance skipped" in text
    assert "## Plots" in text and "churn-roc.png" in text  # head-only plots still drawn
    gate_messages = [f.message for f in result.gate.failures]
    assert any(m.startswith("auc dropped") for m in gate_messages)


# --- several models, a regression model, bad inputs: small repos without a pipeline -----------

MULTI_CONFIG = """\
version: 1
models:
  - name: clf
    metrics: [clf/metrics.json]
    predictions: clf/predictions.csv
    task: binary
    goals:
      auc: {min: 0.5}
  - name: reg
    metrics: [reg/metrics.json]
    predictions: reg/predictions.csv
    task: regression
    goals:
      rmse: {direction: lower, max_regression: 0.0001}
"""


def _write_model_files(root: Path, *, clf_shift: float, reg_noise: float, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n = 300
    label = rng.integers(0, 2, n)
    score = np.clip(rng.random(n) * 0.6 + label * 0.3 + clf_shift * (2 * label - 1), 0, 1).round(6)
    (root / "clf").mkdir(exist_ok=True)
    pd.DataFrame({"row_id": np.arange(n), "label": label, "score": score}).to_csv(
        root / "clf/predictions.csv", index=False
    )
    points = stats.point_estimates("binary", label, score)
    (root / "clf/metrics.json").write_text(json.dumps({k: round(v, 6) for k, v in points.items()}))
    truth = np.linspace(0, 10, n)
    rng_reg = np.random.default_rng(42)
    predicted = (truth + rng_reg.normal(0, 1, n) * reg_noise).round(6)
    (root / "reg").mkdir(exist_ok=True)
    pd.DataFrame({"row_id": np.arange(n), "label": truth, "score": predicted}).to_csv(
        root / "reg/predictions.csv", index=False
    )
    reg_points = stats.point_estimates("regression", truth, predicted)
    (root / "reg/metrics.json").write_text(json.dumps({k: round(v, 6) for k, v in reg_points.items()}))


@pytest.fixture
def multi_repo(git_repo: Path) -> Path:
    (git_repo / "mlci.yaml").write_text(MULTI_CONFIG)
    _write_model_files(git_repo, clf_shift=0.0, reg_noise=1.0)
    commit_all(git_repo, "base models")
    git(git_repo, "checkout", "-q", "-b", "pr")
    _write_model_files(git_repo, clf_shift=0.05, reg_noise=1.5)
    commit_all(git_repo, "head models")
    return git_repo


def test_each_model_gets_its_own_section_and_gate(multi_repo: Path, tmp_path: Path):
    result = reporting.build(multi_repo, base_ref="main", out_dir=tmp_path / "out", resamples=100)
    text = result.markdown.read_text()
    clf_mark = result.gate.for_model("clf").mark  # ⚠️: f1/precision/recall directions are guessed
    assert clf_mark in ("✅", "⚠️")
    assert f"### Model `clf` {clf_mark}" in text and "### Model `reg` ❌" in text
    assert text.index("### Model `clf`") < text.index("### Model `reg`")
    assert result.gate.for_model("reg").failures[0].message.startswith("rmse rose ")
    assert result.gate.for_model("clf").passed
    names = sorted(p.name for p in result.images)
    assert "reg-residuals.png" in names and "reg-predicted_vs_actual.png" in names
    assert "reg-roc.png" not in names and "clf-roc.png" in names


def test_regression_model_cis_match_the_reference(multi_repo: Path, tmp_path: Path):
    result = reporting.build(multi_repo, base_ref="main", out_dir=tmp_path / "out", resamples=100)
    head = pd.read_csv(multi_repo / "reg/predictions.csv")
    base = pd.read_csv(pd.io.common.StringIO(git(multi_repo, "show", "main:reg/predictions.csv")))
    expected = reference_paired_ci(
        "regression",
        head["label"].to_numpy(),
        base["score"].to_numpy(),
        head["score"].to_numpy(),
        100,
        stats.DEFAULT_SEED,
    )
    got = result.context.models[1].evidence.significance.metrics
    for name in ("rmse", "mae", "r2"):
        assert (got[name].ci_low, got[name].ci_high) == pytest.approx(expected[name], abs=1e-9)


def _break_head_predictions(root: Path, how: str) -> None:
    path = root / "clf/predictions.csv"
    frame = pd.read_csv(path)
    if how == "missing":
        path.unlink()
        return
    if how == "nan":
        frame.loc[3, "score"] = np.nan
    elif how == "labels":
        frame.loc[0, "label"] = 2
    elif how == "single_class":
        frame["label"] = 1
    elif how == "constant":
        frame["score"] = 0.5
    elif how == "empty":
        frame = frame.iloc[0:0]
    elif how == "other_rows":
        frame = frame.iloc[50:]
    frame.to_csv(path, index=False)


@pytest.mark.parametrize(
    ("how", "note"),
    [
        ("missing", "predictions file missing in the working tree"),
        ("nan", "1 row(s) with a missing or non-numeric score (NaN)"),
        ("labels", "labels outside {0, 1} (2) for a binary task"),
        ("single_class", "every label is 1 (a single class)"),
        ("constant", "every score is 0.5 (constant)"),
        ("empty", "0 rows"),
        ("other_rows", "evaluated on different rows (300 vs 250 rows, 250 shared)"),
    ],
)
def test_bad_predictions_become_notes_and_the_rest_still_renders(multi_repo: Path, tmp_path: Path, how: str, note: str):
    _break_head_predictions(multi_repo, how)
    result = reporting.build(multi_repo, base_ref="main", out_dir=tmp_path / "out", resamples=50)
    text = result.markdown.read_text()
    assert note in text
    assert "reg-residuals.png" in text  # the other model is unaffected
    assert result.gate.for_model("clf").passed  # the floor goal reads metrics.json, not predictions


def test_diff_markdown_still_renders_the_compact_table(multi_repo: Path):
    from mlci.workflows.diff import diff

    text = diff_markdown.render(diff(multi_repo, base_ref="main"))
    assert text.startswith("Comparing head `") and "| metric | file | base | head |" in text


# --- size limits ------------------------------------------------------------------------------


def _long_report() -> str:
    table = "| metric | value |\n|---|---|\n" + "".join(f"| m{i} | {i} |\n" for i in range(50))
    folded = "<details><summary>unchanged</summary>\n\n" + "x" * 5000 + "\n</details>\n"
    return (
        "<!-- mlci-sticky -->\n✅ summary line\n\n"
        + table
        + "\n"
        + folded
        + f"\n![ROC]({ASSETS}/roc.png)\n"
        + "y" * 3000
        + "\n"
    )


ASSETS = "https://raw.githubusercontent.com/o/r/mlci-assets/" + "a" * 1000  # a long hosted-image URL


def test_a_report_within_the_limit_is_unchanged():
    text = _long_report()
    assert fit_comment(text, limit=len(text)) == text
    assert fit_summary(text) == text


def test_trimming_drops_folded_sections_first_and_links_the_full_report():
    text = _long_report()
    fitted = fit_comment(text, limit=len(text) - 1000, full_report_url="https://example.invalid/r")
    assert len(fitted) <= len(text) - 1000
    assert "<details>" not in fitted and f"![ROC]({ASSETS}/roc.png)" in fitted
    assert "[full report](https://example.invalid/r)" in fitted


def test_trimming_then_drops_plots_then_cuts_lines_keeping_the_summary_and_marker():
    text = _long_report()
    no_plots = fit_comment(text, limit=len(text) - 5500)
    assert "<details>" not in no_plots and "![ROC]" not in no_plots and "y" * 3000 in no_plots
    short = fit_comment(text, limit=600)
    assert len(short) <= 600
    assert short.startswith("<!-- mlci-sticky -->\n✅ summary line") and "shortened" in short


def test_summary_limit_counts_utf8_bytes():
    text = "✅ ü\n" * 1000
    fitted = fit_summary(text, limit=2000)
    assert len(fitted.encode("utf-8")) <= 2000 < len(text.encode("utf-8"))


def test_mlci_gate_fails_the_regressed_pr_with_one_line_per_goal(regressed_pr: Path):
    result = invoke(regressed_pr, "gate", "--base", "main")
    assert result.exit_code == 1
    failing = [line for line in result.stdout.splitlines() if line.startswith("✗ churn: ")]
    assert any(line.startswith("✗ churn: auc dropped ") and ", limit 0.01, 95 % CI of Δ [" in line for line in failing)
    assert "gate failed" in result.stderr


def test_a_metric_the_predictions_do_not_reproduce_gets_no_ci_but_a_note(multi_repo: Path, tmp_path: Path):
    metrics = json.loads((multi_repo / "clf/metrics.json").read_text())
    metrics["f1"] = round(metrics["f1"] - 0.05, 6)  # e.g. the pipeline used another threshold
    (multi_repo / "clf/metrics.json").write_text(json.dumps(metrics))
    result = reporting.build(multi_repo, base_ref="main", out_dir=tmp_path / "out", resamples=50)
    text = result.markdown.read_text()
    f1_row = next(line for line in text.splitlines() if line.startswith("| f1 |"))
    mark = f1_row.split(" | ")[5]
    assert mark.startswith("— ") and len(mark) == 3  # "—" and a footnote mark, never a silent "—"
    footnote = next(line for line in text.splitlines() if f"{mark[-1]} no interval: the predictions give f1 " in line)
    assert "metrics.json says" in footnote and "(another threshold or definition?)" in footnote
    [f1] = [m for m in result.context.models[0].metrics if m.name == "f1"]
    assert f1.interval is None and not f1.tested


def test_angle_brackets_in_messages_survive_markdown_but_not_inside_code():
    assert (
        md.text("set goals.<metric>.direction, or `goals.<metric>`")
        == "set goals.&lt;metric&gt;.direction, or `goals.<metric>`"
    )


# --- the first screen of the regressed PR: may it merge, and why ---------------------------------


def _blocks(result: reporting.ReportResult) -> list[str]:
    return result.markdown.read_text().split("\n\n")


def _outside_details(text: str) -> str:
    return re.sub(r"<details>.*?</details>", "", text, flags=re.DOTALL)


def test_regressed_first_line_names_each_failing_goal_with_its_numbers(pr_report: reporting.ReportResult):
    first = _blocks(pr_report)[0]
    failures = pr_report.gate.failures
    assert first.startswith(f"❌ **mlci: gate failed: {len(failures)} goal(s) not met** — ")
    auc = next(f for f in failures if f.metric == "auc" and f.kind == "regression")
    assert auc.message.startswith("auc dropped ") and ", 95 % CI of Δ [" in auc.message
    assert md.text(auc.message) in first


def test_regressed_second_line_lists_params_and_no_evaluation_caveat(pr_report: reporting.ReportResult):
    second = _blocks(pr_report)[1]
    assert second.startswith("**What changed:** params: train.n_estimators `60` → `3`, train.num_leaves `15` → `4`")
    assert "Evaluation set changed" not in pr_report.markdown.read_text()
    assert "paired bootstrap (same rows, same evaluation data)" in pr_report.markdown.read_text()


def test_regressed_metric_table_comes_right_after_the_two_lines(pr_report: reporting.ReportResult):
    blocks = _blocks(pr_report)
    if blocks[2].startswith("**Feature attributions moved**"):  # a third line only when a top feature moved
        blocks = blocks[:2] + blocks[3:]
    assert blocks[2] == "## Metrics"
    table = blocks[3].splitlines()
    assert table[0] == "| metric | base | head | Δ | Δ % | 95 % CI of Δ | verdict |"
    assert table[2].startswith("| ") and "**▼ regressed**" in table[2] and "not tested" not in table[2]


def test_regressed_details_are_folded(pr_report: reporting.ReportResult):
    text = pr_report.markdown.read_text()
    outside = _outside_details(text)
    assert "<summary>" in text and "gate finding(s)</summary>" in text
    assert "- ❌ " not in outside  # the findings are in the first line; their list is folded
    assert "No code or data input changed (1 output(s) of earlier stages differ, as expected)." in outside


def test_base_stage_times_come_from_the_run_that_executed_them(
    pr_report: reporting.ReportResult, _trained_example: Path
):
    """The base record is a no-op run (every stage skipped); its times come from the training run."""
    base = pr_report.comparison.base_record
    assert base is not None and {s.status for s in base.stages} == {"skipped"}
    trained_at = git(_trained_example, "rev-parse", "main~1")  # the run that trained is recorded there
    rows = [
        line
        for line in pr_report.markdown.read_text().split("## Run facts")[1].splitlines()
        if line.startswith(("| prepare ", "| train ", "| evaluate "))
    ]
    assert len(rows) == 3
    for row in rows:
        base_cell = row.split(" | ")[1]
        assert re.fullmatch(rf"\d+\.\d s \(ran, at `{trained_at[:12]}`\)", base_cell), row
    assert "skipped" not in pr_report.markdown.read_text().split("## Run facts")[1].split("<sub>")[0]


def test_mlci_report_prints_the_verdict_each_failure_and_both_paths(regressed_pr: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(regressed_pr, root, symlinks=True)
    result = invoke(root, "report", "--base", "main")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("❌ gate failed: ")
    assert any(line.startswith("  ✗ auc dropped ") and ", 95 % CI of Δ [" in line for line in lines)
    assert any(re.match(r"  ▼ regressed +auc: ", line) and "95 % CI [" in line for line in lines)
    assert any(line.startswith("report:  ") and line.endswith("mlci-report/report.md") for line in lines)
    assert any(line.startswith("html:    ") and line.endswith("mlci-report/report.html") for line in lines)


def test_a_report_from_a_dirty_tree_warns_before_the_reproduce_line(regressed_pr: Path, tmp_path: Path):
    root = tmp_path / "repo"
    shutil.copytree(regressed_pr, root, symlinks=True)
    (root / "src" / "train.py").write_text((root / "src" / "train.py").read_text() + "\n# local edit\n")
    text = reporting.build(
        root, base_ref="main", out_dir=tmp_path / "out", resamples=20, plots=False
    ).markdown.read_text()
    reproduce = text.split("## Reproduce")[1]
    assert reproduce.index("uncommitted changes") < reproduce.index("mlci reproduce ")
    assert "will not give these numbers" in reproduce


# --- report.html in a real browser ---------------------------------------------------------------


@pytest.mark.skipif(
    not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
    reason="no Chromium on PATH (apt-get install chromium)",
)
def test_report_html_renders_with_every_plot_decoded_in_chromium(multi_repo: Path, tmp_path: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import report_browser  # bench/report_browser.py: headless Chromium, reads the DOM back

    result = reporting.build(multi_repo, base_ref="main", out_dir=tmp_path / "out", resamples=50)
    seen = report_browser.check(result.out_dir, png=tmp_path / "page.png")
    assert seen["rendered"] and seen["images"] == len(result.images) >= 6
    assert seen["broken"] == [] and seen["overflows"] is False
    assert (tmp_path / "page.png").read_bytes().startswith(b"\x89PNG")


def test_report_html_has_the_markdowns_content(multi_repo: Path, tmp_path: Path):
    result = reporting.build(multi_repo, base_ref="main", out_dir=tmp_path / "out", resamples=50, plots=False)
    text, page = result.markdown.read_text(), result.html.read_text()
    headings = re.findall(r"^##+ (.*)$", text, re.MULTILINE)
    assert len(re.findall(r"<h[23]>", page)) == len(headings)
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    assert page.count("<tr>") == len(rows)
    assert page.count("<details>") == text.count("<details>")
    assert '<p class="verdict fail">' in page and 'class="mark fail"' in page  # colour, not only an emoji
