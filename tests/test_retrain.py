"""Scheduled retraining: the decision, the report, and `mlci pr create` against a real
loopback GitHub API with a bare git repository as origin."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mlci.model.record import RunRecord
from mlci.store import config as config_mod
from mlci.store.config import RetrainSettings
from mlci.workflows.retrain import Reference, decide
from tests.helpers import commit_all, git, invoke, set_param

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / "templates" / "workflows" / "retrain.yml"


# --- the decision (pure) ------------------------------------------------------------------


@pytest.fixture
def cfg(tmp_path: Path) -> config_mod.Config:
    (tmp_path / "mlci.yaml").write_text(
        "metrics: [metrics.json]\ngoals:\n  auc: {direction: higher, max_regression: 0.01}\n"
        "  logloss: {direction: lower}\n"
    )
    return config_mod.load(tmp_path)


def _record(auc: float, logloss: float = 0.3, profile: dict | None = None) -> RunRecord:
    return RunRecord(
        commit="a" * 40,
        branch="main",
        dirty=True,
        params={},
        metrics={"metrics.json": {"auc": auc, "logloss": logloss}},
        extra={"data_profile": profile} if profile else {},
    )


def _reference(auc: float, logloss: float = 0.3, profile: dict | None = None) -> Reference:
    return Reference("churn v1.0.0 (churn#prod)", "b" * 40, {"metrics.json": {"auc": auc, "logloss": logloss}}, profile)


def test_nothing_to_compare_with_opens_a_pr(cfg):
    decision = decide(cfg, _record(0.9), None)
    assert decision.open_pr and "no production model" in decision.reasons[0]


def test_small_metric_moves_do_not_open_a_pr(cfg):
    decision = decide(cfg, _record(0.901, 0.2995), _reference(0.9, 0.3))
    assert not decision.open_pr and decision.reasons == []


def test_regression_beyond_the_goal_opens_a_pr(cfg):
    decision = decide(cfg, _record(0.88), _reference(0.9))
    assert decision.open_pr and decision.reasons == ["auc regressed by 0.02 (> max_regression 0.01)"]


def test_improvement_beyond_metric_change_opens_a_pr(cfg):
    decision = decide(cfg, _record(0.9, 0.25), _reference(0.9, 0.3), RetrainSettings(metric_change=0.05))
    assert decision.reasons == ["logloss improved by 16.67% (0.3 → 0.25, threshold 5.00%)"]


def test_data_drift_alone_opens_a_pr(cfg):
    base = {
        "t.csv": {
            "rows": 100,
            "columns": {
                "c": {
                    "dtype": "string",
                    "kind": "categorical",
                    "nulls": 0,
                    "null_fraction": 0.0,
                    "top": [["a", 90], ["b", 10]],
                    "top_complete": True,
                }
            },
        }
    }
    head = json.loads(json.dumps(base))
    head["t.csv"]["columns"]["c"]["top"] = [["a", 40], ["b", 60]]
    decision = decide(cfg, _record(0.9, profile=head), _reference(0.9, profile=base))
    assert decision.open_pr and decision.reasons[0].startswith("data: t.csv: column 'c' drifted, PSI")


# --- mlci pr create against the loopback GitHub ---------------------------------------------


@pytest.fixture
def cloned(git_repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(origin))
    git(git_repo, "remote", "add", "origin", str(origin))
    git(git_repo, "push", "-q", "origin", "main")
    (git_repo / "data.csv").write_text("a,b\n1,2\n")
    commit_all(git_repo, "data v1")
    git(git_repo, "push", "-q", "origin", "main")
    return git_repo, origin


def _env(fake, **extra) -> dict[str, str]:
    return {"GITHUB_TOKEN": fake.token, "GITHUB_API_URL": fake.url, "GITHUB_REPOSITORY": fake.repo, **extra}


def _report(root: Path, text: str) -> str:
    (root / "mlci-retrain").mkdir(exist_ok=True)
    (root / "mlci-retrain" / "report.md").write_text(text)
    return "mlci-retrain/report.md"


def test_pr_create_pushes_the_branch_and_opens_one_pr_with_the_report(cloned, fake_github):
    root, origin = cloned
    head = git(root, "rev-parse", "HEAD")
    (root / "data.csv").write_text("a,b\n1,2\n3,4\n")
    result = invoke(
        root, "pr", "create", "--body-file", _report(root, "## mlci retrain\n\nauc 0.9 → 0.8\n"), env=_env(fake_github)
    )
    assert result.exit_code == 0, result.output
    assert "created PR #1" in result.output
    pushed = git(origin, "rev-parse", "refs/heads/mlci/retrain")
    assert git(origin, "rev-parse", f"{pushed}^") == head
    assert git(origin, "show", f"{pushed}:data.csv") == "a,b\n1,2\n3,4"
    assert git(origin, "ls-tree", "-r", "--name-only", pushed).split() == ["README.md", "data.csv"]  # report left out
    pull = fake_github.pulls[1]
    assert pull["head"]["label"] == "octo:mlci/retrain" and pull["base"]["ref"] == "main" and pull["state"] == "open"
    comments = fake_github.issue_comments(1)
    assert len(comments) == 1 and "auc 0.9 → 0.8" in comments[0]["body"]
    # the user's checkout is untouched: same branch, same HEAD, the change still uncommitted
    assert git(root, "rev-parse", "--abbrev-ref", "HEAD") == "main" and git(root, "rev-parse", "HEAD") == head
    assert "data.csv" in git(root, "status", "--porcelain")


def test_second_retrain_updates_the_same_pr_and_comment(cloned, fake_github):
    root, origin = cloned
    env = _env(fake_github)
    (root / "data.csv").write_text("a,b\n5,6\n")
    first_run = invoke(root, "pr", "create", "--body-file", _report(root, "first report\n"), env=env)
    assert first_run.exit_code == 0, first_run.output
    first = git(origin, "rev-parse", "refs/heads/mlci/retrain")
    (root / "data.csv").write_text("a,b\n7,8\n")
    result = invoke(root, "pr", "create", "--body-file", _report(root, "second report\n"), "--json", env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["action"] in ("updated", "unchanged")
    assert json.loads(result.stdout)["number"] == 1
    second = git(origin, "rev-parse", "refs/heads/mlci/retrain")
    assert second != first and git(origin, "show", f"{second}:data.csv") == "a,b\n7,8"  # force-pushed in place
    assert list(fake_github.pulls) == [1]
    comments = fake_github.issue_comments(1)
    assert len(comments) == 1 and "second report" in comments[0]["body"]


def test_a_closed_retrain_pr_is_replaced_by_a_new_open_one(cloned, fake_github):
    root, _origin = cloned
    fake_github.add_pull(1, head_ref="mlci/retrain", state="closed")
    (root / "data.csv").write_text("a,b\n9,9\n")
    result = invoke(root, "pr", "create", "--json", env=_env(fake_github))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["number"] == 2 and fake_github.pulls[2]["state"] == "open"


def test_token_never_leaves_the_authorization_header(cloned, fake_github):
    root, _origin = cloned
    (root / "data.csv").write_text("a,b\n0,0\n")
    result = invoke(root, "pr", "create", "--body-file", _report(root, "report\n"), env=_env(fake_github))
    assert result.exit_code == 0
    assert fake_github.token not in result.output and fake_github.token not in fake_github.log_text()
    assert all(r.headers.get("Authorization") == f"Bearer {fake_github.token}" for r in fake_github.requests)


def test_without_a_token_nothing_is_pushed(cloned, fake_github):
    root, origin = cloned
    (root / "data.csv").write_text("a,b\n1,1\n")
    env = {k: v for k, v in _env(fake_github).items() if k != "GITHUB_TOKEN"}
    result = invoke(root, "pr", "create", env={**env, "GITHUB_TOKEN": "", "GH_TOKEN": ""})
    assert result.exit_code == 7 and "no GitHub token" in result.output
    assert "mlci/retrain" not in git(origin, "branch", "--list")


def test_nothing_changed_is_a_clear_usage_error(cloned, fake_github):
    root, _origin = cloned
    result = invoke(root, "pr", "create", env=_env(fake_github))
    assert result.exit_code == 2 and "nothing to propose" in result.output
    assert fake_github.requests == []


# --- mlci retrain end to end on the example pipeline ----------------------------------------


def test_retrain_without_new_data_proposes_nothing(trained_repo: Path):
    result = invoke(trained_repo, "retrain", "--json")
    assert result.exit_code == 0, result.output
    outcome = json.loads(result.stdout)
    decision = outcome["decision"]
    assert decision["open_pr"] is False and decision["reasons"] == []
    assert any("no production model" in n for n in decision["notes"])  # fell back to the default branch
    assert decision["data"]["findings"] == []
    assert (trained_repo / "mlci-retrain" / "report.md").read_text().startswith("## mlci retrain")


def test_retrain_on_drifted_data_compares_with_production_and_writes_the_report(trained_repo: Path, tmp_path: Path):
    git(trained_repo, "tag", "-a", "churn@v1.0.0", "-m", "Registering artifact churn version v1.0.0")
    git(trained_repo, "tag", "-a", "churn#prod#1", "-m", "Assigning stage prod to artifact churn version v1.0.0")
    set_param(trained_repo, "data.noise", 0.25)  # the "fresh data": labels much noisier, rows reshuffled
    output = tmp_path / "gh_output"
    output.write_text("")
    result = invoke(trained_repo, "retrain", env={"GITHUB_OUTPUT": str(output)})
    assert result.exit_code == 0, result.output
    assert "open a retrain PR" in result.output
    report = (trained_repo / "mlci-retrain" / "report.md").read_text()
    assert "compared with churn v1.0.0 (churn#prod)" in report
    assert "### Data" in report and "drifted, PSI" in report and "![" in report
    assert (trained_repo / "mlci-retrain" / "data_drift.png").exists()
    outputs = output.read_text()
    assert "open_pr=true" in outputs and "report=" in outputs
    # prepare ran early (for the expectations), train/evaluate in the full repro: all shown as run
    from mlci.store import baseline, gitrepo

    repo = gitrepo.open_repo(trained_repo)
    record = baseline.latest(repo, gitrepo.head_commit(repo))
    assert [(s.name, s.status) for s in record.stages] == [("prepare", "ran"), ("train", "ran"), ("evaluate", "ran")]


# --- the workflow template -----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ["zizmor", "--offline", str(WORKFLOW)],
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
    ],
)
def test_retrain_workflow_lints_clean(command):
    import sys

    exe = Path(sys.executable).parent / command[0]
    if not exe.exists() and shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")
    proc = subprocess.run([str(exe) if exe.exists() else command[0], *command[1:]], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_retrain_workflow_runs_on_schedule_and_by_hand_and_opens_prs_via_mlci():
    import yaml

    flow = yaml.safe_load(WORKFLOW.read_text())
    triggers = flow[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers and "workflow_dispatch" in triggers
    steps = flow["jobs"]["retrain"]["steps"]
    runs = " ".join(s.get("run", "") for s in steps)
    assert "mlci retrain" in runs and "mlci pr create" in runs
    assert flow["permissions"] == {} and flow["concurrency"]["cancel-in-progress"] is False


def test_pr_create_commits_as_the_actions_bot_when_git_has_no_identity(cloned, fake_github, monkeypatch):
    root, origin = cloned
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var, raising=False)
    (root / "data.csv").write_text("a,b\n2,2\n")
    result = invoke(root, "pr", "create", env=_env(fake_github))
    assert result.exit_code == 0, result.output
    author = git(origin, "log", "-1", "--format=%an <%ae>", "refs/heads/mlci/retrain")
    assert author == "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"


def test_the_open_retrain_pr_is_reused_even_when_the_base_changed(cloned, fake_github):
    root, _origin = cloned
    fake_github.add_pull(4, head_ref="mlci/retrain", base_ref="develop")
    (root / "data.csv").write_text("a,b\n3,3\n")
    result = invoke(root, "pr", "create", "--json", env=_env(fake_github))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["action"] == "updated" and json.loads(result.stdout)["number"] == 4
    assert list(fake_github.pulls) == [4] and fake_github.pulls[4]["base"]["ref"] == "main"
