"""`mlci reproduce`: re-run a recorded commit in a throw-away worktree and judge its numbers.

The example pipeline (`trained_repo`) proves exact reproduction of a real LightGBM run; a tiny
DVC project built here (a `dvc add`-ed CSV, one stage) covers, in seconds each, tampered
records, isolation from a dirty tree, pr/N, data restoration, tolerances and the GPU note.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import git as gitlib
import pytest

from mlci.model.record import RunRecord
from mlci.store import baseline
from mlci.store import config as config_mod
from mlci.workflows import reproduce as reproduce_mod
from mlci.workflows import run
from tests.helpers import commit_all, git, invoke


def dvc(root: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, check=True, capture_output=True)


def rewrite_records(root: Path, commit: str, change) -> None:
    """Tamper with the stored note of `commit`: every record goes through `change`."""
    repo = gitlib.Repo(root)
    records = [change(r) for r in baseline.records_for(repo, commit)]
    note = root.parent / "tampered-note.jsonl"
    note.write_text("".join(r.to_json() + "\n" for r in records))
    git(root, "notes", f"--ref={baseline.NOTES_REF}", "add", "-f", "-F", str(note), commit)
    note.unlink()


def with_metric(name: str, factor: float):
    def change(record: RunRecord) -> RunRecord:
        metrics = {
            f: {k: (v * factor if k == name else v) for k, v in vals.items()} for f, vals in record.metrics.items()
        }
        return dataclasses.replace(record, metrics=metrics)

    return change


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def worktrees(root: Path) -> list[str]:
    return [line for line in git(root, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def error_line(result) -> str:
    """The one line the CLI prints for an error (stage progress lines precede it on stderr)."""
    lines = [line for line in result.stderr.splitlines() if line.startswith("mlci: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def metric_row(output: str, name: str) -> str:
    (row,) = [line for line in output.splitlines() if line.strip().startswith(name + " ")]
    return row


# --- a tiny DVC project whose input data is `dvc add`-ed -----------------------------------

SCORE = """\
import json, os, yaml
if os.environ.get("TINY_FAIL"):
    raise SystemExit("tiny stage failed on purpose")
scale = yaml.safe_load(open("params.yaml"))["score"]["scale"]
values = [float(line.split(",")[1]) for line in open("data/raw.csv").read().split()[1:]]
os.makedirs("models", exist_ok=True); os.makedirs("eval", exist_ok=True)
open("models/model.txt", "w").write(f"weights {sum(values) * scale}\\n")
json.dump({"device": "cpu"}, open("eval/train_info.json", "w"))
json.dump({"mean": scale * sum(values) / len(values), "count": len(values)}, open("metrics.json", "w"))
"""
TINY_PIPELINE = """\
stages:
  score:
    cmd: python src/score.py
    deps: [src/score.py, data/raw.csv]
    params: [score]
    outs: [models/model.txt]
    metrics:
      - metrics.json:
          cache: false
"""


@pytest.fixture(scope="session")
def _tiny_recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    dvc(root, "init", "-q")
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("id,value\n1,2.5\n2,3.5\n3,6.0\n")
    dvc(root, "add", "-q", "data/raw.csv")
    (root / "src").mkdir()
    (root / "src" / "score.py").write_text(SCORE)
    (root / "params.yaml").write_text("score:\n  scale: 1.0\n")
    (root / "dvc.yaml").write_text(TINY_PIPELINE)
    (root / "mlci.yaml").write_text("metrics: [metrics.json]\nmodel: models/model.txt\n")
    (root / "requirements.txt").write_text("pyyaml==6.0.2\n")
    (root / ".gitignore").write_text("/models\n/eval\n")
    commit_all(root, "tiny pipeline on dvc-tracked data")
    record = run.run(root)
    assert not record.dirty and not record.warnings, record.warnings
    return root


@pytest.fixture
def tiny(_tiny_recorded: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(_tiny_recorded, root, symlinks=True)
    return root


# --- the example pipeline --------------------------------------------------------------------


def test_report_reproduce_line_runs_as_printed_and_matches_exactly(trained_repo: Path, tmp_path: Path):
    """The line the PR report prints (`mlci reproduce <head sha>`), run exactly as printed."""
    from mlci.workflows import report as reporting

    sha = head(trained_repo)
    report = reporting.build(trained_repo, plots=False, out_dir=tmp_path / "report")
    printed = shlex.split(json.loads(report.json.read_text())["reproduce"])
    assert printed == ["mlci", "reproduce", sha]
    result = invoke(trained_repo, *printed[1:])
    assert result.exit_code == 0, result.output
    recorded = baseline.latest(gitlib.Repo(trained_repo), sha, clean_only=True)
    for name, value in recorded.metrics["metrics.json"].items():
        row = metric_row(result.stdout, name)
        assert f"{value:.10g}" in row and row.rstrip().endswith("✓"), row
    assert recorded.model.sha256[:12] in metric_row(result.stdout, "model digest")
    assert "✗" not in result.stdout
    assert "environment: same Python, packages and devices as the recorded run" in result.stdout
    assert f"reproduced {sha[:12]}: 6 metric(s) and the model digest match" in result.stdout
    assert worktrees(trained_repo) == [f"worktree {trained_repo}"]


def test_tampered_metric_exits_1_naming_the_metric(tiny: Path):
    sha = head(tiny)
    rewrite_records(tiny, sha, with_metric("mean", 1.01))
    result = invoke(tiny, "reproduce")
    assert result.exit_code == 1, result.output
    assert metric_row(result.stdout, "mean").rstrip().endswith("✗")
    assert metric_row(result.stdout, "count").rstrip().endswith("✓")
    assert metric_row(result.stdout, "model digest").rstrip().endswith("✓")
    line = error_line(result)
    assert line == f"mlci: error: {sha[:12]} did not reproduce: mean (4.04 → 4) differs from the recorded run"


def _state(root: Path) -> dict[str, object]:
    files = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.relative_to(root).parts[0] != ".git"
        and not p.relative_to(root).as_posix().startswith(".dvc/cache/")
    }
    return {
        "files": files,
        "status": git(root, "status", "--porcelain", "--untracked-files=all"),
        "staged": git(root, "diff", "--cached", "--binary"),
        "unstaged": git(root, "diff", "--binary"),
        "index": git(root, "ls-files", "-s"),
        "stash": git(root, "stash", "list", "--format=%H %gs"),
        "refs": git(root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags", "refs/stash"),
        "head": git(root, "symbolic-ref", "HEAD"),
        "worktrees": worktrees(root),
    }


def test_dirty_working_tree_index_stash_and_branches_stay_byte_for_byte(tiny: Path):
    root = tiny
    git(root, "branch", "feature")
    (root / "requirements.txt").write_text("pyyaml==6.0.1\n")
    git(root, "stash", "push", "-q", "-m", "work in progress")
    (root / "src" / "score.py").write_text((root / "src" / "score.py").read_text() + "# staged edit\n")
    git(root, "add", "src/score.py")
    (root / "params.yaml").write_text("score:\n  scale: 2.0\n")
    (root / "notes.txt").write_bytes(b"untracked \x00 bytes\n")
    before = _state(root)
    assert before["staged"] and before["unstaged"] and "?? notes.txt" in before["status"] and before["stash"]

    result = invoke(root, "reproduce", head(root))

    assert result.exit_code == 0, result.output  # the commit's params, not the edited ones, were re-run
    assert _state(root) == before


def test_pr_ref_reproduces_the_recorded_head_of_that_pr_as_json(tiny: Path):
    root = tiny
    git(root, "checkout", "-q", "-b", "pr-branch")
    (root / "CHANGELOG.md").write_text("docs only: the pipeline's inputs are unchanged\n")
    pr_head = commit_all(root, "docs")
    run.run(root, pr=7)
    git(root, "checkout", "-q", "main")

    result = invoke(root, "reproduce", "pr/7", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "schema",
        "status",
        "rev",
        "commit",
        "record",
        "metrics",
        "model",
        "environment",
        "device_changed",
        "mismatches",
        "notes",
        "reason",
        "worktree",
        "seconds",
    }
    assert (data["schema"], data["status"], data["rev"], data["commit"]) == (1, "reproduced", "pr/7", pr_head)
    assert data["record"]["pr"] == 7 and data["reason"] is None and data["mismatches"] == []
    assert [(m["name"], m["reproduced"]) for m in data["metrics"]] == [("count", 3), ("mean", 4.0)]
    for metric in data["metrics"]:
        assert set(metric) == {
            "file",
            "name",
            "recorded",
            "reproduced",
            "delta",
            "delta_rel",
            "tolerance",
            "tolerance_source",
            "within",
        }
        assert metric["within"] and metric["recorded"] == metric["reproduced"] and metric["tolerance_source"] == "exact"
    assert data["model"]["checked"] and data["model"]["match"] and data["model"]["path"] == "models/model.txt"
    assert data["environment"] == [] and data["device_changed"] is False


# --- cannot reproduce (exit 2) ----------------------------------------------------------------


def test_commit_without_a_record_exits_2_with_json_reason(trained_repo: Path):
    (trained_repo / "CHANGELOG.md").write_text("never run\n")
    sha = commit_all(trained_repo, "unrecorded")
    result = invoke(trained_repo, "reproduce", "--json")
    assert result.exit_code == 2
    data = json.loads(result.stdout)
    assert (data["status"], data["commit"], data["metrics"]) == ("cannot_reproduce", None, [])
    assert data["reason"].startswith(f"no run record for {sha[:12]}; run `mlci run`")
    assert error_line(result) == f"mlci: error: {data['reason']}"
    assert worktrees(trained_repo) == [f"worktree {trained_repo}"]


def test_commit_with_only_dirty_records_exits_2(trained_repo: Path):
    repo = gitlib.Repo(trained_repo)
    recorded = baseline.latest(repo, head(trained_repo))
    (trained_repo / "CHANGELOG.md").write_text("x\n")
    sha = commit_all(trained_repo, "only a dirty run")
    baseline.save(repo, dataclasses.replace(recorded, commit=sha, dirty=True, id="dirty0000000000"))
    result = invoke(trained_repo, "reproduce")
    assert result.exit_code == 2
    assert "only records of runs with uncommitted changes" in error_line(result)


def test_commit_that_is_not_a_dvc_project_exits_2(trained_repo: Path):
    repo = gitlib.Repo(trained_repo)
    recorded = baseline.latest(repo, head(trained_repo))
    shutil.rmtree(trained_repo / ".dvc")
    sha = commit_all(trained_repo, "drop DVC")
    baseline.save(repo, dataclasses.replace(recorded, commit=sha, id="nodvc0000000000"))
    result = invoke(trained_repo, "reproduce")
    assert result.exit_code == 2
    assert "the commit has no .dvc directory: it is not a DVC project" in error_line(result)
    assert worktrees(trained_repo) == [f"worktree {trained_repo}"]


def test_unknown_pr_and_unknown_revision_are_named(trained_repo: Path):
    assert "no run record for PR #99" in error_line(invoke(trained_repo, "reproduce", "pr/99"))
    result = invoke(trained_repo, "reproduce", "no-such-branch")
    assert result.exit_code == 4
    assert "unknown revision 'no-such-branch'" in error_line(result)


def test_pr_whose_recorded_head_is_not_in_the_clone_exits_2_with_the_fetch_command(trained_repo: Path):
    repo = gitlib.Repo(trained_repo)
    recorded = baseline.latest(repo, head(trained_repo))
    git(trained_repo, "checkout", "-q", "-b", "gone")
    (trained_repo / "CHANGELOG.md").write_text("a fork's commit\n")
    sha = commit_all(trained_repo, "fork commit")
    baseline.save(repo, dataclasses.replace(recorded, commit=sha, pr=8, id="fork00000000000"))
    git(trained_repo, "checkout", "-q", "main")
    git(trained_repo, "branch", "-q", "-D", "gone")
    git(trained_repo, "reflog", "expire", "--expire=now", "--all")
    git(trained_repo, "gc", "-q", "--prune=now")
    result = invoke(trained_repo, "reproduce", "pr/8")
    assert result.exit_code == 2
    assert error_line(result) == (
        f"mlci: error: PR #8's recorded head {sha[:12]} is not in this clone; `git fetch origin pull/8/head` and retry"
    )


def test_data_deleted_from_the_cache_with_no_remote_exits_2_and_removes_the_worktree(tiny: Path):
    shutil.rmtree(tiny / ".dvc" / "cache")
    result = invoke(tiny, "reproduce", "--json")
    assert result.exit_code == 2, result.output
    line = error_line(result)
    assert "data unavailable: data/raw.csv (md5 " in line
    assert "is not in the DVC cache and no DVC remote is configured" in line
    data = json.loads(result.stdout)
    assert (data["status"], data["commit"], data["reason"]) == (
        "cannot_reproduce",
        head(tiny),
        line[len("mlci: error: ") :],
    )
    assert worktrees(tiny) == [f"worktree {tiny}"]
    assert not (tiny / ".git" / "worktrees").exists() or not any((tiny / ".git" / "worktrees").iterdir())


def test_input_tracked_by_neither_git_nor_dvc_exits_2_naming_it(tiny: Path):
    (tiny / "data" / "extra.csv").write_text("id\n1\n")
    (tiny / ".gitignore").write_text((tiny / ".gitignore").read_text() + "/data/extra.csv\n")
    (tiny / "dvc.yaml").write_text(TINY_PIPELINE.replace("data/raw.csv]", "data/raw.csv, data/extra.csv]"))
    commit_all(tiny, "read a git-ignored file")
    record = run.run(tiny)
    assert any("tracked by neither git nor DVC (data/extra.csv)" in w for w in record.warnings)
    result = invoke(tiny, "reproduce")
    assert result.exit_code == 2
    line = error_line(result)
    assert "data unavailable: data/extra.csv (md5 " in line and "is tracked by neither git nor DVC" in line


def test_pipeline_failing_in_the_worktree_exits_2_with_its_output(tiny: Path):
    result = invoke(tiny, "reproduce", env={"TINY_FAIL": "1"})
    assert result.exit_code == 2
    assert f"the pipeline of {head(tiny)[:12]} failed in the worktree: stage 'score' failed" in error_line(result)
    assert "tiny stage failed on purpose" in result.stderr
    assert worktrees(tiny) == [f"worktree {tiny}"]


def test_data_missing_from_the_cache_is_pulled_from_the_dvc_remote(tiny: Path, tmp_path: Path):
    dvc(tiny, "remote", "add", "--local", "-d", "store", str(tmp_path / "dvc-store"))
    dvc(tiny, "push", "-q")
    shutil.rmtree(tiny / ".dvc" / "cache")
    result = invoke(tiny, "reproduce")
    assert result.exit_code == 0, result.output
    assert "note: fetched data/raw.csv from the DVC remote" in result.stdout


# --- tolerances, devices, environment ------------------------------------------------------------


def test_small_difference_fails_exactly_and_passes_within_tolerance(tiny: Path):
    rewrite_records(tiny, head(tiny), with_metric("mean", 1.005))
    exact = invoke(tiny, "reproduce")
    assert exact.exit_code == 1
    assert "mean (" in error_line(exact)
    tolerant = invoke(tiny, "reproduce", "--tolerance", "0.01")
    assert tolerant.exit_code == 0, tolerant.output
    assert "±0.01 rel (option)" in metric_row(tolerant.stdout, "mean")
    assert "(not required)" in metric_row(tolerant.stdout, "model digest")


def test_tolerance_precedence_option_then_goal_then_reproduce_section(tmp_path: Path):
    (tmp_path / "mlci.yaml").write_text(
        "metrics: [m.json]\ngoals:\n  auc:\n    tolerance: 0.02\n  loss:\n    direction: lower\n"
        "reproduce:\n  tolerance: 0.001\n"
    )
    cfg = config_mod.load(tmp_path)
    assert reproduce_mod.tolerance_for(cfg, "m.json", "auc", None) == (0.02, "goal")
    assert reproduce_mod.tolerance_for(cfg, "m.json", "loss", None) == (0.001, "reproduce.tolerance")
    assert reproduce_mod.tolerance_for(cfg, "m.json", "f1", None) == (0.001, "reproduce.tolerance")
    assert reproduce_mod.tolerance_for(cfg, "m.json", "auc", 0.0) == (0.0, "option")
    checks = reproduce_mod.compare_metrics(
        cfg, {"m.json": {"auc": 0.90, "loss": 0.5}}, {"m.json": {"auc": 0.91, "loss": 0.501}}, None
    )
    assert [(c.name, c.within) for c in checks] == [("auc", True), ("loss", False)]


def test_negative_tolerance_is_a_usage_error(tiny: Path):
    result = invoke(tiny, "reproduce", "--tolerance", "-0.1")
    assert result.exit_code == 2
    assert "--tolerance must be >= 0" in error_line(result)


def test_gpu_recorded_run_is_compared_with_the_configured_tolerance_and_says_so(tiny: Path):
    def on_gpu(record: RunRecord) -> RunRecord:
        env = {
            **record.environment,
            "gpu": {"count": 1, "names": ["NVIDIA H100 80GB HBM3"]},
            "training": {"device": "gpu"},
        }
        return with_metric("mean", 1.0001)(dataclasses.replace(record, environment=env))

    rewrite_records(tiny, head(tiny), on_gpu)
    result = invoke(tiny, "reproduce", "--tolerance", "0.001")
    assert result.exit_code == 0, result.output
    assert (
        "note: recorded on gpu, re-run on cpu: GPU and CPU results may differ; compared within the configured tolerance"
        in result.stdout
    )
    assert [cell.strip() for cell in metric_row(result.stdout, "lightgbm device").split("│")] == [
        "lightgbm device",
        "gpu",
        "cpu",
    ]


def test_environment_differences_are_listed(tiny: Path):
    def elsewhere(record: RunRecord) -> RunRecord:
        freeze = [
            ("PyYAML==0.0.1" if line.lower().startswith("pyyaml==") else line) for line in record.environment["freeze"]
        ]
        env = {**record.environment, "python": "3.10.1", "freeze": freeze}
        return dataclasses.replace(record, environment=env)

    rewrite_records(tiny, head(tiny), elsewhere)
    result = invoke(tiny, "reproduce", "--json")
    assert result.exit_code == 0, result.output
    differences = {d["key"]: (d["recorded"], d["current"]) for d in json.loads(result.stdout)["environment"]}
    assert differences["python"][0] == "3.10.1" and differences["python"][1] != "3.10.1"
    assert differences["package pyyaml"][0] == "0.0.1"


def test_keep_leaves_the_worktree_and_prints_its_path(tiny: Path):
    result = invoke(tiny, "reproduce", "--keep")
    assert result.exit_code == 0, result.output
    (line,) = [ln for ln in result.stdout.splitlines() if ln.startswith("worktree kept at ")]
    kept = Path(line.split()[3])
    assert json.loads((kept / "metrics.json").read_text())["count"] == 3
    assert len(worktrees(tiny)) == 2
    git(tiny, "worktree", "remove", "--force", str(kept))
    shutil.rmtree(kept.parent)


def test_keep_on_failure_names_the_kept_worktree(tiny: Path):
    shutil.rmtree(tiny / ".dvc" / "cache")
    result = invoke(tiny, "reproduce", "--keep")
    assert result.exit_code == 2
    (line,) = [ln for ln in result.stderr.splitlines() if "worktree kept at " in ln]
    kept = Path(line.split("worktree kept at ", 1)[1])
    assert (kept / "dvc.yaml").exists() and len(worktrees(tiny)) == 2
    git(tiny, "worktree", "remove", "--force", str(kept))
    shutil.rmtree(kept.parent)
