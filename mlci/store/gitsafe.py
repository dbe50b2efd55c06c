"""Git commands that carry mlci's token, out of reach of anything PR code could have planted.

mlci fetches and pushes run records, report images and registry tags with the job's token, in
a workspace where the PR's code has run (and, on a self-hosted runner, where an earlier job's
code ran: `$HOME` and `.git` outlive the job). Plain `git` there executes what the workspace
or the user configured: `.git/hooks/*` (`reference-transaction` runs on every ref update,
`pre-push` on every push), `core.hooksPath` from `~/.gitconfig` or `.git/config`,
`core.fsmonitor`, clean filters; and it sends its requests wherever `url.*.insteadOf`,
`remote.*.pushurl` or `http.proxy` point. Each of them sees the Authorization header that
mlci hands git through its environment (mlci.integrations.github.gitauth).

So a git command that carries a credential never runs in the workspace. It runs in a scratch
bare repository that mlci creates in a temp dir for one operation:

- its config is written by mlci alone: hooks off (`core.hooksPath=/dev/null`), no fsmonitor,
  no credential helper, no automatic gc (its object store borrows the workspace's);
- every process has user and system config off (`GIT_CONFIG_GLOBAL=/dev/null`,
  `GIT_CONFIG_NOSYSTEM=1`), the same settings again as command-line config (which outranks
  any file), and no inherited `GIT_*` variable; the workspace's config is never read;
- it reads the workspace's objects through `objects/info/alternates` (nothing is copied in)
  and starts with a copy of the workspace's refs, so fetches negotiate as they did before;
- the remote is an explicit URL, never a remote name: the remote's `url` as the workspace's
  config file spells it, taken literally (no insteadOf, pushurl or proxy applies), and it
  gets the Authorization header only when it is on the server the header is for (the
  header's own `http.<server>.extraheader` scope). A URL anywhere else gets no credential.

Results come back with plumbing that runs nothing: fetched packs and objects are copied into
the workspace's object store, refs are written with `git update-ref --stdin`, and the few
workspace commands (`update-ref`, `for-each-ref`, `notes merge`) run with `--git-dir`, the
same settings and no credential in their environment.

Why the configured URL, checked, rather than one built from the event (server + repository):
the event is not there for every credentialed command (`mlci promote`, the registry), a
clone's origin need not be spelled like the event's repository (GHES, `.git` suffixes, a
test's loopback origin), and what the token must never reach is a server other than its own,
which the scope check settles whatever the URL says. PR code that rewrites `remote.origin.url`
can therefore make a push fail or go to another repository on the same server (which the
token cannot write), not take the token. The publishing job, in the split design, reads a
config no PR code has touched (actions/checkout resets a changed origin URL on reuse).

Without a credential from mlci (a developer's `mlci record push`, `mlci promote` outside
Actions) nothing changes: git runs in the workspace with the user's own setup, which is what
holds their keys, helpers and URL rewrites.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mlci.errors import GitCommandError, GitError
from mlci.redact import is_secret_name

# Settings every credentialed process gets as command-line config: above every config file.
_HARDENING: tuple[tuple[str, str], ...] = (
    ("core.hooksPath", os.devnull),
    ("core.fsmonitor", "false"),
    ("credential.helper", ""),  # an empty value clears the helper list
    ("core.askPass", ""),
    ("protocol.ext.allow", "never"),
    ("core.alternateRefsCommand", "true"),  # the workspace's refs are seeded instead (no git run there)
    ("tag.gpgSign", "false"),  # `gpg.program` is a command the workspace's config could name
    ("commit.gpgSign", "false"),
)
# Written into the scratch repository's own config.
_SCRATCH_CONFIG = f"""\
[core]
\thooksPath = {os.devnull}
\tfsmonitor = false
\talternateRefsCommand = true
[gc]
\tauto = 0
[maintenance]
\tauto = false
[fetch]
\tunpackLimit = 1
\twriteCommitGraph = false
[transfer]
\tunpackLimit = 1
[credential]
\thelper =
"""
_IDENTITY = {
    "GIT_AUTHOR_NAME": "mlci",
    "GIT_AUTHOR_EMAIL": "mlci@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "mlci",
    "GIT_COMMITTER_EMAIL": "mlci@users.noreply.github.com",
}
_HEADER_KEY = re.compile(r"^http\.(?:(?P<scope>.+)\.)?extraheader$", re.IGNORECASE)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Credential:
    """An Authorization header git is told to send, and the server it is for (None: any)."""

    scope: str | None
    header: str

    def covers(self, url: str) -> bool:
        """Whether git would send this header to `url`: same scheme, host and port, path below."""
        target = urlsplit(url)
        if target.scheme.lower() not in _DEFAULT_PORTS or not target.hostname:
            return False
        if self.scope is None:
            return True
        scope = urlsplit(self.scope)
        try:
            ports = (
                (scope.port or _DEFAULT_PORTS.get(scope.scheme.lower())),
                (target.port or _DEFAULT_PORTS[target.scheme.lower()]),
            )
        except ValueError:  # a port that is not a number
            return False
        prefix = scope.path.rstrip("/") + "/"
        return (
            scope.scheme.lower() == target.scheme.lower()
            and (scope.hostname or "") == target.hostname
            and ports[0] == ports[1]
            and (target.path.rstrip("/") + "/").startswith(prefix)
        )


def credentials_in(environ: Mapping[str, str]) -> tuple[Credential, ...]:
    """The Authorization headers that `environ`'s GIT_CONFIG_<n> entries give git."""
    try:
        count = int(environ.get("GIT_CONFIG_COUNT", "0") or 0)
    except ValueError:
        return ()
    found = []
    for i in range(count):
        key, value = environ.get(f"GIT_CONFIG_KEY_{i}", ""), environ.get(f"GIT_CONFIG_VALUE_{i}", "")
        match = _HEADER_KEY.match(key)
        if match and value.strip().lower().startswith("authorization:"):
            found.append(Credential(match["scope"], value))
    return tuple(found)


def _config_entries(entries: list[tuple[str, str]]) -> dict[str, str]:
    env = {"GIT_CONFIG_COUNT": str(len(entries))}
    for i, (key, value) in enumerate(entries):
        env[f"GIT_CONFIG_KEY_{i}"], env[f"GIT_CONFIG_VALUE_{i}"] = key, value
    return env


def hardened_env(credentials: tuple[Credential, ...] = (), *, home: Path | None = None) -> dict[str, str]:
    """An environment for git with no user/system config, hooks off, and only `credentials`.

    Every `GIT_*` variable and every `*TOKEN*` one is dropped (a hostile `GIT_SSH_COMMAND`,
    `GIT_CONFIG_PARAMETERS`, `GIT_DIR` or `GIT_TRACE_CURL` would undo the rest); the committer
    is mlci unless the caller's environment names one.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") and not is_secret_name(key) and key not in ("SSH_ASKPASS", "XDG_CONFIG_HOME")
    }
    env.update({key: os.environ.get(key) or default for key, default in _IDENTITY.items()})
    entries = list(_HARDENING) + [
        (f"http.{c.scope}.extraheader" if c.scope else "http.extraheader", c.header) for c in credentials
    ]
    env.update(_config_entries(entries))
    env.update(
        {
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",  # callers read git's English messages ("rejected", "couldn't find remote ref")
            "LANGUAGE": "C",
        }
    )
    if home is not None:
        env["HOME"] = str(home)  # no ~/.netrc or other dotfile reaches the credentialed process
    return env


def _run(argv: list[str], env: dict[str, str], cwd: str | None = None, stdin: bytes | None = None) -> str:
    done = subprocess.run(["git", *argv], env=env, cwd=cwd, input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        raise GitCommandError(tuple(argv), done.stderr.decode(errors="replace"))
    return done.stdout.decode(errors="replace").strip()


def _common_dir(path: Path) -> Path:
    """The workspace's shared git dir, found without letting its config run anything."""
    env = {**hardened_env(), **_config_entries([*_HARDENING, ("safe.directory", str(path.resolve()))])}
    return Path(_run(["-C", str(path), "rev-parse", "--path-format=absolute", "--git-common-dir"], env))


def configured_url(common_dir: Path, name: str) -> str | None:
    """`remote.<name>.url` exactly as the config file says it (no includes, no insteadOf)."""
    try:
        urls = _run(["config", "--file", str(common_dir / "config"), "--get-all", f"remote.{name}.url"], hardened_env())
    except GitCommandError:
        return None
    return urls.splitlines()[0] if urls else None


class Session:
    """Where one remote operation's git commands run; see the module docstring.

    `git()` runs in the work repository (the scratch one when hardened), `remote` is what to
    name the remote on its command lines; `land()` and `sync()` move refs between the work
    repository and the workspace; `workspace()` runs plumbing in the workspace itself.
    """

    def __init__(self, root: Path, remote: str, environ: Mapping[str, str]):
        self.root = root
        self.remote = remote
        self.hardened = False
        self._env = dict(environ)
        self._git_dir: Path | None = None

    def git(self, *args: str, stdin: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
        argv = [f"--git-dir={self._git_dir}", *args] if self._git_dir else list(args)
        return _run(argv, {**self._env, **(env or {})}, cwd=str(self.root), stdin=stdin)  # relative URLs as in git

    def workspace(self, *args: str, stdin: bytes | None = None) -> str:
        return self.git(*args, stdin=stdin)

    def land(self, *patterns: str) -> None:
        """Bring refs matching `patterns` (for-each-ref patterns), and their objects, into the workspace."""

    def sync(self, *refs: str) -> None:
        """Set the work repository's `refs` to the workspace's current values."""


class _Hardened(Session):
    def __init__(self, root: Path, common_dir: Path, url: str, credentials: tuple[Credential, ...], scratch: Path):
        super().__init__(root, url, {})
        self.hardened = True
        self._workspace_dir = common_dir
        self._scratch = scratch
        self._repo: Path = scratch / "repo.git"
        self._git_dir = self._repo
        self._env = hardened_env(credentials, home=scratch / "home" if credentials else None)
        self._local_env = hardened_env()  # workspace plumbing: never a credential
        (scratch / "home").mkdir()
        _run(["init", "--quiet", "--bare", "--template=", str(self._repo)], self._local_env)
        with open(self._repo / "config", "a", encoding="utf-8") as handle:
            handle.write(_SCRATCH_CONFIG)
        info = self._repo / "objects" / "info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "alternates").write_text(str(self._workspace_objects) + "\n", encoding="utf-8")
        seeded = self._refs(self.workspace, "refs/")
        (self._repo / "packed-refs").write_text(
            "".join(f"{sha} {ref}\n" for ref, sha in sorted(seeded.items())), encoding="utf-8"
        )

    @property
    def _workspace_objects(self) -> Path:
        return self._workspace_dir / "objects"

    def workspace(self, *args: str, stdin: bytes | None = None) -> str:
        return _run([f"--git-dir={self._workspace_dir}", *args], self._local_env, stdin=stdin)

    @staticmethod
    def _refs(run, *patterns: str) -> dict[str, str]:
        out = run("for-each-ref", "--format=%(objectname) %(refname)", *patterns)
        return {ref: sha for sha, _, ref in (line.partition(" ") for line in out.splitlines()) if ref}

    def _scratch_refs(self, *patterns: str) -> dict[str, str]:
        return self._refs(self.git, *patterns)

    def land(self, *patterns: str) -> None:
        try:
            self._land(*patterns)
        except (GitCommandError, OSError) as exc:
            raise GitError(f"cannot bring fetched refs into the clone: {getattr(exc, 'stderr', exc)}") from None

    def _land(self, *patterns: str) -> None:
        theirs = self._scratch_refs(*patterns)
        ours = self._refs(self.workspace, *patterns)
        changed = {ref: sha for ref, sha in theirs.items() if ours.get(ref) != sha}
        if not changed:
            return
        self._copy_objects()
        self.workspace(
            "update-ref", "--stdin", stdin="".join(f"update {ref} {sha}\n" for ref, sha in changed.items()).encode()
        )

    def sync(self, *refs: str) -> None:
        ours = self._refs(self.workspace, *refs)
        lines = [f"update {ref} {ours[ref]}\n" if ref in ours else f"delete {ref}\n" for ref in refs]
        self.git("update-ref", "--stdin", stdin="".join(lines).encode())

    def _copy_objects(self) -> None:
        """The scratch repository's own objects (fetched packs, loose objects) into the workspace's
        store, each file written beside its target then renamed (a pack before its index)."""
        source = self._repo / "objects"
        order = {".pack": 0, ".rev": 1, ".idx": 2}
        packs = sorted((source / "pack").glob("pack-*.*"), key=lambda p: (p.stem, order.get(p.suffix, 3)))
        for path in packs:
            if path.suffix in order:
                _place(path, self._workspace_objects / "pack" / path.name)
        for directory in source.glob("[0-9a-f][0-9a-f]"):
            for path in directory.iterdir():
                _place(path, self._workspace_objects / directory.name / path.name)


def _place(source: Path, target: Path) -> None:
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".mlci-tmp-")
    os.close(fd)
    try:
        shutil.copyfile(source, tmp)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def local(
    root: Path | str,
    args: tuple[str, ...] | list[str],
    environ: Mapping[str, str],
    *,
    common_dir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Run `git ARGS` on the workspace's refs and objects (a tag, a ref update) for a command that
    holds a credential: hardened like a Session's workspace plumbing (hooks, user/system config
    and signing off, no credential in its environment); without one, plainly in the workspace.
    `env`: variables mlci itself sets for this one command (a tag's date), applied last."""
    root = Path(root)
    extra = dict(env or {})
    if not credentials_in(environ):
        return _run(list(args), {**environ, "LC_ALL": "C", "LANGUAGE": "C", **extra}, cwd=str(root))
    return plumbing(root, args, common_dir=common_dir, env=extra)


def plumbing(
    root: Path | str,
    args: tuple[str, ...] | list[str],
    *,
    stdin: bytes | None = None,
    common_dir: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """`git ARGS` on the workspace's git dir, always hardened (hooks, user/system config and
    signing off, no credential): for writes a workspace the PR's code prepared must not turn
    into running its code, such as notes imported from a records file."""
    git_dir = Path(common_dir).resolve() if common_dir else _common_dir(Path(root))
    return _run([f"--git-dir={git_dir}", *args], {**hardened_env(), **(env or {})}, stdin=stdin)


@contextmanager
def session(
    root: Path | str, name: str, environ: Mapping[str, str], *, common_dir: str | os.PathLike[str] | None = None
) -> Iterator[Session]:
    """A Session for remote `name` of the repository at `root` (its shared git dir `common_dir`).

    `environ` is the environment the caller's git would have run with; when it carries an
    Authorization header, the session is hardened (scratch repository, explicit URL), else
    git runs in the workspace exactly as before.
    """
    root = Path(root)
    credentials = credentials_in(environ)
    if not credentials:
        yield Session(root, name, {**environ, "LC_ALL": "C", "LANGUAGE": "C"})
        return
    common_dir = Path(common_dir).resolve() if common_dir else _common_dir(root)
    url = configured_url(common_dir, name)
    if url is None:
        raise GitError(f"no remote named '{name}'; add one (git remote add {name} URL) or pass --remote")
    scratch = Path(tempfile.mkdtemp(prefix="mlci-git-"))
    try:
        try:
            hardened = _Hardened(root, common_dir, url, tuple(c for c in credentials if c.covers(url)), scratch)
        except GitCommandError as exc:
            raise GitError(f"cannot prepare mlci's scratch git repository: {exc.stderr.strip()}") from None
        yield hardened
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
