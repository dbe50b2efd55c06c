"""Options several commands share, declared once so their names and help never drift apart."""

from __future__ import annotations

import os
from pathlib import Path

import click


def here(ctx: click.Context | None = None) -> Path:
    """The project directory: `mlci -C DIR`, else the working directory. mlci never changes
    directory (a chdir would leak into whoever runs the CLI in-process, tests included)."""
    ctx = ctx or click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return (obj.get("directory") if isinstance(obj, dict) else None) or Path(".")


class ProjectPath(click.Path):
    """A path option or argument: a relative one is relative to `-C DIR`, as if mlci had started there."""

    def convert(self, value, param, ctx):
        if isinstance(value, (str, os.PathLike)) and not os.path.isabs(value):
            value = here(ctx) / value
        return super().convert(value, param, ctx)


class GitRef(click.ParamType):
    """A commit, branch or tag name: `--commit ''` used to mean HEAD (issue 29), and a name
    starting with '-' would reach git as an option."""

    name = "ref"

    def convert(self, value, param, ctx):
        text = str(value)
        if not text.strip():
            self.fail("is empty; name a commit, branch or tag (e.g. HEAD, main, a1b2c3d)", param, ctx)
        if text.startswith("-") or any(ord(c) < 32 or c == "\x7f" for c in text):
            self.fail(f"{text[:60]!r} is not a git ref; name a commit, branch or tag", param, ctx)
        return text


GIT_REF = GitRef()


config_option = click.option(
    "--config",
    "config_path",
    type=ProjectPath(path_type=Path),
    default=None,
    help="mlci.yaml to use (default: the repo root's).",
)
base_option = click.option(
    "--base",
    "base_ref",
    type=GIT_REF,
    default=None,
    metavar="REF",
    help="Compare with the merge-base of HEAD and REF (default: the default branch).",
)


class FiniteFloat(click.ParamType):
    """A float that can be compared: NaN and ±inf are refused (`--tolerance nan` would make every check pass or fail)."""

    name = "number"

    def __init__(self, minimum: float | None = None):
        self.minimum = minimum

    def convert(self, value, param, ctx):
        import math

        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number; pass e.g. 0.01", param, ctx)
        if self.minimum is not None and number < self.minimum:
            name = param.opts[0] if param is not None and param.opts else "the value"
            self.fail(f"{name} must be >= {self.minimum:g}, got {value}", param, ctx)
        return number


PR_NUMBER = click.IntRange(min=1, max=2**31 - 1)
