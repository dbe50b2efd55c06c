"""`mlci.workflows.sweep.merge_reports`: one table for a hyperparameter sweep, best variant marked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlci.errors import DataError, UsageError
from mlci.workflows import run
from mlci.workflows.sweep import collect, merge_reports
from tests.helpers import commit_all, git, invoke, set_param


def metric(name: str, base: float, head: float | None, direction: str = "higher", guessed: bool = False) -> dict:
    return {
        "model": "default",
        "file": "metrics.json",
        "name": name,
        "base": base,
        "head": head,
        "delta": None if head is None else head - base,
        "delta_rel": None,
        "direction": direction,
        "direction_guessed": guessed,
        "verdict": "improved",
    }


def report_dir(root: Path, name: str, metrics: list[dict], params: dict[str, tuple], *, nested: bool = True) -> Path:
    """A report directory as `mlci report -o` writes it: report.json with Comparison.to_dict()
    under "comparison" (or, `nested=False`, a bare comparison as `mlci diff --json` prints)."""
    directory = root / name
    directory.mkdir(parents=True)
    comparison = {
        "schema": 1,
        "base": {"ref": "main", "commit": "b" * 40, "source": "record"},
        "head": {"commit": name.ljust(40, "0"), "dirty": False, "source": "workspace"},
        "metrics": metrics,
        "params": [
            {"file": "params.yaml", "name": k, "base": b, "head": h, "change": "changed"}
            for k, (b, h) in params.items()
        ],
        "summary": {},
        "notes": [],
        "some_future_key": {"ignored": True},
    }
    data = {"schema": 1, "comparison": comparison, "gate": {}, "models": {}} if nested else comparison
    (directory / "report.json").write_text(json.dumps(data))
    return directory


@pytest.fixture
def three_variants(tmp_path: Path) -> list[Path]:
    return [
        report_dir(
            tmp_path,
            "lr-0.05",
            [metric("auc", 0.90, 0.91), metric("logloss", 0.30, 0.28, "lower")],
            {"train.learning_rate": (0.1, 0.05)},
        ),
        report_dir(
            tmp_path,
            "lr-0.2",
            [metric("auc", 0.90, 0.93), metric("logloss", 0.30, 0.31, "lower")],
            {"train.learning_rate": (0.1, 0.2)},
        ),
        report_dir(
            tmp_path,
            "leaves-31",
            [metric("auc", 0.90, 0.89), metric("logloss", 0.30, 0.25, "lower")],
            {"train.num_leaves": (15, 31)},
        ),
    ]


def test_best_variant_follows_the_primary_goals_direction(three_variants):
    assert [v.name for v in collect(three_variants, primary="auc").best] == ["lr-0.2"]
    assert [v.name for v in collect(three_variants, primary="logloss").best] == ["leaves-31"]


def test_rows_are_ordered_best_first(three_variants):
    assert [v.name for v in collect(three_variants, primary="auc").variants] == ["lr-0.2", "lr-0.05", "leaves-31"]


def test_primary_defaults_to_the_first_metric_with_a_configured_direction(tmp_path):
    dirs = [
        report_dir(
            tmp_path, "a", [metric("accuracy", 0.8, 0.9, guessed=True), metric("logloss", 0.3, 0.2, "lower")], {}
        ),
        report_dir(
            tmp_path, "b", [metric("accuracy", 0.8, 0.95, guessed=True), metric("logloss", 0.3, 0.1, "lower")], {}
        ),
    ]
    sweep = collect(dirs)
    assert (sweep.primary, sweep.direction, [v.name for v in sweep.best]) == ("logloss", "lower", ["b"])


def test_merged_report_has_a_row_per_variant_with_its_params_and_metrics(three_variants, tmp_path):
    markdown = merge_reports(three_variants, tmp_path / "merged", primary="auc")
    text = markdown.read_text()
    assert markdown == tmp_path / "merged" / "report.md"
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == 4  # the base for reference, then 3 variants
    assert rows[0].startswith("|  | base `bbbbbbbbbbbb` | 0.1 | 15 | 0.9000 | 0.3000 |")
    assert rows[1] == "| ★ | `lr-0.2` | 0.2 | 15 | 0.9300 | 0.3100 |"
    # a variant that did not change a param shows the base's value for it
    assert rows[3] == "|  | `leaves-31` | 0.1 | 31 | 0.8900 | 0.2500 |"
    assert "Best by **auc** (higher is better): `lr-0.2` ★" in text


def test_merged_json_names_the_best_and_every_variant(three_variants, tmp_path):
    merge_reports(three_variants, tmp_path / "merged", primary="logloss")
    data = json.loads((tmp_path / "merged" / "report.json").read_text())
    assert data["kind"] == "sweep" and data["best"] == ["leaves-31"]
    assert {v["name"] for v in data["variants"]} == {"lr-0.05", "lr-0.2", "leaves-31"}


def test_merging_again_replaces_the_merged_directory_whole(three_variants, tmp_path):
    out = tmp_path / "merged"
    merge_reports(three_variants, out, primary="auc")
    merge_reports(three_variants[:1], out, primary="auc")
    assert sorted(p.name for p in out.iterdir()) == ["report.json", "report.md"]
    assert len(json.loads((out / "report.json").read_text())["variants"]) == 1


def test_merging_into_a_folder_of_the_users_files_is_refused(three_variants, tmp_path):
    from mlci.errors import UsageError

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me\n")
    with pytest.raises(UsageError, match="holds files mlci did not write"):
        merge_reports(three_variants, tmp_path / "mine", primary="auc")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me\n"


def test_a_variant_missing_the_primary_metric_is_listed_last_and_never_best(tmp_path):
    dirs = [
        report_dir(tmp_path, "broken", [metric("auc", 0.9, None)], {}),
        report_dir(tmp_path, "ok", [metric("auc", 0.9, 0.5)], {}),
    ]
    sweep = collect(dirs)
    assert [v.name for v in sweep.variants] == ["ok", "broken"]
    assert [v.name for v in sweep.best] == ["ok"]
    assert "| `broken` | — |" in merge_reports(dirs, tmp_path / "out", config_root=None).read_text()


def test_ties_mark_every_best_variant(tmp_path):
    dirs = [report_dir(tmp_path, n, [metric("auc", 0.9, 0.95)], {}) for n in ("x", "y")]
    assert [v.name for v in collect(dirs).best] == ["x", "y"]


def test_directory_without_report_json_is_one_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"has no report.json; pass directories written by `mlci report -o DIR`"):
        merge_reports([tmp_path / "empty"], tmp_path / "out")
    assert not (tmp_path / "out" / "report.md").exists()


def test_invalid_report_json_is_a_data_error(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "report.json").write_text("{not json")
    with pytest.raises(DataError, match="is not valid JSON"):
        collect([tmp_path / "bad"])


def test_unknown_primary_metric_names_the_ones_there_are(three_variants):
    with pytest.raises(DataError, match=r"primary metric 'f1' is in none of the reports \(have: auc, logloss\)"):
        collect(three_variants, primary="f1")


def test_nothing_to_merge_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError):
        merge_reports([], tmp_path / "out")


def test_merging_reports_of_real_runs(trained_repo, tmp_path, monkeypatch):
    """Two variants trained by the real pipeline, reported and merged by `mlci report`."""
    monkeypatch.chdir(trained_repo)
    dirs = []
    for leaves in (4, 31):
        git(trained_repo, "checkout", "-q", "-B", f"sweep-{leaves}", "main")
        set_param(trained_repo, "train.num_leaves", leaves)
        commit_all(trained_repo, f"num_leaves {leaves}")
        run.run(trained_repo)
        dirs.append(tmp_path / f"leaves-{leaves}")
        result = invoke(trained_repo, "report", "--base", "main", "-o", str(dirs[-1]))
        assert result.exit_code == 0, result.output
    merge_args = [arg for d in dirs for arg in ("--merge", str(d))]
    result = invoke(trained_repo, "report", *merge_args, "-o", str(tmp_path / "merged"))
    assert result.exit_code == 0, result.output

    sweep = json.loads((tmp_path / "merged" / "report.json").read_text())
    variants = {v["name"]: v for v in sweep["variants"]}
    assert set(variants) == {"leaves-4", "leaves-31"}
    assert all(v["params"] == {"train.num_leaves": int(name.split("-")[1])} for name, v in variants.items())
    assert all(0.5 < v["metrics"]["auc"] <= 1 for v in variants.values())
    assert sweep["primary"] == "auc"  # the example's first goal
    assert sweep["best"] == [max(variants, key=lambda n: variants[n]["metrics"]["auc"])]
    markdown = (tmp_path / "merged" / "report.md").read_text()
    assert markdown.count("| `leaves-") == 2 and "★" in markdown


def test_the_first_goal_in_mlci_yaml_decides_the_best(three_variants, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "mlci.yaml").write_text(
        "version: 1\nmetrics: [metrics.json]\ngoals:\n  metrics.json:logloss:\n    direction: lower\n  auc:\n    direction: higher\n"
    )
    merge_reports(three_variants, tmp_path / "out", config_root=project)
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert (data["primary"], data["best"]) == ("logloss", ["leaves-31"])


def test_a_bare_comparison_as_report_json_is_read_too(tmp_path):
    dirs = [
        report_dir(tmp_path, "flat", [metric("auc", 0.9, 0.97)], {"train.seed": (0, 1)}, nested=False),
        report_dir(tmp_path, "nested", [metric("auc", 0.9, 0.92)], {"train.seed": (0, 2)}),
    ]
    sweep = collect(dirs)
    assert [(v.name, v.params, v.best) for v in sweep.variants] == [
        ("flat", {"train.seed": 1}, True),
        ("nested", {"train.seed": 2}, False),
    ]


def test_json_without_a_metrics_list_is_not_a_report(tmp_path):
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "report.json").write_text('{"hello": "world"}')
    with pytest.raises(DataError, match=r"is not an mlci report \(no metrics list\)"):
        collect([tmp_path / "other"])


WORKFLOW = Path(__file__).resolve().parents[1] / "templates" / "workflows" / "sweep.yml"


def workflow() -> dict:
    import yaml

    return yaml.safe_load(WORKFLOW.read_text())


def step(job: dict, name_start: str) -> dict:
    return next(s for s in job["steps"] if s.get("name", "").startswith(name_start))


def test_sweep_workflow_runs_the_grid_on_gpu_runners_then_merges_once():
    jobs = workflow()["jobs"]
    variant, merge = jobs["variant"], jobs["merge"]
    assert variant["runs-on"] == ["self-hosted", "gpu"]
    assert len(variant["strategy"]["matrix"]["learning_rate"]) * len(variant["strategy"]["matrix"]["num_leaves"]) > 1
    assert "head.repo.full_name == github.repository" in variant["if"]  # no fork code on our machines
    assert merge["needs"] == "variant" and merge["permissions"]["pull-requests"] == "write"
    assert "mlci report" in step(merge, "Merge")["run"] and "--merge" in step(merge, "Merge")["run"]
    assert "--id mlci-sweep" in step(merge, "One sticky comment")["run"]


def test_sweep_workflow_param_step_sets_each_variants_values(tmp_path):
    """The workflow's own `run:` script, executed for real on the example's params.yaml."""
    import subprocess
    import sys

    import yaml

    example_params = (Path(__file__).resolve().parents[1] / "templates" / "example" / "params.yaml").read_text()
    (tmp_path / "params.yaml").write_text(example_params)
    script = step(workflow()["jobs"]["variant"], "Set this variant's params")
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "SETS": "train.learning_rate=0.05 train.num_leaves=63 train.device=auto",
    }
    assert set(script["env"]) == {"SETS"}
    subprocess.run(["bash", "-e", "-c", script["run"]], cwd=tmp_path, env=env, check=True, capture_output=True)
    params = yaml.safe_load((tmp_path / "params.yaml").read_text())
    assert (params["train"]["learning_rate"], params["train"]["num_leaves"], params["train"]["device"]) == (
        0.05,
        63,
        "auto",
    )
    assert params["data"] == yaml.safe_load(example_params)["data"]
