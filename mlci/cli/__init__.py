"""The `mlci` command line: thin click commands over the library.

Commands load lazily (only the one being run is imported) so `mlci --help` stays fast, and
every `MlciError` is turned into one line on stderr and its exit code here, in one place.
"""

from __future__ import annotations

import errno
import importlib
import io
import os
import sys
import warnings
from pathlib import Path

import click

from mlci import __version__
from mlci.errors import MlciError, MlciWarning

# command name -> "module:attribute": one module per command, named after it; each imports only click at load.
_COMMANDS = {
    "ci": "mlci.cli.ci:ci",
    "comment": "mlci.cli.comment:comment",
    "data": "mlci.cli.data:data",
    "demo": "mlci.cli.demo:demo",
    "diff": "mlci.cli.diff:diff",
    "doctor": "mlci.cli.doctor:doctor",
    "gate": "mlci.cli.gate:gate",
    "history": "mlci.cli.history:history",
    "init": "mlci.cli.init:init",
    "pr": "mlci.cli.pr:pr",
    "promote": "mlci.cli.promote:promote",
    "publish": "mlci.cli.publish:publish",
    "pull": "mlci.cli.pull:pull",
    "record": "mlci.cli.record:record",
    "registry": "mlci.cli.registry:registry",
    "report": "mlci.cli.report:report",
    "reproduce": "mlci.cli.reproduce:reproduce",
    "retrain": "mlci.cli.retrain:retrain",
    "run": "mlci.cli.run:run",
}


class MlciClickError(click.ClickException):
    """An MlciError as click sees it: one line on stderr (plus optional context), its exit code."""

    def __init__(self, error: MlciError):
        """Every error leaves through here, redacted: no credential in its message or details."""
        from mlci.redact import redact

        super().__init__(redact(error.message))
        self.exit_code = error.exit_code  # type: ignore[misc]  # click declares it on the class; ours varies
        self.details = redact(error.details or "")

    def show(self, file=None) -> None:
        click.echo(f"mlci: error: {self.message}", err=True)
        if self.details:
            click.echo("\n".join(f"  | {line}" for line in self.details.splitlines()), err=True)


class OneLineUsageError(click.UsageError):
    """click's usage errors (bad flag, bad value) as one line too, exit code 2."""

    def __init__(self, error: click.UsageError):
        super().__init__(error.format_message(), error.ctx)

    def show(self, file=None) -> None:
        where = f" (see `{self.ctx.command_path} --help`)" if self.ctx is not None else ""
        click.echo(f"mlci: error: {self.format_message()}{where}", err=True)


class LazyGroup(click.Group):
    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise OneLineUsageError(exc) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = _COMMANDS.get(name)
        if target is None:
            return None
        module, attribute = target.split(":")
        return getattr(importlib.import_module(module), attribute)

    def invoke(self, ctx: click.Context):
        """The one place where library errors become CLI errors."""
        from mlci.store import dvcfile

        _SHOWN.clear()  # per command (tests run many commands in one process)
        with warnings.catch_warnings(), dvcfile.command_scope():
            warnings.simplefilter("always", MlciWarning)  # each distinct text once: _show_warning
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except MlciError as exc:
                raise MlciClickError(exc) from None
            except BrokenPipeError:  # `mlci diff | head`: the reader left; stop quietly, as `git log | head` does
                _quiet_stdout()
                ctx.exit(141)
            except OSError as exc:  # disk full, permissions, /proc…: one line, exit 9, never a traceback
                from mlci.errors import GIT_MISSING, GitError, StorageError

                if exc.errno == errno.ENOENT and exc.filename == "git":  # git missing from PATH: exit 4
                    raise MlciClickError(GitError(GIT_MISSING)) from None
                raise MlciClickError(StorageError.from_os_error(exc)) from None
            except OneLineUsageError:
                raise
            except click.UsageError as exc:
                raise OneLineUsageError(exc) from None
            except Exception as exc:
                translated = _git_failure(exc)
                if translated is None:
                    raise
                raise MlciClickError(translated) from None


def _git_failure(exc: Exception) -> MlciError | None:
    """A git failure no library code translated (GitPython's or mlci's own), or git missing, as an
    MlciError; None for anything else. GitPython is looked up, never imported: startup stays fast."""
    from mlci.errors import GIT_MISSING, GitCommandError, GitError, from_git_failure

    if isinstance(exc, GitCommandError):
        return from_git_failure(str(exc).split(":", 1)[0].removeprefix("git "), "", exc.stderr)
    gitexc = sys.modules.get("git.exc")
    if gitexc is not None and isinstance(exc, gitexc.GitCommandNotFound):
        return GitError(GIT_MISSING)
    if gitexc is not None and isinstance(exc, gitexc.GitCommandError):
        command = exc.command if isinstance(exc.command, list) else str(exc.command).split()
        words = [str(w) for w in command[1:3] if not str(w).startswith("-")]
        return from_git_failure(" ".join(words) or "command", exc.status, str(exc.stderr or ""))
    if isinstance(exc, ImportError) and "git executable" in str(exc).lower():  # GitPython's import without git
        return GitError(GIT_MISSING)
    return None


def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush after a broken pipe is silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


_SHOWN: set[str] = set()  # warnings said in this process: the same one from two readers is said once


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Library warnings (`MlciWarning`) as one line each, each text once; others keep Python's format."""
    if issubclass(category, MlciWarning):
        text = str(message)
        if text in _SHOWN:
            return
        _SHOWN.add(text)
        click.echo(f"mlci: warning: {text}", err=True)
    else:
        click.echo(warnings.formatwarning(message, category, filename, lineno, line).rstrip(), err=True)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mlci")
@click.option(
    "-C",
    "directory",
    type=click.Path(file_okay=False, exists=True),
    default=None,
    help="Run as if mlci was started in this directory.",
)
@click.pass_context
def cli(ctx: click.Context, directory: str | None) -> None:
    """mlci: every pull request a reviewed ML experiment.

    \b
    Start with `mlci demo`. Exit codes: 0 ok, 1 gate failed / mismatch, 2 usage,
    3 config, 4 git, 5 input data, 6 pipeline, 7 remote service, 8 registry, 9 filesystem.
    """
    ctx.obj = {"directory": Path(directory) if directory else Path(".")}  # a path, never a chdir


def main() -> None:
    from mlci.runner import tokenenv

    tokenenv.receive()  # a token handed over by the re-exec below (closes its pipe)
    tokenenv.reexec_without_secrets()  # commands that run stages never keep a token in their environ
    from mlci.redact import RedactingStream

    for stream in (sys.stdout, sys.stderr):  # PYTHONIOENCODING=ascii: 'aucé' prints as auc\xe9, not a traceback
        if stream is not None and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    sys.stdout, sys.stderr = (
        RedactingStream(sys.stdout or _Closed("<stdout>")),  # started with stdout closed (`>&-`): exit 9, one line
        RedactingStream(sys.stderr or _Closed("<stderr>")),
    )  # every printed line redacted
    cli(prog_name="mlci")


class _Closed(io.TextIOBase):
    """A standard stream the process was started without: writing to it is an OSError (exit 9)."""

    def __init__(self, name: str):
        self.name = name

    def write(self, text):
        import errno

        if not text:
            return 0  # click probes streams with an empty write
        raise OSError(errno.EBADF, "closed when mlci started (redirect it to /dev/null instead)", self.name)

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True
