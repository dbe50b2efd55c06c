"""The README's "existing DVC project" quick start, run line by line as printed, on a project
laid out like DVC's example-get-started (cached `eval/` output, top-level metrics and plots,
`artifacts:`), that nobody shaped for mlci."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.helpers import commit_all, git

README = Path(__file__).resolve().parents[1] / "README.md"

PROJECT = {
    "dvc.yaml": """\
        stages:
          train:
            cmd: python src/train.py
            deps: [src/train.py]
            params: [train]
            outs: [models/model.json]
          evaluate:
            cmd: python src/evaluate.py
            deps: [src/evaluate.py, models/model.json]
            outs: [eval]
        metrics:
          - eval/metrics.json
        plots:
          - eval/plots/metrics:
              x: step
        artifacts:
          classifier:
            path: models/model.json
            type: model
        """,
    "params.yaml": "train:\n  lr: 0.1\n  epochs: 5\n",
    "src/train.py": """\
        import json, pathlib, yaml
        p = yaml.safe_load(open("params.yaml"))["train"]
        pathlib.Path("models").mkdir(exist_ok=True)
        pathlib.Path("models/model.json").write_text(json.dumps(p))
        """,
    "src/evaluate.py": """\
        import json, pathlib
        p = json.loads(pathlib.Path("models/model.json").read_text())
        auc = round(0.9 - abs(p["lr"] - 0.1), 6)
        out = pathlib.Path("eval/plots/metrics/train")
        out.mkdir(parents=True, exist_ok=True)
        rows = [f"{step}\\t{round(1 - auc * (step + 1) / p['epochs'], 6)}" for step in range(p["epochs"])]
        (out / "loss.tsv").write_text("step\\tloss\\n" + "\\n".join(rows) + "\\n")
        pathlib.Path("eval/metrics.json").write_text(json.dumps({"auc": auc, "step": p["epochs"] - 1}))
        """,
    "requirements.txt": "PyYAML==6.0.2\n",
}


def quickstart_lines() -> list[str]:
    text = README.read_text()
    block = re.search(r"<!-- quickstart[^>]*-->\s*```bash\n(.*?)```\s*<!-- /quickstart -->", text, re.DOTALL)
    assert block, "README lost its quick start block"
    return [re.sub(r"\s+#\s.*$", "", line).strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_readme_quick_start_is_five_commands():
    assert len(quickstart_lines()) == 5


def _existing_project(root: Path) -> str:
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    for rel, content in PROJECT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(content))
    return commit_all(root, "an existing DVC project")


def _run_the_quick_start(root: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    lines = quickstart_lines()
    for number, line in enumerate(lines, 1):
        if number == len(lines):  # "then change params.yaml or code, and:"
            (root / "params.yaml").write_text("train:\n  lr: 0.3\n  epochs: 5\n")
        proc = subprocess.run(["bash", "-c", line], cwd=root, env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"


def test_the_quick_start_gives_a_first_report_against_a_same_inputs_baseline(tmp_path: Path):
    root = tmp_path / "existing-project"
    before = _existing_project(root)
    _run_the_quick_start(root)
    report = (root / "mlci-report" / "report.md").read_text()
    assert f"baseline recorded at {before[:12]}, same inputs" in report
    assert "| auc | 0.9000 | 0.7000 |" in report  # from the record of the commit before mlci's own
    assert "eval/plots/metrics/train/loss.tsv" in report and "No plots" not in report
    assert "step" not in (root / "mlci.yaml").read_text().split("goals:", 1)[1]  # a counter, no goal
    assert 'model: "models/model.json"' in (root / "mlci.yaml").read_text()


def test_the_quick_start_in_a_git_clone_compares_with_the_commit_made_in_its_step_3(tmp_path: Path):
    """In a clone, origin/main is upstream's history; "main" is the user's own branch, where step 3
    committed mlci.yaml and dvc.lock. Comparing with origin/main found no baseline at all."""
    upstream = tmp_path / "upstream"
    before = _existing_project(upstream)
    root = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream), str(root))
    _run_the_quick_start(root)
    step_3 = git(root, "rev-parse", "main")
    assert step_3 != before and git(root, "rev-parse", "origin/main") == before
    report = (root / "mlci-report" / "report.md").read_text()
    first = report.splitlines()[0]
    assert f"vs base `{step_3[:12]}` (merge-base with `main`, the local default branch main)" in first
    assert f"baseline recorded at {before[:12]}, same inputs as base {step_3[:12]}" in report
    assert "| auc | 0.9000 | 0.7000 |" in report and "every metric is new" not in report
