"""The action ref is set in one place (mlci/workflows/templategen.py) and everything that names it, plus
the README's copy-paste workflows, is derived from it: checked-in files never drift."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from mlci.workflows import templategen

ROOT = Path(__file__).resolve().parent.parent
GEN = ROOT / "scripts" / "gen-templates"


def _copy_of_the_sources(tmp_path: Path) -> Path:
    copy = tmp_path / "repo"
    for rel in ("templates/workflows", "templates/workflows-cpu", "templates/runners"):
        shutil.copytree(ROOT / rel, copy / rel)
    shutil.copy(ROOT / "README.md", copy / "README.md")
    return copy


def test_the_checked_in_templates_readme_and_runner_image_match_the_generator():
    done = subprocess.run([sys.executable, str(GEN), "--check"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_every_template_uses_the_one_action_ref():
    templates = [*ROOT.glob("templates/workflows/*.yml"), *ROOT.glob("templates/workflows-cpu/*.yml")]
    assert len(templates) >= 7
    for path in templates:
        uses = [
            step["uses"]
            for job in yaml.safe_load(path.read_text())["jobs"].values()
            for step in job.get("steps", [])
            if "/mlci@" in step.get("uses", "")
        ]
        assert uses and set(uses) == {templategen.ACTION_REF}, path.name


def test_the_readme_copy_paste_workflows_are_the_templates_verbatim():
    # the README holds the CPU workflow; the GitHub guide in docs/ holds both (issue 16 moved it)
    readme = "".join(p.read_text() for p in [ROOT / "README.md", *sorted(ROOT.glob("docs/**/*.md"))])
    blocks = re.findall(r"<!-- mlci:template (\S+) -->\n```yaml\n(.*?)```\n<!-- /mlci:template -->", readme, re.DOTALL)
    assert {path for path, _ in blocks} >= {"templates/workflows-cpu/pr.yml", "templates/workflows/pr.yml"}
    for path, body in blocks:
        assert body == (ROOT / path).read_text(), path


def test_a_new_ref_is_one_edit_and_the_check_names_every_stale_file(tmp_path):
    copy = _copy_of_the_sources(tmp_path)
    assert templategen.drifted(copy) == []
    derived = templategen.derived(copy)
    renamed = {rel: templategen.render_workflow(text, "acme/mlci@v2") for rel, text in derived.items()}
    assert all("org/mlci@" not in text for rel, text in renamed.items() if rel.endswith(".yml")), (
        "every template names the action only through the generator's pattern"
    )
    (copy / "templates" / "workflows" / "pr.yml").write_text(renamed["templates/workflows/pr.yml"])
    assert templategen.drifted(copy) == ["templates/workflows/pr.yml"]
    assert templategen.write(copy) == ["templates/workflows/pr.yml"]
    assert templategen.drifted(copy) == []


def test_a_template_edit_reaches_the_readme_block_on_regeneration(tmp_path):
    copy = _copy_of_the_sources(tmp_path)
    template = copy / "templates" / "workflows-cpu" / "pr.yml"
    template.write_text(template.read_text().replace("timeout-minutes: 60", "timeout-minutes: 45"))
    assert templategen.drifted(copy) == ["README.md"]
    script = "import sys; from pathlib import Path; from mlci.workflows import templategen; print(templategen.write(Path(sys.argv[1])))"
    done = subprocess.run([sys.executable, "-c", script, str(copy)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "timeout-minutes: 45" in (copy / "README.md").read_text()


def test_the_runner_image_installs_mlci_from_the_actions_repository_at_its_ref():
    dockerfile = (ROOT / "templates" / "runners" / "Dockerfile.gpu-runner").read_text()
    repo, major = templategen.ACTION_REF.split("@")
    assert f"ARG MLCI_REPO=https://github.com/{repo}\n" in dockerfile and f"ARG MLCI_REF={major}\n" in dockerfile
    assert "--require-hashes -r /opt/mlci-src/requirements.lock" in dockerfile


def test_init_workflows_for_a_cpu_runner_writes_the_ubuntu_latest_pr_and_baseline_and_no_gpu_job(trained_repo):
    from tests.helpers import invoke

    result = invoke(trained_repo, "init", "--workflows", "--runner", "cpu")
    assert result.exit_code == 0, result.output
    written = trained_repo / ".github" / "workflows"
    assert sorted(p.name for p in written.iterdir()) == [
        "baseline.yml",
        "dashboard.yml",
        "pr-fork-publish.yml",
        "pr.yml",
        "promote.yml",
        "retrain.yml",
    ]
    for name in ("pr.yml", "baseline.yml"):
        assert (written / name).read_bytes() == (ROOT / "templates" / "workflows-cpu" / name).read_bytes()
    for path in written.iterdir():
        assert "self-hosted" not in str([job["runs-on"] for job in yaml.safe_load(path.read_text())["jobs"].values()])


def test_init_workflows_defaults_to_the_gpu_templates(trained_repo):
    from tests.helpers import invoke

    assert invoke(trained_repo, "init", "--workflows").exit_code == 0
    pr = trained_repo / ".github" / "workflows" / "pr.yml"
    assert pr.read_bytes() == (ROOT / "templates" / "workflows" / "pr.yml").read_bytes()
    assert (trained_repo / ".github" / "workflows" / "sweep.yml").exists()
