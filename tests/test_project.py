"""A command reads and validates mlci.yaml once: the Project is opened once and handed down."""

from __future__ import annotations

import pytest

from mlci.store import config
from tests.helpers import git, invoke
from tests.plugins.fake_github import actions_env


@pytest.fixture
def loads(monkeypatch) -> list[str]:
    """Every `config.load` of the command under test (the real one, counted)."""
    seen: list[str] = []
    real = config.load

    def counting(root, *args, **kwargs):
        seen.append(str(root))
        return real(root, *args, **kwargs)

    monkeypatch.setattr(config, "load", counting)
    return seen


def test_mlci_ci_on_a_pull_request_reads_the_config_once(clean_pr, fake_github, tmp_path, loads):
    env = actions_env(fake_github, tmp_path / "runner", sha=git(clean_pr, "rev-parse", "HEAD"))
    result = invoke(clean_pr, "ci", env=env)
    assert result.exit_code == 0, result.output
    assert len(loads) == 1


@pytest.mark.parametrize("command", [["report", "-o", "out"], ["gate"], ["run"]])
def test_a_command_reads_the_config_once(trained_repo, loads, command):
    result = invoke(trained_repo, *command)
    assert result.exit_code == 0, result.output
    assert len(loads) == 1
