"""data.expectations: strict parsing, one line per violation, and a broken dataset never
reaches the train stage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import yaml

from mlci.analysis import expectations
from mlci.errors import ConfigError
from mlci.model import data_rules
from mlci.store import atomicio
from tests.helpers import commit_all, git, invoke, set_param


def _rules(spec: dict) -> data_rules.TableRule:
    return data_rules.parse({"t.parquet": spec})[0]


def _table(**columns) -> pa.Table:
    return pa.Table.from_pandas(pd.DataFrame(columns), preserve_index=False)


def test_unknown_key_is_a_config_error_naming_the_path_and_a_suggestion():
    with pytest.raises(
        ConfigError, match=r"unknown key 'data\.expectations\.t\.parquet\.columns\.y\.mni'; did you mean 'min'"
    ):
        _rules({"columns": {"y": {"mni": 0}}})


def test_wrong_type_and_impossible_ranges_are_config_errors():
    with pytest.raises(ConfigError, match=r"'data\.expectations\.t\.parquet\.min_rows' must be a whole number"):
        _rules({"min_rows": "many"})
    with pytest.raises(ConfigError, match="min 2 is above max 1"):
        _rules({"columns": {"y": {"min": 2, "max": 1}}})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        _rules({"columns": {"y": {"max_null_fraction": 5}}})


def test_every_broken_rule_is_one_line_naming_file_and_column():
    rule = _rules(
        {
            "min_rows": 10,
            "extra_columns": False,
            "columns": {
                "label": {"dtype": "integer", "values": [0, 1]},
                "score": {"dtype": "float", "min": 0, "max": 1, "max_null_fraction": 0.1},
                "id": {"unique": True},
                "missing": {},
            },
        }
    )
    table = _table(label=[0, 1, 2, 1], score=[0.5, None, -0.5, 3.0], id=[1, 2, 2, 3], extra=["a"] * 4)
    messages = [v.message for v in expectations.check_table(rule, table)]
    assert messages == [
        "t.parquet: has 4 row(s), expected at least 10 (min_rows)",
        "t.parquet: column 'label' has 1 value(s) outside values [0, 1] (e.g. 2)",
        "t.parquet: column 'score' is 25.00% null (1 of 4 rows), allowed at most 10.00% (max_null_fraction)",
        "t.parquet: column 'score' has 1 value(s) below min 0 (lowest -0.5)",
        "t.parquet: column 'score' has 1 value(s) above max 1 (highest 3)",
        "t.parquet: column 'id' has 1 duplicate value(s), expected unique",
        "t.parquet: required column 'missing' is missing (has: label, score, id, extra)",
        "t.parquet: unexpected column 'extra' (extra_columns: false)",
    ]


def test_dtype_mismatch_is_reported_once_per_column():
    rule = _rules({"columns": {"label": {"dtype": "integer", "min": 0}}})
    messages = [v.message for v in expectations.check_table(rule, _table(label=["a", "b"]))]
    assert messages == ["t.parquet: column 'label' is string, expected integer"]


def test_optional_missing_column_and_exact_dtype_names_pass():
    rule = _rules({"columns": {"opt": {"required": False}, "n": {"dtype": "int64"}}})
    assert expectations.check_table(rule, _table(n=[1, 2])) == []


def test_unreadable_file_is_itself_a_violation(tmp_path: Path):
    (tmp_path / "t.parquet").write_bytes(b"garbage")
    violations = expectations.check_file(tmp_path, _rules({}))
    assert len(violations) == 1 and violations[0].message.startswith("t.parquet: cannot read as parquet")


def _model_sha(root: Path) -> str:
    return atomicio.sha256(root / "models" / "model.txt")


def test_run_stores_a_data_profile_of_the_declared_tables(trained_repo: Path):
    from mlci.store import baseline, gitrepo

    repo = gitrepo.open_repo(trained_repo)
    record = baseline.latest(repo, gitrepo.head_commit(repo))
    profile = record.extra["data_profile"]
    assert set(profile) == {"data/train.parquet", "data/test.parquet"}
    assert profile["data/train.parquet"]["columns"]["label"]["top_complete"] is True


def test_broken_produced_table_stops_run_after_prepare_before_train(trained_repo: Path):
    before = _model_sha(trained_repo)
    set_param(trained_repo, "data.n_rows", 60)
    set_param(trained_repo, "train.learning_rate", 0.2)  # train would run if it were reached
    result = invoke(trained_repo, "run")
    assert result.exit_code == 5, result.output
    assert "data expectation(s) failed after stage prepare, before training" in result.output
    assert "data/train.parquet: has " in result.output and "expected at least 100 (min_rows)" in result.output
    assert "data/test.parquet: has " in result.output  # every violation has its own line
    assert _model_sha(trained_repo) == before
    assert "stage train" not in result.output


def test_broken_raw_input_stops_run_before_any_stage(trained_repo: Path):
    pd.DataFrame({"user": [1, 2, 2], "age": [30, -4, 51]}).to_csv(trained_repo / "users.csv", index=False)
    config = yaml.safe_load((trained_repo / "mlci.yaml").read_text())
    config["data"]["expectations"]["users.csv"] = {"columns": {"user": {"unique": True}, "age": {"min": 0}}}
    (trained_repo / "mlci.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    set_param(trained_repo, "data.noise", 0.2)
    commit_all(trained_repo, "add users")
    result = invoke(trained_repo, "run")
    assert result.exit_code == 5
    assert "2 data expectation(s) failed on input data, before training" in result.output
    assert "users.csv: column 'age' has 1 value(s) below min 0 (lowest -4)" in result.output
    assert "users.csv: column 'user' has 1 duplicate value(s), expected unique" in result.output
    assert "stage prepare" not in result.output
    assert git(trained_repo, "status", "--porcelain") == ""  # nothing ran, nothing changed


def test_data_check_command_lists_violations_and_exits_5(trained_repo: Path):
    assert invoke(trained_repo, "data", "check").output.strip() == "all data expectations hold"
    frame = pd.read_parquet(trained_repo / "data" / "test.parquet")
    frame.loc[frame.index[:3], "label"] = 7
    frame.to_parquet(trained_repo / "data" / "test.parquet", index=False)
    result = invoke(trained_repo, "data", "check")
    assert result.exit_code == 5
    assert "✗ data/test.parquet: column 'label' has 3 value(s) outside values [0, 1] (e.g. 7)" in result.output


def test_expectation_typo_in_mlci_yaml_fails_run_with_exit_3(trained_repo: Path):
    text = (trained_repo / "mlci.yaml").read_text().replace("min_rows: 100", "min_row: 100")
    (trained_repo / "mlci.yaml").write_text(text)
    result = invoke(trained_repo, "run")
    assert result.exit_code == 3
    assert "unknown key 'data.expectations.data/train.parquet.min_row'; did you mean 'min_rows'" in result.output


def test_unchanged_tables_reuse_the_recorded_profile(trained_repo: Path):
    from mlci.store import baseline, gitrepo
    from mlci.workflows import run

    repo = gitrepo.open_repo(trained_repo)
    head = gitrepo.head_commit(repo)
    record = baseline.latest(repo, head)
    record.extra["data_profile"]["data/test.parquet"]["notes"] = ["marker: profiled by an earlier run"]
    record.id, record.created_at = "earlier0record01", "2099-01-01T00:00:00+00:00"  # the newest one
    baseline.save(repo, record)
    again = run.run(trained_repo, store=False)
    assert again.extra["data_profile"]["data/test.parquet"]["notes"] == ["marker: profiled by an earlier run"]
