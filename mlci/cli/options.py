"""Options several commands share, declared once so their names and help never drift apart."""

from __future__ import annotations

from pathlib import Path

import click

config_option = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=None,
    help="mlci.yaml to use (default: the repo root's).",
)
base_option = click.option(
    "--base", "base_ref", default=None, metavar="REF",
    help="Compare with the merge-base of HEAD and REF (default: the default branch).",
)
