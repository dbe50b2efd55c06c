"""`mlci -C DIR` acts on DIR as if started there, without changing the process's directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.helpers import invoke


def test_dash_c_acts_on_the_directory_and_leaves_the_cwd_alone(trained_repo: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # somewhere that is not a repository
    result = invoke(trained_repo, "diff", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["head"]["commit"]
    assert os.getcwd() == str(tmp_path)


def test_relative_paths_are_relative_to_dash_c(trained_repo: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (trained_repo / "alt.yaml").write_text((trained_repo / "mlci.yaml").read_text())
    result = invoke(trained_repo, "report", "--config", "alt.yaml", "-o", "out")
    assert result.exit_code == 0, result.output
    assert (trained_repo / "out" / "report.md").is_file() and not (tmp_path / "out").exists()
