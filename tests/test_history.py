"""`mlci history`: main's recorded runs, read from the real notes of a real repository."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from mlci.model.record import RunRecord, StageRun
from mlci.store import baseline, gitrepo
from tests.helpers import commit_all, git, invoke


def _record(commit: str, auc: float, loss: float, *, lr: float = 0.1, dirty: bool = False, when: str = "") -> RunRecord:
    return RunRecord(
        commit=commit,
        branch="main",
        dirty=dirty,
        params={"params.yaml": {"train.lr": lr, "train.leaves": 15}},
        metrics={"metrics.json": {"auc": auc, "logloss": loss}},
        deps={"src/train.py": "aa", "data/raw.csv": "bb"},
        stages=[StageRun("train", "ran", 1.0)],
        created_at=when or f"2026-01-01T00:00:{len(commit) % 60:02d}+00:00",
    )


@pytest.fixture
def noted(git_repo: Path) -> tuple[Path, list[str], dict[str, RunRecord]]:
    """main with 6 first-parent commits: 4 recorded (one also with a dirty run, one run twice),
    one unrecorded, plus a side branch merged in whose own commit is recorded but not first-parent."""
    root = git_repo
    repo = gitrepo.open_repo(root)
    commits, newest = [], {}
    values = [(0.80, 0.50, 0.1), (0.82, 0.47, 0.1), None, (0.85, 0.44, 0.05), (0.84, 0.45, 0.05)]
    for i, value in enumerate(values):
        (root / f"f{i}.txt").write_text(str(i))
        sha = commit_all(root, f"change {i}")
        commits.append(sha)
        if value is None:
            continue
        auc, loss, lr = value
        record = _record(sha, auc, loss, lr=lr, when=f"2026-01-0{i + 1}T10:00:00+00:00")
        baseline.save(repo, record)
        newest[sha] = record
    # a dirty run after the clean one on the second commit: not what main measured
    baseline.save(repo, _record(commits[1], 0.99, 0.1, dirty=True, when="2026-01-02T11:00:00+00:00"))
    # a rerun of the fourth commit: the newest clean record is the one shown
    rerun = _record(commits[3], 0.86, 0.43, lr=0.05, when="2026-01-04T12:00:00+00:00")
    baseline.save(repo, rerun)
    newest[commits[3]] = rerun
    # a side branch merged with --no-ff: its commit is recorded, but it is not one of main's first parents
    git(root, "checkout", "-q", "-b", "side")
    (root / "side.txt").write_text("side")
    side = commit_all(root, "side work")
    baseline.save(repo, _record(side, 0.5, 0.9, when="2026-01-06T09:00:00+00:00"))
    git(root, "checkout", "-q", "main")
    git(root, "merge", "-q", "--no-ff", "-m", "Merge side", "side")
    merge = git(root, "rev-parse", "HEAD")
    merged = _record(merge, 0.87, 0.42, lr=0.05, when="2026-01-07T10:00:00+00:00")
    baseline.save(repo, merged)
    commits.append(merge)
    newest[merge] = merged
    return root, commits, newest


def _expected(newest: dict[str, RunRecord], commits: list[str]) -> list[dict]:
    return [
        {"commit": c, "created_at": newest[c].created_at, "metrics": newest[c].metrics["metrics.json"]}
        for c in commits
        if c in newest
    ]


def test_json_lists_main_first_parent_runs_oldest_first_with_the_notes_values(noted):
    root, commits, newest = noted
    data = json.loads(invoke(root, "history", "--json").stdout)
    got = [{"commit": r["commit"], "created_at": r["created_at"], "metrics": r["metrics"]} for r in data["runs"]]
    assert got == _expected(newest, commits)
    assert data["branch"] == "main" and data["commit"] == commits[-1]
    assert [r["record"] for r in data["runs"]] == [newest[c].id for c in commits if c in newest]


def test_json_params_are_the_params_each_run_changed(noted):
    root, commits, _newest = noted
    runs = json.loads(invoke(root, "history", "--json").stdout)["runs"]
    assert [r["params"] for r in runs] == [{}, {}, {"train.lr": 0.05}, {}, {}]
    assert runs[0]["subject"] == "change 0" and runs[-1]["subject"] == "Merge side"


def test_last_keeps_the_newest_runs(noted):
    root, commits, newest = noted
    data = json.loads(invoke(root, "history", "--json", "--last", "2").stdout)
    assert [r["commit"] for r in data["runs"]] == [commits[4], commits[5]]
    assert data["runs"][0]["metrics"] == newest[commits[4]].metrics["metrics.json"]


def test_last_still_measures_the_first_shown_runs_params_against_the_run_before_it(noted):
    root, commits, _newest = noted
    runs = json.loads(invoke(root, "history", "--json", "--last", "3").stdout)["runs"]
    assert [r["commit"] for r in runs] == [commits[3], commits[4], commits[5]]
    assert runs[0]["params"] == {"train.lr": 0.05}  # changed since commits[1], which is not shown


def test_metric_keeps_one_metric(noted):
    root, commits, newest = noted
    data = json.loads(invoke(root, "history", "--json", "--metric", "logloss").stdout)
    assert [r["metrics"] for r in data["runs"]] == [
        {"logloss": newest[c].metrics["metrics.json"]["logloss"]} for c in commits if c in newest
    ]
    assert data["metric"] == "logloss"


def test_an_unknown_metric_is_a_usage_error_naming_the_known_ones(noted):
    root, _commits, _newest = noted
    result = invoke(root, "history", "--metric", "acu")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "mlci: error: --metric acu: no recorded run has this metric; did you mean 'auc'? known: auc, logloss"
    ]


def test_branch_walks_another_branch(noted):
    root, _commits, _newest = noted
    side = git(root, "rev-parse", "side")
    runs = json.loads(invoke(root, "history", "--json", "--branch", "side").stdout)["runs"]
    assert runs[-1]["commit"] == side and runs[-1]["metrics"] == {"auc": 0.5, "logloss": 0.9}
    assert len(runs) == 5  # the side branch forked after main's fifth commit: four of main's, then its own


def test_an_unknown_branch_is_a_git_error(noted):
    root, _commits, _newest = noted
    result = invoke(root, "history", "--branch", "nope")
    assert result.exit_code == 4
    assert "unknown base ref 'nope'" in result.stderr


def test_human_table_shows_the_same_values(noted):
    root, commits, newest = noted
    result = invoke(root, "history")
    assert result.exit_code == 0, result.output
    lines = [re.sub("[│┃]", " ", line) for line in result.stdout.splitlines()]
    assert lines[0].strip() == "5 recorded run(s) of main, oldest first"
    header = lines[1].split()
    assert header[:4] == ["commit", "recorded", "auc", "logloss"]
    table = lines[: lines.index("params changed:")]
    rows = [line.split() for line in table if re.match(r"\s*[0-9a-f]{12}\s", line)]
    assert [row[0] for row in rows] == [c[:12] for c in commits if c in newest]
    for row, commit in zip(rows, [c for c in commits if c in newest], strict=True):
        metrics = newest[commit].metrics["metrics.json"]
        assert " ".join(row[1:3]) == newest[commit].created_at[:16].replace("T", " ")  # to the minute
        assert float(row[3]) == pytest.approx(metrics["auc"], abs=5e-5)
        assert float(row[4]) == pytest.approx(metrics["logloss"], abs=5e-5)
    assert lines[lines.index("params changed:") + 1 :] == [f"  {commits[3][:12]}  train.lr=0.05"]


def test_no_records_says_how_to_get_one(git_repo: Path):
    result = invoke(git_repo, "history")
    assert result.exit_code == 0
    assert "no recorded runs on main" in result.stdout and "mlci run" in result.stdout


def test_metrics_of_several_files_keep_their_file_when_names_clash(git_repo: Path):
    repo = gitrepo.open_repo(git_repo)
    sha = gitrepo.head_commit(repo)
    record = RunRecord(
        commit=sha,
        branch="main",
        dirty=False,
        params={},
        metrics={"train.json": {"auc": 0.9, "rows": 10}, "test.json": {"auc": 0.8}},
    )
    baseline.save(repo, record)
    runs = json.loads(invoke(git_repo, "history", "--json").stdout)["runs"]
    assert runs[0]["metrics"] == {"train.json:auc": 0.9, "test.json:auc": 0.8, "rows": 10}
    only = json.loads(invoke(git_repo, "history", "--json", "--metric", "test.json:auc").stdout)["runs"]
    assert only[0]["metrics"] == {"test.json:auc": 0.8}


# --- the PR report: base and head among main's last runs ---------------------------------------------


def _main_runs(root: Path) -> list[RunRecord]:
    """main's first-parent commits' newest clean records, oldest first, straight from the notes."""
    repo = gitrepo.open_repo(root)
    found = []
    for sha in reversed(git(root, "rev-list", "--first-parent", "main").split()):
        clean = [r for r in baseline.records_for(repo, sha) if not r.dirty]
        if clean:
            found.append(clean[-1])
    return found


def _copy(record: RunRecord, commit: str, auc: float, when: str, *, ran: bool = False) -> RunRecord:
    import dataclasses
    import uuid

    metrics = {f: dict(v) for f, v in record.metrics.items()}
    metrics["metrics.json"]["auc"] = auc
    return dataclasses.replace(
        record,
        commit=commit,
        metrics=metrics,
        id=uuid.uuid4().hex[:16],
        created_at=when,
        stages=[StageRun("train", "ran", 1.0)] if ran else record.stages,
    )


@pytest.fixture
def long_main(trained_repo: Path) -> Path:
    """The trained example whose main has 22 more recorded commits (auc below the real model's), then a docs PR."""
    repo = gitrepo.open_repo(trained_repo)
    real = baseline.latest(repo, gitrepo.head_commit(repo))
    for i in range(22):
        git(trained_repo, "commit", "-q", "--allow-empty", "-m", f"main work {i}")
        sha = git(trained_repo, "rev-parse", "HEAD")
        auc = real.metrics["metrics.json"]["auc"] - 0.02 + 0.0005 * i
        baseline.save(repo, _copy(real, sha, round(auc, 6), f"2099-01-01T00:{i:02d}:00+00:00"))
    git(trained_repo, "checkout", "-q", "-b", "feature")
    (trained_repo / "NOTES.md").write_text("docs only\n")
    commit_all(trained_repo, "Docs")
    return trained_repo


def test_report_json_history_is_each_goal_metrics_last_20_main_runs_from_the_notes(long_main: Path):
    result = invoke(long_main, "report")
    assert result.exit_code in (0, 1), result.output
    data = json.loads((long_main / "mlci-report" / "report.json").read_text())
    runs = _main_runs(long_main)[-20:]
    for metric in ("auc", "accuracy", "logloss", "f1", "precision", "recall"):  # the example's goals
        assert data["history"][metric] == [
            {"commit": r.commit, "value": r.metrics["metrics.json"][metric]} for r in runs
        ]
    context = {m["metric"]: m for m in data["history_context"]["metrics"]}
    assert context["auc"]["noise"] is None  # the example has predictions: the report has intervals instead


def test_report_md_says_where_head_and_base_fall_among_mains_last_20_runs(long_main: Path):
    from mlci.report import format as fmt
    from mlci.report import markdown as md

    invoke(long_main, "report")
    text = (long_main / "mlci-report" / "report.md").read_text()
    data = json.loads((long_main / "mlci-report" / "report.json").read_text())
    values = [e["value"] for e in data["history"]["auc"]]
    auc = next(m for m in data["comparison"]["metrics"] if m["name"] == "auc")
    assert auc["head"] > max(values)  # the docs PR keeps the real model, better than the 22 made-up runs
    expected = (
        f"head {fmt.number(auc['head'])} is above all of main's last 20 runs "
        f"({fmt.number(min(values))}–{fmt.number(max(values))}); "
        f"base {fmt.number(auc['base'])} ties the highest of them"
    )
    section = text.split("## History of main", 1)[1].split("\n## ", 1)[0]
    assert f"- **auc**: {md.text(expected)}" in section
    assert "![main's last runs (dots), base (dashed) and head (star)](plots/history-churn.png)" in section
    assert (long_main / "mlci-report" / "plots" / "history-churn.png").is_file()


def test_without_predictions_the_rerun_spread_is_reported_as_a_noise_estimate_not_a_test(trained_repo: Path):
    """Reruns of main with unchanged inputs (stages really ran): their spread, labelled, never called significant."""
    import statistics

    from mlci.report import format as fmt
    from mlci.report import markdown as md

    config = trained_repo / "mlci.yaml"
    config.write_text(
        "".join(line for line in config.read_text().splitlines(True) if not line.startswith("predictions:"))
    )
    tip = commit_all(trained_repo, "No predictions")
    repo = gitrepo.open_repo(trained_repo)
    real = baseline.latest(repo, git(trained_repo, "rev-parse", "HEAD~1"))
    reruns = [0.90, 0.91, 0.93]
    for i, auc in enumerate(reruns):
        baseline.save(repo, _copy(real, tip, auc, f"2099-01-01T00:0{i}:00+00:00", ran=True))
    git(trained_repo, "checkout", "-q", "-b", "feature")
    (trained_repo / "NOTES.md").write_text("docs only\n")
    commit_all(trained_repo, "Docs")
    assert invoke(trained_repo, "report").exit_code in (0, 1)
    # the group: the first training of main (it ran, same inputs) and the three reruns; the second run skipped every stage
    first = [r for r in baseline.records_for(repo, git(trained_repo, "rev-list", "--max-parents=0", "HEAD"))][-1]
    group = [first.metrics["metrics.json"]["auc"], *reruns]
    data = json.loads((trained_repo / "mlci-report" / "report.json").read_text())
    noise = next(m for m in data["history_context"]["metrics"] if m["metric"] == "auc")["noise"]
    assert noise["sd"] == pytest.approx(statistics.stdev(group))
    assert noise["spread"] == pytest.approx(max(group) - min(group))
    assert noise["reruns"] == 4 and noise["groups"] == 1
    assert noise["kind"] == "rerun spread (an estimate of noise, not a significance test)"
    head = next(m for m in data["comparison"]["metrics"] if m["name"] == "auc")
    line = (
        f"auc: noise estimate (the spread of main's reruns with unchanged inputs; not a significance test): "
        f"sd {fmt.number(statistics.stdev(group))}, largest range {fmt.number(max(group) - min(group))} over 4 reruns "
        f"of one input set; this PR's Δ is {fmt.signed(head['head'] - head['base'])}"
    )
    text = (trained_repo / "mlci-report" / "report.md").read_text()
    assert md.text(line) in text
    section = text.split("## History of main", 1)[1].split("\n## ", 1)[0]
    assert "significant" not in section.replace("not a significance test", "")


# --- the dashboard ------------------------------------------------------------------------------------

_CHROMIUM = pytest.mark.skipif(
    not any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")),
    reason="no Chromium on PATH (apt-get install chromium)",
)


def _browser():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import history_browser  # bench/history_browser.py: headless Chromium, reads the DOM back

    return history_browser


@pytest.fixture
def promoted_main(long_main: Path) -> tuple[Path, str]:
    """long_main with a registered version (GTO's tags) on its 10th recorded main commit, assigned to production."""
    runs = _main_runs(long_main)
    target = runs[9].commit
    git(long_main, "tag", "-a", "churn@v1.0.0", "-m", "Registering artifact churn version v1.0.0", target)
    git(long_main, "tag", "-a", "churn#production#1", "-m", "Assigning stage production to artifact churn", target)
    return long_main, target


def test_html_dashboard_has_one_chart_per_goal_metric_and_marks_promoted_versions(promoted_main):
    root, target = promoted_main
    result = invoke(root, "history", "--html", "site", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    site = root / "site"
    assert data["html"] == str(site / "index.html")
    charts = sorted(p.name for p in (site / "plots").iterdir())
    goals = ("accuracy", "auc", "f1", "logloss", "precision", "recall")  # the example's goals
    assert charts == [f"trend-churn-{g}.png" for g in goals]
    assert data["promoted"] == [
        {"name": "churn", "version": "v1.0.0", "stages": ["production"], "commit": target, "run": 9}
    ]
    page = (site / "index.html").read_text()
    assert "<code>churn v1.0.0</code> (production) at <code>" + target[:12] + "</code>" in page
    assert page.count('<img src="data:image/png;base64,') == len(goals)
    assert [r["commit"] for r in data["runs"]] == [r.commit for r in _main_runs(root)]


def test_html_dashboard_links_nothing_outside_itself(promoted_main):
    root, _target = promoted_main
    invoke(root, "history", "--html", "site")
    page = (root / "site" / "index.html").read_text()
    urls = re.findall(r"""(?:src|href|action)\s*=\s*["']?([^"'\s>]+)""", page) + re.findall(r"url\(([^)]*)\)", page)
    assert urls and all(u.startswith("data:image/png;base64,") for u in urls)
    assert "http://" not in page and "https://" not in page and "<script" not in page


@_CHROMIUM
def test_html_dashboard_renders_in_chromium_with_no_broken_image_error_or_request(promoted_main, tmp_path: Path):
    root, _target = promoted_main
    invoke(root, "history", "--html", "site")
    seen = _browser().check(root / "site", png=tmp_path / "dashboard.png")
    assert seen["rendered"] and seen["images"] == 6
    assert seen["broken"] == [] and seen["errors"] == [] and seen["external"] == []
    assert seen["overflows"] is False
    assert (tmp_path / "dashboard.png").read_bytes().startswith(b"\x89PNG")


@_CHROMIUM
def test_the_browser_check_sees_broken_images_and_requests_leaving_the_page(tmp_path: Path):
    """The control: the same probe on a page that does have a missing image and an outside URL."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body>"
        '<img alt="gone" src="plots/missing.png"><img alt="far" src="http://127.0.0.1:9/x.png"></body></html>'
    )
    seen = _browser().check(site)
    assert sorted(seen["broken"]) == ["far", "gone"]
    assert len(seen["errors"]) == 2 and seen["external"] == ["http://127.0.0.1:9/x.png"]


def test_commit_subjects_and_names_are_escaped_in_the_dashboard(git_repo: Path):
    repo = gitrepo.open_repo(git_repo)
    (git_repo / "x.txt").write_text("x")
    sha = commit_all(git_repo, "<script>alert(1)</script> [click](https://evil.example) @admin")
    record = RunRecord(
        commit=sha,
        branch="main",
        dirty=False,
        params={"params.yaml": {"<b>lr</b>": 1}},
        metrics={"metrics.json": {"<img src=x onerror=alert(1)>": 0.5}},
    )
    baseline.save(repo, record)
    result = invoke(git_repo, "history", "--html", "site")
    assert result.exit_code == 0, result.output
    page = (git_repo / "site" / "index.html").read_text()
    assert "<script" not in page and "<img src=x" not in page and "<a " not in page and 'evil.example"' not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert (git_repo / "site" / "plots" / "trend-img-src-x-onerror-alert-1.png").is_file()


def test_html_refuses_to_replace_a_directory_it_did_not_write(noted):
    root, _commits, _newest = noted
    (root / "site").mkdir()
    (root / "site" / "keep.txt").write_text("mine")
    result = invoke(root, "history", "--html", "site")
    assert result.exit_code == 2
    assert f"--html {root / 'site'} holds files mlci did not write (keep.txt)" in result.stderr
    assert (root / "site" / "keep.txt").read_text() == "mine"


def test_the_pages_workflow_publishes_what_mlci_history_writes_after_each_baseline():
    import yaml

    root = Path(__file__).resolve().parents[1]
    workflow = yaml.safe_load((root / "templates" / "workflows" / "dashboard.yml").read_text())
    baseline_name = yaml.safe_load((root / "templates" / "workflows" / "baseline.yml").read_text())["name"]
    trigger = workflow[True]["workflow_run"]
    assert trigger["workflows"] == [baseline_name] and trigger["branches"] == ["main"]
    steps = workflow["jobs"]["build"]["steps"]
    draw = next(s["run"] for s in steps if "mlci history" in s.get("run", ""))
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert draw.split("--html ")[1].split()[0] == upload["with"]["path"] == "site"
    assert workflow["jobs"]["build"]["permissions"] == {"contents": "read"}
    assert workflow["jobs"]["deploy"]["permissions"] == {"pages": "write", "id-token": "write"}


@pytest.mark.parametrize(
    ("value", "values", "expected"),
    [
        (0.912, [0.88, 0.9, 0.905], "head 0.9120 is above all of main's last 3 runs (0.8800–0.9050)"),
        (0.87, [0.88, 0.9, 0.905], "head 0.8700 is below all of main's last 3 runs (0.8800–0.9050)"),
        (
            0.9,
            [0.88, 0.9, 0.905],
            "head 0.9000 is within main's last 3 runs (0.8800–0.9050), above 1 and below 1 of them",
        ),
        (0.905, [0.88, 0.905], "head 0.9050 ties the highest of main's last 2 runs (0.8800–0.9050)"),
        (0.88, [0.88, 0.905], "head 0.8800 ties the lowest of main's last 2 runs (0.8800–0.9050)"),
        (0.9, [0.9, 0.9], "head 0.9000 equals all of main's last 2 runs (0.9000)"),
        (0.95, [0.9], "head 0.9500 is above main's only recorded run (0.9000)"),
    ],
)
def test_placement_sentences(value, values, expected):
    from mlci.analysis.history import placement
    from mlci.report.history_section import phrase

    assert phrase("head", placement(value, values), "main") == expected


def test_history_json_imports_nothing_heavy(noted):
    """Reading the history is git plumbing and JSON: no GitPython, pandas, numpy or plotting."""
    from tests.test_cli_startup import HEAVY, loaded_modules

    root, _commits, _newest = noted
    assert not loaded_modules("history", "--json", cwd=root) & set(HEAVY)


def test_several_models_key_their_history_by_model(git_repo: Path):
    """Two models with a metric of the same name: report.json keeps them apart (`model/file:metric`)."""
    root = git_repo
    (root / "mlci.yaml").write_text(
        "models:\n"
        "  - {name: fraud, metrics: [fraud.json], goals: {acc: {direction: higher}}}\n"
        "  - {name: churn, metrics: [churn.json], goals: {acc: {direction: higher}}}\n"
    )
    repo = gitrepo.open_repo(root)
    values = []
    for i in range(3):
        (root / "fraud.json").write_text(json.dumps({"acc": 0.7 + i / 100}))
        (root / "churn.json").write_text(json.dumps({"acc": 0.9 - i / 100}))
        sha = commit_all(root, f"main {i}")
        metrics = {"fraud.json": {"acc": 0.7 + i / 100}, "churn.json": {"acc": 0.9 - i / 100}}
        baseline.save(repo, RunRecord(commit=sha, branch="main", dirty=False, params={}, metrics=metrics))
        values.append((sha, metrics))
    git(root, "checkout", "-q", "-b", "pr")
    (root / "churn.json").write_text(json.dumps({"acc": 0.95}))
    commit_all(root, "Better churn")
    assert invoke(root, "report").exit_code in (0, 1)
    data = json.loads((root / "mlci-report" / "report.json").read_text())
    assert data["history"] == {
        "fraud/fraud.json:acc": [{"commit": c, "value": m["fraud.json"]["acc"]} for c, m in values],
        "churn/churn.json:acc": [{"commit": c, "value": m["churn.json"]["acc"]} for c, m in values],
    }
    text = (root / "mlci-report" / "report.md").read_text()
    assert "- **churn: churn.json:acc**: head 0.9500 is above all of main's last 3 runs (0.8800–0.9000)" in text
