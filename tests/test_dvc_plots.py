"""dvc.yaml `plots:` drawn base vs head: DVC's x/y/template semantics on DVC's documented shapes."""

from __future__ import annotations

import json
from pathlib import Path

from mlci.report import dvcplots
from tests.helpers import commit_all, git

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _project(root: Path, dvc_yaml: str, files: dict[str, bytes | str]) -> None:
    (root / "dvc.yaml").write_text(dvc_yaml)
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data if isinstance(data, bytes) else data.encode())


def _render(root: Path, base: str | None, tmp_path: Path) -> tuple[dict[str, str], list[str]]:
    import git as gitpython

    notes: list[str] = []
    drawn = dvcplots.render(gitpython.Repo(root), root, base, tmp_path / "out", "plots", [], notes)
    return drawn, notes


def test_a_directory_entry_draws_each_dvclive_series_with_its_x(git_repo: Path, tmp_path: Path):
    _project(
        git_repo,
        "plots:\n  - dvclive/plots/metrics:\n      x: step\n",
        {
            "dvclive/plots/metrics/train/loss.tsv": "step\tloss\n0\t0.9\n1\t0.5\n",
            "dvclive/plots/metrics/test/acc.tsv": "step\tacc\n0\t0.6\n1\t0.7\n",
        },
    )
    specs = {s.id: s for s in dvcplots.specs(git_repo)}
    assert set(specs) == {"dvclive/plots/metrics/train/loss.tsv", "dvclive/plots/metrics/test/acc.tsv"}
    assert specs["dvclive/plots/metrics/train/loss.tsv"].x == "step"
    drawn, notes = _render(git_repo, None, tmp_path)
    assert set(drawn) == {
        "training_curve:dvclive/plots/metrics/train/loss.tsv",
        "training_curve:dvclive/plots/metrics/test/acc.tsv",
    }
    assert notes == []


def test_top_level_plot_id_takes_y_per_file_and_the_base_from_git(git_repo: Path, tmp_path: Path):
    dvc_yaml = (
        "plots:\n  - precision_recall:\n      template: simple\n      x: recall\n"
        "      y:\n        eval/prc.json: precision\n"
    )
    _project(
        git_repo,
        dvc_yaml,
        {"eval/prc.json": json.dumps({"prc": [{"recall": 0, "precision": 1}, {"recall": 1, "precision": 0.5}]})},
    )
    base = commit_all(git_repo, "base")
    (git_repo / "eval/prc.json").write_text(
        json.dumps({"prc": [{"recall": 0, "precision": 1}, {"recall": 1, "precision": 0.7}]})
    )
    [spec] = dvcplots.specs(git_repo)
    assert (spec.id, spec.files, spec.x, spec.template) == (
        "precision_recall",
        {"eval/prc.json": ["precision"]},
        "recall",
        "simple",
    )
    drawn_with_base, _ = _render(git_repo, base, tmp_path / "a")
    drawn_alone, _ = _render(git_repo, None, tmp_path / "b")
    assert list(drawn_with_base) == ["precision_recall:precision_recall"]
    with_base = (tmp_path / "a/out" / drawn_with_base["precision_recall:precision_recall"]).read_bytes()
    alone = (tmp_path / "b/out" / drawn_alone["precision_recall:precision_recall"]).read_bytes()
    assert with_base.startswith(b"\x89PNG") and with_base != alone  # the base curve is drawn too


def test_confusion_template_counts_actual_predicted_rows(git_repo: Path, tmp_path: Path):
    rows = [{"actual": "0", "predicted": "0"}, {"actual": "1", "predicted": "0"}, {"actual": "1", "predicted": "1"}]
    _project(
        git_repo,
        "plots:\n  - cm.json:\n      template: confusion\n      x: actual\n      y: predicted\n",
        {"cm.json": json.dumps(rows)},
    )
    drawn, notes = _render(git_repo, None, tmp_path)
    assert list(drawn) == ["Confusion matrix:cm.json"] and notes == []


def test_images_are_shown_base_and_head(git_repo: Path, tmp_path: Path):
    _project(
        git_repo,
        "stages:\n  ev:\n    cmd: x\n    plots:\n      - dvclive/plots/images\n",
        {"dvclive/plots/images/weights.png": PNG + b"base"},
    )
    base = commit_all(git_repo, "base")
    (git_repo / "dvclive/plots/images/weights.png").write_bytes(PNG + b"head")
    drawn, _ = _render(git_repo, base, tmp_path)
    assert set(drawn) == {
        "Image (head):dvclive/plots/images/weights.png",
        "Image (base):dvclive/plots/images/weights.png",
    }
    assert (tmp_path / "out" / drawn["Image (base):dvclive/plots/images/weights.png"]).read_bytes().endswith(b"base")


def test_a_malformed_plot_file_is_a_note_not_an_error(git_repo: Path, tmp_path: Path):
    _project(git_repo, "plots:\n  - bad.json\n", {"bad.json": "{not json"})
    drawn, notes = _render(git_repo, None, tmp_path)
    assert drawn == {} and len(notes) == 1 and notes[0].startswith("plot bad.json: skipped (JSONDecodeError")


def test_base_plot_inside_a_dvc_cached_out_comes_from_the_cache(git_repo: Path, tmp_path: Path):
    import subprocess
    import sys

    import git as gitpython

    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=git_repo, check=True)
    (git_repo / "dvc.yaml").write_text(
        "stages:\n  ev:\n    cmd: python -c \"import pathlib; p=pathlib.Path('eval'); p.mkdir(exist_ok=True); "
        "(p/'curve.tsv').write_text('step\\tloss\\n0\\t1.0\\n1\\t0.5\\n')\"\n    outs: [eval]\n"
        "plots:\n  - eval/curve.tsv:\n      x: step\n"
    )
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=git_repo, check=True)
    base = commit_all(git_repo, "base")
    assert git(git_repo, "ls-files", "eval") == ""
    (git_repo / "eval/curve.tsv").write_text("step\tloss\n0\t1.0\n1\t0.2\n")
    lock = git(git_repo, "show", f"{base}:dvc.lock")
    cached = dvcplots.base_bytes(gitpython.Repo(git_repo), git_repo, base, "eval/curve.tsv", lock)
    assert cached == b"step\tloss\n0\t1.0\n1\t0.5\n"
