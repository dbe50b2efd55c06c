"""`mlci data profile|check` and `mlci pr create`: data checks and the retrain PR by hand."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import config_option
from mlci.cli.output import emit_json, table, warn


@click.group()
def data() -> None:
    """Profile tables and check them against data.expectations in mlci.yaml."""


@data.command("profile")
@click.argument("file", type=click.Path(path_type=Path))
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

    violations = check_files(".", config_path=config_path)
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
    comparison = data_diff(".", base_ref=base_ref, config_path=config_path)
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


@click.group()
def pr() -> None:
    """Pull requests opened by mlci (the scheduled retrain)."""


@pr.command("create")
@click.option(
    "--branch",
    default="mlci/retrain",
    show_default=True,
    help="Head branch, force-pushed each time (one open PR per branch).",
)
@click.option("--base", "base_branch", default=None, help="Base branch (default: the repository's default branch).")
@click.option("--title", default="mlci: retrain on fresh data", show_default=True)
@click.option(
    "--body-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Markdown for the PR body and the report comment (e.g. mlci-report/report.md).",
)
@click.option("--message", default="mlci: retrain on fresh data", show_default=True, help="Commit message.")
@click.option("--remote", default="origin", show_default=True)
@click.option(
    "--repo", "repo_slug", envvar="GITHUB_REPOSITORY", default=None, help="owner/name (default: $GITHUB_REPOSITORY)."
)
@click.option("--json", "as_json", is_flag=True)
def create(
    branch: str,
    base_branch: str | None,
    title: str,
    body_file: Path | None,
    message: str,
    remote: str,
    repo_slug: str | None,
    as_json: bool,
) -> None:
    """Commit the working tree's changes to BRANCH, push it and open (or update) its one PR.

    The token comes from $GITHUB_TOKEN (never printed); the API from $GITHUB_API_URL.
    """
    from mlci.workflows.retrain import publish_pr

    body = body_file.read_text(encoding="utf-8") if body_file else ""
    result = publish_pr(
        ".",
        branch=branch,
        base=base_branch,
        title=title,
        body=body,
        message=message,
        remote=remote,
        repo_slug=repo_slug,
    )
    if as_json:
        emit_json(result.to_dict())
        return
    for note in result.notes:
        warn(note)
    click.echo(f"{result.action} PR #{result.number}: {result.url}")


@click.command()
@click.option(
    "--against",
    default=None,
    metavar="REF",
    help="Compare with: `production` (the registry's model in registry.stage, default), "
    "a registry ref (churn#prod, churn@v1.2.0) or a git ref (main).",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("mlci-retrain"),
    show_default=True,
    help="Where report.md, report.json and data_drift.png go.",
)
@config_option
@click.option("--force", is_flag=True, help="Re-run every stage even if its inputs did not change.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def retrain(against: str | None, report_dir: Path, config_path: Path | None, force: bool, as_json: bool) -> None:
    """Re-run the pipeline on the data now in the tree and decide whether to open a retrain PR.

    Exit 0 either way; the decision is printed (and, in GitHub Actions, written to the step
    outputs `open_pr` and `report`). Follow with `mlci pr create` when it says so.
    """
    import os

    from mlci.cli.output import stage_progress
    from mlci.workflows.retrain import retrain as do_retrain

    outcome = do_retrain(
        ".",
        against=against,
        report_dir=report_dir,
        config_path=config_path,
        force=force,
        on_event=None if as_json else stage_progress,
    )
    decision = outcome.decision
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        from mlci.integrations.github.outputs import write_outputs

        write_outputs(Path(output), {"open_pr": "true" if decision.open_pr else "false", "report": str(outcome.report)})
    if as_json:
        emit_json(outcome.to_dict())
        return
    for note in decision.notes:
        click.echo(f"note: {note}")
    if decision.open_pr:
        click.echo("open a retrain PR (`mlci pr create --body-file " + str(outcome.report) + "`) because:")
        for reason in decision.reasons:
            click.echo(f"  - {reason}")
    else:
        click.echo("no retrain PR: metrics and data stayed within the thresholds")
    click.echo(f"report: {outcome.report}")
