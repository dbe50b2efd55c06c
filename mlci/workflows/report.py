"""`mlci report`: evaluate a PR, draw its plots and write report.md, report.json and report.html.

The one orchestration `mlci report`, `mlci ci` and `mlci demo` call: `evaluate()` (the verdict
and everything it rests on), then the plots, then `mlci.report.builder` renders. Anything that
cannot be shown (missing predictions, a base output not in the DVC cache, a bad plot file)
becomes a note; the report directory is always written whole or not at all (atomic swap).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci.analysis.compare import Comparison
from mlci.analysis.gate import GateVerdict
from mlci.model import numbers
from mlci.report.builder import DEFAULT_DIR, PLOTS_DIR, ReportContext
from mlci.store import atomicio
from mlci.store.project import Project, opened


@dataclass
class ReportResult:
    markdown: Path
    json: Path
    html: Path
    images: list[Path]
    gate: GateVerdict
    comparison: Comparison
    context: ReportContext

    @property
    def out_dir(self) -> Path:
        return self.markdown.parent


# The files a report directory holds; anything else there makes `build` refuse to replace it.
# record.json: `mlci ci` adds the run record for the report artifact.
OWNED = {"report.md", "report.json", "report.html", PLOTS_DIR, ".gitignore", "comment.md", "record.json"}


def build(path: Project | Path | str = ".", *, out_dir: Path | None = None, **options: Any) -> ReportResult:
    """Build the report whole or not at all: into a staging directory, then swapped in (atomicio)."""
    project = opened(path, options.pop("config_path", None))
    root = project.root
    final = Path(out_dir) if out_dir is not None else root / DEFAULT_DIR
    with atomicio.replacing_dir(final, OWNED) as staged:
        result = _build(project, out_dir=staged, **options)
    result.context.out_dir = final
    return ReportResult(
        markdown=final / result.markdown.name,
        json=final / result.json.name,
        html=final / result.html.name,
        images=[final / p.relative_to(staged) for p in result.images],
        gate=result.gate,
        comparison=result.comparison,
        context=result.context,
    )


def _ignore_in_git(root: Path, out_dir: Path) -> None:
    """A report directory inside the repo ignores itself, so it never makes the tree dirty."""
    try:
        out_dir.resolve().relative_to(root.resolve())
    except ValueError:
        return
    marker = out_dir / ".gitignore"
    if not marker.exists():
        atomicio.write_text(marker, "# written by mlci report: generated files, not committed\n*\n")


def _remove_stale_plots(out_dir: Path, images: list[Path]) -> None:
    """PNGs of an earlier report in the same directory that this report did not draw."""
    keep = {p.resolve() for p in images}
    for old in (out_dir / PLOTS_DIR).glob("*.png"):
        if old.resolve() not in keep:
            old.unlink()


def _context(
    root: Path, cfg: Any, comparison: Comparison, out_dir: Path, images: list[Path], notes: list[str], *, plots: bool
):
    """Main's history around the PR and the feature attributions, with their plots (issue 28)."""
    from mlci.report import explain_section, history_section
    from mlci.store.gitplumb import Plumb
    from mlci.workflows import explain, history

    with Plumb(root) as plumb:
        found = history.report_context(plumb, cfg, comparison)
    attributions = explain.for_report(root, cfg, comparison)
    if plots:
        history_section.draw(found, out_dir, PLOTS_DIR, images, notes)
        explain_section.draw(attributions, out_dir, PLOTS_DIR, images, notes)
    return found, attributions


def _build(
    project: Project,
    *,
    base_ref: str | None = None,
    base_how: str | None = None,
    out_dir: Path,
    comparison: Comparison | None = None,
    resamples: int | None = None,
    plots: bool = True,
    notes: tuple[str, ...] | list[str] = (),
) -> ReportResult:
    """Evaluate, plot and write into `out_dir`; `notes` are the caller's (e.g. `mlci ci`: the
    merge result differs from the evaluated head)."""
    from mlci.report import builder, changes, data_section, html
    from mlci.workflows.evaluate import evaluate

    ev = evaluate(project, base_ref=base_ref, base_how=base_how, comparison=comparison, resamples=resamples)
    repo, root, comparison = ev.repo, ev.root, ev.comparison
    out_dir.mkdir(parents=True, exist_ok=True)
    _ignore_in_git(root, out_dir)
    all_notes: list[str] = list(notes)
    images: list[Path] = []
    data = None
    if ev.data is not None:
        image = data_section.plot(ev.data, out_dir / PLOTS_DIR / data_section.PLOT_NAME) if plots else None
        data = data_section.DataReport(ev.data, f"{PLOTS_DIR}/{data_section.PLOT_NAME}" if image else None, image)
        images += [image] if image else []
    models = [
        builder.ModelReport(
            name=m.name,
            task=m.task,
            metrics=[d for d in comparison.metrics if d.model == m.name],
            evidence=ev.evidence[m.name],
            gate=ev.verdict.for_model(m.name),
        )
        for m in ev.cfg.models
    ]
    pipeline_plots: dict[str, str] = {}
    if plots:
        for model in models:
            builder.model_plots(model, out_dir, images, all_notes)
        from mlci.report import dvcplots  # dvc.yaml plots (DVCLive, sklearn-plot JSON, images), base vs head

        pipeline_plots = dvcplots.render(repo, root, comparison.base_commit, out_dir, PLOTS_DIR, images, all_notes)
    rows = {t.table: (t.base_rows, t.head_rows) for t in ev.data.tables} if ev.data else {}
    history, explanations = _context(root, ev.cfg, comparison, out_dir, images, all_notes, plots=plots)
    ctx = ReportContext(
        comparison=comparison,
        cfg=ev.cfg,
        root=root,
        out_dir=out_dir,
        gate=ev.verdict,
        models=models,
        deps=ev.deps,
        pipeline_plots=pipeline_plots,
        notes=all_notes,
        data=data,
        inputs=changes.input_changes(root, ev.deps, rows),
        stage_times={
            "base": changes.executed_times(repo, comparison.base_record, root),
            "head": changes.executed_times(repo, comparison.head_record, root),
        },
        history=history,
        explanations=explanations,
    )
    md_path, json_path, html_path = out_dir / "report.md", out_dir / "report.json", out_dir / "report.html"
    markdown = builder.render_markdown(ctx)
    # strict JSON (a .nan param is "NaN", never a bare NaN), compact: the C encoder, 10x the indenting one
    atomicio.write_text(json_path, numbers.dumps(builder.to_dict(ctx)) + "\n")
    title = f"mlci report {ctx.head[:12] if ctx.head else 'none'}"
    atomicio.write_text(html_path, html.render(markdown, out_dir, title=title, status=ev.verdict.status))
    atomicio.write_text(md_path, markdown)
    _remove_stale_plots(out_dir, images)
    return ReportResult(md_path, json_path, html_path, images, ev.verdict, comparison, ctx)
