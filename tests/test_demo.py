"""`mlci demo`: the whole PR loop on the bundled example, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import Result

from tests.helpers import git, invoke


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    """One real demo run (about 20 s), shared by the tests that read what it left behind."""
    target = tmp_path_factory.mktemp("demo") / "demo"
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


def test_demo_report_has_significance_data_checks_and_html(demo_run):
    result, _target = demo_run
    report = Path(json.loads(result.stdout)["report"])
    text = report.read_text()
    assert "paired bootstrap (same rows)" in text
    assert "### Data checks" in text and "PSI" in text
    assert (report.parent / "report.html").is_file()


def test_demo_gates_the_pr_and_promotes_its_model_to_staging(demo_run):
    from mlci import baseline, gitrepo

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
