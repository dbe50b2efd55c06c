"""`mlci diff`: the PR's metrics against its merge-base, direction-aware, equal to DVC's numbers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.errors import DataError, GitError
from mlci.workflows import diff, run
from tests.helpers import commit_all, git, invoke, invoke_json, pr_branch


@pytest.fixture(scope="module")
def _pr_example(_trained_example: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = pr_branch(
        _trained_example, tmp_path_factory.mktemp("pr") / "repo", "pr/tune", {"train.num_leaves": 4}, "Shrink trees"
    )
    run.run(root)
    return root


@pytest.fixture
def pr_repo(_pr_example: Path, tmp_path: Path) -> Path:
    """A PR branch off the trained example with a param change, trained, not committed."""
    root = tmp_path / "repo"
    shutil.copytree(_pr_example, root, symlinks=True)
    return root


def metric(report: dict, name: str) -> dict:
    return next(m for m in report["metrics"] if m["name"] == name)


def test_json_has_the_documented_schema(pr_repo: Path):
    report = invoke_json(pr_repo, "diff")
    assert report["schema"] == 2
    assert report["base"] == {
        "ref": "main",
        "commit": git(pr_repo, "rev-parse", "main"),
        "source": "record",
        "how": "the local default branch main",
        "provenance": "unverified",  # no GitHub token: nobody checked that main's CI run published it
    }
    assert report["head"]["commit"] == git(pr_repo, "rev-parse", "HEAD") and report["head"]["kind"] == "commit"
    assert set(metric(report, "auc")) >= {
        "name",
        "file",
        "base",
        "head",
        "delta",
        "delta_rel",
        "verdict",
        "direction",
        "direction_source",
        "tested",
        "interval",
        "note",
    }
    assert metric(report, "auc")["tested"] is False  # diff reads values only
    assert report["params"] == [
        {"file": "params.yaml", "name": "train.num_leaves", "base": 15, "head": 4, "change": "changed"}
    ]


def test_verdicts_follow_each_metrics_direction(pr_repo: Path):
    report = invoke_json(pr_repo, "diff")
    for m in report["metrics"]:
        assert m["delta"] == pytest.approx(m["head"] - m["base"])
        better = m["delta"] > 0 if m["direction"] == "higher" else m["delta"] < 0
        expected = "unchanged" if m["delta"] == 0 else ("improved" if better else "regressed")
        assert m["verdict"] == expected, m
    assert metric(report, "logloss")["direction"] == "lower"


def test_values_equal_dvc_metrics_diff(pr_repo: Path):
    ours = invoke_json(pr_repo, "diff", "--base", "main")
    dvc = json.loads(
        subprocess.run(
            [sys.executable, "-m", "dvc", "metrics", "diff", "main", "--json", "--all"],
            cwd=pr_repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["metrics.json"]
    assert {m["name"] for m in ours["metrics"]} == set(dvc)
    for m in ours["metrics"]:
        assert (m["base"], m["head"]) == (dvc[m["name"]]["old"], dvc[m["name"]]["new"])
        assert m["delta"] == pytest.approx(dvc[m["name"]]["diff"], abs=1e-12)


def test_without_a_record_the_committed_metrics_are_the_baseline(pr_repo: Path):
    git(pr_repo, "update-ref", "-d", "refs/notes/mlci")
    comparison = diff.diff(pr_repo)
    assert comparison.base_source == "git"
    assert all(m.base is not None for m in comparison.metrics)
    assert any("no run record for base" in n for n in comparison.notes)


def test_first_pr_without_any_baseline_reports_every_metric_as_new(git_repo: Path):
    (git_repo / "mlci.yaml").write_text("metrics: [m.json]\n")
    commit_all(git_repo, "config")
    git(git_repo, "checkout", "-q", "-b", "feature")
    (git_repo / "m.json").write_text('{"auc": 0.7}')
    comparison = diff.diff(git_repo)
    assert comparison.base_source == "none"
    assert [(m.name, m.verdict) for m in comparison.metrics] == [("auc", "new")]


def test_metric_on_one_side_only_is_new_or_removed(git_repo: Path):
    (git_repo / "mlci.yaml").write_text("metrics: [m.json]\n")
    (git_repo / "m.json").write_text('{"auc": 0.7, "old_metric": 1.0}')
    commit_all(git_repo, "baseline")
    git(git_repo, "checkout", "-q", "-b", "feature")
    (git_repo / "m.json").write_text('{"auc": 0.7, "new_metric": 2.0}')
    verdicts = {m.name: m.verdict for m in diff.diff(git_repo).metrics}
    assert verdicts == {"auc": "unchanged", "new_metric": "new", "old_metric": "removed"}


def test_human_output_is_a_table_with_changed_params(pr_repo: Path):
    result = invoke(pr_repo, "diff")
    assert result.exit_code == 0, result.output
    assert "metric" in result.stdout and "verdict" in result.stdout
    assert "train.num_leaves" in result.stdout
    assert "merge-base with main" in result.stdout


def test_markdown_output_is_a_table(pr_repo: Path):
    result = invoke(pr_repo, "diff", "--md")
    assert result.exit_code == 0
    assert "| metric | file | base | head | Δ | Δ % | verdict |" in result.stdout


def test_json_and_md_together_is_a_usage_error(pr_repo: Path):
    result = invoke(pr_repo, "diff", "--json", "--md")
    assert result.exit_code == 2


def test_unknown_base_ref_exits_4_with_a_hint(pr_repo: Path):
    result = invoke(pr_repo, "diff", "--base", "no-such-branch")
    assert result.exit_code == 4
    assert result.stderr.strip() == (
        "mlci: error: unknown base ref 'no-such-branch'; pass --base with an existing branch, tag or commit "
        "(git fetch origin no-such-branch?)"
    )


def test_only_the_remote_default_branch_is_enough(git_repo: Path, tmp_path: Path):
    (git_repo / "mlci.yaml").write_text("metrics: [m.json]\n")
    (git_repo / "m.json").write_text('{"auc": 0.7}')
    commit_all(git_repo, "baseline")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(clone))
    git(clone, "checkout", "-q", "-b", "feature")
    git(clone, "branch", "-D", "main")
    (clone / "m.json").write_text('{"auc": 0.8}')
    comparison = diff.diff(clone)
    assert comparison.base_ref == "origin/main"
    assert comparison.metrics[0].verdict == "improved"


def test_detached_head_works_like_a_ci_checkout(pr_repo: Path):
    git(pr_repo, "checkout", "-q", "--detach")
    comparison = diff.diff(pr_repo, base_ref="main")
    assert comparison.base_source == "record"


def _shallow_pair(tmp_path: Path, git_repo: Path) -> Path:
    (git_repo / "mlci.yaml").write_text("metrics: [m.json]\n")
    (git_repo / "m.json").write_text('{"auc": 0.7}')
    commit_all(git_repo, "baseline")
    git(git_repo, "checkout", "-q", "-b", "feature")
    for i in range(3):
        (git_repo / "m.json").write_text(f'{{"auc": 0.{8 + i}}}')
        commit_all(git_repo, f"feature {i}")
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "other.txt").write_text("moves main on")
    commit_all(git_repo, "main moves on")
    clone = tmp_path / "shallow"
    git(
        tmp_path,
        "clone",
        "-q",
        "--depth",
        "1",
        "--no-single-branch",
        "--branch",
        "feature",
        f"file://{git_repo}",
        str(clone),
    )
    return clone


def test_shallow_clone_is_deepened_from_its_remote(git_repo: Path, tmp_path: Path):
    clone = _shallow_pair(tmp_path, git_repo)
    comparison = diff.diff(clone, base_ref="main")
    assert comparison.base_commit == git(git_repo, "rev-parse", "main~1")
    assert comparison.metrics[0].base == 0.7


def test_shallow_clone_without_remote_says_fetch_depth_0(git_repo: Path, tmp_path: Path):
    clone = _shallow_pair(tmp_path, git_repo)
    git(clone, "branch", "main", "origin/main")
    git(clone, "remote", "remove", "origin")
    with pytest.raises(GitError, match="fetch-depth: 0"):
        diff.diff(clone, base_ref="main")


def test_not_a_git_repo_exits_4(tmp_path: Path):
    result = invoke(tmp_path, "diff")
    assert result.exit_code == 4
    assert "is not inside a git repository; cd into your project or run `git init`" in result.stderr


def test_repo_without_commits_exits_4(tmp_path: Path):
    git(tmp_path, "init", "-q")
    result = invoke(tmp_path, "diff")
    assert result.exit_code == 4
    assert "no commits yet" in result.stderr


def test_missing_head_metrics_file_says_run_first(git_repo: Path):
    (git_repo / "mlci.yaml").write_text("metrics: [m.json]\n")
    commit_all(git_repo, "config")
    with pytest.raises(DataError, match="metrics file m.json does not exist; run `mlci run` first"):
        diff.diff(git_repo)


def test_corrupt_base_metrics_name_the_base_commit(git_repo: Path):
    (git_repo / "mlci.yaml").write_text("metrics: [m.json]\n")
    (git_repo / "m.json").write_text('{"auc": NaN}')
    commit_all(git_repo, "bad baseline")
    git(git_repo, "checkout", "-q", "-b", "feature")
    (git_repo / "m.json").write_text('{"auc": 0.8}')
    result = invoke(git_repo, "diff")
    assert result.exit_code == 5
    assert "m.json at base" in result.stderr and "is nan" in result.stderr


def test_repo_with_only_dvc_yaml_takes_directions_from_the_names_and_marks_them(git_repo: Path):
    (git_repo / "dvc.yaml").write_text(
        "stages:\n  ev:\n    cmd: x\n    metrics:\n    - m.json:\n        cache: false\n"
    )
    (git_repo / "m.json").write_text('{"auc": 0.7, "logloss": 0.5}')
    commit_all(git_repo, "baseline")
    git(git_repo, "checkout", "-q", "-b", "feature")
    (git_repo / "m.json").write_text('{"auc": 0.6, "logloss": 0.4}')
    comparison = diff.diff(git_repo)
    assert {m.name: m.verdict for m in comparison.metrics} == {"auc": "regressed", "logloss": "improved"}
    assert {m.direction_source for m in comparison.metrics} == {"name"}
    assert not any(m.tested for m in comparison.metrics)  # diff reads values only: the sign of Δ


def test_a_base_without_a_record_uses_the_nearest_record_with_identical_inputs(trained_repo: Path):
    base = git(trained_repo, "rev-parse", "main")
    parent = git(trained_repo, "rev-parse", "main~1")  # "Add pipeline": run, then dvc.lock committed as main
    git(trained_repo, "notes", "--ref=refs/notes/mlci", "remove", base)
    git(trained_repo, "checkout", "-q", "-b", "feature")
    comparison = diff.diff(trained_repo)
    assert comparison.base_source == "record" and comparison.base_record.commit == parent
    assert f"baseline recorded at {parent[:12]}, same inputs as base {base[:12]}" in comparison.notes


def test_a_record_whose_inputs_differ_from_the_base_is_not_its_baseline(trained_repo: Path):
    git(trained_repo, "notes", "--ref=refs/notes/mlci", "remove", git(trained_repo, "rev-parse", "main"))
    (trained_repo / "params.yaml").write_text(
        (trained_repo / "params.yaml").read_text().replace("num_leaves: 15", "num_leaves: 9")
    )
    commit_all(trained_repo, "params changed on main, never run")
    git(trained_repo, "checkout", "-q", "-b", "feature")
    comparison = diff.diff(trained_repo)
    assert comparison.base_source == "git"
    assert not any("same inputs" in n for n in comparison.notes)
