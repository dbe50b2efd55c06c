"""The report's data section: markdown and one drift plot, from a `DataComparison`.

Pure rendering; the plot is deterministic (Agg backend, fixed size and fonts, no
timestamp or software tag in the PNG), so an unchanged comparison gives identical bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mlci.analysis.drift import DataComparison, compare_profiles
from mlci.model.data_rules import DriftThresholds
from mlci.report import markdown as md

if TYPE_CHECKING:
    from mlci.model.record import RunRecord
    from mlci.store.config import Config

PLOT_NAME = "data_drift.png"
_MARK = {"fail": "✗", "warn": "⚠", "ok": "✓", "skipped": "·"}
_MAX_ROWS = 15  # drift rows per table in the markdown
_MAX_FINDINGS = 12


def from_records(
    base: RunRecord | None, head: RunRecord | None, cfg: Config | None = None, thresholds: DriftThresholds | None = None
) -> DataComparison | None:
    """The data comparison of two run records; None when the head has no data profile."""
    head_profile = (head.extra or {}).get("data_profile") if head is not None else None
    if not head_profile:
        return None
    if thresholds is None and cfg is not None:
        thresholds = cfg.data.thresholds
    base_profile = (base.extra or {}).get("data_profile") if base is not None else None
    return compare_profiles(base_profile, head_profile, thresholds)


def diff(path: Path | str = ".", *, base_ref: str | None = None, config_path: Path | None = None) -> DataComparison:
    """`mlci data diff`: the base's recorded profile against the tables on disk now."""
    from mlci.analysis.profile import profile_tables
    from mlci.errors import ConfigError
    from mlci.store import baseline, gitrepo
    from mlci.store.project import opened

    project = opened(path, config_path)
    repo, root, cfg = project.repo, project.root, project.config
    settings = cfg.data
    if not settings.tables:
        raise ConfigError("no data.tables in mlci.yaml: declare the tables to profile (see the README's data section)")
    head_commit = gitrepo.head_commit(repo)
    base_commit = gitrepo.merge_base(
        repo, head_commit, gitrepo.resolve(repo, base_ref or gitrepo.default_base(repo)[0])
    )
    base = baseline.baseline_for(repo, base_commit)
    base_profile = (base.extra or {}).get("data_profile") if base else None
    return compare_profiles(base_profile, profile_tables(root, list(settings.tables)), settings.thresholds)


def _rows(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _row_delta(base: int | None, head: int | None) -> str:
    if base is None or head is None:
        return "—"
    if base == head:
        return "0"
    rel = f" ({(head - base) / base:+.1%})" if base else ""
    return f"{head - base:+,}{rel}"


def _schema(t) -> str:
    if t.status != "compared":
        return {"added": "new table", "removed": "table removed", "error": "unreadable"}[t.status]
    parts = []
    if t.added_columns:
        parts.append("+" + ", +".join(md.code(c) for c in t.added_columns))
    if t.removed_columns:
        parts.append("−" + ", −".join(md.code(c) for c in t.removed_columns))
    parts += [f"{md.code(c)} {md.text(a)}→{md.text(b)}" for c, a, b in t.dtype_changes]
    return "; ".join(parts) or "unchanged"


def _drift_cell(t) -> str:
    scored = [c for c in t.columns if c.psi is not None]
    if not scored:
        return "—"
    fails = sum(c.severity == "fail" for c in t.columns)
    warns = sum(c.severity == "warn" for c in t.columns)
    worst = max(scored, key=lambda c: c.psi)
    summary = f"{_MARK['fail']} {fails} failed" if fails else f"{_MARK['warn']} {warns} warned" if warns else "✓ stable"
    return f"{summary}; worst {md.code(worst.column)} PSI {worst.psi:.3f}"


def _quiet(comparison: DataComparison) -> bool:
    """Nothing to look at: no finding, no schema change, no new or removed table."""
    return not comparison.findings and all(
        t.status == "compared" and _schema(t) == "unchanged" for t in comparison.tables
    )


def _one_line(comparison: DataComparison) -> str:
    """`✓ 2 tables unchanged in schema, no drift (worst PSI 0.004, `f03`); rows 2,500 → 2,500, …`."""
    scored = [(t, c) for t in comparison.tables for c in t.columns if c.psi is not None]
    worst = max(scored, key=lambda tc: tc[1].psi or 0.0) if scored else None
    worst_text = f" (worst PSI {worst[1].psi:.3f}, {md.code(worst[1].column)})" if worst else ""
    rows = ", ".join(f"{md.code(t.table)} {_rows(t.base_rows)} → {_rows(t.head_rows)} rows" for t in comparison.tables)
    return f"✓ {len(comparison.tables)} table(s): schema unchanged, no drift{worst_text}; {rows}."


def render_markdown(comparison: DataComparison, *, plot: str | None = None, heading: str = "### Data") -> str:
    """The section's markdown; `plot` is the image link target (relative to the report) if drawn.

    Quiet when nothing happened: one line, the tables folded below it.
    """
    limits = comparison.thresholds
    lines = [heading, ""]
    if not comparison.tables:
        lines.append("No data tables profiled (add `data.tables` to mlci.yaml).")
        return "\n".join(lines) + "\n"
    quiet = _quiet(comparison)
    table = md.table(
        ["table", "rows base → head", "Δ rows", "schema", "drift"],
        "lrrll",
        [
            [
                md.code(t.table),
                f"{_rows(t.base_rows)} → {_rows(t.head_rows)}",
                _row_delta(t.base_rows, t.head_rows),
                _schema(t),
                _drift_cell(t),
            ]
            for t in comparison.tables
        ],
    )
    details: list[str] = []
    if quiet:
        lines.append(_one_line(comparison))
        details += table
    else:
        lines += table
        lines.append("")
        lines.append("**Data findings** (gate goal `data`):")
        lines.append("")
        lines += [f"- {_MARK[f.severity]} {md.text(f.message)}" for f in comparison.findings[:_MAX_FINDINGS]]
        if len(comparison.findings) > _MAX_FINDINGS:
            lines.append(f"- … and {len(comparison.findings) - _MAX_FINDINGS} more (all in report.json)")
        if not comparison.findings:
            lines.append(
                f"No data findings: no schema break, no PSI ≥ {limits.psi_warn:g}, "
                f"no null-rate rise ≥ {limits.null_rate_jump:.0%}."
            )
    for t in comparison.tables:
        if not t.columns and not t.notes:
            continue
        body: list[str] = []
        stable = [c for c in t.columns if c.severity == "ok"]
        shown = [c for c in t.columns if c.severity != "ok"]
        if shown:
            rows = []
            for c in shown[:_MAX_ROWS]:
                psi = f"{c.psi:.3f}" if c.psi is not None else "—"
                note = c.note or (c.method if c.method != "none" else "")
                rows.append(
                    [
                        md.code(c.column),
                        md.text(c.kind),
                        psi,
                        f"{c.base_null:.1%} → {c.head_null:.1%}",
                        f"{_MARK[c.severity]} {md.text(note)}",
                    ]
                )
            if len(shown) > _MAX_ROWS:
                rows.append([f"… {len(shown) - _MAX_ROWS} more", "", "", "", ""])
            body += md.table(["column", "kind", "PSI", "nulls base → head", ""], "llrrl", rows)
        if stable:
            worst = max((c.psi for c in stable if c.psi is not None), default=None)
            worst_text = f", PSI ≤ {worst:.3f}" if worst is not None else ""
            body += [
                "",
                f"{len(stable)}{' other' if shown else ''} column(s) stable{worst_text}: "
                + ", ".join(md.code(c.column) for c in stable[:30])
                + (" …" if len(stable) > 30 else ""),
            ]
        for note in t.notes:
            body += ["", f"> {md.text(note)}"]
        if quiet:
            details += ["", f"Columns of {md.code(t.table)}:", "", *body]
        else:
            lines += ["", *md.details(f"Columns of {md.html_code(t.table)}, drifted first", body)]
    if quiet:
        lines += ["", *md.details("tables and columns", details)]
    lines.append("")
    if plot and comparison.worst(1) and not quiet:
        lines += [f"![base vs head distribution of the most drifted features]({plot})", ""]
    lines.append(
        f"<sub>PSI on the base's deciles (numbers) or shared categories; warn ≥ {limits.psi_warn:g}, "
        f"fail ≥ {limits.psi_fail:g} (`data.drift` in mlci.yaml).</sub>"
    )
    for note in comparison.notes:
        lines += ["", f"> {md.text(note)}"]
    return "\n".join(lines) + "\n"


def _tick(label: str) -> str:
    """A bin label with short numbers: `-0.7395…-0.06728` → `-0.74…-0.0673`."""
    import re

    return re.sub(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", lambda m: f"{float(m.group(0)):.3g}", label)


def plot(comparison: DataComparison, path: Path, *, top: int | None = None) -> Path | None:
    """Bar charts (base vs head share per bin) of the worst drifted features; None if none drifted."""
    worst = comparison.worst(top or comparison.thresholds.plot_top)
    if not worst:
        return None
    import io

    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import numpy as np

    from mlci.store import atomicio

    columns = min(2, len(worst))
    grid_rows = -(-len(worst) // columns)
    with plt.rc_context({"svg.hashsalt": "mlci", "font.family": "DejaVu Sans", "font.size": 10}):
        fig, axes = plt.subplots(grid_rows, columns, figsize=(5.2 * columns, 3.6 * grid_rows), dpi=100, squeeze=False)
        for ax in axes.flat[len(worst) :]:
            ax.set_visible(False)
        for ax, (table, c) in zip(axes.flat, worst, strict=False):
            x = np.arange(len(c.labels))
            ax.bar(x - 0.2, c.base_share, width=0.4, label="base", color="#7f7f7f")  # mlci.report.plots colours
            ax.bar(x + 0.2, c.head_share, width=0.4, label="head", color="#1f77b4")
            ax.set_title(f"{c.column} ({Path(table).stem}): PSI {c.psi:.3f}", fontsize=10)
            ax.set_xticks(x)
            ax.set_xticklabels([_tick(label) for label in c.labels], rotation=40, ha="right", fontsize=8.5)
            ax.set_ylabel("share of rows")
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
            ax.grid(axis="y", alpha=0.3)
        axes.flat[0].legend(fontsize=9)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", metadata={"Software": None})
        plt.close(fig)
    atomicio.write_bytes(path, buffer.getvalue())
    return path


def gate_findings(comparison: DataComparison | None, cfg: Config | None = None) -> list:
    """The data findings as `mlci.analysis.gate.GateFinding`s (kind "data"): fail → error, warn → warning.

    Each is attributed to the model whose `data.tables` lists its table (else the first model).
    """
    from mlci.analysis.gate import GateFinding

    if comparison is None:
        return []
    owner: dict[str, str] = {}
    default = "data"
    if cfg is not None and cfg.models:
        default = cfg.models[0].name
        for model in cfg.models:
            for table in (model.data or {}).get("tables") or []:
                owner.setdefault(table, model.name)
    return [
        GateFinding(
            model=owner.get(f.table, default),
            kind="data",
            metric=f.column,
            message=f.message,
            passed=f.severity != "fail",
            level="error" if f.severity == "fail" else "warning",
        )
        for f in comparison.findings
    ]


# --- the PR report (mlci.report.builder) ------------------------------------------------------


@dataclass
class DataReport:
    """The data checks of one report: the comparison and, if drawn, the plot."""

    comparison: DataComparison
    plot: str | None = None  # relative to the report directory
    image: Path | None = None


def report_section(ctx) -> str | None:
    """The builder's section: `ctx.data` is this report's `DataReport` (None: no head profile)."""
    data = getattr(ctx, "data", None)
    if data is None:
        if ctx.cfg is None or not ctx.cfg.data.tables:
            return None
        return (
            "### Data checks\n\nNo data profile in head's run record: run `mlci run` "
            "(the tables in `data.tables` are profiled after the pipeline).\n"
        )
    return render_markdown(data.comparison, plot=data.plot, heading="### Data checks")
