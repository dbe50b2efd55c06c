"""Render a PR's report: the markdown sections, report.json and the model plots.

Rendering only: `mlci.workflows.evaluate` computes what is shown (comparison, evidence, data
checks, verdict) and `mlci.workflows.report.build` draws and writes the files. The markdown is
the sections in `SECTIONS` order; a section is a function `(ReportContext) -> str | None`, and
another capability adds one by inserting into `SECTIONS` (e.g. data checks after "deps").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlci.analysis.compare import Comparison, MetricDelta
from mlci.analysis.deps import DepChange
from mlci.analysis.gate import GateVerdict
from mlci.analysis.significance import Evidence
from mlci.report import changes, data_section, explain_section, history_section
from mlci.report import format as fmt
from mlci.report import markdown as md
from mlci.report.diff_markdown import what_was_compared
from mlci.store import atomicio
from mlci.store import config as config_mod

REPORT_SCHEMA = 1
DEFAULT_DIR = "mlci-report"
PLOTS_DIR = "plots"
PLOT_TITLES = {
    "roc": "ROC curve",
    "pr": "Precision–recall curve",
    "calibration": "Calibration curve",
    "confusion": "Confusion matrices",
    "residuals": "Residuals",
    "predicted_vs_actual": "Predicted vs actual",
    "feature_importance": "Feature importance (share of total)",
    "training_curve": "Training curves",
}


@dataclass
class ModelReport:
    name: str
    task: str
    metrics: list[MetricDelta]
    evidence: Evidence
    gate: GateVerdict
    plots: dict[str, str] = field(default_factory=dict)  # kind -> path relative to the report dir


@dataclass
class ReportContext:
    comparison: Comparison
    cfg: config_mod.Config
    root: Path
    out_dir: Path
    gate: GateVerdict
    models: list[ModelReport]
    deps: list[DepChange]
    pipeline_plots: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    data: Any = None  # mlci.report.data_section.DataReport: schema, null and drift checks of data.tables
    inputs: list[changes.InputChange] = field(default_factory=list)  # changed code/data inputs (no models)
    stage_times: dict[str, dict[str, changes.StageTime]] = field(default_factory=dict)  # side -> stage -> time
    history: Any = None  # mlci.analysis.history.ReportHistory: base and head among main's last runs
    explanations: Any = None  # [mlci.analysis.explain.ModelExplanation]: feature attributions, base vs head

    @property
    def head(self) -> str:
        return self.comparison.head_commit

    @property
    def base(self) -> str | None:
        return self.comparison.base_commit


# --- sections ---------------------------------------------------------------------------
# Every user-controlled string (names, values, messages, notes, paths, refs) goes through
# mlci.report.markdown (`md`): `md.text` for prose and names, `md.code` for verbatim values.


def _short(sha: str | None) -> str:
    return sha[:12] if sha else "none"


_MAX_REASONS = 3


def _reasons(findings: list, multi: bool) -> str:
    shown = [(f"{f.model}: " if multi else "") + f.message for f in findings[:_MAX_REASONS]]
    text = "; ".join(md.text(s) for s in shown)
    if len(findings) > _MAX_REASONS:
        text += f"; and {len(findings) - _MAX_REASONS} more (below)"
    return text


def verdict_line(ctx: ReportContext) -> str:
    """`❌ **mlci: gate failed: …** — the failing goals with their numbers; ⚠️ the warnings · head vs base`."""
    c, gate = ctx.comparison, ctx.gate
    multi = len(ctx.models) > 1
    parts = []
    if gate.failures:
        parts.append(_reasons(gate.failures, multi))
    if gate.warnings:
        parts.append(("⚠️ " if gate.failures else "") + _reasons(gate.warnings, multi))
    reason = f" — {' · '.join(parts)}" if parts else ""
    return f"{gate.mark} **mlci: {md.text(gate.summary())}**{reason} · {what_was_compared(c)}"


def evaluation_changed(ctx: ReportContext) -> list[str]:
    """Why deltas are not paired: the evaluation data files that changed, or rows/labels that differ."""
    found: list[str] = []
    for model in ctx.models:
        found += [p for p in model.evidence.evaluation_changed if p not in found]
        sig = model.evidence.significance
        if not model.evidence.evaluation_changed and sig is not None and not sig.skipped and not sig.paired:
            found.append(f"{model.name}: different rows or labels")
    return found


def what_changed_line(ctx: ReportContext) -> str:
    """Params, code and data in one line, and the caveat a reviewer needs most."""
    parts = []
    params = ctx.comparison.params
    if params:
        shown = [
            f"{md.text(p.name, keep_code=False)} {_code(fmt.param(p.base))} → {_code(fmt.param(p.head))}"
            for p in params[:4]
        ]
        more = f", and {len(params) - 4} more" if len(params) > 4 else ""
        parts.append(f"params: {', '.join(shown)}{more}")
    code = [i for i in ctx.inputs if i.kind == "code"]
    data = [i for i in ctx.inputs if i.kind == "data"]
    if code:
        parts.append("code: " + ", ".join(md.code(i.path) for i in code[:4]) + (" …" if len(code) > 4 else ""))
    if data:
        parts.append("data: " + "; ".join(md.text(i.describe()) for i in data[:3]) + (" …" if len(data) > 3 else ""))
    line = "**What changed:** " + ("; ".join(parts) if parts else "no params, code or data input (same inputs as base)")
    if evaluation_changed(ctx):
        line += ". **Evaluation set changed: deltas are not paired (two-sample bootstrap).**"
    return line


def section_summary(ctx: ReportContext) -> str:
    return verdict_line(ctx) + "\n\n" + what_changed_line(ctx) + "\n" + explain_section.summary_line(ctx)


def _ci_cell(m: MetricDelta, footnotes: dict[str, int]) -> str:
    """The 95 % CI of Δ, or a footnote mark saying why there is none (never a silent "—")."""
    interval = m.interval
    if interval is not None and interval.ci_low is not None:
        return f"[{fmt.signed(interval.ci_low)}, {fmt.signed(interval.ci_high)}]"
    if m.direction_source == "counter" or m.verdict in ("new", "removed", "unchanged"):
        return "—"  # nothing to test: a counter, or a value on one side only or the same on both
    reason = m.note or "no interval"
    number = footnotes.setdefault(reason, len(footnotes) + 1)
    return f"— {_SUPERSCRIPT[number] if number < len(_SUPERSCRIPT) else f'({number})'}"


_SUPERSCRIPT = "⁰¹²³⁴⁵⁶⁷⁸⁹"
_NAME_MARK = "ᴺ"  # the direction comes from the metric's name, not from a goal


def _verdict_cell(m: MetricDelta) -> str:
    text = fmt.verdict_label(m)
    if m.verdict == "regressed":
        text = f"**{text}**"
    if m.direction_source == "name" and m.judged:
        text += f" {_NAME_MARK}"
    return text


def _metric_rows(metrics: list[MetricDelta], show_file: bool, footnotes: dict[str, int]) -> list[str]:
    rows = []
    for m in metrics:
        name = md.text(m.name, keep_code=False) + (f" ({md.text(m.file, keep_code=False)})" if show_file else "")
        rows.append(
            md.row(
                name,
                fmt.number(m.base),
                fmt.number(m.head),
                fmt.signed(m.delta),
                fmt.percent(m.delta_rel),
                _ci_cell(m, footnotes),
                _verdict_cell(m),
            )
        )
    return rows


# Rows per metrics table: a reviewer reads the first ones (regressions first, goals first); a
# 5,000-row table is unread in a comment and took seconds to lay out. The rest are counted.
MAX_TABLE_ROWS = 200


def _more(rest: list[MetricDelta]) -> list[str]:
    """The rows left out of a table, counted by verdict (report.json lists every one)."""
    if not rest:
        return []
    counts: dict[str, int] = {}
    for m in rest:
        label = fmt.verdict_label(m)
        counts[label] = counts.get(label, 0) + 1
    shown = ", ".join(f"{n:,} {md.text(label)}" for label, n in counts.items())
    return ["", f"<sub>… and {len(rest):,} more not listed here ({shown}): report.json lists every metric.</sub>"]


def _footnote_lines(footnotes: dict[str, int]) -> list[str]:
    if not footnotes:
        return []
    shown = [
        f"{_SUPERSCRIPT[n] if n < len(_SUPERSCRIPT) else f'({n})'} no interval: {md.text(reason)}"
        for reason, n in footnotes.items()
    ]
    return ["", "<sub>" + "<br>".join(shown) + "</sub>"]


_TABLE_HEAD = ["| metric | base | head | Δ | Δ % | 95 % CI of Δ | verdict |", "|---|---:|---:|---:|---:|---|---|"]
_ORDER = {
    "regressed": 0,
    "removed": 1,
    "unavailable": 1,
    "improved": 2,
    "changed": 3,
    "not_significant": 4,
    "new": 5,
    "unchanged": 6,
}


def _how_tested(evidence: Evidence) -> str | None:
    sig = evidence.significance
    if sig is None or sig.skipped:
        return None
    if sig.paired:
        kind = "paired bootstrap (same rows, same evaluation data)"
    elif evidence.evaluation_changed:
        kind = "two-sample bootstrap (evaluation data changed: each side resampled on its own rows)"
    else:
        kind = "two-sample bootstrap (different rows: each side resampled on its own rows)"
    return (
        f"<sub>CIs: {kind}, {sig.resamples:,} resamples of {sig.rows:,} rows, seed {sig.seed}; "
        "Δ = head − base; a verdict is significant when the CI of Δ excludes 0.</sub>"
    )


def _model_section(ctx: ReportContext, model: ModelReport) -> str:
    lines = []
    if len(ctx.models) > 1:
        lines += [f"### Model {md.code(model.name)} {model.gate.mark}", ""]
    head = _TABLE_HEAD
    show_file = len({m.file for m in model.metrics}) > 1
    moved = sorted(
        (m for m in model.metrics if m.verdict != "unchanged"),
        key=lambda m: (_ORDER[m.verdict], m.direction_source != "config", m.name),
    )
    same = [m for m in model.metrics if m.verdict == "unchanged"]
    footnotes: dict[str, int] = {}
    if moved:
        lines += head + _metric_rows(moved[:MAX_TABLE_ROWS], show_file, footnotes) + _more(moved[MAX_TABLE_ROWS:])
    elif model.metrics:
        lines.append("No metric changed.")
    else:
        lines.append("No metrics found for this model.")
    lines += _footnote_lines(footnotes)
    tested = _how_tested(model.evidence)
    if tested:
        lines += ["", tested]
    if any(m.direction_source == "name" and m.judged for m in model.metrics):
        lines += [
            "",
            f"<sub>{_NAME_MARK} better/worse from the metric's name; set `goals.<metric>.direction` in mlci.yaml "
            "to make it explicit.</sub>",
        ]
    if any(m.judged and not m.tested for m in model.metrics):
        lines += [
            "",
            "<sub>not tested: no interval for this metric (see the footnotes), so the verdict is only the sign of Δ "
            "and may be noise.</sub>",
        ]
    listed = [("❌", f) for f in model.gate.failures] + [("⚠️", f) for f in model.gate.warnings]
    findings = [f"- {mark} {md.text(f.message)}" for mark, f in listed[:MAX_TABLE_ROWS]]
    if len(listed) > MAX_TABLE_ROWS:
        findings.append(f"- … and {len(listed) - MAX_TABLE_ROWS:,} more: report.json's gate lists every finding")
    if findings:
        lines += [
            "",
            *md.details(
                f"{len(listed)} gate finding(s)" + (f" of {md.html_code(model.name)}" if len(ctx.models) > 1 else ""),
                findings,
            ),
        ]
    lines += _per_class(model)
    if same:
        same_notes: dict[str, int] = {}
        lines += [
            "",
            *md.details(
                f"{len(same)} unchanged metric(s)",
                head
                + _metric_rows(same[:MAX_TABLE_ROWS], show_file, same_notes)
                + _more(same[MAX_TABLE_ROWS:])
                + _footnote_lines(same_notes),
            ),
        ]
    for note in model.evidence.notes:
        lines += ["", f"> **Note:** {md.text(note)}"]
    return "\n".join(lines) + "\n"


def _per_class(model: ModelReport) -> list[str]:
    """Multi-class: precision, recall and F1 of each class, base → head with the CI of Δ (or each side's)."""
    sig = model.evidence.significance
    if model.task != "multiclass" or sig is None:
        return []
    classes = [name[3:] for name in sig.metrics if name.startswith("f1_")]
    if not classes:
        return []

    def cell(metric: str) -> str:
        interval = sig.metrics.get(metric)
        if interval is None:
            return "—"
        text = (
            f"{fmt.number(interval.base)} → {fmt.number(interval.head)}"
            if interval.base is not None
            else fmt.number(interval.head)
        )
        if interval.ci_low is not None:
            mark = " ✱" if interval.significant else ""
            text += f" (Δ {fmt.signed(interval.delta)}, CI [{fmt.signed(interval.ci_low)}, {fmt.signed(interval.ci_high)}]{mark})"
        elif interval.head_ci is not None:
            text += f" (head CI [{fmt.number(interval.head_ci[0])}, {fmt.number(interval.head_ci[1])}])"
        return text

    rows = [[md.code(c), cell(f"precision_{c}"), cell(f"recall_{c}"), cell(f"f1_{c}")] for c in classes]
    rows += [
        ["**macro**", cell("macro_precision"), cell("macro_recall"), cell("macro_f1")],
        ["**micro**", cell("accuracy"), cell("accuracy"), cell("micro_f1")],
    ]
    table = md.table(["class", "precision", "recall", "F1"], "llll", rows)
    note = (
        "<sub>From the predictions (score = predicted class); ✱: the 95 % CI of Δ excludes 0. "
        "Micro precision = recall = F1 = accuracy for single-label data.</sub>"
    )
    return [
        "",
        *md.details(f"Per-class metrics ({len(classes)} classes), macro and micro averages", [*table, "", note]),
    ]


def section_metrics(ctx: ReportContext) -> str:
    parts = ["## Metrics", ""]
    for model in ctx.models:
        parts.append(_model_section(ctx, model))
    return "\n".join(parts)


def section_params(ctx: ReportContext) -> str | None:
    params = ctx.comparison.params
    if not params:
        return "## Params\n\nNo param changed.\n"
    rows = [
        [
            md.text(p.name, keep_code=False),
            md.text(p.file, keep_code=False),
            _code(fmt.param(p.base)),
            _code(fmt.param(p.head)),
        ]
        for p in params
    ]
    return "\n".join(["## Params changed", "", *md.table(["param", "file", "base", "head"], "llll", rows)]) + "\n"


def _code(text: str) -> str:
    return "—" if text == "—" else md.code(text)


def section_deps(ctx: ReportContext) -> str | None:
    if not ctx.inputs:
        outputs = len(ctx.deps)
        tail = f" ({outputs} output(s) of earlier stages differ, as expected)" if outputs else ""
        return f"## Data and dependencies\n\nNo code or data input changed{tail}.\n"
    evaluation = set(evaluation_changed(ctx))
    lines = ["## Data and dependencies changed", ""]
    for i in ctx.inputs:
        tag = " (evaluation set: deltas not paired)" if i.path in evaluation else ""
        lines.append(f"- {i.kind}: {md.text(i.describe())}{tag}")
    rows = [
        [
            md.code(d.path),
            _code((d.base or "")[:32]) if d.base else "—",
            _code((d.head or "")[:32]) if d.head else "—",
            d.change,
        ]
        for d in ctx.deps
    ]
    lines += [
        "",
        *md.details("content hashes (md5, from dvc.lock)", md.table(["path", "base", "head", "change"], "llll", rows)),
    ]
    return "\n".join(lines) + "\n"


def section_plots(ctx: ReportContext) -> str | None:
    lines = ["## Plots", "", "Base in grey, head in blue, on the same axes.", ""]
    drawn = False
    for model in ctx.models:
        if not model.plots:
            continue
        if len(ctx.models) > 1:
            lines += [f"### {md.code(model.name)}", ""]
        for kind, rel in model.plots.items():
            title = md.text(PLOT_TITLES.get(kind, kind))
            lines += [f"**{title}**", "", f"![{title}]({rel})", ""]
            drawn = True
    for kind, rel in ctx.pipeline_plots.items():
        title = md.text(PLOT_TITLES.get(kind.split(":")[0], kind.split(":")[0]))
        source = kind.split(":", 1)[1] if ":" in kind else ""
        lines += [f"**{title}" + (f" ({md.code(source)})" if source else "") + "**", "", f"![{title}]({rel})", ""]
        drawn = True
    if not drawn:
        lines.append("No plots: no predictions or plot files were available (see the notes).")
    return "\n".join(lines).rstrip("\n") + "\n"


def _time_cell(t: Any) -> str:
    if t is None:
        return "—"
    if t.seconds is None:
        return "— (skipped; no record of the run that produced its outputs)"
    where = f", at `{_short(t.commit)}`" if t.commit else ""
    return f"{t.seconds:.1f} s ({md.text(t.status)}{where})"


def _stage_rows(ctx: ReportContext) -> list[str]:
    base, head = ctx.stage_times.get("base", {}), ctx.stage_times.get("head", {})
    return [
        md.row(md.text(name), _time_cell(base.get(name)), _time_cell(head.get(name)))
        for name in list(dict.fromkeys([*head, *base]))
    ]


def _package_changes(base_env: dict, head_env: dict) -> list[tuple[str, str | None, str | None]]:
    def pins(env: dict) -> dict[str, str]:
        found = {k.lower(): str(v) for k, v in (env.get("packages") or {}).items()}
        for pin in env.get("freeze") or []:
            if "==" in pin:
                name, version = pin.split("==", 1)
                found[name.lower()] = version
        return found

    b, h = pins(base_env), pins(head_env)
    return [(n, b.get(n), h.get(n)) for n in sorted(set(b) | set(h)) if b.get(n) != h.get(n)]


def section_run_facts(ctx: ReportContext) -> str | None:
    c = ctx.comparison
    lines = ["## Run facts", ""]
    stage_rows = _stage_rows(ctx)
    if stage_rows:
        lines += [
            "| stage | base | head |",
            "|---|---:|---:|",
            *stage_rows,
            "",
            "<sub>A stage a run skipped shows the time of the run that produced its outputs.</sub>",
            "",
        ]
    else:
        lines += ["No run record for head: run `mlci run` to record stage timings.", ""]
    head_env = c.head_record.environment if c.head_record else {}
    base_env = c.base_record.environment if c.base_record else {}
    if head_env:
        gpu = head_env.get("gpu")
        gpu_text = (gpu.get("name") if isinstance(gpu, dict) else str(gpu)) if gpu else "none"
        lines.append(
            md.text(
                f"Head ran on {head_env.get('cpu', '?')} ({head_env.get('cpu_count', '?')} cores), "
                f"GPU: {gpu_text}, Python {head_env.get('python', '?')}, {head_env.get('os', '?')}."
            )
        )
        lines.append("")
    if head_env and base_env:
        changes = _package_changes(base_env, head_env)
        if changes:
            table = md.table(
                ["package", "base", "head"],
                "lll",
                [[md.text(n), md.text(b or "—"), md.text(h or "—")] for n, b, h in changes],
            )
            lines += md.details(f"{len(changes)} package version(s) differ from base", table)
        else:
            lines.append("Package versions: identical to base.")
    return "\n".join(lines).rstrip("\n") + "\n"


def section_notes(ctx: ReportContext) -> str | None:
    notes = list(ctx.comparison.notes) + ctx.notes
    if not notes:
        return None
    return "## Notes\n\n" + "\n".join(f"- {md.text(n)}" for n in notes) + "\n"


def section_reproduce(ctx: ReportContext) -> str:
    text = "## Reproduce\n\n"
    if ctx.comparison.head_dirty:
        text += (
            "> ⚠️ This report was built from a working tree with uncommitted changes: the command below "
            "re-runs the commit, not these changes, and will not give these numbers. Commit, then re-run.\n\n"
        )
    return text + f"```sh\nmlci reproduce {ctx.head}\n```\n"


# (name, renderer) in report order; insert new sections by name (e.g. after "deps").
SECTIONS: list[tuple[str, Callable[[ReportContext], str | None]]] = [
    ("summary", section_summary),
    ("metrics", section_metrics),
    ("history", history_section.section),
    ("explanations", explain_section.section),
    ("params", section_params),
    ("deps", section_deps),
    ("data", data_section.report_section),
    ("plots", section_plots),
    ("run_facts", section_run_facts),
    ("notes", section_notes),
    ("reproduce", section_reproduce),
]


def render_markdown(ctx: ReportContext) -> str:
    parts = []
    for _name, render in SECTIONS:
        text = render(ctx)
        if text:
            parts.append(text.rstrip("\n") + "\n")
    return "\n".join(parts)


# --- gathering --------------------------------------------------------------------------


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "model"


def _write_plot(out_dir: Path, rel: str, data: bytes, images: list[Path]) -> str:
    atomicio.write_bytes(out_dir / rel, data)
    images.append(out_dir / rel)
    return rel


def model_plots(model: ModelReport, out_dir: Path, images: list[Path], notes: list[str]) -> None:
    from mlci.report import plots

    evidence = model.evidence
    head = evidence.head
    if head is None:
        return
    base = evidence.base
    head_side = (head.label, head.score)
    base_side = (base.label, base.score) if base is not None else None
    kinds: dict[str, Callable[..., bytes]]
    if model.task == "binary":
        import numpy as np

        two_classes = len(np.unique(head.label)) == 2 and (base is None or len(np.unique(base.label)) == 2)
        kinds = {"confusion": plots.confusion, "calibration": plots.calibration}
        if two_classes:
            kinds = {"roc": plots.roc, "pr": plots.precision_recall, **kinds}
        else:
            notes.append(f"model '{model.name}': ROC and precision–recall plots skipped (a single class)")
    elif model.task == "multiclass":
        kinds = {"confusion": plots.confusion_multiclass}
    else:
        kinds = {"predicted_vs_actual": plots.predicted_vs_actual, "residuals": plots.residuals}
    for kind, draw in kinds.items():
        rel = f"{PLOTS_DIR}/{_slug(model.name)}-{kind}.png"
        try:
            model.plots[kind] = _write_plot(out_dir, rel, draw(base_side, head_side), images)
        except Exception as exc:  # noqa: BLE001 - one bad plot must not sink the report
            notes.append(f"model '{model.name}': {PLOT_TITLES[kind]} plot skipped ({type(exc).__name__}: {exc})")


def to_dict(ctx: ReportContext) -> dict[str, Any]:
    """The documented `report.json` (README: "report.json (schema 1)")."""
    return {
        "schema": REPORT_SCHEMA,
        "summary": {
            "status": ctx.gate.status,
            "mark": ctx.gate.mark,
            "line": verdict_line(ctx),
            "what_changed": what_changed_line(ctx),
            "evaluation_changed": evaluation_changed(ctx),
        },
        "comparison": ctx.comparison.to_dict(),
        "gate": ctx.gate.to_dict(),
        "models": {
            m.name: {
                "task": m.task,
                "gate": m.gate.to_dict(),
                "significance": m.evidence.significance.to_dict() if m.evidence.significance else None,
                "notes": list(m.evidence.notes),
                "plots": dict(m.plots),
            }
            for m in ctx.models
        },
        "plots": dict(ctx.pipeline_plots),
        "deps": [d.__dict__ for d in ctx.deps],
        "inputs": [i.__dict__ for i in ctx.inputs],
        "stage_times": {side: {n: t.__dict__ for n, t in times.items()} for side, times in ctx.stage_times.items()},
        "data": ctx.data.comparison.to_dict() if ctx.data else None,
        "history": history_section.to_json(ctx),
        "history_context": history_section.context_json(ctx),
        "explanations": explain_section.to_json(ctx),
        "notes": list(ctx.comparison.notes) + list(ctx.notes),
        "reproduce": f"mlci reproduce {ctx.head}",
    }
