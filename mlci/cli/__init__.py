"""The `mlci` command line: thin click commands over the library.

Commands load lazily (only the one being run is imported) so `mlci --help` stays fast, and
every `MlciError` is turned into one line on stderr and its exit code here, in one place.
"""

from __future__ import annotations

import importlib
import sys

import click

from mlci import __version__
from mlci.errors import MlciError

# command name -> "module:attribute"; each module imports only click at import time.
_COMMANDS = {
    "init": "mlci.cli.pr_loop:init",
    "run": "mlci.cli.pr_loop:run",
    "diff": "mlci.cli.pr_loop:diff",
    "demo": "mlci.cli.pr_loop:demo",
    "record": "mlci.cli.records:record",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mlci")
def cli() -> None:
    """mlci: every pull request a reviewed ML experiment.

    \b
    Start with `mlci demo`. Exit codes: 0 ok, 1 gate failed / mismatch, 2 usage,
    3 config, 4 git, 5 input data, 6 pipeline, 7 remote service, 8 registry.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command, map errors to one line and an exit code."""
    try:
        cli.main(args=argv, prog_name="mlci", standalone_mode=False)
    except MlciError as exc:
        click.echo(f"mlci: error: {exc.message}", err=True)
        if exc.details:
            click.echo("\n".join(f"  | {line}" for line in exc.details.splitlines()), err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("mlci: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("mlci: interrupted", err=True)
        sys.exit(130)
    sys.exit(0)
