"""The default registry: GTO-compatible git tags, model bytes in the DVC remote.

Tags are exactly GTO's, with GTO's messages, so `gto show` / `gto history` read what mlci
writes and mlci reads what `gto` wrote:

- `churn@v1.2.0` registers a version at a commit; `churn@v1.2.0!` deregisters it;
- `churn#prod#7` assigns a stage, `churn#prod!#8` unassigns it (the counter is per artifact);
- `churn@deprecated` deprecates the whole artifact (until a newer event revives it).

mlci appends one line of JSON metadata (`mlci-metadata: {...}`: digests, DVC object id, run
record, metrics, approval) and the model card to the registration message, which GTO keeps.

GTO orders an artifact's events by their tag's time, to the second, and decides from that
order which version holds a stage. So mlci never writes two events of one artifact in the
same second: before each tag it waits for the clock to pass the artifact's newest tag, and
dates the tag with that second; `gto show` and `mlci registry list` then always agree.

All-or-nothing: bytes are uploaded and verified first, then the tags of one operation are
created together and pushed with `git push --atomic` to `registry.git_remote`; a rejected
push deletes the local tags. Tag creation is the lock: a name someone else took (locally or
on the remote) makes us fetch, renumber and retry.

Recoverable, and reads never write: the registry is what the remote holds. Before creating
tags, their names go into a journal in the git dir; it is cleared once the remote has them (or
they were rolled back). A process killed in between leaves the journal; reads (`versions`,
`history`) then leave those tags out and `pending()` names them, and `recover()` (`mlci
registry recover`) or the next write finishes the job: local-only tags of a complete set are
pushed, a partial or refused set is deleted. Same-bytes promotions from several clones
converge on one version: the loser of the race assigns its stage to the winner's version.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlci import faults
from mlci.errors import GitCommandError, GitError, RegistryError, RemoteError
from mlci.integrations.registry import dvc_storage
from mlci.integrations.registry.artifacts import declarations
from mlci.integrations.registry.base import Candidate, Event, ModelVersion, Pulled, Recovery, Registered, pick
from mlci.model import refs
from mlci.store import atomicio, dvcfile, gitrepo, gitsafe

METADATA_PREFIX = "mlci-metadata: "
_ATTEMPTS = 8
_TAG_RE = re.compile(
    rf"^(?P<name>{refs.NAME})(?:(?:#(?P<stage>{refs.NAME})|@(?P<version>v{refs.SEMVER}))(?P<cancel>!?)"
    rf"|@(?P<deprecated>deprecated))(?:#(?P<counter>[0-9]+))?$"
)


@dataclass(frozen=True)
class _Tag:
    tag: str
    name: str
    commit: str
    when: int  # the tagger date, unix seconds: GTO's order of events
    created_at: str
    message: str
    version: str | None = None
    stage: str | None = None
    cancel: bool = False
    deprecated: bool = False
    counter: int = 0
    author: str = ""
    annotated: bool = True  # GTO ignores lightweight tags (but counts their numbers)

    @property
    def event(self) -> str:
        if self.deprecated:
            return "deprecation"
        if self.version:
            return "deregistration" if self.cancel else "registration"
        return "unassignment" if self.cancel else "assignment"


# GTO's `priority` of each event: its tie-breaker within one second (gto.base)
_PRIORITY = {"deprecation": 2, "registration": 3, "deregistration": 4, "assignment": 5, "unassignment": 6}
_MAX_CLOCK_LEAD = 5  # seconds a tag may be dated ahead of this clock before we refuse to wait for it


def _order(t: _Tag) -> tuple[int, int, int]:
    """GTO's order of events: the tag's second; the counter and GTO's priority only break ties."""
    return (t.when, t.counter, _PRIORITY[t.event])


def register_message(name: str, version: str, metadata: dict[str, Any] | None = None, card: str = "") -> str:
    """GTO's own message, plus our metadata line when we have some, then the model card."""
    text = f"Registering artifact {name} version {version}"
    if metadata:
        text += "\n\n" + METADATA_PREFIX + json.dumps(metadata, sort_keys=True, separators=(",", ":"))
    if card:
        text += "\n\n" + card.rstrip("\n")
    return text


def assign_message(name: str, stage: str, version: str) -> str:
    return f"Assigning stage {stage} to artifact {name} version {version}"


def unassign_message(name: str, stage: str, version: str) -> str:
    return f"Unassigning stage '{stage}' to artifact '{name}' version '{version}'"  # sic: GTO's words


def deregister_message(name: str, version: str) -> str:
    return f"Deregistering artifact {name} version {version}"


def deprecate_message(name: str) -> str:
    return f"Deprecating artifact '{name}'"


_CREDENTIALS: ContextVar[tuple[str, str] | None] = ContextVar("mlci_registry_credentials", default=None)


@contextmanager
def credentials(token: str | None, server_url: str = "https://github.com"):
    """Registry git calls inside this block authenticate with `token`.

    Why: `mlci ci` removes GITHUB_TOKEN from os.environ (so pipeline code never sees it) and
    holds it itself; the tag push must use that token, not whatever the environment has left.
    """
    handle = _CREDENTIALS.set((token, server_url) if token else None)
    try:
        yield
    finally:
        _CREDENTIALS.reset(handle)


def git_auth_env() -> dict[str, str]:
    """Let git fetch/push tags with the token given to `credentials()`, else GITHUB_TOKEN in Actions."""
    import os

    from mlci.integrations.github.gitauth import auth_env

    given = _CREDENTIALS.get()
    if given is not None:
        return auth_env(given[0], given[1])
    if os.environ.get("GITHUB_ACTIONS") != "true" or not os.environ.get("GITHUB_TOKEN"):
        return {}
    return auth_env(os.environ["GITHUB_TOKEN"], os.environ.get("GITHUB_SERVER_URL", "https://github.com"))


def _card(message: str) -> str:
    """The model card: what follows our metadata line in a registration message."""
    lines = message.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(METADATA_PREFIX):
            return "\n".join(lines[index + 1 :]).strip("\n") + "\n" if any(lines[index + 1 :]) else ""
    return ""


def _metadata(message: str) -> dict[str, Any]:
    for line in message.splitlines():
        if line.startswith(METADATA_PREFIX):
            try:
                data = json.loads(line[len(METADATA_PREFIX) :])
            except json.JSONDecodeError:
                return {}
            return data if isinstance(data, dict) else {}
    return {}


class GitTagsBackend:
    kind = "gto"

    def __init__(self, root: Path, *, dvc_remote: str | None = None, git_remote: str = "origin"):
        self.repo = gitrepo.open_repo(root)
        self.root = gitrepo.root(self.repo)
        self.dvc_remote = dvc_remote
        self.git_remote = git_remote

    def parse(self, text: str) -> refs.ModelRef:
        return refs.parse(text, backend=self.kind)

    # --- reading (never writes) ------------------------------------------------------------
    def _has_remote(self) -> bool:
        return self.git_remote in [r.name for r in self.repo.remotes]

    def _tags(self) -> list[_Tag]:
        fmt = (
            "%(refname:strip=2)%00%(objecttype)%00%(*objectname)%00%(taggerdate:unix)%00%(taggerdate:iso-strict)"
            "%00%(taggername)%00%(contents)%1e"
        )
        out = self.repo.git.for_each_ref("refs/tags", f"--format={fmt}", strip_newline_in_stdout=False)
        tags = []
        for entry in out.split("\x1e"):
            entry = entry.lstrip("\n")
            if not entry:
                continue
            tag, kind, target, unix, when, author, message = (entry.split("\0") + [""] * 7)[:7]
            match = _TAG_RE.match(tag)
            if not match:
                continue
            tags.append(
                _Tag(
                    tag=tag,
                    name=match["name"],
                    commit=target,
                    when=int(unix) if unix.isdigit() else 0,
                    created_at=when,
                    message=message.strip(),
                    version=match["version"],
                    stage=match["stage"],
                    cancel=match["cancel"] == "!",
                    deprecated=bool(match["deprecated"]),
                    counter=int(match["counter"] or 0),
                    author=author,
                    annotated=kind == "tag",
                )
            )
        return tags

    def _visible(self, tags: list[_Tag] | None = None) -> list[_Tag]:
        """The events reads see: annotated tags, less those of an interrupted write (not settled yet)."""
        hidden = set(self.pending())
        return [t for t in (self._tags() if tags is None else tags) if t.annotated and t.tag not in hidden]

    @staticmethod
    def _deprecated(events: list[_Tag]) -> bool:
        """GTO: an artifact is inactive while its newest event is a deprecation."""
        return bool(events) and max(events, key=_order).deprecated

    def _state(self, tags: list[_Tag], *, deprecated: bool = False) -> dict[str, list[ModelVersion]]:
        """name -> active versions (oldest first) with the stages they hold, by GTO's rules
        (gto.base): a version is active while its newest registration event is a registration;
        a stage is active on a version while the newest assignment event of that version (its
        commit) and stage is an assignment; of the active ones, the latest assignment holds it.
        Deprecated artifacts are left out unless `deprecated`."""
        by_name: dict[str, list[_Tag]] = {}
        for t in tags:
            if t.annotated:
                by_name.setdefault(t.name, []).append(t)
        state: dict[str, list[ModelVersion]] = {}
        for name, events in by_name.items():
            events.sort(key=_order)
            if self._deprecated(events) and not deprecated:
                continue
            newest: dict[str, _Tag] = {}
            for t in events:
                if t.version:
                    newest[t.version] = t
            active = {
                v: next(e for e in events if e.version == v and not e.cancel)
                for v, last in newest.items()
                if not last.cancel
            }
            holder: dict[str, tuple[tuple[int, int, int], str]] = {}
            for version, registration in active.items():
                last_by_stage: dict[str, _Tag] = {}
                for t in events:
                    if t.stage and t.commit == registration.commit:
                        last_by_stage[t.stage] = t
                for stage, last in last_by_stage.items():
                    if last.cancel:
                        continue
                    assigned = max(
                        (e for e in events if e.stage == stage and e.commit == registration.commit and not e.cancel),
                        key=_order,
                    )
                    if stage not in holder or _order(assigned) > holder[stage][0]:
                        holder[stage] = (_order(assigned), version)
            stages: dict[str, list[str]] = {}
            for stage, (_key, version) in holder.items():
                stages.setdefault(version, []).append(stage)
            versions = []
            for version, t in active.items():
                meta = _metadata(t.message)
                versions.append(
                    ModelVersion(
                        name=name,
                        version=version,
                        commit=t.commit,
                        sha256=meta.get("sha256"),
                        size=meta.get("size"),
                        path=meta.get("path", ""),
                        stages=tuple(sorted(stages.get(version, []))),
                        created_at=t.created_at,
                        backend=self.kind,
                        metadata=meta,
                        card=_card(t.message),
                    )
                )
            state[name] = sorted(versions, key=lambda v: refs.semver_key(v.version))
        return state

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        state = self._state(self._visible())
        if name is not None:
            return state.get(name, [])
        return [v for n in sorted(state) for v in state[n]]

    def local_versions(self) -> list[ModelVersion]:
        """What the local tags say, with no network (read-only views: `mlci history --html`)."""
        return self.versions()

    def resolve(self, ref: refs.ModelRef) -> ModelVersion:
        found = self.versions(ref.name)
        if not found and self._deprecated([t for t in self._visible() if t.name == ref.name]):
            raise RegistryError(
                f"'{ref.name}' is deprecated ({ref.name}@deprecated); registering a new version revives it"
            )
        return pick(found, ref)

    def history(self, name: str | None = None) -> list[Event]:
        """Every event, newest first, as `gto history` lists them (a stage event names the
        version registered at its commit, or the commit when none is)."""
        tags = self._visible()
        at_commit = {(t.name, t.commit): str(t.version) for t in tags if t.version and not t.cancel}
        events = [
            Event(
                timestamp=t.created_at,
                artifact=t.name,
                event=t.event,
                version=t.version or (None if t.deprecated else at_commit.get((t.name, t.commit), t.commit)),
                stage=t.stage,
                commit=t.commit,
                author=t.author,
                ref=t.tag,
            )
            for t in sorted(tags, key=lambda t: (t.when, _PRIORITY[t.event], t.counter), reverse=True)
        ]
        return [e for e in events if name is None or e.artifact == name]

    # --- the journal: an interrupted write is finished or undone, never half visible -------
    @property
    def _journal(self) -> Path:
        return Path(self.repo.common_dir) / "mlci-registry-pending.json"

    def _journalled(self) -> list[str] | None:
        """The tag names of an interrupted write; None when the journal is unreadable."""
        try:
            wanted = json.loads(self._journal.read_text(encoding="utf-8"))["tags"]
        except FileNotFoundError:
            return []
        except (ValueError, KeyError, TypeError, OSError):
            return None
        if not isinstance(wanted, list) or not all(isinstance(t, str) and _TAG_RE.match(t) for t in wanted):
            return None
        return wanted

    def pending(self) -> list[str]:
        return self._local_tags(self._journalled() or [])

    @contextmanager
    def _lock(self):
        """One registry write at a time per clone (the journal is per clone); freed on kill."""
        import fcntl

        with open(Path(self.repo.common_dir) / "mlci-registry.lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _local_tags(self, tags: list[str]) -> list[str]:
        out = self.repo.git.tag("--list", *tags) if tags else ""
        return [t for t in tags if t in set(out.split())]

    def recover(self) -> Recovery:
        with self._lock():
            return self._recover()

    def _recover(self) -> Recovery:
        """Finish (push) or undo (delete) the tags of an interrupted write in this clone."""
        if not self._journal.exists():
            return Recovery()
        wanted = self._journalled()
        if wanted is None:
            self._journal.unlink()  # unreadable: it named nothing we could act on
            return Recovery()
        local = self._local_tags(wanted)
        finished: list[str] = []
        undone: list[str] = []
        if not self._has_remote():
            if len(local) != len(wanted):
                self._delete_local(local)  # killed between two `git tag`s: undo the half
                undone = local
            else:
                finished = local
        elif local:
            try:
                on_remote = self._remote_tags(local)
            except GitCommandError as exc:
                raise RemoteError(f"recover: cannot list tags on {self.git_remote}: {exc.stderr.strip()}") from exc
            todo = [t for t in local if t not in on_remote]
            if todo and (len(local) != len(wanted) or not self._push(todo, "recover")):
                self._delete_local(todo)  # incomplete set, or the numbers were taken meanwhile
                undone = todo
            else:
                finished = todo
        self._journal.unlink()
        return Recovery(finished=tuple(finished), undone=tuple(undone))

    # --- git plumbing -------------------------------------------------------------------------
    def _remote(self):
        """Where tag fetches and pushes run: mlci's scratch repository when they carry the token
        (hooks and user config off, see mlci.store.gitsafe), else the clone with the user's setup."""
        import os

        environ = {**os.environ, **git_auth_env()}
        return gitsafe.session(self.root, self.git_remote, environ, common_dir=self.repo.common_dir)

    def _remote_tags(self, tags: list[str]) -> set[str]:
        with self._remote() as session:
            out = session.git("ls-remote", "--tags", session.remote, *[f"refs/tags/{t}" for t in tags])
        return {line.split("refs/tags/", 1)[1].removesuffix("^{}") for line in out.splitlines() if "refs/tags/" in line}

    def fetch_tags(self) -> None:
        """Bring the remote's registry tags in (the remote is the truth for taken numbers)."""
        if not self._has_remote():
            return
        try:
            with self._remote() as session:
                session.git("fetch", "--quiet", session.remote, "+refs/tags/*:refs/tags/*")
                session.land("refs/tags/")
        except GitCommandError as exc:
            raise RemoteError(f"cannot fetch tags from {self.git_remote}: {exc.stderr.strip()}") from exc

    def _local_git(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Tag writes in this clone: with the token about (Actions, `credentials()`), no hook, user
        config or signing program runs; see mlci.store.gitsafe.local."""
        import os

        environ = {**os.environ, **git_auth_env()}
        return gitsafe.local(self.root, args, environ, common_dir=self.repo.common_dir, env=env)

    def _create_local(self, tag: str, commit: str, message: str, when: int) -> bool:
        """`git tag -a`, dated `when`; False when the name is taken (another write won the race)."""
        date = f"{when} {time.strftime('%z', time.localtime(when))}"
        try:
            self._local_git(
                "tag", "-a", "--cleanup=whitespace", tag, commit, "-m", message, env={"GIT_COMMITTER_DATE": date}
            )  # --cleanup=whitespace keeps the card's "## " lines
            return True
        except GitCommandError as exc:
            if "already exists" in exc.stderr:
                return False
            raise GitError(f"cannot create tag {tag}: {exc.stderr.strip()}") from exc

    def _delete_local(self, tags: list[str]) -> None:
        for tag in tags:
            try:
                self._local_git("tag", "-d", tag)
            except GitCommandError:
                pass

    def _push(self, tags: list[str], operation: str) -> bool:
        """Push atomically; False when the remote already has one of the names (retry), raise otherwise."""
        refspecs = [f"refs/tags/{t}:refs/tags/{t}" for t in tags]
        try:
            with self._remote() as session:
                session.sync(*[f"refs/tags/{t}" for t in tags])
                session.git("push", "--atomic", "--quiet", session.remote, *refspecs)
            return True
        except GitCommandError as exc:
            self._delete_local(tags)
            try:
                taken = bool(self._remote_tags(tags))
            except GitCommandError:
                taken = False
            if taken:
                return False
            lines = [line.strip() for line in exc.stderr.strip().splitlines() if line.strip()]
            raise RemoteError(
                f"{operation}: {self.git_remote} rejected the registry tags {', '.join(tags)}; "
                "nothing changed in the registry",
                details="\n".join(lines[-6:]),
            ) from exc

    @staticmethod
    def _counter(tags: list[_Tag], name: str) -> int:
        """GTO's next counter for `name`: one above every numbered tag of the artifact, lightweight ones too."""
        return max((t.counter for t in tags if t.name == name), default=0) + 1

    @staticmethod
    def _second_after(tags: list[_Tag], name: str) -> int:
        """The first second after `name`'s newest tag that this clock has reached: wait for it."""
        newest = max((t.when for t in tags if t.name == name), default=0)
        now = time.time()
        if newest - now > _MAX_CLOCK_LEAD:
            latest = max((t for t in tags if t.name == name), key=lambda t: t.when)
            raise RegistryError(
                f"registry tag {latest.tag} is dated {latest.created_at}, {newest - now:.0f}s ahead of this machine's "
                "clock; GTO orders events by tag time, so fix the clock (NTP) and retry"
            )
        if now < newest + 1:
            time.sleep(newest + 1 - now)
        return max(newest + 1, int(time.time()))

    # --- writing -------------------------------------------------------------------------------
    def refresh(self) -> None:
        with self._lock():
            self.fetch_tags()
            self._recover()

    def publish(
        self,
        plan: Callable[[list[_Tag]], list[tuple[str, str, str]]],
        operation: str = "registry write",
        on_step: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Create and push the tags `plan(current tags)` asks for, renumbering on conflicts.

        Each tag is dated a second after its artifact's newest tag (waiting for the clock), so
        GTO, which orders events by tag time, reads them in the order they were written."""

        def step(name: str) -> None:
            if on_step:
                on_step(name)
            faults.checkpoint(name)

        with self._lock():
            self.fetch_tags()
            self._recover()
            for _attempt in range(_ATTEMPTS):
                current = self._tags()
                wanted = plan(current)
                step("numbered")
                if not wanted:
                    return []
                atomicio.write_text(self._journal, json.dumps({"tags": [t for t, _c, _m in wanted]}))
                created: list[str] = []
                for tag, commit, message in wanted:
                    name = _TAG_RE.match(tag)["name"]  # type: ignore[index]
                    when = self._second_after(current, name)
                    if not self._create_local(tag, commit, message, when):
                        break
                    created.append(tag)
                    current.append(_Tag(tag=tag, name=name, commit=commit, when=when, created_at="", message=""))
                    if len(created) < len(wanted):
                        step("tag-created")
                if len(created) != len(wanted):
                    self._delete_local(created)
                    self._journal.unlink()
                    self.fetch_tags()
                    continue
                step("tags-created")
                try:
                    pushed = not self._has_remote() or self._push(created, operation)
                finally:
                    if not self._local_tags(created) or not self._has_remote():
                        self._journal.unlink()  # rolled back by _push, or nothing to push to
                if pushed:
                    step("pushed")
                    if self._journal.exists():
                        self._journal.unlink()
                    return created
                self.fetch_tags()
        raise RegistryError(
            f"{operation}: registry tags kept being taken by concurrent writes ({_ATTEMPTS} attempts); retry"
        )

    def register(
        self,
        candidate: Candidate,
        *,
        version: str | None,
        bump: str | None,
        stage: str | None,
        on_step: Callable[[str], None] | None = None,
    ) -> Registered:
        step = on_step or (lambda _s: None)
        digests = dvc_storage.Digests(candidate.sha256, candidate.md5 or "", candidate.size)
        if not candidate.md5:
            digests = dvc_storage.file_digests(candidate.file)
        url = dvc_storage.upload(self.root, candidate.file, digests, self.dvc_remote)
        step("uploaded")
        faults.checkpoint("uploaded")
        metadata = {
            **candidate.metadata,
            "sha256": candidate.sha256,
            "size": candidate.size,
            "md5": digests.md5,
            "path": candidate.path,
            "storage": url,
        }
        name = candidate.name
        outcome: dict[str, Any] = {}

        def plan(tags: list[_Tag]) -> list[tuple[str, str, str]]:
            live = self._state(tags, deprecated=True).get(name, [])
            at_commit = [v for v in live if v.commit == candidate.commit]
            if at_commit and at_commit[0].sha256 == candidate.sha256:
                if self._deprecated([t for t in tags if t.name == name and t.annotated]):
                    raise RegistryError(
                        f"these bytes are {name}@{at_commit[0].version}, and '{name}' is deprecated; "
                        "commit the model anew to register a version that revives it"
                    )
                # another clone registered these very bytes first: converge on its version
                outcome["version"], outcome["created"] = at_commit[0].version, False
                if stage and stage not in at_commit[0].stages:
                    return [
                        (
                            f"{name}#{stage}#{self._counter(tags, name)}",
                            candidate.commit,
                            assign_message(name, stage, at_commit[0].version),
                        )
                    ]
                return []
            if at_commit:  # GTO allows one version per commit
                raise RegistryError(
                    f"commit {candidate.commit[:12]} already has {name}@{at_commit[0].version} with another digest; "
                    "commit the new model before promoting it"
                )
            retired = [t.version for t in tags if t.name == name and t.version and t.commit == candidate.commit]
            if retired:
                raise RegistryError(
                    f"commit {candidate.commit[:12]} had {name}@{retired[0]}, deregistered; GTO allows one version per "
                    "commit, so commit the model anew to register it again"
                )
            taken = {t.version for t in tags if t.name == name and t.version}
            chosen = version
            if chosen is None:
                latest = max((v for v in taken), key=refs.semver_key, default=None)
                chosen = refs.bump(latest, bump or "patch")
            elif chosen in taken:
                raise RegistryError(f"{name}@{chosen} already exists; pass another --version or --bump instead")
            outcome["version"], outcome["created"] = chosen, True
            card = candidate.card(chosen) if candidate.card else ""
            wanted = [(f"{name}@{chosen}", candidate.commit, register_message(name, chosen, metadata, card))]
            if stage:
                wanted.append(
                    (
                        f"{name}#{stage}#{self._counter(tags, name)}",
                        candidate.commit,
                        assign_message(name, stage, chosen),
                    )
                )
            return wanted

        self.publish(plan, f"register {name}", on_step=step)
        registered = self.resolve(refs.ModelRef(name, version=outcome["version"]))
        return Registered(version=registered, created=outcome["created"])

    def _now(self, tags: list[_Tag], version: ModelVersion) -> ModelVersion:
        """`version` as `tags` say it is now; a RegistryError when it is no longer active."""
        found = next(
            (v for v in self._state(tags, deprecated=True).get(version.name, []) if v.version == version.version), None
        )
        if found is None:
            raise RegistryError(
                f"{version.name}@{version.version} is not registered; `mlci registry list` shows the versions"
            )
        return found

    def _stage_active(self, tags: list[_Tag], version: ModelVersion, stage: str) -> bool:
        """GTO: the stage stays on a version while its newest event there is an assignment."""
        events = [t for t in tags if t.annotated and t.name == version.name and t.stage == stage]
        events = [t for t in events if t.commit == version.commit]
        return bool(events) and not max(events, key=_order).cancel

    def assign(self, version: ModelVersion, stage: str, on_step: Callable[[str], None] | None = None) -> ModelVersion:
        def plan(tags: list[_Tag]) -> list[tuple[str, str, str]]:
            now = self._now(tags, version)
            if stage in now.stages:
                return []  # already holds it (another clone assigned it meanwhile)
            return [
                (
                    f"{version.name}#{stage}#{self._counter(tags, version.name)}",
                    version.commit,
                    assign_message(version.name, stage, version.version),
                )
            ]

        self.publish(plan, f"assign {version.name}#{stage}", on_step=on_step)
        return self.resolve(refs.ModelRef(version.name, version=version.version))

    def unassign(self, version: ModelVersion, stage: str) -> ModelVersion:
        def plan(tags: list[_Tag]) -> list[tuple[str, str, str]]:
            self._now(tags, version)
            if not self._stage_active(tags, version, stage):
                raise RegistryError(
                    f"{version.name}@{version.version} is not in stage '{stage}'; `mlci registry list` shows the stages"
                )
            return [
                (
                    f"{version.name}#{stage}!#{self._counter(tags, version.name)}",
                    version.commit,
                    unassign_message(version.name, stage, version.version),
                )
            ]

        self.publish(plan, f"unassign {version.name}#{stage}")
        return self.resolve(refs.ModelRef(version.name, version=version.version))

    def deregister(self, version: ModelVersion) -> None:
        def plan(tags: list[_Tag]) -> list[tuple[str, str, str]]:
            now = self._now(tags, version)
            return [(f"{now.name}@{now.version}!", now.commit, deregister_message(now.name, now.version))]

        self.publish(plan, f"deregister {version.name}@{version.version}")

    def deprecate(self, name: str) -> None:
        def plan(tags: list[_Tag]) -> list[tuple[str, str, str]]:
            events = sorted((t for t in tags if t.annotated and t.name == name), key=_order)
            if not events:
                raise RegistryError(f"no registry tags for '{name}'; nothing to deprecate")
            if events[-1].deprecated:
                raise RegistryError(f"'{name}' is deprecated already ({events[-1].tag})")
            simple = f"{name}@deprecated"
            tag = simple if all(t.tag != simple for t in tags) else f"{simple}#{self._counter(tags, name)}"
            return [(tag, events[-1].commit, deprecate_message(name))]  # on the newest event's commit, as GTO does

        self.publish(plan, f"deprecate {name}")

    # --- pulling -------------------------------------------------------------------------
    def _object_of(self, v: ModelVersion) -> tuple[str, str]:
        """(path, DVC md5) of a version: from our metadata, else from its commit's files (GTO-made)."""
        if v.metadata.get("md5") and v.path:
            return v.path, v.metadata["md5"]
        declared = declarations(lambda f: gitrepo.show(self.repo, v.commit, f)).get(v.name)
        if declared is None:
            raise RegistryError(
                f"pull: {v.name}@{v.version} has no mlci metadata and commit {v.commit[:12]} declares no artifact "
                f"'{v.name}' in dvc.yaml or artifacts.yaml; cannot tell which file it is"
            )
        _deps, outs = dvcfile.lock_hashes(
            self.root,
            dvcfile.locks(self.root, show=lambda p: gitrepo.show(self.repo, v.commit, p)),
            source=f"dvc.lock at {v.commit[:12]}",
        )
        md5 = outs.get(declared.path)
        if not md5:
            raise RegistryError(
                f"pull: {declared.path} is not a DVC output in dvc.lock at {v.commit[:12]}; "
                "only DVC-tracked models can be pulled"
            )
        return declared.path, md5

    def pull(self, ref: refs.ModelRef, directory: Path) -> Pulled:
        v = self.resolve(ref)
        path, md5 = self._object_of(v)
        target = directory / Path(path).name
        got = dvc_storage.download(self.root, md5, self.dvc_remote, target, sha256=v.sha256)
        return Pulled(version=v, file=target, sha256=got.sha256)
