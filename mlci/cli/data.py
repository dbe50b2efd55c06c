"""`mlci data profile|check|diff`: the data checks of `data.tables`, by hand."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import GIT_REF, ProjectPath, config_option, here
from mlci.cli.output import emit_json, table


@click.group()
def data() -> None:
    """Profile tables and check them against data.expectations in mlci.yaml."""


@data.command("profile")
@click.argument("file", type=ProjectPath(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the full profile as JSON.")
def profile(file: Path, as_json: bool) -> None:
    """Profile one CSV/TSV/Parquet FILE: dtypes, nulls, distinct counts, quantiles, top values."""
    from mlci.analysis.profile import profile_file

    result = profile_file(file)
    if as_json:
        emit_json(result)
        return
    from mlci.report.format import number

    rows = []
    for name, col in result["columns"].items():
        edges = col.get("edges")
        summary = (
            f"{number(col.get('min'))} / {number(edges[len(edges) // 2])} / {number(col.get('max'))}"
            if edges
            else ", ".join(f"{v} ({c:,})" for v, c in (col.get("top") or [])[:3])
        )
        rows.append([name, col["dtype"], f"{col['null_fraction']:.1%}", f"{col['distinct']:,}", summary])
    table(
        f"{result['path']}: {result['rows']:,} rows, {len(result['columns'])} columns",
        ["column", "dtype", "nulls", "distinct", "min / median / max, or top values"],
        rows,
        right={2, 3},
    )
    for note in result["notes"]:
        click.echo(f"note: {note}")
    for name, col in result["columns"].items():
        for note in col.get("notes", []):
            click.echo(f"note: column '{name}': {note}")


@data.command("check")
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the violations as JSON.")
def check(config_path: Path | None, as_json: bool) -> None:
    """Check the tables on disk against data.expectations (no pipeline run). Exit 5 on a violation."""
    from mlci.analysis.checks import check_files

    violations = check_files(here(), config_path=config_path)
    if as_json:
        emit_json([v.__dict__ for v in violations])
    else:
        for v in violations:
            click.echo(f"✗ {v.message}")
        if not violations:
            click.echo("all data expectations hold")
    if violations:
        click.get_current_context().exit(5)


@data.command("diff")
@click.option(
    "--base",
    "base_ref",
    type=GIT_REF,
    default=None,
    metavar="REF",
    help="Compare with the run record at the merge-base of HEAD and REF (default: the default branch).",
)
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--md", "as_md", is_flag=True, help="The report's markdown section.")
def diff(base_ref: str | None, config_path: Path | None, as_json: bool, as_md: bool) -> None:
    """What changed in the data between the base's run record and HEAD's (schema, nulls, drift)."""
    from mlci.report.data_section import diff as data_diff
    from mlci.report.data_section import render_markdown

    if as_json and as_md:
        raise click.UsageError("--json and --md are exclusive; pick one")
    comparison = data_diff(here(), base_ref=base_ref, config_path=config_path)
    if as_json:
        emit_json(comparison.to_dict())
    elif as_md:
        click.echo(render_markdown(comparison), nl=False)
    else:
        table(
            None,
            ["table", "rows base → head", "added", "removed", "dtype changes"],
            [
                [
                    t.table,
                    f"{t.base_rows if t.base_rows is not None else '—'} → "
                    f"{t.head_rows if t.head_rows is not None else '—'}",
                    ", ".join(t.added_columns) if t.status == "compared" else t.status,
                    ", ".join(t.removed_columns),
                    ", ".join(f"{c} {a}→{b}" for c, a, b in t.dtype_changes),
                ]
                for t in comparison.tables
            ],
        )
        marks = {"fail": "✗", "warn": "⚠"}
        for finding in comparison.findings:
            click.echo(f"{marks[finding.severity]} {finding.message}")
        if not comparison.findings:
            click.echo("no data findings")
        for note in comparison.notes:
            click.echo(f"note: {note}")
    if comparison.failed:
        click.get_current_context().exit(1)
