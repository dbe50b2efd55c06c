"""Feature attributions in the PR report: base vs head, checked against the libraries' own SHAP values."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlci.analysis import explain
from tests.helpers import commit_all, git, invoke, set_param

# --- LightGBM: the example pipeline, through `mlci report` --------------------------------------------


def _pred_contrib_mean_abs(model: Path, table: Path) -> list[dict]:
    """What LightGBM itself says: mean |pred_contrib| per feature (bias column dropped), largest first."""
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(model))
    features = booster.feature_name()
    contrib = booster.predict(pd.read_parquet(table)[features], pred_contrib=True)
    values = np.abs(contrib[:, :-1]).mean(axis=0)
    return [
        {"feature": f, "value": float(v)}
        for f, v in sorted(zip(features, values, strict=True), key=lambda p: (-p[1], p[0]))
    ]


def _values(side: list[dict]) -> dict[str, float]:
    return {e["feature"]: e["value"] for e in side}


def _same(got: list[dict], expected: list[dict]) -> None:
    assert [e["feature"] for e in got] == [e["feature"] for e in expected]
    assert _values(got) == pytest.approx(_values(expected), rel=1e-9, abs=1e-12)


@pytest.fixture(scope="module")
def retrained_pr(_trained_example: Path, tmp_path_factory) -> tuple[Path, Path]:
    """The example with a PR that retrains (num_leaves 15 → 4); base model and test table kept aside."""
    from mlci.workflows import run

    root = tmp_path_factory.mktemp("explain") / "repo"
    shutil.copytree(_trained_example, root, symlinks=True)
    kept = root.parent / "base-files"
    kept.mkdir()
    shutil.copy(root / "models" / "model.txt", kept / "model.txt")
    shutil.copy(root / "data" / "test.parquet", kept / "test.parquet")
    git(root, "checkout", "-q", "-b", "pr")
    set_param(root, "train.num_leaves", 4)
    set_param(root, "train.n_estimators", 20)
    commit_all(root, "Smaller trees")
    run.run(root)
    result = invoke(root, "report", "--base", "main")
    assert result.exit_code == 0, result.output
    return root, kept


def test_head_attributions_equal_lightgbms_own_pred_contrib(retrained_pr):
    root, _kept = retrained_pr
    data = json.loads((root / "mlci-report" / "report.json").read_text())
    head = data["explanations"]["churn"]["head"]
    _same(head, _pred_contrib_mean_abs(root / "models" / "model.txt", root / "data" / "test.parquet"))
    assert data["explanations"]["churn"]["method"] == "lightgbm pred_contrib"


def test_base_attributions_come_from_the_base_model_in_the_dvc_cache(retrained_pr):
    root, kept = retrained_pr
    data = json.loads((root / "mlci-report" / "report.json").read_text())
    base = data["explanations"]["churn"]["base"]
    _same(base, _pred_contrib_mean_abs(kept / "model.txt", kept / "test.parquet"))
    assert _values(base) != pytest.approx(_values(data["explanations"]["churn"]["head"]))


def test_report_shows_top_features_side_by_side_with_a_plot(retrained_pr):
    root, _kept = retrained_pr
    text = (root / "mlci-report" / "report.md").read_text()
    section = text.split("## Feature attributions", 1)[1].split("\n## ", 1)[0]
    data = json.loads((root / "mlci-report" / "report.json").read_text())["explanations"]["churn"]
    rows = [line for line in section.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == 10  # top: 10 in the example's mlci.yaml
    first = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert first[1] == f"`{data['base'][0]['feature']}`" and first[3] == f"`{data['head'][0]['feature']}`"
    assert "![Feature attributions, base vs head](plots/attributions-churn.png)" in section
    assert (root / "mlci-report" / "plots" / "attributions-churn.png").stat().st_size > 1000


def test_a_base_without_the_model_is_a_note_not_a_crash(trained_repo: Path):
    """Base = the commit before the first training (no model, no dvc.lock there): the report still builds."""
    git(trained_repo, "branch", "old", git(trained_repo, "rev-list", "--max-parents=0", "HEAD"))
    result = invoke(trained_repo, "report", "--base", "old")
    assert result.exit_code in (0, 1), result.output
    data = json.loads((trained_repo / "mlci-report" / "report.json").read_text())["explanations"]["churn"]
    assert data["base"] is None and data["head"]
    assert any(n.startswith("base attributions not computed: models/model.txt at base") for n in data["notes"])


def test_multiclass_lightgbm_adds_the_classes_mean_abs_shap():
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(600, 5)), columns=[f"c{i}" for i in range(5)])
    label = (frame["c0"] > 0).astype(int) + (frame["c1"] > 0.5).astype(int)
    booster = lgb.train(
        {"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1, "seed": 0},
        lgb.Dataset(frame, label),
        num_boost_round=10,
    )
    got = explain.attribute(booster.model_to_string(), frame, "test", rows=10_000)
    contrib = booster.predict(frame, pred_contrib=True).reshape(len(frame), 3, 6)[:, :, :-1]
    expected = np.abs(contrib).mean(axis=0).sum(axis=0)
    assert dict(got.features) == pytest.approx(dict(zip(frame.columns, expected, strict=True)))
    assert got.features[0][0] in ("c0", "c1")


# --- scikit-learn: a plain git project (no DVC), the models committed --------------------------------


def _sk_project(root: Path, *, explain_spec: str) -> None:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "mlci.yaml").write_text(
        "metrics: [metrics.json]\nmodel: model.joblib\n" + explain_spec + "goals:\n  acc: {direction: higher}\n"
    )


def _forest(root: Path, depth: int, seed: int) -> None:
    import joblib
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, random_state=seed)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    forest = RandomForestClassifier(n_estimators=15, max_depth=depth, random_state=seed).fit(frame, y)
    joblib.dump(forest, root / "model.joblib")
    frame.assign(label=y).iloc[:120].to_parquet(root / "test.parquet")
    (root / "metrics.json").write_text(json.dumps({"acc": round(float(forest.score(frame, y)), 4)}))


def _shap_direct(model_file: Path, table: Path) -> list[dict]:
    """shap called directly: TreeExplainer on the forest, positive class, mean |SHAP| per feature."""
    import joblib
    import shap

    model = joblib.load(model_file)
    frame = pd.read_parquet(table)[list(model.feature_names_in_)]
    values = np.asarray(shap.TreeExplainer(model).shap_values(frame))[:, :, 1]
    means = np.abs(values).mean(axis=0)
    return [
        {"feature": f, "value": float(v)}
        for f, v in sorted(zip(frame.columns, means, strict=True), key=lambda p: (-p[1], p[0]))
    ]


def test_random_forest_attributions_equal_shap_called_directly(tmp_path: Path):
    pytest.importorskip("shap", reason="the explain extra: pip install 'mlci[explain]'")
    root = tmp_path / "forest"
    _sk_project(root, explain_spec="explain: {data: test.parquet, top: 4}\n")
    _forest(root, depth=5, seed=0)
    commit_all(root, "Forest")
    base_dir = tmp_path / "base-files"
    base_dir.mkdir()
    shutil.copy(root / "model.joblib", base_dir / "model.joblib")
    shutil.copy(root / "test.parquet", base_dir / "test.parquet")
    git(root, "checkout", "-q", "-b", "pr")
    _forest(root, depth=2, seed=1)
    commit_all(root, "Shallower forest, new data")
    result = invoke(root, "report", "--base", "main")
    assert result.exit_code in (0, 1), result.output
    data = json.loads((root / "mlci-report" / "report.json").read_text())["explanations"]["forest"]
    assert data["method"] == "shap TreeExplainer"
    _same(data["head"], _shap_direct(root / "model.joblib", root / "test.parquet"))
    _same(data["base"], _shap_direct(base_dir / "model.joblib", base_dir / "test.parquet"))
    text = (root / "mlci-report" / "report.md").read_text()
    assert "from shap's TreeExplainer" in text and "over 120 evaluation rows" in text


# --- a pipeline-written attribution file -------------------------------------------------------------


def test_a_pipeline_written_file_is_read_diffed_and_big_rank_moves_are_named_in_the_summary(tmp_path: Path):
    root = tmp_path / "files"
    _sk_project(root, explain_spec="explain: {file: eval/attributions.csv, top: 5}\n")
    (root / "eval").mkdir()
    (root / "metrics.json").write_text('{"acc": 0.8}')
    base = {"age": 0.50, "income": 0.40, "tenure": 0.30, "plan": 0.20, "region": 0.10, "device": 0.05}
    (root / "eval" / "attributions.csv").write_text("feature,value\n" + "".join(f"{k},{v}\n" for k, v in base.items()))
    commit_all(root, "Base")
    git(root, "checkout", "-q", "-b", "pr")
    head = {"region": 0.9, "age": 0.45, "income": 0.35, "tenure": 0.3, "plan": 0.2, "device": 0.01}
    (root / "eval" / "attributions.json").write_text("{}")  # an unrelated file: not read
    (root / "eval" / "attributions.csv").write_text("feature,value\n" + "".join(f"{k},{v}\n" for k, v in head.items()))
    (root / "metrics.json").write_text('{"acc": 0.81}')
    commit_all(root, "Region matters now")
    result = invoke(root, "report", "--base", "main")
    assert result.exit_code == 0, result.output
    data = json.loads((root / "mlci-report" / "report.json").read_text())["explanations"]["files"]
    assert data["base"] == [{"feature": k, "value": v} for k, v in base.items()]
    assert data["head"] == [{"feature": k, "value": v} for k, v in head.items()]
    assert data["moves"] == [{"feature": "region", "base_rank": 5, "head_rank": 1}]
    summary = (root / "mlci-report" / "report.md").read_text().split("## Metrics")[0]
    assert "**Feature attributions moved**" in summary and "`region` 5 → 1 (▲4)" in summary
    assert "`age`" not in summary  # moved by one place: not news
    assert "the pipeline's attribution file" in (root / "mlci-report" / "report.md").read_text()


def test_a_malformed_attribution_file_is_a_note(tmp_path: Path):
    root = tmp_path / "bad"
    _sk_project(root, explain_spec="explain: {file: attributions.json}\n")
    (root / "metrics.json").write_text('{"acc": 0.8}')
    (root / "attributions.json").write_text('{"age": 0.5}')
    commit_all(root, "Base")
    git(root, "checkout", "-q", "-b", "pr")
    (root / "attributions.json").write_text('{"age": "high"}')
    commit_all(root, "Broken")
    result = invoke(root, "report", "--base", "main")
    assert result.exit_code == 0, result.output
    data = json.loads((root / "mlci-report" / "report.json").read_text())["explanations"]["bad"]
    assert data["head"] is None and data["base"] == [{"feature": "age", "value": 0.5}]
    assert data["notes"] == [
        "head attributions not computed: attributions.json at head: the value of 'age' is 'high', not a finite number"
    ]


def test_feature_names_reach_the_report_escaped(tmp_path: Path):
    root = tmp_path / "hostile"
    _sk_project(root, explain_spec="explain: {file: a.json}\n")
    (root / "metrics.json").write_text('{"acc": 0.8}')
    evil = "<img src=x onerror=alert(1)> @admin #1"
    (root / "a.json").write_text(json.dumps({evil: 1.0, "b": 0.5}))
    commit_all(root, "Base")
    result = invoke(root, "report", "--base", "main")
    assert result.exit_code == 0, result.output
    text = (root / "mlci-report" / "report.md").read_text()
    html = (root / "mlci-report" / "report.html").read_text()
    assert f"| 1 | `{evil}` |" in text  # a code span: inert, no mention, no tag
    assert "<code>&lt;img src=x onerror=alert(1)&gt; @admin #1</code>" in html
    assert "<img src=x" not in html and 'src="x"' not in html


# --- config -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("explain: {top: 3}\n", "'explain' needs 'data:' (the evaluation table to explain the model on) or 'file:'"),
        ("explain: {data: ../outside.parquet}\n", "'explain.data' path '../outside.parquet' is outside the repository"),
        ("explain: {file: a.csv, top: 0}\n", "'explain.top' must be at least 1, got 0"),
        ("explain: {file: a.csv, colour: red}\n", "unknown key 'explain.colour'"),
        ("explain: {data: t.parquet, file: a.csv}\n", "'explain' has both 'data:' and 'file:'"),
        ("explain: {file: a.csv, rows: many}\n", "'explain.rows' must be a number, got str 'many'"),
    ],
)
def test_bad_explain_config_is_one_line_exit_3(tmp_path: Path, spec: str, message: str):
    root = tmp_path / "cfg"
    _sk_project(root, explain_spec=spec)
    (root / "metrics.json").write_text('{"acc": 0.8}')
    commit_all(root, "Base")
    result = invoke(root, "report")
    assert result.exit_code == 3, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


def test_explain_data_needs_the_model_file(tmp_path: Path):
    root = tmp_path / "nomodel"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "mlci.yaml").write_text("metrics: [metrics.json]\nexplain: {data: t.parquet}\n")
    (root / "metrics.json").write_text('{"acc": 0.8}')
    commit_all(root, "Base")
    result = invoke(root, "report")
    assert result.exit_code == 3
    assert "'explain.data' needs the model file: add 'model: <path>'" in result.stderr


def test_rows_caps_the_rows_explained_with_an_even_sample():
    import lightgbm as lgb

    rng = np.random.default_rng(1)
    frame = pd.DataFrame(rng.normal(size=(1000, 4)), columns=["a", "b", "c", "d"])
    booster = lgb.train(
        {"objective": "regression", "verbose": -1, "num_threads": 1, "seed": 0},
        lgb.Dataset(frame, frame["a"] * 2 + frame["b"]),
        num_boost_round=5,
    )
    got = explain.attribute(booster.model_to_string(), frame, "test", rows=100)
    sample = frame.iloc[np.linspace(0, 999, 100).round().astype(int)]
    expected = np.abs(booster.predict(sample, pred_contrib=True)[:, :-1]).mean(axis=0)
    assert got.rows == 100
    assert dict(got.features) == pytest.approx(dict(zip(frame.columns, expected, strict=True)))


def test_a_project_without_explain_or_goals_gets_neither_section(tmp_path: Path):
    root = tmp_path / "plain"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "mlci.yaml").write_text("metrics: [metrics.json]\n")
    (root / "metrics.json").write_text('{"acc": 0.8}')
    commit_all(root, "Base")
    assert invoke(root, "report").exit_code == 0
    text = (root / "mlci-report" / "report.md").read_text()
    data = json.loads((root / "mlci-report" / "report.json").read_text())
    assert "## History of" not in text and "## Feature attributions" not in text
    assert data["explanations"] is None and data["history"] == {}
