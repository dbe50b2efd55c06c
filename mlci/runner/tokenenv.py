"""Keep credentials out of every process that runs pipeline (PR) code.

Deleting a variable from `os.environ` is not enough: a process's initial environment stays
readable in `/proc/<pid>/environ`, and a DVC stage can walk up to its ancestors. So:

- stages get an environment without any `*TOKEN*` variable and without git auth headers
  (`stage_env`, called by `mlci.store.pipeline`);
- commands that run stages (`mlci ci`, `run`, `reproduce`, `retrain`, `demo`) started with a
  token in their environment replace themselves (`os.execve`, which replaces
  `/proc/self/environ`) with a clean copy before doing anything. When the command publishes
  afterwards (`mlci ci`), the token is handed over through an inherited pipe whose variable
  name carries no secret; the new process reads it and closes the pipe before any stage runs.

What this cannot do: the step's shell (or whatever started mlci) still holds the token in
its own environment when the token was put there; the action therefore runs the pipeline in
a step that has no token at all (see action.yml).
"""

from __future__ import annotations

import os
import sys

from mlci.redact import is_secret_name, register

HANDOFF_VAR = "MLCI_CREDENTIAL_FD"  # an fd number; deliberately no "TOKEN" in the name
TOKEN_VARS = ("GITHUB_TOKEN", "GH_TOKEN", "MLCI_TOKEN")  # where mlci looks for its token, in order
# Commands that run pipeline stages; True: the command publishes afterwards and needs the token.
STAGE_COMMANDS = {"ci": True, "run": False, "reproduce": False, "retrain": False, "demo": False}

_handed: str | None = None


def secret_names(environ: dict[str, str]) -> list[str]:
    return sorted(name for name in environ if is_secret_name(name))


def _git_auth_indexes(environ: dict[str, str]) -> set[str]:
    """GIT_CONFIG_<n> entries that carry an Authorization header (mlci.integrations.github.gitauth's form)."""
    return {
        key.removeprefix("GIT_CONFIG_VALUE_")
        for key, value in environ.items()
        if key.startswith("GIT_CONFIG_VALUE_") and "authorization" in value.lower()
    }


def stage_env(environ: dict[str, str]) -> dict[str, str]:
    """`environ` without credentials: no `*TOKEN*` variable, no git auth header."""
    env = {k: v for k, v in environ.items() if not is_secret_name(k)}
    drop = _git_auth_indexes(env)
    if drop:
        count = int(env.get("GIT_CONFIG_COUNT", "0") or 0)
        kept = [
            (env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"])
            for i in range(count)
            if str(i) not in drop and f"GIT_CONFIG_KEY_{i}" in env and f"GIT_CONFIG_VALUE_{i}" in env
        ]
        env = {k: v for k, v in env.items() if not k.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))}
        for i, (key, value) in enumerate(kept):
            env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
        env["GIT_CONFIG_COUNT"] = str(len(kept))
    return env


def _command(argv: list[str]) -> str | None:
    """The mlci subcommand in `argv` (skipping `-C DIR` and other group options)."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-C":
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def reexec_without_secrets(argv: list[str] | None = None) -> None:
    """For a stage-running command with credentials in its environment: exec a clean copy of
    this process, handing the token over by pipe when the command needs it. Returns only when
    there is nothing to do."""
    argv = list(sys.argv if argv is None else argv)
    command = _command(argv)
    if os.name != "posix" or command not in STAGE_COMMANDS or not secret_names(dict(os.environ)):
        return
    env = stage_env(dict(os.environ))
    token = next((os.environ[name] for name in TOKEN_VARS if os.environ.get(name)), None)
    if STAGE_COMMANDS[command] and token:
        read_end, write_end = os.pipe()
        os.write(write_end, token.encode())
        os.close(write_end)
        os.set_inheritable(read_end, True)
        env[HANDOFF_VAR] = str(read_end)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def receive() -> None:
    """In the re-executed process: take the handed-over token and close its pipe."""
    global _handed
    fd = os.environ.pop(HANDOFF_VAR, None)
    if not fd:
        return
    try:
        chunks = []
        while chunk := os.read(int(fd), 4096):
            chunks.append(chunk)
        os.close(int(fd))
    except (OSError, ValueError):
        return
    _handed = b"".join(chunks).decode() or None
    register(_handed)


def token(environ: dict[str, str] | None = None) -> str | None:
    """The token: handed over by pipe, else from the environment (GITHUB_TOKEN, GH_TOKEN, MLCI_TOKEN)."""
    env = os.environ if environ is None else environ
    return _handed or next((env[name] for name in TOKEN_VARS if env.get(name)), None)
