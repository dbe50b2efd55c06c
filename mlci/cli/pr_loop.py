"""The PR loop: `mlci init`, `mlci run`, `mlci diff`, `mlci demo`."""

from __future__ import annotations

from pathlib import Path

import click

from mlci.cli.options import base_option, config_option
from mlci.cli.output import emit_json, stage_progress, table, warn


@click.command()
@click.option(
    "--example",
    is_flag=False,
    flag_value="lightgbm",
    default=None,
    type=click.Choice(["lightgbm", "torch"]),
    help="Also write an example DVC pipeline: lightgbm (the default) or torch (PyTorch + DVCLive).",
)
@click.option(
    "--workflows",
    is_flag=True,
    help="Also install the GitHub workflows (PR training, baseline) into .github/workflows/.",
)
@click.option(
    "--runner",
    type=click.Choice(["gpu", "cpu"]),
    default="gpu",
    show_default=True,
    help="With --workflows: train on your self-hosted GPU runner, or on GitHub-hosted ubuntu-latest (CPU).",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(example: str | None, workflows: bool, runner: str, force: bool) -> None:
    """Scaffold mlci.yaml (and with --example a whole pipeline) into this git repo."""
    from mlci.workflows.scaffold import init as do_init

    written = do_init(".", example=example, force=force, workflows=workflows, runner=runner)
    for path in written:
        click.echo(f"wrote {path}")
    if not written:
        click.echo("nothing to write: everything is already in place")


@click.command()
@config_option
@click.option("--force", is_flag=True, help="Re-run every stage even if its inputs did not change.")
@click.option("--no-record", is_flag=True, help="Do not store the run record in git notes.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON.")
def run(config_path: Path | None, force: bool, no_record: bool, as_json: bool) -> None:
    """Run the DVC pipeline and record params, metrics, hashes and timings for HEAD."""
    from mlci.workflows.run import run as do_run

    record = do_run(".", config_path=config_path, force=force, store=not no_record, on_event=stage_progress)
    for message in record.warnings:
        warn(message)
    if as_json:
        emit_json(record.to_dict())
        return
    ran = [s.name for s in record.stages if s.status == "ran"]
    click.echo(
        f"recorded run {record.id} for {record.commit[:12]}"
        f" ({len(ran)} stage(s) ran{': ' + ', '.join(ran) if ran else ', nothing changed'})"
    )
    rows = [[f, k, f"{v:.6g}"] for f, values in sorted(record.metrics.items()) for k, v in sorted(values.items())]
    table(None, ["file", "metric", "value"], rows, right={2})


@click.command()
@base_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (schema in the README).")
@click.option("--md", "as_md", is_flag=True, help="A markdown table.")
def diff(base_ref: str | None, config_path: Path | None, as_json: bool, as_md: bool) -> None:
    """Show what this branch did to every metric and param versus its base."""
    from mlci.workflows.diff import diff as do_diff

    if as_json and as_md:
        raise click.UsageError("--json and --md are exclusive; pick one")
    comparison = do_diff(".", base_ref=base_ref, config_path=config_path)
    if as_json:
        emit_json(comparison.to_dict())
    elif as_md:
        from mlci.report.diff_markdown import render

        click.echo(render(comparison), nl=False)
    else:
        print_comparison(comparison)


def print_comparison(comparison) -> None:
    from mlci.report.format import VERDICT_MARKS, number, param, percent, signed

    base = comparison.base_commit[:12] if comparison.base_commit else "none"
    click.echo(
        f"head {comparison.head_commit[:12]}{' (+ uncommitted changes)' if comparison.head_dirty else ''}"
        f" vs base {base} (merge-base with {comparison.base_ref}, from {comparison.base_source})"
    )
    rows = [
        [
            m.name,
            m.file,
            number(m.base),
            number(m.head),
            signed(m.delta),
            percent(m.delta_rel),
            VERDICT_MARKS[m.verdict],
        ]
        for m in comparison.metrics
    ]
    table(None, ["metric", "file", "base", "head", "Δ", "Δ %", "verdict"], rows, right={2, 3, 4, 5})
    if comparison.params:
        table(
            "params changed",
            ["param", "file", "base", "head"],
            [[p.name, p.file, param(p.base), param(p.head)] for p in comparison.params],
        )
    from mlci.report.terminal import plain

    for note in comparison.notes:
        click.echo(f"note: {plain(note)}")


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path),
    default=None,
    help="Where to build the demo repo (default: a new temp dir).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def demo(directory: Path | None, as_json: bool) -> None:
    """Run the whole PR loop on the bundled example: offline, no GitHub."""
    from mlci.workflows.demo import demo as do_demo

    def step(message: str) -> None:
        click.echo(f"• {message}", err=True)

    result = do_demo(directory, on_step=step, on_event=stage_progress)
    if as_json:
        emit_json(
            {
                "directory": str(result.directory),
                "report": str(result.report),
                "comparison": result.comparison.to_dict(),
                "gate": result.gate,
                "artifacts": {k: str(v) for k, v in result.artifacts.items()},
            }
        )
        return
    from mlci.report.terminal import lines

    print_comparison(result.comparison)
    click.echo("")
    for line in lines(result.built):
        click.echo(line)
    click.echo(f"demo repo: {result.directory}")
    for name, path in result.artifacts.items():
        click.echo(f"{name + ':':<10} {path}")
