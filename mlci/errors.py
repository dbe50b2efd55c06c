"""One exception hierarchy for every user-facing failure.

Each error carries a one-line message that says what is wrong and how to fix it, and the
process exit code the CLI returns for it. The CLI maps these to output in one place
(`mlci.cli.main`); the core raises them and never prints.

Exit codes (documented in the README):

====  ==================================================================
0     success (gate passed, run reproduced)
1     a negative verdict: gate failed, reproduction mismatch
2     bad command line (click's own usage errors); `reproduce`: cannot reproduce
3     configuration: `mlci.yaml` / `dvc.yaml` invalid or missing
4     git: not a repository, no commits, unknown ref, missing history
5     input data: metrics, params or predictions files unreadable or invalid; `mlci gate`:
      nothing to check
6     pipeline: DVC missing or a stage failed
7     remote service: GitHub / MLflow / network refused or failed
8     registry: promotion refused or artifact integrity failure; an object missing from
      the DVC remote (`mlci pull`)
9     filesystem: a file or directory cannot be written or read (disk full,
      permission denied, read-only or special filesystem); nothing was half-written
====  ==================================================================
"""

from __future__ import annotations

from mlci.redact import redact


class MlciError(Exception):
    """Base of all user-facing errors: `message` is one line, `details` optional context."""

    exit_code = 1

    def __init__(self, message: str, *, details: str = "", exit_code: int | None = None):
        super().__init__(message)
        self.message = message.strip().replace("\n", " ")
        self.details = details
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class VerdictFailed(MlciError):
    """Not a malfunction: the answer is 'no' (gate failed, numbers did not reproduce)."""

    exit_code = 1


class UsageError(MlciError):
    exit_code = 2


class ConfigError(MlciError):
    exit_code = 3


class GitError(MlciError):
    exit_code = 4


class DataError(MlciError):
    exit_code = 5


class PipelineError(MlciError):
    exit_code = 6


class RemoteError(MlciError):
    exit_code = 7


class RegistryError(MlciError):
    exit_code = 8


class MissingObjectError(MlciError):
    """The DVC remote answers but lacks an object this commit needs (`mlci pull`)."""

    exit_code = 8


class StorageError(MlciError):
    exit_code = 9

    @classmethod
    def from_os_error(cls, exc: OSError) -> StorageError:
        """One line for any OSError the library did not classify itself (ENOSPC, EACCES, EROFS…)."""
        import errno

        where = f" {exc.filename}" if exc.filename else ""
        hints = {
            errno.ENOSPC: "free some space (or point the output elsewhere) and retry",
            errno.EDQUOT: "free some space (or point the output elsewhere) and retry",
            errno.EFBIG: "the file is over this system's size limit; free space or raise the limit",
            errno.EACCES: "check the permissions, or choose another path",
            errno.EPERM: "check the permissions, or choose another path",
            errno.EROFS: "choose a writable path",
        }
        reason = exc.strerror or type(exc).__name__
        return cls(f"cannot access{where}: {reason}; {hints.get(exc.errno or 0, 'check the path and retry')}")


class NewerSchema(DataError):
    """A record a newer mlci wrote: valid, just not for us (kept by `mlci record repair`)."""


class CannotReproduce(MlciError):
    """The run cannot be re-run at all (no record, data unavailable, pipeline broken): exit 2."""

    exit_code = 2
    commit: str | None = None  # set once the revision is resolved, for --json


class GitHubError(RemoteError):
    """A GitHub API answer that is not success; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, *, status: int, github_message: str = ""):
        super().__init__(redact(message))  # GitHub or a proxy may echo our headers
        self.status = status
        self.github_message = redact(github_message)


class GitCommandError(Exception):  # mlci.store.gitplumb; not an MlciError: callers translate it
    """A git command exited non-zero (stderr in `.stderr`)."""

    def __init__(self, args: tuple[str, ...], stderr: str):
        super().__init__(f"git {' '.join(args)}: {stderr.strip()}")
        self.stderr = stderr


GIT_MISSING = "git is not installed or not on PATH; install git (e.g. `apt-get install git`) and retry"
_DISK_FULL = ("no space left on device", "file too large", "disk quota exceeded")


def from_git_failure(command: str, status: object, stderr: str) -> MlciError:
    """A failed git command no caller translated, as one line: a full disk (git's ENOSPC/EFBIG, or
    git killed by SIGXFSZ at a file-size limit) is a StorageError (exit 9), anything else a GitError (4)."""
    import signal

    text = stderr.strip()
    if text.startswith("stderr: '") and text.endswith("'"):  # GitPython's wrapping of git's stderr
        text = text[len("stderr: '") : -1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1][:300] if lines else ""
    xfsz = getattr(signal, "SIGXFSZ", None)
    killed = xfsz is not None and str(status) == str(-int(xfsz))
    full = next((line[:300] for line in lines if any(sign in line.lower() for sign in _DISK_FULL)), None)
    if killed or full:
        return StorageError(
            f"git {command} could not write ({full or last or 'the file size limit was reached'}); "
            "free some space (or raise the limit) and retry"
        )
    return GitError(f"git {command} failed{': ' + last if last else f' (exit {status})'}")


class MlciWarning(UserWarning):
    """Something was skipped, not fatal: the CLI prints it as one `mlci: warning:` line on stderr."""


class CorruptRecordWarning(MlciWarning):
    """A note line that is not a run record this mlci can read (corrupt, foreign, too new)."""
