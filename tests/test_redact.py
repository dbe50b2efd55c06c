"""Credentials never leave mlci: one redactor for errors, warnings and everything published."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.redact import redact, register
from tests.helpers import commit_all, invoke
from tests.plugins.fake_github import TOKEN


def _basic(token: str) -> str:
    return base64.b64encode(f"x-access-token:{token}".encode()).decode()


def _assert_clean(text: str) -> None:
    assert TOKEN not in text
    assert _basic(TOKEN) not in text and _basic(TOKEN).rstrip("=") not in text


@pytest.mark.parametrize("status", [401, 422])
def test_a_server_echoing_the_authorization_header_never_gets_the_token_printed(gh_env, tmp_path, status):
    gh_env.echo_authorization(status)
    body = tmp_path / "report.md"
    body.write_text("## report\n")
    result = invoke(tmp_path, "comment", "--pr", "12", "--body-file", str(body))
    assert result.exit_code == 7
    assert "Authorization" in result.stderr  # the echo reached mlci's message…
    _assert_clean(result.stdout + result.stderr)  # …without the credential


def test_a_registered_token_and_its_git_extraheader_form_are_removed():
    secret = "s3cret-value-not-shaped-like-a-github-token"
    register(secret)
    text = f"fatal: token {secret} / header AUTHORIZATION: basic {_basic(secret)} / {_basic(secret).rstrip('=')}"
    cleaned = redact(text)
    assert secret not in cleaned and _basic(secret).rstrip("=") not in cleaned
    assert cleaned.startswith("fatal: token ***")


@pytest.mark.parametrize(
    "leak",
    [
        "Authorization: Bearer abc.def-unregistered-credential",
        "authorization: token unregistered-credential-42",
        "AUTHORIZATION: basic dW5yZWdpc3RlcmVkOmNyZWRlbnRpYWw0Mg==",
        "https://x-access-token:unregistered-credential-42@github.com/o/r.git",
        "ghp_0123456789abcdefABCDEF0123456789abcd",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
    ],
)
def test_credentials_of_unknown_origin_are_removed_by_their_shape(leak):
    cleaned = redact(f"error: {leak} (retrying)")
    secret = leak.rsplit(" ", 1)[-1].split("@")[0].split(":")[-1]
    assert secret not in cleaned and "***" in cleaned and cleaned.endswith("(retrying)")


def test_ordinary_report_text_is_left_alone():
    text = "| auc | 0.91 | basic features | Bearer of bad news | see https://github.com/o/r/pull/3 |"
    assert redact(text) == text


def test_the_published_comment_body_is_redacted_before_it_is_sent(gh_env, tmp_path):
    body = tmp_path / "report.md"
    body.write_text(f"stage log: curl -H 'Authorization: Bearer {TOKEN}' failed\n")
    result = invoke(tmp_path, "comment", "--pr", "12", "--body-file", str(body))
    assert result.exit_code == 0, result.output
    [comment] = gh_env.issue_comments(12)
    assert "stage log" in comment["body"]
    _assert_clean(comment["body"])
    _assert_clean(gh_env.log_text())


def test_every_line_the_cli_prints_is_redacted_whoever_wrote_it(git_repo):
    """A note quoting a PR's metrics file (not an error, not a warning) still cannot print the token."""
    secret = "s3cr3t-value-of-the-token"
    (git_repo / "dvc.yaml").write_text("stages:\n  train:\n    cmd: 'true'\n    metrics: [m.json]\n")
    (git_repo / "m.json").write_text(json.dumps({"auc": 0.9, "who": f"{secret} ghs_{'a' * 36}"}))
    commit_all(git_repo, "metrics")
    (git_repo / "m.json").write_text(json.dumps({"auc": 0.8, "who": f"now {secret}"}))
    script = Path(sys.executable).with_name("mlci")
    out = subprocess.run(
        [str(script), "diff"], cwd=git_repo, capture_output=True, text=True, env={**os.environ, "GITHUB_TOKEN": secret}
    )
    assert out.returncode == 0, out.stderr
    assert "'who' is a string" in out.stdout  # the line that quotes the value was printed
    assert secret not in out.stdout + out.stderr
    assert "ghs_" not in out.stdout + out.stderr
