"""Plots drawn as declared: every template DVC ships, checked against `dvc plots diff --json`.

One project declares a plot per template (and DVCLive's own output), committed on main and
changed on a PR branch. For the same revisions DVC's `plots diff --json` gives each plot's
spec (title, axis titles, mark) and data (rows per revision); mlci must draw the same plots,
with the same titles, labels and rows, in the way each template means (checked on the
figure: points, bars, lines, readable matrix text), and say so when a base cannot be read.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from mlci.report import dvcplots, plots
from tests.helpers import commit_all, git

IMPORTANCE = "feature,gain\n" + "".join(f"f{i},{(i * 7) % 10 + 1}\n" for i in range(10))
DVC_YAML = """\
plots:
  - eval/loss.tsv:
      x: step
      title: Training loss
      x_label: epoch
      y_label: log loss
  - eval/simple.csv:
      template: simple
      x: step
      y: score
  - eval/smooth.csv:
      template: smooth
      x: step
      y: score
  - eval/scatter.json:
      template: scatter
      x: predicted
      y: actual
      title: Predicted vs actual
  - eval/jitter.json:
      template: scatter_jitter
      x: predicted
      y: actual
  - eval/cm.json:
      template: confusion
      x: actual
      y: predicted
  - eval/cm_norm.json:
      template: confusion_normalized
      x: actual
      y: predicted
  - eval/importance.csv:
      template: bar_horizontal
      x: gain
      y: feature
      title: Importance
  - eval/importance_sorted.csv:
      template: bar_horizontal_sorted
      x: gain
      y: feature
  - eval/single.tsv:
      x: step
      y: acc
  - accuracy:
      x: step
      y:
        eval/train/acc.tsv: acc
        eval/test/acc.tsv: acc
"""


def _files(shift: float) -> dict[str, str]:
    cm = [{"actual": a, "predicted": p} for a, p in [(0, 0)] * 40 + [(0, 1)] * 3 + [(1, 1)] * 30 + [(1, 0)] * 2]
    if shift:
        cm[-1] = {"actual": 1, "predicted": 1}
    points = [{"predicted": round(0.1 * i + shift, 3), "actual": round(0.1 * i, 3)} for i in range(8)]
    return {
        "eval/loss.tsv": "step\tloss\n" + "".join(f"{i}\t{1 / (i + 1) + shift:.4f}\n" for i in range(6)),
        "eval/simple.csv": "step,score\n" + "".join(f"{i},{0.5 + i * 0.05 + shift:.3f}\n" for i in range(5)),
        "eval/smooth.csv": "step,score\n" + "".join(f"{i},{0.2 + (i % 3) * 0.1 + shift:.3f}\n" for i in range(12)),
        "eval/scatter.json": json.dumps(points),
        "eval/jitter.json": json.dumps(points),
        "eval/cm.json": json.dumps(cm),
        "eval/cm_norm.json": json.dumps(cm),
        "eval/importance.csv": IMPORTANCE if not shift else IMPORTANCE.replace("f3,2", "f3,9"),
        "eval/importance_sorted.csv": IMPORTANCE,
        "eval/single.tsv": f"step\tacc\n0\t{0.8 + shift}\n",
        "eval/train/acc.tsv": "step\tacc\n0\t0.6\n1\t0.7\n2\t" + f"{0.8 + shift}\n",
        "eval/test/acc.tsv": "step\tacc\n0\t0.5\n1\t0.6\n2\t" + f"{0.65 + shift}\n",
    }


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


@pytest.fixture(scope="module")
def _templates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("templates") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "dvc.yaml").write_text(DVC_YAML)
    _write(root, _files(0.0))
    base = commit_all(root, "plots")
    git(root, "checkout", "-q", "-b", "pr")
    _write(root, _files(0.05))
    return root, base


@pytest.fixture(scope="module")
def drawn(_templates: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list[str], Path]:
    import git as gitpython

    root, base = _templates
    out = tmp_path_factory.mktemp("drawn")
    notes: list[str] = []
    images = dvcplots.render(gitpython.Repo(root), root, base, out, "plots", [], notes)
    return images, notes, out


@pytest.fixture(scope="module")
def theirs(_templates: tuple[Path, str]) -> dict[str, Any]:
    root, _base = _templates
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "plots", "diff", "main", "--json"], cwd=root, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return {k: v[0]["content"] for k, v in json.loads(proc.stdout)["data"].items()}


def _mlci_data(root: Path, base: str) -> dict[str, dvcplots.PlotData]:
    import git as gitpython

    from mlci.store import dvcfile, gitrepo

    repo = gitpython.Repo(root)
    locks = dvcfile.locks(root, show=lambda p: gitrepo.show(repo, base, p))
    found = {}
    for spec in dvcplots.specs(root):
        data = dvcplots.collect(repo, root, base, locks, spec, [])
        assert data is not None
        found[spec.id] = data
    return found


def _value(v: Any) -> Any:
    try:
        return float(v)
    except (TypeError, ValueError):
        return str(v)


def test_every_plot_dvc_draws_mlci_draws_under_dvcs_plot_id(drawn, theirs):
    images, notes, out = drawn
    assert notes == []
    assert {key.split(":", 1)[1] for key in images} == set(theirs)  # one image per DVC plot id
    assert all((out / path).read_bytes().startswith(b"\x89PNG") for path in images.values())
    titles = {key.split(":", 1)[1]: key.split(":", 1)[0] for key in images}
    assert (titles["eval/loss.tsv"], titles["eval/scatter.json"]) == ("Training loss", "Predicted vs actual")


def test_titles_and_axis_labels_are_dvcs(_templates, theirs):
    root, _base = _templates
    specs = {s.id: s for s in dvcplots.specs(root)}
    for plot_id, content in theirs.items():
        spec = specs[plot_id]
        title = content["title"]["text"]
        assert (spec.title or spec.id) == title, plot_id
        encoding = content.get("encoding") or content.get("spec", {}).get("encoding") or {}
        x_title = (encoding.get("x") or {}).get("title")
        if spec.x_label:
            assert spec.x_label == x_title, plot_id
    assert specs["eval/loss.tsv"].y_label == "log loss"


def test_the_rows_drawn_are_the_rows_dvc_shows_for_each_revision(_templates, theirs):
    root, base = _templates
    ours = _mlci_data(root, base)
    for plot_id, content in theirs.items():
        data = ours[plot_id]
        rows = content["data"]["values"]
        for rev, side in (("workspace", data.head), ("main", data.base)):
            expected = sorted(
                json.dumps({k: _value(v) for k, v in r.items() if k in _fields(data)}, sort_keys=True)
                for r in rows
                if r["rev"] == rev
            )
            got = sorted(
                json.dumps({k: _value(v) for k, v in r.items() if k in _fields(data)}, sort_keys=True)
                for file, records in side.items()
                for r in records or []
            )
            assert got == expected, (plot_id, rev)


def _fields(data: dvcplots.PlotData) -> set[str]:
    spec = data.spec
    fields = {spec.x} if isinstance(spec.x, str) else set((spec.x or {}).values())
    for ys in spec.files.values():
        fields.update(ys or [])
    return fields


def _figure_of(draw) -> Any:
    """The matplotlib figure a drawing function builds (captured from plots._render)."""
    captured = {}
    original = plots._png

    def keep(figure):
        captured["figure"] = figure
        return original(figure)

    plots._png = keep
    try:
        draw()
    finally:
        plots._png = original
    return captured["figure"]


def test_scatter_is_points_and_linear_is_lines():
    points = _figure_of(
        lambda: plots.curves([plots.CurvePanel("y", ([1, 2, 3], [3, 1, 2]))], title="t", x_label="x", points=True)
    )
    ax = points.axes[0]
    assert len(ax.collections) == 1 and not ax.lines  # a PathCollection of points, no line
    lines = _figure_of(lambda: plots.curves([plots.CurvePanel("y", ([1, 2, 3], [3, 1, 2]))], title="t", x_label="x"))
    assert len(lines.axes[0].lines) == 1 and not lines.axes[0].collections


def test_a_single_point_is_drawn_as_a_point():
    figure = _figure_of(
        lambda: plots.curves([plots.CurvePanel("acc", ([0], [0.8]), ([0], [0.75]))], title="t", x_label="step")
    )
    ax = figure.axes[0]
    assert len(ax.collections) == 2  # base and head, each a visible marker
    assert [list(c.get_offsets()[0]) for c in ax.collections] == [[0, 0.75], [0, 0.8]]


def test_bar_horizontal_draws_every_row_in_the_files_order_and_sorted_sorts():
    head = {f"f{i}": float((i * 7) % 10 + 1) for i in range(10)}
    figure = _figure_of(lambda: plots.bars([plots.BarPanel("", head)], title="t", x_label="gain", y_label="feature"))
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels == list(reversed(head))  # all 10 rows, the first on top
    assert len(figure.axes[0].patches) == 10
    ranked = _figure_of(
        lambda: plots.bars([plots.BarPanel("", head)], title="t", x_label="gain", y_label="feature", sort=True)
    )
    top_down = [t.get_text() for t in ranked.axes[0].get_yticklabels()][::-1]
    assert top_down == sorted(head, key=lambda k: -head[k])


def test_panels_are_named_by_file_and_field(_templates):
    root, base = _templates
    data = _mlci_data(root, base)["accuracy"]
    head = {f: dvcplots._series(r, "step", ["acc"]) for f, r in data.head.items()}
    names = [p.name for p in dvcplots._panels(head, dict.fromkeys(head))]
    assert names == ["eval/train/acc.tsv: acc", "eval/test/acc.tsv: acc"]


def test_every_confusion_cell_label_is_readable():
    """Black text on dark cells was unreadable: each label's colour must contrast with its cell."""
    import numpy as np
    from matplotlib.colors import to_rgb

    matrix = np.array([[400, 3], [2, 300]])
    panel = plots.MatrixPanel("head", matrix, matrix, [[str(v) for v in row] for row in matrix])
    figure = _figure_of(lambda: plots.confusion_matrices([panel], ["0", "1"], ["0", "1"], xlabel="a", ylabel="p"))
    ax = figure.axes[0]
    image = ax.images[0]
    for text in ax.texts:
        col, row = (round(v) for v in text.get_position())
        cell = image.cmap(image.norm(matrix[row, col]))[:3]
        luminance = lambda c: 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]  # noqa: E731
        assert abs(luminance(cell) - luminance(to_rgb(text.get_color()))) > 0.4, (text.get_text(), cell)


def test_one_confusion_renderer_serves_every_confusion_plot():
    import inspect

    from mlci.report import builder

    for fn in (plots.confusion, plots.confusion_multiclass, dvcplots._confusion):
        assert "confusion_matrices(" in inspect.getsource(fn), fn.__name__
    assert not hasattr(dvcplots, "confusion")
    assert "imshow" not in inspect.getsource(dvcplots) and "imshow" not in inspect.getsource(builder)


def test_a_base_only_in_an_unreachable_dvc_cache_is_a_note(tmp_path: Path):
    import git as gitpython

    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "dvc.yaml").write_text(
        textwrap.dedent(
            """\
            stages:
              ev:
                cmd: python -c "import pathlib; p=pathlib.Path('eval'); p.mkdir(exist_ok=True); (p/'curve.tsv').write_text('step\\tloss\\n0\\t1.0\\n1\\t0.5\\n')"
                outs: [eval]
            plots:
              - eval/curve.tsv:
                  x: step
            """
        )
    )
    subprocess.run([sys.executable, "-m", "dvc", "repro", "-q"], cwd=root, check=True)
    base = commit_all(root, "base")
    shutil.rmtree(root / ".dvc" / "cache")
    notes: list[str] = []
    drawn = dvcplots.render(gitpython.Repo(root), root, base, tmp_path / "out", "plots", [], notes)
    assert list(drawn) == ["training_curve:eval/curve.tsv"]  # the head is still drawn
    assert any("eval/curve.tsv" in n and "base not drawn" in n and "`mlci pull`" in n for n in notes), notes
