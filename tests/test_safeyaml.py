"""The bounded YAML loader and number bounds (mlci.store.safeyaml, mlci.model.numbers), as units.

tests/test_bad_inputs.py runs the same hostile files through every command that reads them;
these pin the loader's own rules: what is refused, what DVC-valid YAML still means.
"""

from __future__ import annotations

import json
import time

import pytest

from mlci.errors import ConfigError
from mlci.model import numbers
from mlci.model.shown import show
from mlci.store import safeyaml


def _bomb(levels: int) -> str:
    text = "a0: &a0 [" + ",".join(["lol"] * 9) + "]\n"
    return text + "".join(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, levels + 1))


def load(text: str):
    return safeyaml.load(text, "f.yaml", ConfigError)


@pytest.mark.timeout(30)
def test_an_alias_bomb_is_refused_before_anything_is_built():
    started = time.monotonic()
    with pytest.raises(ConfigError, match="aliases expand it beyond"):
        load(_bomb(12))  # 9**12 strings
    assert time.monotonic() - started < 5


def test_aliases_within_the_limit_are_shared_not_copied():
    data = load(_bomb(4))  # 9**4 = 6,561 strings once expanded: fine
    assert data["a4"][0] is data["a3"]


def test_a_recursive_alias_is_refused():
    with pytest.raises(ConfigError, match="its own anchor"):
        load("x: &x [1, *x]\n")


def test_a_merge_key_is_overridden_by_an_explicit_key_wherever_it_is_written():
    assert load("b: &b {x: 1, y: 2}\nd:\n  x: 3\n  <<: *b\n")["d"] == {"x": 3, "y": 2}


def test_of_merged_mappings_the_first_listed_wins():
    assert load("d:\n  <<: [{x: 1}, {x: 2, y: 3}]\n")["d"] == {"x": 1, "y": 3}


def test_a_duplicate_key_is_refused_naming_both_lines():
    with pytest.raises(ConfigError, match=r"f.yaml:3: duplicate key 'a' \(first on line 2\)"):
        load("top:\n  a: 1\n  a: 2\n")


@pytest.mark.parametrize(
    "text", ["x: " + "9" * 5000, "x: " + "9" * 301, "x: 0x" + "f" * 300, "x: " + ":".join(["59"] * 200)]
)
def test_integers_beyond_the_bound_are_refused_without_converting_them(text: str):
    with pytest.raises(ConfigError, match="out of range"):
        load(text)


def test_integers_at_the_bound_read():
    assert load("x: 1" + "0" * 300)["x"] == 10**300


def test_an_unknown_tag_is_refused():
    with pytest.raises(ConfigError, match="unknown tag"):
        load("x: !python/object {a: 1}\n")


def test_show_stops_once_it_has_enough_characters():
    shared: list = ["lol"] * 9
    for _ in range(30):  # 9**30 strings if expanded
        shared = [shared] * 9
    started = time.monotonic()
    text = show({"k": shared})
    assert len(text) <= 60 and text.endswith("...") and time.monotonic() - started < 1


def test_show_matches_repr_and_json_for_small_values():
    value = {"a": [1, "s", None, True], "b": 0.5}
    assert show(value) == repr(value)
    assert show(value, as_json=True) == json.dumps(value)


def test_magnitudes_are_compared_without_overflow():
    assert numbers.in_range(10**300) and not numbers.in_range(10**300 + 1)
    assert not numbers.in_range(float("nan")) and not numbers.in_range(True)
    assert numbers.oversized({"a": [1, {"b": -(10**400)}]}) == -(10**400)
    assert numbers.describe(10**400 - 1) == "an integer of 400 digits"


def test_json_safe_names_non_finite_floats_as_strings():
    data = {"lr": float("nan"), "hi": [float("inf"), float("-inf")], 1.5: "key"}
    assert json.loads(json.dumps(numbers.json_safe(data), allow_nan=False)) == {
        "lr": "NaN",
        "hi": ["Infinity", "-Infinity"],
        "1.5": "key",
    }
