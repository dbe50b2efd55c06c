"""A project is what DVC sees: every dvc.yaml DVC collects, not only the root one.

Layouts shaped like public repos, each built with real DVC (and real DVCLive) and compared,
value by value, with `dvc metrics diff --json` and `dvc params diff --json` for the same
revisions: several pipelines under `pipelines/*/dvc.yaml` (`wdir: ../..`), a DVC sub-project
(`dvc init --subdir`) used with `-C` and from inside it, and DVCLive's own `dvclive/dvc.yaml`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mlci.store import dvcfile
from mlci.workflows import run as run_mod
from tests.helpers import commit_all, git, invoke, invoke_json
from tests.test_dvc_layouts import EVALUATE


def dvc(cwd: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc.stdout


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))


def dvc_diff(cwd: Path, root: Path, kind: str) -> dict:
    """`dvc {kind} diff main --json --all` run in `cwd`, its paths made relative to the git root
    (DVC prints them relative to where it runs)."""
    found = json.loads(dvc(cwd, kind, "diff", "main", "--json", "--all") or "{}")
    return {os.path.relpath(cwd / path, root).replace(os.sep, "/"): values for path, values in found.items()}


def assert_same_as_dvc(ours: dict, root: Path, cwd: Path) -> None:
    """Every number mlci compares is the one `dvc metrics diff` shows; every changed param the
    one `dvc params diff` shows; nothing more, nothing less."""
    theirs = dvc_diff(cwd, root, "metrics")
    numeric = {
        (f, k): (v.get("old"), v.get("new"))
        for f, values in theirs.items()
        for k, v in values.items()
        if any(isinstance(v.get(s), (int, float)) and not isinstance(v.get(s), bool) for s in ("old", "new"))
    }
    assert {(m["file"], m["name"]): (m["base"], m["head"]) for m in ours["metrics"]} == numeric
    params = dvc_diff(cwd, root, "params")
    changed = {
        (f, k): (v["old"], v["new"]) for f, vals in params.items() for k, v in vals.items() if v["old"] != v["new"]
    }
    assert {(p["file"], p["name"]): (_as_dvc(p["base"]), _as_dvc(p["head"])) for p in ours["params"]} == changed


def _as_dvc(value):
    """DVC's `--json` prints a list param as Python's str() of it (dvc.utils.diff.format_dict)."""
    return str(value) if isinstance(value, list) else value


# --- several pipelines: pipelines/*/dvc.yaml, wdir ../.. ------------------------------------------

PIPELINES = {
    "pipelines/churn/dvc.yaml": """\
        stages:
          evaluate:
            wdir: ../..
            cmd: python src/evaluate.py params.yaml results/churn.json
            deps: [src/evaluate.py]
            params: [train.lr]
            metrics:
              - results/churn.json:
                  cache: false
        """,
    "pipelines/fraud/dvc.yaml": """\
        stages:
          evaluate:
            wdir: ../..
            cmd: python src/evaluate.py fraud.yaml results/fraud.yaml
            deps: [src/evaluate.py]
            params:
              - fraud.yaml:
                  - lr
            metrics:
              - results/fraud.yaml:
                  cache: false
        """,
    "params.yaml": "train:\n  lr: 0.1\n  seed: 1\n",
    "fraud.yaml": "lr: 0.2\nbatch: 8\n",
    "src/evaluate.py": EVALUATE,
}


def _repo(root: Path, files: dict[str, str], *, subdir: str = "") -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    project = root / subdir if subdir else root
    project.mkdir(parents=True, exist_ok=True)
    dvc(project, "init", "-q", *(["--subdir"] if subdir else []))
    write(project, files)
    return project


@pytest.fixture(scope="module")
def _pipelines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pipelines") / "repo"
    _repo(root, PIPELINES)
    dvc(root, "repro", "--quiet", "--all-pipelines")
    commit_all(root, "two pipelines and their results")
    git(root, "checkout", "-q", "-b", "pr")
    write(root, {"params.yaml": "train:\n  lr: 0.3\n  seed: 1\n", "fraud.yaml": "lr: 0.15\nbatch: 16\n"})
    commit_all(root, "tune both")
    dvc(root, "repro", "--quiet", "--all-pipelines")
    return root


@pytest.fixture
def pipelines(_pipelines: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(_pipelines, root, symlinks=True)
    return root


def test_every_dvc_yaml_under_pipelines_is_collected_with_its_wdir(pipelines: Path):
    assert dvcfile.dvcyaml_paths(pipelines) == ["pipelines/churn/dvc.yaml", "pipelines/fraud/dvc.yaml"]
    assert dvcfile.metrics_files(pipelines) == ["results/churn.json", "results/fraud.yaml"]
    assert set(dvcfile.stages(pipelines)) == {"pipelines/churn/dvc.yaml:evaluate", "pipelines/fraud/dvc.yaml:evaluate"}


def test_several_pipelines_diff_equals_dvc_metrics_and_params_diff(pipelines: Path):
    ours = invoke_json(pipelines, "diff", "--base", "main")
    assert_same_as_dvc(ours, pipelines, pipelines)
    assert {m["file"] for m in ours["metrics"]} == {"results/churn.json", "results/fraud.yaml"}
    assert ("fraud.yaml", "batch") not in {(p["file"], p["name"]) for p in ours["params"]}  # declared by no stage


def test_mlci_run_reproduces_every_pipeline_and_records_their_locks(pipelines: Path):
    (pipelines / "params.yaml").write_text("train:\n  lr: 0.25\n  seed: 1\n")
    commit_all(pipelines, "again")
    record = run_mod.run(pipelines)
    assert {s.name for s in record.stages} == {"pipelines/churn/dvc.yaml:evaluate", "pipelines/fraud/dvc.yaml:evaluate"}
    assert set(record.metrics) == {"results/churn.json", "results/fraud.yaml"}
    assert record.metrics["results/churn.json"]["roc_auc"] == 0.75  # lr 0.25: the stage really ran
    assert "src/evaluate.py" in record.deps  # dvc.lock paths under wdir ../.. are root-relative
    assert record.params["fraud.yaml"] == {"lr": 0.15}


def test_init_on_several_pipelines_lists_every_metrics_file(pipelines: Path):
    result = invoke(pipelines, "init")
    assert result.exit_code == 0, result.output
    text = (pipelines / "mlci.yaml").read_text()
    assert '- "results/churn.json"' in text and '- "results/fraud.yaml"' in text
    assert all((pipelines / f).is_file() for f in ("results/churn.json", "results/fraud.yaml"))


# --- a DVC sub-project: dvc init --subdir ------------------------------------------------------

SUBPROJECT = {
    "dvc.yaml": """\
        stages:
          evaluate:
            cmd: python src/evaluate.py params.yaml eval/metrics.json
            deps: [src/evaluate.py]
            params: [train.lr]
            metrics:
              - eval/metrics.json:
                  cache: false
        """,
    "params.yaml": "train:\n  lr: 0.1\n",
    "src/evaluate.py": EVALUATE,
}


@pytest.fixture(scope="module")
def _subproject(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sub") / "repo"
    ml = _repo(root, SUBPROJECT, subdir="ml")
    write(root, {"README.md": "a web app, and its model under ml/\n", "app/main.py": "print('app')\n"})
    dvc(ml, "repro", "--quiet")
    commit_all(root, "app and model")
    git(root, "checkout", "-q", "-b", "pr")
    write(ml, {"params.yaml": "train:\n  lr: 0.2\n"})
    commit_all(root, "tune")
    dvc(ml, "repro", "--quiet")
    return root


@pytest.fixture
def subproject(_subproject: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(_subproject, root, symlinks=True)
    return root


def test_a_subproject_is_found_from_inside_it_and_from_the_git_root(subproject: Path):
    assert dvcfile.project_dir(subproject, subproject / "ml") == "ml"
    assert dvcfile.project_dir(subproject, subproject / "ml" / "src") == "ml"
    assert dvcfile.project_dir(subproject) == "ml"  # the only one there is
    assert dvcfile.metrics_files(subproject, "ml") == ["ml/eval/metrics.json"]


def test_subproject_diff_with_dash_c_equals_dvc_run_inside_it(subproject: Path):
    ours = invoke_json(subproject / "ml", "diff", "--base", "main")
    assert_same_as_dvc(ours, subproject, subproject / "ml")
    assert [(p["file"], p["name"]) for p in ours["params"]] == [("ml/params.yaml", "train.lr")]


def test_subproject_diff_started_inside_it(subproject: Path):
    proc = subprocess.run(
        [sys.executable, "-m", "mlci", "diff", "--base", "main", "--json"],
        cwd=subproject / "ml" / "src",
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert_same_as_dvc(json.loads(proc.stdout), subproject, subproject / "ml")


def test_subproject_run_reproduces_inside_it(subproject: Path):
    (subproject / "ml/params.yaml").write_text("train:\n  lr: 0.05\n")
    commit_all(subproject, "again")
    result = invoke(subproject / "ml", "run")
    assert result.exit_code == 0, result.output
    assert json.loads((subproject / "ml/eval/metrics.json").read_text())["roc_auc"] == 0.85
    assert not (subproject / "dvc.lock").exists()  # DVC ran in ml/, not at the git root


def test_subproject_init_writes_paths_that_exist(subproject: Path):
    result = invoke(subproject / "ml", "init")
    assert result.exit_code == 0, result.output
    text = (subproject / "mlci.yaml").read_text()
    assert '- "ml/eval/metrics.json"' in text
    assert (subproject / "ml/eval/metrics.json").is_file()


def test_two_subprojects_at_the_root_name_both_and_dash_c_picks_one(subproject: Path):
    other = subproject / "forecast"
    other.mkdir()
    dvc(other, "init", "-q", "--subdir")
    result = invoke(subproject, "diff", "--base", "main")
    assert result.exit_code == 3
    assert "several DVC projects (forecast/, ml/)" in result.stderr and "mlci -C" in result.stderr
    assert invoke(subproject / "ml", "diff", "--base", "main", "--json").exit_code == 0


# --- DVCLive writing its own dvclive/dvc.yaml --------------------------------------------------

TRAIN_WITH_DVCLIVE = """\
import yaml
from dvclive import Live

params = yaml.safe_load(open("params.yaml"))["train"]
lr = params["lr"]
# dvcyaml= as DVCLive 3.x before 3.46 wrote it by default: dvclive/dvc.yaml, beside its outputs
with Live(dir="dvclive", dvcyaml="dvclive/dvc.yaml", save_dvc_exp=False) as live:
    live.log_params(params)
    for epoch in range(4):
        live.log_metric("train/loss", round(1.0 / (1 + lr * (epoch + 1)), 6))
        live.log_metric("val/acc", round(0.5 + lr * epoch, 6))
        live.next_step()
    live.log_metric("test_acc", round(0.6 + lr, 6), plot=False)
    labels = [0, 1, 1, 0, 1, 0, 1, 1, 0, 0]
    predicted = [0, 1, 1 if lr < 0.2 else 0, 0, 1, 1, 1, 0, 0, 0]
    live.log_sklearn_plot("confusion_matrix", labels, predicted, name="cm.json")
open("model.txt", "w").write(f"lr={lr}\\n")
"""

DVCLIVE_PROJECT = {
    "dvc.yaml": """\
        stages:
          train:
            cmd: python train.py
            deps: [train.py]
            params: [train]
            outs: [model.txt]
        """,
    "params.yaml": "train:\n  lr: 0.1\n  epochs: 4\n",
    "train.py": TRAIN_WITH_DVCLIVE,
}


@pytest.fixture(scope="module")
def _dvclive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dvclive") / "repo"
    _repo(root, DVCLIVE_PROJECT)
    commit_all(root, "pipeline")  # DVCLive needs a commit to start from
    dvc(root, "repro", "--quiet")
    commit_all(root, "train with DVCLive (dvclive/ committed)")
    git(root, "checkout", "-q", "-b", "pr")
    write(root, {"params.yaml": "train:\n  lr: 0.3\n  epochs: 4\n"})
    commit_all(root, "tune")
    dvc(root, "repro", "--quiet")
    return root


@pytest.fixture
def live_repo(_dvclive: Path, tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(_dvclive, root, symlinks=True)
    return root


def test_dvclive_writes_its_own_dvc_yaml_which_mlci_reads(live_repo: Path):
    assert "metrics" in (live_repo / "dvclive/dvc.yaml").read_text()  # real DVCLive output
    assert dvcfile.dvcyaml_paths(live_repo) == ["dvc.yaml", "dvclive/dvc.yaml"]
    assert dvcfile.metrics_files(live_repo) == ["dvclive/metrics.json"]
    assert "dvclive/params.yaml" in dvcfile.params_files(live_repo)


def test_dvclive_diff_equals_dvc_metrics_and_params_diff(live_repo: Path):
    ours = invoke_json(live_repo, "diff", "--base", "main")
    assert_same_as_dvc(ours, live_repo, live_repo)
    assert {"test_acc", "val.acc", "train.loss"} <= {m["name"] for m in ours["metrics"]}
    assert ("dvclive/params.yaml", "lr") in {(p["file"], p["name"]) for p in ours["params"]}


def test_init_on_a_dvclive_project_writes_dvclives_metrics_file(live_repo: Path):
    result = invoke(live_repo, "init", "--force")
    assert result.exit_code == 0, result.output
    text = (live_repo / "mlci.yaml").read_text()
    assert '- "dvclive/metrics.json"' in text and '"metrics.json"' not in text
    assert "test_acc" in text  # goals come from the values DVCLive wrote


def test_mlci_run_on_a_dvclive_project_records_dvclives_metrics(live_repo: Path):
    invoke(live_repo, "init", "--force")
    commit_all(live_repo, "mlci.yaml")
    result = invoke(live_repo, "run")
    assert result.exit_code == 0, result.output
    record = run_mod.run(live_repo, store=False)
    assert record.metrics["dvclive/metrics.json"]["test_acc"] == 0.9


def test_init_without_declared_metrics_says_so_and_writes_no_guessed_file(tmp_path: Path):
    root = _repo(tmp_path / "repo", {"dvc.yaml": "stages:\n  train:\n    cmd: echo hi\n"})
    commit_all(root, "pipeline")
    result = invoke(root, "init")
    assert result.exit_code == 0, result.output
    assert "declares no metrics" in result.stderr
    text = (root / "mlci.yaml").read_text()
    assert "metrics.json" not in text.replace("metrics: [eval/metrics.json]", "")


# --- where DVC has nothing to say, neither has mlci ----------------------------------------------


@pytest.mark.parametrize("text", ["stages:\n  train:\n    cmd: echo hi\n", ""], ids=["no-metrics", "empty"])
def test_a_dvc_yaml_without_metrics_diffs_to_nothing_with_exit_0_as_dvc(tmp_path: Path, text: str):
    root = _repo(tmp_path / "repo", {"dvc.yaml": text})
    commit_all(root, "pipeline")
    assert json.loads(dvc(root, "metrics", "diff", "HEAD", "--json") or "{}") == {}
    result = invoke(root, "diff", "--base", "HEAD", "--json")
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    assert ours["metrics"] == []
    assert any("dvc.yaml declares no metrics: nothing to compare" in n for n in ours["notes"]), ours["notes"]


# --- params in every format DVC reads ----------------------------------------------------------

EVALUATE_ANY = """\
import json, sys, pathlib
src, out = sys.argv[1:]
if src.endswith(".toml"):
    import tomllib
    lr = tomllib.loads(open(src).read())["train"]["lr"]
else:
    import importlib.util
    spec = importlib.util.spec_from_file_location("p", src)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    lr = module.Train.lr
pathlib.Path(out).write_text(json.dumps({"auc": round(0.9 - abs(lr - 0.1), 6)}))
"""

FORMATS = {
    "toml": (
        "params.toml",
        '[train]\nlr = 0.1\nlayers = [64, 32]\nname = "small"\n[data]\nseed = 7\nsplit = 0.2\n',
        '[train]\nlr = 0.3\nlayers = [128, 32]\nname = "big"\n[data]\nseed = 8\nsplit = 0.2\n',
        ["train", "data.seed"],
    ),
    "py": (
        "params.py",
        "EPOCHS = 3\nTAG: str = 'a'\nSKIPPED = len('not a literal')\n\n"
        "class Train:\n    lr = 0.1\n    layers = [64, 32]\n\n"
        "class Data:\n    def __init__(self):\n        self.seed = 7\n        self.path = 'data.csv'\n",
        "EPOCHS = 5\nTAG: str = 'b'\nSKIPPED = len('not a literal')\n\n"
        "class Train:\n    lr = 0.3\n    layers = [128, 32]\n\n"
        "class Data:\n    def __init__(self):\n        self.seed = 8\n        self.path = 'data.csv'\n",
        ["Train", "Data.seed", "EPOCHS", "TAG"],
    ),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_toml_and_python_params_diff_equal_dvc_params_diff(tmp_path: Path, fmt: str):
    name, before, after, keys = FORMATS[fmt]
    stage = {
        "dvc.yaml": f"""\
            stages:
              evaluate:
                cmd: python evaluate.py {name} metrics.json
                deps: [evaluate.py]
                params:
                  - {name}:
{"".join(f"                      - {k}{chr(10)}" for k in keys)}                metrics:
                  - metrics.json:
                      cache: false
            """,
        name: before,
        "evaluate.py": EVALUATE_ANY,
    }
    root = _repo(tmp_path / "repo", stage)
    dvc(root, "repro", "--quiet")
    commit_all(root, "pipeline")
    git(root, "checkout", "-q", "-b", "pr")
    (root / name).write_text(after)
    commit_all(root, "tune")
    dvc(root, "repro", "--quiet")
    ours = invoke_json(root, "diff", "--base", "main")
    assert_same_as_dvc(ours, root, root)
    assert ours["metrics"][0]["head"] == 0.7  # lr 0.3 reached the stage and the comparison
    theirs = dvc_diff(root, root, "params")[name]
    assert len(theirs) >= 4  # a real comparison: nested keys, lists, strings
    record = run_mod.run(root, store=False)
    assert set(record.params[name]) == set(json.loads(dvc(root, "params", "diff", "main", "--json", "--all"))[name])


def test_python_params_are_parsed_never_run(tmp_path: Path):
    from mlci.store.metrics import parse_params

    marker = tmp_path / "ran"
    text = f"import pathlib\npathlib.Path({str(marker)!r}).write_text('x')\nLR = 0.1\nclass M:\n    depth = 3\n"
    assert parse_params(text, "params.py") == {"LR": 0.1, "M.depth": 3}
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("params.toml", "[train\nlr = 1\n", "cannot parse TOML"),
        ("params.py", "def (:\n", ":1: not valid Python"),
        ("params.py", "X = " + "(" * 2000 + ")" * 2000 + "\n", "params.py"),
        ("params.toml", "x = " + "1" * 5000 + "\n", "too long to read"),
    ],
    ids=["toml-syntax", "py-syntax", "py-deep", "toml-huge-int"],
)
def test_broken_toml_or_python_params_are_one_line_exit_5(tmp_path: Path, name: str, text: str, message: str):
    root = _repo(tmp_path / "repo", {"dvc.yaml": f"stages:\n  s:\n    cmd: echo\n    params:\n      - {name}:\n"})
    (root / name).write_text(text)
    commit_all(root, "pipeline")
    result = invoke(root, "diff", "--base", "HEAD")
    assert result.exit_code == 5, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr


def test_base_metrics_missing_from_an_empty_cache_are_unavailable_with_the_reason(tmp_path: Path):
    from tests.test_dvc_layouts import CACHED_OUTS, make_project, pr

    root = pr(make_project(tmp_path / "repo", CACHED_OUTS), {"params.yaml": "train:\n  lr: 0.3\n  seed: 7\n"})
    shutil.rmtree(root / ".dvc" / "cache")  # a fresh runner: main's eval/ was never pulled
    theirs = json.loads(dvc(root, "metrics", "diff", "main", "--json") or "{}")
    result = invoke(root, "diff", "--base", "main", "--json")
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    heads = {m["name"]: m["head"] for m in ours["metrics"]}
    assert heads == {k: v["new"] for k, v in theirs["eval/metrics.json"].items()}  # DVC: the head only
    assert {m["verdict"] for m in ours["metrics"]} == {"unavailable"}  # not "new": main had them
    assert all(m["base"] is None and "`mlci pull`" in m["note"] for m in ours["metrics"])
    assert ours["summary"]["unavailable"] == len(heads) and ours["summary"]["new"] == 0
    assert not any("first PR" in n for n in ours["notes"])


def test_head_metrics_missing_from_workspace_and_cache_are_unavailable_not_removed(tmp_path: Path):
    from tests.test_dvc_layouts import CACHED_OUTS, make_project, pr

    root = pr(make_project(tmp_path / "repo", CACHED_OUTS), {"params.yaml": "train:\n  lr: 0.3\n  seed: 7\n"})
    commit_all(root, "results")
    shutil.rmtree(root / "eval")
    git(root, "checkout", "-q", "main")
    dvc(root, "remote", "add", "--local", "-d", "storage", str(tmp_path / "remote"))
    dvc(root, "push", "--quiet")  # main's results on the remote, the PR's only in the local cache
    git(root, "checkout", "-q", "pr")
    shutil.rmtree(root / ".dvc" / "cache")
    shutil.rmtree(root / "eval", ignore_errors=True)
    result = invoke(root, "diff", "--base", "main", "--json")
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    assert {m["verdict"] for m in ours["metrics"]} == {"unavailable"}
    roc = next(m for m in ours["metrics"] if m["name"] == "roc_auc")
    assert (roc["base"], roc["head"]) == (0.9, None)
    assert "head value unavailable" in roc["note"]


def _declaring(keys: list[str]) -> str:
    lines = "".join(f"          - {k}\n" for k in keys)
    return (
        "stages:\n  evaluate:\n    cmd: python src/evaluate.py hp.yaml metrics.json\n    deps: [src/evaluate.py]\n"
        f"    params:\n      - hp.yaml:\n{lines}    metrics:\n      - metrics.json:\n          cache: false\n"
    )


def test_a_param_declared_only_by_the_head_is_added_as_dvc_says(tmp_path: Path):
    from tests.test_dvc_layouts import make_project

    root = make_project(
        tmp_path / "repo", {"dvc.yaml": _declaring(["lr"]), "hp.yaml": "lr: 0.1\nlearning_rate: 0.7647\n"}
    )
    assert run_mod.run(root).params["hp.yaml"] == {"lr": 0.1}
    git(root, "checkout", "-q", "-b", "pr")
    write(root, {"dvc.yaml": _declaring(["lr", "learning_rate"]), "hp.yaml": "lr: 0.1\nlearning_rate: 0.0767\n"})
    commit_all(root, "declare learning_rate and tune it")
    dvc(root, "repro", "--quiet")
    ours = invoke_json(root, "diff", "--base", "main")
    assert ours["base"]["source"] == "record"
    assert_same_as_dvc(ours, root, root)  # DVC scopes main by main's dvc.yaml: learning_rate is added


def test_a_base_record_missing_a_param_its_commit_declares_agrees_with_dvc(tmp_path: Path):
    """The issue's "record params drift": main's record was written when mlci.yaml listed only
    params.yaml, so it lacks hp.yaml; main's dvc.yaml declares hp.yaml:learning_rate, and DVC
    says 0.7647 → 0.0767, not "added"."""
    from tests.test_dvc_layouts import make_project

    files = {"dvc.yaml": _declaring(["lr", "learning_rate"]), "hp.yaml": "lr: 0.1\nlearning_rate: 0.7647\n"}
    root = make_project(tmp_path / "repo", {**files, "params.yaml": "unused: 1\n"})
    (root / "mlci.yaml").write_text("metrics: [metrics.json]\nparams: [params.yaml]\n")
    commit_all(root, "mlci.yaml")
    assert "hp.yaml" not in run_mod.run(root).params
    git(root, "checkout", "-q", "-b", "pr")
    write(root, {"hp.yaml": "lr: 0.1\nlearning_rate: 0.0767\n", "mlci.yaml": "metrics: [metrics.json]\n"})
    commit_all(root, "compare every declared param; tune learning_rate")
    dvc(root, "repro", "--quiet")
    ours = invoke_json(root, "diff", "--base", "main")
    assert ours["base"]["source"] == "record"
    assert_same_as_dvc(ours, root, root)
    assert ours["params"] == [
        {"file": "hp.yaml", "name": "learning_rate", "base": 0.7647, "head": 0.0767, "change": "changed"}
    ]


# --- reads need no pipeline ----------------------------------------------------------------------


def test_registry_list_needs_no_resolvable_pipeline(trained_repo: Path):
    import gto.api

    gto.api.register(str(trained_repo), "churn", "HEAD", version="v1.0.0")
    before = invoke_json(trained_repo, "registry", "list")
    dvc_yaml = trained_repo / "dvc.yaml"
    dvc_yaml.write_text("vars:\n  - missing.yaml\n" + dvc_yaml.read_text())  # DVC cannot resolve it now
    broken = invoke(trained_repo, "diff")
    assert broken.exit_code == 3 and "DVC cannot resolve it" in broken.stderr  # control: the pipeline is broken
    assert invoke_json(trained_repo, "registry", "list") == before
    assert [v["version"] for v in before] == ["v1.0.0"]
    assert gto.api.find_latest_version(str(trained_repo), "churn").version == "v1.0.0"


def test_the_report_reads_stages_as_dvc_resolves_them_not_as_plain_yaml(tmp_path: Path):
    from mlci.report import changes
    from tests.test_dvc_layouts import FOREACH_MATRIX

    root = _repo(tmp_path / "repo", {**FOREACH_MATRIX, **PIPELINES})
    outs = changes.stage_outs(root)
    assert outs["evaluate@big"] == ["metrics/big.json"]  # foreach expanded, ${item} filled in
    assert outs["sweep@small-yaml"] == ["sweep/small.yaml"]
    assert outs["pipelines/churn/dvc.yaml:evaluate"] == ["results/churn.json"]  # a nested dvc.yaml, wdir ../..
    assert changes.evaluation_inputs(root, "results/fraud.yaml") == []  # its only dep is code


def test_dvclive_plots_from_its_own_dvc_yaml_are_drawn_under_dvcs_ids(live_repo: Path, tmp_path: Path):
    import git as gitpython

    from mlci.report import dvcplots

    theirs = json.loads(dvc(live_repo, "plots", "diff", "main", "--json"))["data"]
    notes: list[str] = []
    base = git(live_repo, "rev-parse", "main")
    drawn = dvcplots.render(gitpython.Repo(live_repo), live_repo, base, tmp_path / "out", "plots", [], notes)
    assert {key.split(":", 1)[1] for key in drawn} == set(theirs), notes
    assert notes == []
    assert "dvclive/plots/sklearn/cm.json" in theirs  # DVCLive's confusion matrix, drawn by the one renderer
