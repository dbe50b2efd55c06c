"""Real DVC projects as DVC's docs teach them, not shaped like our example.

Each layout is a temp git repo with real stages run by real `dvc repro` on main (committed
with its dvc.lock, no mlci record), then a PR branch that changes a param and re-runs. For
every layout `mlci diff --json` must agree with `dvc metrics diff --json` and
`dvc params diff --json`: the same keys, the same values, the same scope.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlci.workflows import diff
from tests.helpers import commit_all, git, invoke, invoke_json

# A stage script shared by the layouts: reads one params file (and optional keys) and writes
# metrics whose values follow the params, so a param change is a real metric change.
EVALUATE = """\
import json, sys, pathlib, yaml
params_file, out, *rest = sys.argv[1:]
p = yaml.safe_load(open(params_file))
lr = p["train"]["lr"] if "train" in p else p["lr"]
auc = round(0.9 - abs(lr - 0.1), 6)
values = {"roc_auc": auc, "loss": round(1 - auc, 6), "avg_prec": {"train": auc + 0.05, "test": auc - 0.02}}
if "extras" in rest:
    values.update({"model": f"lgbm-{lr}", "converged": lr < 0.2, "sizes": [1, 2, int(lr * 10)]})
pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
if out.endswith((".yaml", ".yml")):
    pathlib.Path(out).write_text(yaml.safe_dump(values))
else:
    pathlib.Path(out).write_text(json.dumps(values))
"""


def dvc(root: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def make_project(root: Path, files: dict[str, str]) -> Path:
    """A git + DVC project with `files`, reproduced and committed on main (no mlci record)."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    dvc(root, "init", "-q")
    (root / "src").mkdir()
    (root / "src/evaluate.py").write_text(EVALUATE)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    dvc(root, "repro", "--quiet")
    commit_all(root, "pipeline and its first results")
    return root


def pr(root: Path, edits: dict[str, str]) -> Path:
    """A PR branch: edit files (params), commit, reproduce; results left uncommitted like CI."""
    git(root, "checkout", "-q", "-b", "pr")
    for rel, text in edits.items():
        (root / rel).write_text(textwrap.dedent(text))
    commit_all(root, "tune")
    dvc(root, "repro", "--quiet")
    return root


def dvc_json(root: Path, *args: str) -> dict:
    return json.loads(dvc(root, *args, "main", "--json", "--all") or "{}")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def assert_parity_with_dvc(root: Path) -> dict:
    """`mlci diff --json` == `dvc metrics diff` and `dvc params diff`, value for value."""
    ours = invoke_json(root, "diff", "--base", "main")
    theirs = dvc_json(root, "metrics", "diff")
    numeric = {
        (f, k): v
        for f, values in theirs.items()
        for k, v in values.items()
        if _number(v.get("old")) or _number(v.get("new"))
    }
    assert {(m["file"], m["name"]) for m in ours["metrics"]} == set(numeric)
    for m in ours["metrics"]:
        expected = numeric[(m["file"], m["name"])]
        assert (m["base"], m["head"]) == (expected.get("old"), expected.get("new")), m
        if m["delta"] is not None:
            assert math.isclose(m["delta"], expected["diff"], abs_tol=1e-12)
    others = {(f, k) for f, values in theirs.items() for k, v in values.items() if (f, k) not in numeric}
    for file, name in others:  # strings and booleans: dvc shows them, so do our notes
        assert any(note.startswith(f"{file}: '{name}' is a") for note in ours["notes"]), (file, name, ours["notes"])
    params = dvc_json(root, "params", "diff")
    changed = {
        (f, k): (v["old"], v["new"]) for f, values in params.items() for k, v in values.items() if v["old"] != v["new"]
    }
    assert {(p["file"], p["name"]): (p["base"], p["head"]) for p in ours["params"]} == changed
    return ours


# --- layouts ---------------------------------------------------------------------------------

CACHED_OUTS = {
    # DVC's example-get-started: the evaluate stage's output directory is cached by DVC (so
    # git-ignored) and the metrics file inside it is declared at top level.
    "dvc.yaml": """\
        stages:
          evaluate:
            cmd: python src/evaluate.py params.yaml eval/metrics.json
            deps: [src/evaluate.py]
            params: [train.lr]
            outs: [eval]
        metrics:
          - eval/metrics.json
        """,
    "params.yaml": "train:\n  lr: 0.1\n  seed: 7\n",
}


@pytest.fixture(scope="module")
def _cached(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_project(tmp_path_factory.mktemp("cached") / "repo", CACHED_OUTS)
    return pr(root, {"params.yaml": "train:\n  lr: 0.3\n  seed: 7\n"})


@pytest.fixture
def cached(_cached: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(_cached, root, symlinks=True)
    return root


def test_cached_out_metrics_without_a_base_record_come_from_dvcs_cache(cached: Path):
    assert not (cached / "eval").exists() or git(cached, "ls-files", "eval") == ""  # not in git
    ours = assert_parity_with_dvc(cached)
    assert ours["base"]["source"] == "dvc"
    assert {m["name"]: m["verdict"] for m in ours["metrics"]}["roc_auc"] == "regressed"


def test_gate_fails_the_regression_dvc_metrics_diff_shows_in_cached_outs(cached: Path):
    (cached / "mlci.yaml").write_text(
        "metrics: [eval/metrics.json]\ngoals:\n  roc_auc:\n    direction: higher\n    max_regression: 0.01\n"
    )
    result = invoke(cached, "gate", "--base", "main")
    assert result.exit_code == 1, result.output
    assert "roc_auc" in result.output


def test_missing_workspace_metrics_are_read_from_the_cache_by_dvc_lock(cached: Path):
    commit_all(cached, "results")  # dvc.lock of the PR committed; its eval/ is in the cache
    shutil.rmtree(cached / "eval")
    ours = invoke_json(cached, "diff", "--base", "main")
    roc = next(m for m in ours["metrics"] if m["name"] == "roc_auc")
    assert (roc["base"], roc["head"]) == (0.9, 0.7)


def test_metrics_in_neither_workspace_nor_cache_are_a_note_not_an_error(cached: Path):
    commit_all(cached, "results")
    shutil.rmtree(cached / "eval")
    shutil.rmtree(cached / ".dvc" / "cache")
    result = invoke(cached, "diff", "--base", "main", "--json")
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    assert any("eval/metrics.json at base" in n and "`dvc push`" in n for n in notes), notes
    assert any(
        "metrics file eval/metrics.json is in neither the workspace nor the local DVC cache" in n for n in notes
    ), notes


VARS_TEMPLATED = {
    "dvc.yaml": """\
        vars:
          - config.yaml
          - out_dir: results
        stages:
          evaluate:
            cmd: python src/evaluate.py ${params_file} ${out_dir}/${metrics_name}
            deps: [src/evaluate.py]
            params:
              - ${params_file}:
                  - lr
            metrics:
              - ${out_dir}/${metrics_name}:
                  cache: false
        """,
    "config.yaml": "params_file: hp.yaml\nmetrics_name: scores.json\n",
    "hp.yaml": "lr: 0.1\nunused: 1\n",
}


def test_vars_and_interpolated_paths_are_resolved_like_dvc(tmp_path: Path):
    root = pr(make_project(tmp_path / "repo", VARS_TEMPLATED), {"hp.yaml": "lr: 0.05\nunused: 2\n"})
    ours = assert_parity_with_dvc(root)
    assert {m["file"] for m in ours["metrics"]} == {"results/scores.json"}
    assert ours["params"] == [{"file": "hp.yaml", "name": "lr", "base": 0.1, "head": 0.05, "change": "changed"}]


FOREACH_MATRIX = {
    "dvc.yaml": """\
        stages:
          evaluate:
            foreach: [small, big]
            do:
              cmd: python src/evaluate.py cfg/${item}.yaml metrics/${item}.json
              deps: [src/evaluate.py]
              params:
                - cfg/${item}.yaml:
                    - lr
              metrics:
                - metrics/${item}.json:
                    cache: false
          sweep:
            matrix:
              cfg: [small]
              fmt: [yaml]
            cmd: python src/evaluate.py cfg/${item.cfg}.yaml sweep/${item.cfg}.${item.fmt}
            deps: [src/evaluate.py]
            params:
              - cfg/${item.cfg}.yaml:
                  - lr
            metrics:
              - sweep/${item.cfg}.${item.fmt}:
                  cache: false
        """,
    "cfg/small.yaml": "lr: 0.1\nbatch: 8\n",
    "cfg/big.yaml": "lr: 0.2\nbatch: 64\n",
}


def test_foreach_and_matrix_stages_with_params_files_in_items_match_dvc(tmp_path: Path):
    root = pr(
        make_project(tmp_path / "repo", FOREACH_MATRIX),
        {"cfg/small.yaml": "lr: 0.15\nbatch: 16\n", "cfg/big.yaml": "lr: 0.1\nbatch: 64\n"},
    )
    ours = assert_parity_with_dvc(root)
    assert {m["file"] for m in ours["metrics"]} == {"metrics/small.json", "metrics/big.json", "sweep/small.yaml"}
    assert {p["name"] for p in ours["params"]} == {"lr"}  # batch is declared by no stage


def test_yaml_metrics_and_params_scope_match_dvc(tmp_path: Path):
    files = {
        "dvc.yaml": """\
            stages:
              evaluate:
                cmd: python src/evaluate.py params.yaml metrics.yaml
                deps: [src/evaluate.py]
                params: [train.lr]
                metrics:
                  - metrics.yaml:
                      cache: false
            """,
        "params.yaml": "train:\n  lr: 0.1\n  epochs: 3\nnote: a\n",
    }
    root = pr(make_project(tmp_path / "repo", files), {"params.yaml": "train:\n  lr: 0.2\n  epochs: 4\nnote: b\n"})
    ours = assert_parity_with_dvc(root)
    assert {p["name"] for p in ours["params"]} == {"train.lr", "train.epochs", "note"}  # all of params.yaml, as dvc


def test_strings_booleans_and_lists_are_shown_or_skipped_never_fatal(tmp_path: Path):
    files = {
        "dvc.yaml": """\
            stages:
              evaluate:
                cmd: python src/evaluate.py params.yaml metrics.json extras
                deps: [src/evaluate.py]
                params: [train]
                metrics:
                  - metrics.json:
                      cache: false
            """,
        "params.yaml": "train:\n  lr: 0.1\n",
    }
    root = pr(make_project(tmp_path / "repo", files), {"params.yaml": "train:\n  lr: 0.3\n"})
    ours = assert_parity_with_dvc(root)
    assert 'metrics.json: \'model\' is a string ("lgbm-0.1" → "lgbm-0.3"), shown here and not compared' in ours["notes"]
    assert "metrics.json: 'converged' is a boolean (true → false), shown here and not compared" in ours["notes"]
    assert any(n.startswith("metrics.json: 'sizes' is a list") for n in ours["notes"])


def test_diff_comparison_names_the_dvc_cache_as_the_base_source(cached: Path):
    comparison = diff.diff(cached, base_ref="main")
    assert comparison.base_source == "dvc"
    assert any("read from DVC's cache" in n for n in comparison.notes)


def test_cached_metrics_missing_locally_are_fetched_from_the_dvc_remote(cached: Path, tmp_path: Path):
    commit_all(cached, "results")
    git(cached, "checkout", "-q", "main")
    dvc(cached, "remote", "add", "--local", "-d", "storage", str(tmp_path / "dvc-remote"))
    dvc(cached, "push", "--quiet")  # main's eval/ on the remote
    git(cached, "checkout", "-q", "pr")
    shutil.rmtree(cached / ".dvc" / "cache")  # a fresh runner: nothing cached locally
    roc = next(m for m in invoke_json(cached, "diff", "--base", "main")["metrics"] if m["name"] == "roc_auc")
    assert (roc["base"], roc["head"]) == (0.9, 0.7)


def test_diff_reads_the_local_cache_without_importing_dvc(cached: Path):
    from tests.test_cli_startup import HEAVY, loaded_modules

    assert invoke_json(cached, "diff", "--base", "main")["base"]["source"] == "dvc"  # the cache answered
    modules = loaded_modules("diff", "--base", "main", "--json", cwd=cached)
    assert not modules & set(HEAVY)  # HEAVY includes GitPython ("git"): the read path is git plumbing


def test_mlci_run_records_every_expanded_foreach_and_matrix_stage(tmp_path: Path):
    from mlci.workflows import run

    root = make_project(tmp_path / "repo", FOREACH_MATRIX)
    record = run.run(root)
    assert set(record.metrics) == {"metrics/small.json", "metrics/big.json", "sweep/small.yaml"}
    assert record.params["cfg/small.yaml"] == {"lr": 0.1}  # `batch` is declared by no stage
    assert {s.name for s in record.stages} == {"evaluate@small", "evaluate@big", "sweep@small-yaml"}


def test_strings_recorded_at_the_base_are_shown_beside_the_heads(tmp_path: Path):
    from mlci.workflows import run

    files = {
        "dvc.yaml": "stages:\n  evaluate:\n    cmd: python src/evaluate.py params.yaml metrics.json extras\n"
        "    deps: [src/evaluate.py]\n    params: [train]\n    metrics:\n      - metrics.json:\n"
        "          cache: false\n",
        "params.yaml": "train:\n  lr: 0.1\n",
    }
    root = make_project(tmp_path / "repo", files)
    assert run.run(root).extra["other_metrics"]["metrics.json"]["model"] == "lgbm-0.1"
    pr(root, {"params.yaml": "train:\n  lr: 0.3\n"})
    ours = invoke_json(root, "diff", "--base", "main")
    assert ours["base"]["source"] == "record"
    assert 'metrics.json: \'model\' is a string ("lgbm-0.1" → "lgbm-0.3"), shown here and not compared' in ours["notes"]


def test_a_stage_with_wdir_reports_paths_from_the_repo_root_like_dvc(tmp_path: Path):
    files = {
        "dvc.yaml": """\
            stages:
              evaluate:
                wdir: model
                cmd: python ../src/evaluate.py params.yaml out/metrics.json
                deps: [../src/evaluate.py]
                params: [train.lr]
                metrics:
                  - out/metrics.json:
                      cache: false
            """,
        "model/params.yaml": "train:\n  lr: 0.1\n  other: 1\n",
    }
    root = pr(make_project(tmp_path / "repo", files), {"model/params.yaml": "train:\n  lr: 0.2\n  other: 2\n"})
    ours = assert_parity_with_dvc(root)
    assert {m["file"] for m in ours["metrics"]} == {"model/out/metrics.json"}
    assert [(p["file"], p["name"]) for p in ours["params"]] == [("model/params.yaml", "train.lr")]
