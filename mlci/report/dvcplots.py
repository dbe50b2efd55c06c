"""Plots declared in `dvc.yaml`, drawn base vs head for the report, with DVC's semantics.

What DVC's `plots:` teaches (and DVCLive writes): an entry is a file, a directory (every plot
file under it), or a plot id whose `y` maps files to columns. Options: `x` (default: the row
index, as DVC's `step`), `y` (default: the last column), `template` (linear, simple, scatter,
smooth: curves; confusion / confusion_normalized: a matrix from actual/predicted rows;
bar_horizontal: bars), `title`. Data files are TSV, CSV, JSON (a list of records, or a
mapping holding one: sklearn-plot JSON `{"roc": [...]}`) or YAML; images are shown as they are.

The head side is the working tree; the base side is the file committed at the base, else the
version the base's dvc.lock recorded, read from DVC's local cache. A plot that cannot be drawn
is a note, never an error. Heavy libraries are imported only when drawing.
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
_CURVES = ("linear", "simple", "scatter", "smooth")
_CONFUSION = ("confusion", "confusion_normalized")


@dataclass
class PlotSpec:
    """One plot as DVC would render it: its files (with the y columns each gives) and options."""

    id: str
    files: dict[str, list[str] | None] = field(default_factory=dict)  # file -> y columns (None: DVC's default)
    x: str | dict[str, str] | None = None
    template: str = "linear"
    title: str | None = None


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
        y = options.get("y")
        if isinstance(y, dict):  # plot id: {file: column(s)}
            spec = PlotSpec(
                id=path,
                files={dvcfile.norm(str(f)): _as_list(c) for f, c in y.items()},
                x=options.get("x"),
                template=template,
                title=str(title) if title else path,
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


def _render(draw, width: float = 5.0, height: float = 4.0) -> bytes:
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"font.size": 9, "axes.grid": True, "grid.alpha": 0.3, "savefig.dpi": 100}):
        figure = Figure(figsize=(width, height))
        FigureCanvasAgg(figure)
        draw(figure)
        buffer = io.BytesIO()
        figure.tight_layout()
        figure.savefig(buffer, format="png", metadata={"Software": None})
        return buffer.getvalue()


def confusion(base: list[dict] | None, head: list[dict], x: str, y: str, normalized: bool = False) -> bytes:
    """Head's matrix (and base's beside it): counts of (actual, predicted) pairs."""
    import numpy as np

    sides = [("base", base)] if base else []
    sides.append(("head", head))
    labels = sorted({str(r.get(k)) for _, recs in sides for r in recs for k in (x, y)})
    index = {label: i for i, label in enumerate(labels)}

    def draw(figure):
        for i, (name, recs) in enumerate(sides):
            matrix = np.zeros((len(labels), len(labels)))
            for r in recs:
                matrix[index[str(r.get(x))], index[str(r.get(y))]] += 1
            if normalized:
                matrix = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
            ax = figure.add_subplot(1, len(sides), i + 1)
            ax.imshow(matrix, cmap="Greys" if name == "base" else "Blues")
            ax.set(
                xticks=range(len(labels)),
                yticks=range(len(labels)),
                xticklabels=labels,
                yticklabels=labels,
                xlabel=y,
                ylabel=x,
                title=name,
            )
            ax.grid(False)
            for (a, b), value in np.ndenumerate(matrix):
                ax.text(b, a, f"{value:.2f}" if normalized else f"{int(value)}", ha="center", va="center")

    return _render(draw, width=4.0 * len(sides), height=3.6)


# --- the report hook -------------------------------------------------------------------------


def _git_bytes(repo: Any, commit: str, path: str) -> bytes | None:
    import git

    try:
        return repo.git.execute(
            ["git", "show", f"{commit}:{path}"], stdout_as_string=False, strip_newline_in_stdout=False
        )
    except git.GitCommandError:
        return None


def base_bytes(repo: Any, root: Path, commit: str | None, path: str, lock: str | None) -> bytes | None:
    """`path` at the base: committed in git, else from DVC's local cache by the base's dvc.lock."""
    if commit is None:
        return None
    data = _git_bytes(repo, commit, path)
    return data if data is not None else dvcfile.read_cached(root, lock, path)


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

    lock = gitrepo.show(repo, base_commit, "dvc.lock") if base_commit else None
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
            _draw_one(repo, root, base_commit, lock, spec, name_for, write, drawn, notes)
        except Exception as exc:  # noqa: BLE001 - one malformed plot file must not sink the report
            notes.append(f"plot {spec.id}: skipped ({type(exc).__name__}: {exc})")
    return drawn


def _draw_one(
    repo: Any,
    root: Path,
    base_commit: str | None,
    lock: str | None,
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
        image = base_bytes(repo, root, base_commit, file, lock)
        if image is not None:
            drawn[f"Image (base):{file}"] = write(name_for(spec, f"-base{suffix}"), image)
        return
    head_tables: dict[str, dict[str, list[float]]] = {}
    base_tables: dict[str, dict[str, list[float]] | None] = {}
    head_records: list[dict[str, Any]] = []
    base_records: list[dict[str, Any]] | None = None
    for file, ys in spec.files.items():
        if not repopath.inside(root, file, f"plot file {file}", DataError).is_file():
            notes.append(f"plot file {file} missing in the working tree: plot skipped (run `mlci run`)")
            return
        head = rows((root / file).read_bytes(), file)
        base_data = base_bytes(repo, root, base_commit, file, lock)
        base = rows(base_data, file) if base_data is not None else None
        head_records, base_records = head, base
        x = spec.x.get(file) if isinstance(spec.x, dict) else spec.x
        if spec.template in _CONFUSION:
            continue
        if file.endswith((".csv", ".tsv")) and head and "feature" in head[0]:  # importances, as before
            value = next((c for c in ("gain", "importance", "split") if c in head[0]), list(head[0])[-1])
            importances = {str(r["feature"]): float(r[value]) for r in head}
            base_imp = {str(r["feature"]): float(r[value]) for r in base or [] if value in r}
            drawn[f"feature_importance:{file}"] = write(
                name_for(spec), plots.feature_importance(base_imp or None, importances)
            )
            return
        if x is None and head and "step" not in head[0]:
            x = next((c for c in ("iteration", "epoch") if c in head[0]), None)
        head_tables[file] = _series(head, x, ys)
        base_tables[file] = _series(base, x, ys) if base else None
    if spec.template in _CONFUSION:
        actual = spec.x if isinstance(spec.x, str) else "actual"
        predicted = (spec.files[files[0]] or ["predicted"])[0]
        data = confusion(base_records, head_records, actual, predicted, normalized=spec.template.endswith("normalized"))
        drawn[f"{spec.title or 'Confusion matrix'}:{spec.id}"] = write(name_for(spec), data)
        return
    if spec.template == "bar_horizontal":
        head_table = next(iter(head_tables.values()))
        base_table = next(iter(base_tables.values()))
        label_col, value_col = list(head_table)[:2]
        bars = dict(zip(map(str, head_table[label_col]), head_table[value_col], strict=False))
        base_bars = (
            dict(zip(map(str, base_table[label_col]), base_table[value_col], strict=False)) if base_table else None
        )
        drawn[f"{spec.title or 'Bars'}:{spec.id}"] = write(name_for(spec), plots.feature_importance(base_bars, bars))
        return
    if spec.template not in _CURVES:
        notes.append(f"plot {spec.id}: template '{spec.template}' drawn as lines")
    merged_head = _merge(head_tables)
    if not merged_head:
        notes.append(f"plot {spec.id}: no numeric series to draw (set x/y in dvc.yaml `plots:`)")
        return
    merged_base = _merge({f: t for f, t in base_tables.items() if t}) or None
    x_name = next(iter(merged_head))
    data = plots.training_curves(merged_base, merged_head, x=x_name)
    title = spec.title or "training_curve"
    drawn[f"{title}:{spec.id}"] = write(name_for(spec), data)


def _merge(tables: dict[str, dict[str, list[float]]]) -> dict[str, list[float]]:
    """Several files' series on one x: the first file's x, y columns prefixed when they clash."""
    merged: dict[str, list[float]] = {}
    for file, table in tables.items():
        if not table:
            continue
        x_name, *ys = list(table)
        merged.setdefault(x_name, table[x_name])
        for y in ys:
            merged[y if y not in merged else f"{PurePosixPath(file).stem}.{y}"] = table[y]
    return merged
