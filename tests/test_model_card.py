"""The model card stored with every promoted version: the audit trail (who approved, when, on
which code and data, with what evidence), escaped by construction, readable by GTO and MLflow."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.integrations.registry.mlflow_backend import DESCRIPTION_LIMIT, fit_description
from mlci.report.card import model_card
from tests.helpers import git, invoke
from tests.plugins.fake_github import actions_env
from tests.test_promote import pr_branch, registry_repo  # noqa: F401 - the fixture, reused

HOSTILE = "</details><img src=x onerror=alert(1)>"
_MARKDOWN_TAGS = {"h2", "h3", "ul", "li", "strong", "code", "table", "thead", "tbody", "tr", "th", "td", "p", "a", "em"}


def _approved_pr_run(root: Path, fake_github, tmp_path: Path) -> tuple[str, dict]:
    """A PR head run by `mlci ci` (so its record holds the metrics' CIs), approved by a maintainer."""
    head = pr_branch(root)
    env = actions_env(fake_github, tmp_path / "runner", sha=head)
    assert invoke(root, "ci", env=env).exit_code == 0
    fake_github.add_pull(12, head_sha=head)
    fake_github.collaborators["maint"] = "write"
    review = fake_github.add_review(12, "maint", "APPROVED", head)
    return head, review


def _promote(root: Path, fake_github) -> dict:
    env = {"GITHUB_TOKEN": fake_github.token, "GITHUB_API_URL": fake_github.url, "GITHUB_REPOSITORY": fake_github.repo}
    result = invoke(root, "promote", "--pr", "12", "--json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["version"]


def test_the_card_names_the_approver_the_time_the_code_the_data_and_the_metrics_with_cis(
    registry_repo, fake_github, tmp_path
):
    head, review = _approved_pr_run(registry_repo, fake_github, tmp_path)
    version = _promote(registry_repo, fake_github)
    result = invoke(registry_repo, "registry", "card", f"churn@{version['version']}")
    assert result.exit_code == 0, result.output
    card = result.stdout
    assert f"**Approved by** `maint` on `{review['submitted_at']}` at commit `{head}`" in card
    assert f"([review]({review['html_url']}))" in card
    lines = git(registry_repo, "notes", "--ref=mlci", "show", head).splitlines()  # sorted: find the promoted run
    [record] = [r for r in map(json.loads, lines) if r["id"] == version["metadata"]["record"]]
    for path, md5 in record["deps"].items():
        assert f"| `{path}` | `{md5}` |" in card
    assert "| `train.n_estimators` | `params.yaml` | `60` |" in card
    auc = record["extra"]["evidence"]["churn"]["metrics"]["auc"]
    low, high = auc["head_ci"]
    assert re.search(rf"\| `auc` \| `[^`]+` \| `[\d.]+` \| \[{low:.4f}, {high:.4f}\] \|", card)
    assert "95% bootstrap intervals" in card


def test_gto_reads_the_registry_exactly_as_before_the_card(registry_repo, fake_github, tmp_path):
    _approved_pr_run(registry_repo, fake_github, tmp_path)
    version = _promote(registry_repo, fake_github)
    gto = str(Path(sys.executable).parent / "gto")
    shown = json.loads(
        subprocess.run(
            [gto, "show", "churn", "--json"], cwd=registry_repo, check=True, capture_output=True, text=True
        ).stdout
    )
    assert [(v["version"], v["commit_hexsha"]) for v in shown] == [(version["version"], version["commit"])]
    message = shown[0]["registrations"][0]["message"]
    assert message.startswith(f"Registering artifact churn version {version['version']}\n")
    assert "## Model card" in message


def test_a_version_without_a_card_says_so(registry_repo):
    gto = str(Path(sys.executable).parent / "gto")
    subprocess.run(
        [gto, "register", "churn", "HEAD", "--version", "v1.0.0"], cwd=registry_repo, check=True, capture_output=True
    )
    result = invoke(registry_repo, "registry", "card", "churn@v1.0.0", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"name": "churn", "version": "v1.0.0", "card": None}
    assert "has no model card" in invoke(registry_repo, "registry", "card", "churn@v1.0.0").stderr


def _hostile_metadata() -> dict:
    return {
        "commit": "a" * 40,
        "record": f"r`|{HOSTILE}",
        "pr": 7,
        "sha256": "b" * 64,
        "size": 10,
        "metrics": {f"m{HOSTILE}.json": {HOSTILE: 0.5, "@admin #1 | x": 1.0}},
        "params": {"params.yaml": {f"k|{HOSTILE}": f"``{HOSTILE}``"}},
        "deps": {f"data/{HOSTILE}": "c" * 32},
        "approval": {
            "kind": "review",
            "reviewer": f"`{HOSTILE}`",
            "commit": "a" * 40,
            "approved_at": HOSTILE,
            "review_url": f"javascript:alert(1)//{HOSTILE}",
        },
        "gate": {"passed": True},
        "warnings": [f"promoted {HOSTILE}"],
        "promoted_at": "now",
        "mlci": "0",
        "evidence": {"churn": {"confidence": 0.95, "metrics": {HOSTILE: {"head_ci": [0.4, 0.6]}}}},
    }


def test_hostile_names_cannot_break_out_of_the_card():
    import cmarkgfm
    from cmarkgfm.cmark import Options

    card = model_card("churn", "v1.0.0", _hostile_metadata())
    html = cmarkgfm.github_flavored_markdown_to_html(card, options=Options.CMARK_OPT_UNSAFE)
    assert set(re.findall(r"<([a-z0-9]+)", html)) <= _MARKDOWN_TAGS  # no <img>, no </details>, no script
    assert "javascript:" not in re.findall(r'href="([^"]*)"', html).__str__()
    table_rows = [line for line in card.splitlines() if line.startswith("| `")]
    assert all(len(re.findall(r"(?<!\\)\|", row)) == row.count(" | ") + 2 for row in table_rows)  # no extra cells


def test_mlflow_stores_the_card_as_the_version_description(trained_repo, mlflow_server, monkeypatch):
    from tests.test_registry_mlflow import client, mlflow_repo, model_name  # noqa: F401

    config = trained_repo / "mlci.yaml"
    config.write_text(config.read_text().replace("name: churn", "name: churn-card") + "registry:\n  backend: mlflow\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    result = invoke(trained_repo, "promote", "--json")
    assert result.exit_code == 0, result.output
    number = json.loads(result.stdout)["version"]["version"]
    described = client(mlflow_server.uri).get_model_version("churn-card", number).description
    assert described.startswith("## Model card: `churn-card@" + number + "`")
    assert "**Promoted from the default branch** `main`" in described
    card = invoke(trained_repo, "registry", "card", f"churn-card@{number}")
    assert card.stdout.rstrip("\n") == described.rstrip("\n")


@pytest.mark.parametrize("rows", [10, 400])
def test_a_card_fits_mlflows_description_column(rows):
    metadata = {"metrics": {"metrics.json": {f"metric_{i}": i / 7 for i in range(rows)}}, "approval": {}}
    card = model_card("m", "1", metadata)
    fitted = fit_description(card)
    assert len(fitted) <= DESCRIPTION_LIMIT
    assert fitted == card if len(card) <= DESCRIPTION_LIMIT else fitted.endswith("has every metric)\n")
