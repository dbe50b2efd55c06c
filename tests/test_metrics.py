"""Metrics files: flattened like `dvc metrics diff`; non-numbers set aside with a note, broken numbers rejected."""

from __future__ import annotations

import pytest

from mlci.errors import DataError
from mlci.store.metrics import parse_metrics, parse_params, split_metrics


def test_json_metrics_are_read():
    assert parse_metrics('{"auc": 0.9, "n": 3}', "m.json") == {"auc": 0.9, "n": 3}


def test_yaml_metrics_are_read():
    assert parse_metrics("auc: 0.9\nloss: 0.1\n", "m.yaml") == {"auc": 0.9, "loss": 0.1}


def test_nested_metrics_are_flattened_with_dots_like_dvc():
    assert parse_metrics('{"train": {"auc": 0.9}, "test": {"auc": 0.8}}', "m.json") == {
        "train.auc": 0.9,
        "test.auc": 0.8,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("   \n", "is empty"),
        ("{not json: [", "neither JSON nor YAML"),
        ("just words", "neither JSON nor YAML"),
        ("[0.9, 0.8]", "holds a list"),
        ('{"auc": NaN}', "metric 'auc' is nan"),
        ('{"auc": Infinity}', "metric 'auc' is inf"),
        ('{"auc": -Infinity}', "metric 'auc' is -inf"),
        ("{}", "holds no metrics"),
        ('{"a": {}}', "holds no metrics"),
    ],
)
def test_bad_metrics_files_are_rejected_with_the_reason(text: str, message: str):
    with pytest.raises(DataError, match=message.replace("[", r"\[").replace("(", r"\(")) as err:
        parse_metrics(text, "m.json")
    assert err.value.message.startswith("m.json")
    assert "\n" not in err.value.message


def test_params_are_flattened_and_keep_any_value_type():
    assert parse_params("train:\n  lr: 0.1\n  layers: [1, 2]\nname: x\n", "params.yaml") == {
        "train.lr": 0.1,
        "train.layers": [1, 2],
        "name": "x",
    }


def test_strings_booleans_and_lists_are_set_aside_with_a_note_not_rejected():
    notes: list[str] = []
    text = '{"auc": 0.9, "model": "lgbm", "ok": true, "sizes": [1, 2], "n": {"k": 3}}'
    assert parse_metrics(text, "m.json", notes) == {"auc": 0.9, "n.k": 3}
    assert notes == [
        "m.json: 'model' is a string (\"lgbm\"), shown here and not compared",
        "m.json: 'ok' is a boolean (true), shown here and not compared",
        "m.json: 'sizes' is a list ([1, 2]), shown here and not compared",
    ]


def test_a_file_of_strings_only_has_no_numbers_and_is_not_fatal():
    assert split_metrics('{"model": "lgbm"}', "m.json") == ({}, {"model": "lgbm"})
