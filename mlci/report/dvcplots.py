"""Plots declared in `dvc.yaml`, drawn base vs head for the report, with DVC's semantics.

What DVC's `plots:` teaches (and DVCLive writes), in every dvc.yaml of the project: an entry
is a file, a directory (every plot file under it), or a plot id whose `y` maps files to
columns. Options: `x` (default: the row index, as DVC's `step`), `y` (default: the numeric
columns), `title`, `x_label`, `y_label` (default: the field names, as DVC's), and `template`,
each drawn as it means: linear, simple and smooth as lines, scatter (and scatter_jitter) as
points, confusion / confusion_normalized as a matrix of x (columns) by y (rows) with readable
text on every cell, bar_horizontal as one bar per row (every row, in the file's order) and
bar_horizontal_sorted the same sorted by value. A series of one point is drawn as a point.
Each panel is named by its file and field when a plot has several. Data files are TSV, CSV,
JSON (a list of records, or a mapping holding one: sklearn-plot JSON `{"roc": [...]}`) or
YAML; images are shown as they are.

The head side is the working tree; the base side is the file committed at the base, else the
version the base's dvc.lock files recorded, read from DVC's local cache; a base the cache lacks
(or that cannot be parsed) is a note, as a missing metric is. A plot that cannot be drawn is a
note, never an error. Heavy libraries are imported only when drawing.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from mlci.errors import DataError
from mlci.store import atomicio, dvcfile, repopath, safeyaml

DATA_SUFFIXES = (".tsv", ".csv", ".json", ".yaml", ".yml")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".svg")
_CURVES = ("linear", "simple", "smooth")
_POINTS = ("scatter", "scatter_jitter")
_CONFUSION = ("confusion", "confusion_normalized")
_BARS = ("bar_horizontal", "bar_horizontal_sorted")


@dataclass
class PlotSpec:
    """One plot as DVC would render it: its files (with the y columns each gives) and options."""

    id: str
    files: dict[str, list[str] | None] = field(default_factory=dict)  # file -> y columns (None: DVC's default)
    x: str | dict[str, str] | None = None
    template: str = "linear"
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def specs(root: Path, listing: list[str] | None = None) -> list[PlotSpec]:
    """Every plot dvc.yaml declares, directories expanded against `listing` (default: the tree).

    A file named by several entries is drawn once, with its most specific definition: an
    explicit file entry wins over the directory it lies in.
    """
    entries = dvcfile.plot_entries(root)
    files = listing if listing is not None else _tree_files(root, [p for p, _ in entries])
    found: dict[str, PlotSpec] = {}
    explicit: set[str] = set()
    for path, options in entries:
        options = options or {}
        template = str(options.get("template") or "linear")
        title = options.get("title")
        labels = {k: str(options[k]) for k in ("x_label", "y_label") if options.get(k) is not None}
        y = options.get("y")
        if isinstance(y, dict):  # plot id: {file: column(s)}
            spec = PlotSpec(
                id=path,
                files={dvcfile.norm(str(f)): _as_list(c) for f, c in y.items()},
                x=options.get("x"),
                template=template,
                title=str(title) if title else path,
                **labels,
            )
            found[path] = spec
            explicit.update(spec.files)
            continue
        inside = [f for f in files if f == path or f.startswith(path + "/")]
        for file in inside:
            if not file.endswith(DATA_SUFFIXES + IMAGE_SUFFIXES):
                continue
            if file != path and (file in explicit or file in found):
                continue  # the first (top-level) or an exact definition wins
            if file == path:
                explicit.add(file)
            found[file] = PlotSpec(
                id=file,
                files={file: _as_list(y)},
                x=options.get("x"),
                template=template,
                title=str(title) if title else None,
                **labels,
            )
    return list(found.values())


def _tree_files(root: Path, paths: list[str]) -> list[str]:
    out = []
    for rel in paths:
        target = root / rel
        if target.is_file():
            out.append(rel)
        elif target.is_dir():
            out.extend(sorted(p.relative_to(root).as_posix() for p in target.rglob("*") if p.is_file()))
    return out


# --- reading ---------------------------------------------------------------------------------


def rows(data: bytes, path: str) -> list[dict[str, Any]]:
    """The records of a plot file: TSV/CSV rows, or the first list of records in JSON/YAML."""
    if path.endswith((".tsv", ".csv")):
        import csv

        text = data.decode("utf-8")
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if path.endswith(".tsv") else ",")
        return [{k: _number(v) for k, v in row.items()} for row in reader]
    if path.endswith(".json"):
        value = json.loads(data.decode("utf-8"))
    else:
        import yaml

        try:
            value = safeyaml.load(data.decode("utf-8"), path, DataError)  # bounded: an alias bomb is refused
        except yaml.YAMLError:
            raise DataError(f"{path}: cannot parse YAML; fix the file") from None
    if isinstance(value, dict):
        value = next((v for v in value.values() if isinstance(v, list)), [])
    return [r for r in value if isinstance(r, dict)] if isinstance(value, list) else []


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value) if re.search(r"[.eEn]", value) else int(value)
        except ValueError:
            return value
    return value


def _series(records: list[dict[str, Any]], x: str | None, ys: list[str] | None) -> dict[str, list[float]]:
    """{x: [...], y1: [...], ...}; x defaults to the row index (`step`). Without `y`, every
    numeric column but x and timestamps (DVC's default, the last column, among them)."""
    if not records:
        return {}
    columns = list(records[0])
    ys = ys or [c for c in columns if c not in (x, "timestamp") and isinstance(records[0].get(c), (int, float))]
    x_name = x if x in columns else "step"
    xs: list[Any] = [r.get(x) for r in records] if x in columns else list(range(len(records)))
    table = {x_name: [float(v) for v in xs]}
    for y in ys:
        if y in columns:
            table[y] = [float(r[y]) if isinstance(r.get(y), (int, float)) else float("nan") for r in records]
    return table if len(table) > 1 else {}


# --- drawing ---------------------------------------------------------------------------------


def _confusion(
    base: list[dict] | None, head: list[dict], x: str, y: str, *, normalized: bool, title: str, labels: tuple[str, str]
) -> bytes:
    """DVC's confusion templates: x's values as columns, y's as rows, counts (or shares of each
    column, normalized) in every cell; base beside head (mlci.report.plots.confusion_matrices)."""
    import numpy as np

    from mlci.report import plots

    sides = ([("base", base)] if base else []) + [("head", head)]
    columns = sorted({str(r.get(x)) for _, recs in sides for r in recs})
    rows = sorted({str(r.get(y)) for _, recs in sides for r in recs})
    panels = []
    for name, recs in sides:
        matrix = np.zeros((len(rows), len(columns)))
        for r in recs:
            matrix[rows.index(str(r.get(y))), columns.index(str(r.get(x)))] += 1
        shown = matrix / np.maximum(matrix.sum(axis=0, keepdims=True), 1) if normalized else matrix
        texts = [[f"{v:.2f}" if normalized else f"{int(v):,}" for v in row] for row in shown]
        panels.append(plots.MatrixPanel(name, matrix, shown, texts if len(rows) * len(columns) <= 400 else None))
    return plots.confusion_matrices(panels, columns, rows, xlabel=labels[0], ylabel=labels[1], title=title)


# --- the report hook -------------------------------------------------------------------------


def _git_bytes(repo: Any, commit: str, path: str) -> bytes | None:
    import git

    try:
        return repo.git.execute(
            ["git", "show", f"{commit}:{path}"], stdout_as_string=False, strip_newline_in_stdout=False
        )
    except git.GitCommandError:
        return None


def base_bytes(repo: Any, root: Path, commit: str | None, path: str, lock: str | dvcfile.Locks | None) -> bytes | None:
    """`path` at the base: committed in git, else from DVC's local cache by the base's dvc.lock files."""
    if commit is None:
        return None
    data = _git_bytes(repo, commit, path)
    return data if data is not None else dvcfile.read_cached(root, lock, path)


def _base_side(
    repo: Any, root: Path, commit: str | None, path: str, locks: dvcfile.Locks, notes: list[str], plot: str
) -> bytes | None:
    """The base's bytes of `path`; a note when the base had it but it cannot be read here."""
    data = base_bytes(repo, root, commit, path, locks)
    if data is None and commit is not None and dvcfile.is_dvc_output(locks, path, root):
        notes.append(
            f"plot {plot}: base not drawn: {path} at base {commit[:12]} is a DVC output missing from the "
            "local DVC cache (`mlci pull`, or `dvc pull` on the base)"
        )
    return data


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-") or "plot"


def render(
    repo: Any, root: Path, base_commit: str | None, out_dir: Path, plots_dir: str, images: list[Path], notes: list[str]
) -> dict[str, str]:
    """Draw every dvc.yaml plot into `out_dir/plots_dir`; returns report key -> image path.

    Keys are "<title>:<source>" as the report's plot section expects; the LightGBM example's
    CSVs keep their historic kinds (training_curve, feature_importance) and file names.
    """
    from mlci.store import gitrepo

    locks = dvcfile.locks(root, show=lambda p: gitrepo.show(repo, base_commit, p)) if base_commit else {}
    drawn: dict[str, str] = {}
    all_specs = specs(root)
    stems = [PurePosixPath(next(iter(s.files))).stem for s in all_specs if s.files]

    def name_for(spec: PlotSpec, suffix: str = ".png") -> str:
        first = next(iter(spec.files))
        stem = PurePosixPath(first).stem
        unique = stems.count(stem) == 1 and len(spec.files) == 1
        return f"{plots_dir}/{_slug(stem if unique else spec.id)}{suffix}"

    def write(rel: str, data: bytes) -> str:
        atomicio.write_bytes(out_dir / rel, data)
        images.append(out_dir / rel)
        return rel

    for spec in all_specs:
        try:
            _draw_one(repo, root, base_commit, locks, spec, name_for, write, drawn, notes)
        except Exception as exc:  # noqa: BLE001 - one malformed plot file must not sink the report
            notes.append(f"plot {spec.id}: skipped ({type(exc).__name__}: {exc})")
    return drawn


@dataclass
class PlotData:
    """What one plot shows, before drawing: per file, the head's rows and the base's (None: none)."""

    spec: PlotSpec
    head: dict[str, list[dict[str, Any]]]
    base: dict[str, list[dict[str, Any]] | None]


def collect(
    repo: Any, root: Path, base_commit: str | None, locks: dvcfile.Locks, spec: PlotSpec, notes: list[str]
) -> PlotData | None:
    """The rows `spec` draws (head: the working tree; base: git, else the DVC cache); None, with
    a note, when a head file is missing. An unreadable base file is a note, and the head is drawn."""
    head: dict[str, list[dict[str, Any]]] = {}
    base: dict[str, list[dict[str, Any]] | None] = {}
    for file in spec.files:
        if not repopath.inside(root, file, f"plot file {file}", DataError).is_file():
            notes.append(f"plot file {file} missing in the working tree: plot skipped (run `mlci run`)")
            return None
        head[file] = rows((root / file).read_bytes(), file)
        data = _base_side(repo, root, base_commit, file, locks, notes, spec.id)
        try:
            base[file] = rows(data, file) if data is not None else None
        except (ValueError, DataError, UnicodeDecodeError) as exc:
            notes.append(f"plot {spec.id}: base not drawn: {file} at base cannot be read ({type(exc).__name__})")
            base[file] = None
    return PlotData(spec, head, base)


def _draw_one(
    repo: Any,
    root: Path,
    base_commit: str | None,
    locks: dvcfile.Locks,
    spec: PlotSpec,
    name_for: Any,
    write: Any,
    drawn: dict[str, str],
    notes: list[str],
) -> None:
    from mlci.report import plots

    files = list(spec.files)
    if len(files) == 1 and files[0].endswith(IMAGE_SUFFIXES):
        file = files[0]
        if not repopath.inside(root, file, f"plot file {file}", DataError).is_file():
            notes.append(f"plot file {file} missing in the working tree: plot skipped (run `mlci run`)")
            return
        suffix = PurePosixPath(file).suffix
        drawn[f"Image (head):{file}"] = write(name_for(spec, f"-head{suffix}"), (root / file).read_bytes())
        image = _base_side(repo, root, base_commit, file, locks, notes, spec.id)
        if image is not None:
            drawn[f"Image (base):{file}"] = write(name_for(spec, f"-base{suffix}"), image)
        return
    data = collect(repo, root, base_commit, locks, spec, notes)
    if data is None:
        return
    title = spec.title or spec.id
    if spec.template in _CONFUSION:
        file = files[0]
        actual = spec.x if isinstance(spec.x, str) else "actual"
        predicted = (spec.files[file] or ["predicted"])[0]
        labels = (spec.x_label or actual, spec.y_label or predicted)
        normalized = spec.template.endswith("normalized")
        png = _confusion(
            data.base[file], data.head[file], actual, predicted, normalized=normalized, title=title, labels=labels
        )
        drawn[f"{spec.title or 'Confusion matrix'}:{spec.id}"] = write(name_for(spec), png)
        return
    if spec.template in _BARS:
        bar_panels = []
        for file, ys in spec.files.items():
            value = _x_of(spec, file) or "value"
            first = data.head[file][0] if data.head[file] else {}
            label = ys[0] if ys else next((c for c in first if c != value), "label")
            bar_panels.append(plots.BarPanel(file if len(files) > 1 else "", *_bars(data, file, value, label)))
        first_x = _x_of(spec, files[0]) or "value"
        first_y = (spec.files[files[0]] or [""])[0]
        png = plots.bars(
            bar_panels,
            title=title,
            x_label=spec.x_label or first_x,
            y_label=spec.y_label or first_y,
            sort=spec.template.endswith("sorted"),
        )
        drawn[f"{title}:{spec.id}"] = write(name_for(spec), png)
        return
    head_tables: dict[str, dict[str, list[float]]] = {}
    base_tables: dict[str, dict[str, list[float]] | None] = {}
    for file, ys in spec.files.items():
        head = data.head[file]
        x = _x_of(spec, file)
        if file.endswith((".csv", ".tsv")) and head and "feature" in head[0] and spec.template == "linear":
            value = next((c for c in ("gain", "importance", "split") if c in head[0]), list(head[0])[-1])
            importances = {str(r["feature"]): float(r[value]) for r in head}
            base_imp = {str(r["feature"]): float(r[value]) for r in data.base[file] or [] if value in r}
            drawn[f"feature_importance:{file}"] = write(
                name_for(spec), plots.feature_importance(base_imp or None, importances)
            )  # the LightGBM example's importances CSV, as before
            return
        if x is None and head and "step" not in head[0]:
            x = next((c for c in ("iteration", "epoch") if c in head[0]), None)
        head_tables[file] = _series(head, x, ys)
        base_rows = data.base[file]
        base_tables[file] = _series(base_rows, x, ys) if base_rows else None
    if spec.template not in _CURVES + _POINTS:
        notes.append(f"plot {spec.id}: template '{spec.template}' is not one DVC ships: drawn as lines")
    panels = _panels(head_tables, base_tables)
    if not panels:
        notes.append(f"plot {spec.id}: no numeric series to draw (set x/y in dvc.yaml `plots:`)")
        return
    x_name = next(iter(next(t for t in head_tables.values() if t)))
    png = plots.curves(
        panels,
        title=title,
        x_label=spec.x_label or x_name,
        y_label=spec.y_label,
        points=spec.template in _POINTS,
    )
    drawn[f"{spec.title or 'training_curve'}:{spec.id}"] = write(name_for(spec), png)


def _x_of(spec: PlotSpec, file: str) -> str | None:
    return spec.x.get(file) if isinstance(spec.x, dict) else spec.x


def _bars(data: PlotData, file: str, x: str, label: str) -> tuple[dict[str, float], dict[str, float] | None]:
    """(head, base) label -> value of every row of a bar_horizontal file."""

    def table(records: list[dict[str, Any]] | None) -> dict[str, float] | None:
        if records is None:
            return None
        return {str(r.get(label)): float(r[x]) for r in records if isinstance(r.get(x), (int, float))}

    return table(data.head[file]) or {}, table(data.base[file])


def _panels(head: dict[str, dict[str, list[float]]], base: dict[str, dict[str, list[float]] | None]) -> list[Any]:
    """One panel per (file, field), named "file: field" when the plot has several files (train
    and test `acc.tsv` are told apart), else by the field."""
    from mlci.report import plots

    several = len([t for t in head.values() if t]) > 1
    panels = []
    for file, table in head.items():
        if not table:
            continue
        x_name, *ys = list(table)
        for y in ys:
            side = base.get(file)
            base_xy = (side[x_name], side[y]) if side and y in side and x_name in side else None
            name = f"{file}: {y}" if several else y
            panels.append(plots.CurvePanel(name, (table[x_name], table[y]), base_xy))
    return panels
