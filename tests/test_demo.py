"""`mlci demo`: the whole PR loop on the bundled example, offline."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import git, invoke


def test_demo_runs_the_pr_loop_and_writes_a_report(tmp_path: Path):
    target = tmp_path / "demo"
    result = invoke(tmp_path, "demo", "--dir", str(target), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    comparison = data["comparison"]
    assert comparison["base"]["source"] == "record"
    assert comparison["base"]["commit"] == git(target, "rev-parse", "main")
    assert {p["name"] for p in comparison["params"]} >= {"train.num_leaves", "train.n_estimators"}
    assert all(m["base"] is not None and m["head"] is not None for m in comparison["metrics"])
    assert Path(data["report"]).is_file()
    assert git(target, "rev-parse", "--abbrev-ref", "HEAD") == "pr/tune-model"
    assert "main: recording the baseline" in result.stderr
    assert "stage train unchanged, skipped" in result.stderr


def test_demo_refuses_a_non_empty_directory(tmp_path: Path):
    (tmp_path / "keep.txt").write_text("precious")
    result = invoke(tmp_path, "demo", "--dir", str(tmp_path))
    assert result.exit_code == 2
    assert "is not empty; pass a new or empty --dir" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
