"""The registry's git calls authenticate with the token `mlci ci` holds, not with os.environ (issue 14)."""

from __future__ import annotations

import base64

from mlci.integrations.registry.gto_tags import credentials, git_auth_env


def _header(env: dict[str, str]) -> str:
    index = int(env["GIT_CONFIG_COUNT"]) - 1
    return env[f"GIT_CONFIG_KEY_{index}"] + " " + env[f"GIT_CONFIG_VALUE_{index}"]


def test_the_given_token_is_used_though_the_environment_has_none(monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)  # what the CLI does before running pipeline code
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GIT_CONFIG_COUNT", raising=False)
    with credentials("ghs_given", "https://ghe.example.com"):
        header = _header(git_auth_env())
    assert header.startswith("http.https://ghe.example.com/.extraheader AUTHORIZATION: basic ")
    assert base64.b64decode(header.rsplit(" ", 1)[1]).decode() == "x-access-token:ghs_given"
    assert git_auth_env() == {}  # outside the block: nothing, as before


def test_the_given_token_wins_over_a_stale_environment_token(monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_from_environ")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GIT_CONFIG_COUNT", raising=False)
    with credentials("ghs_given"):
        header = _header(git_auth_env())
    assert base64.b64decode(header.rsplit(" ", 1)[1]).decode() == "x-access-token:ghs_given"
