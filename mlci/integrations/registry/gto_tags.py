"""The default registry: GTO-compatible git tags, model bytes in the DVC remote.

Tags are exactly GTO's: `churn@v1.2.0` registers a version at a commit, `churn#prod#7`
assigns a stage (the counter orders assignments), both annotated with GTO's messages, so
`gto show` reads what mlci writes and mlci reads what `gto` wrote. mlci appends one line of
JSON metadata (`mlci-metadata: {...}`: digests, DVC object id, run record, metrics,
approval) to the registration message, which GTO keeps verbatim.

All-or-nothing: bytes are uploaded and verified first, then the version and stage tags are
created together and pushed with `git push --atomic`; a rejected push deletes the local
tags. Tag creation is the lock: a name someone else took (locally or on origin) makes us
fetch, renumber and retry.

Recoverable: the registry is what origin holds. Before creating tags, their names go into a
journal in the git dir; it is cleared once origin has them (or they were rolled back). A
process killed anywhere in between leaves the journal, and the next `refresh` (every
promote, assign, list) finishes the job: local-only tags of a complete set are pushed, a
partial or refused set is deleted. Same-bytes promotions from several clones converge on
one version: the loser of the race assigns its stage to the winner's version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlci import faults
from mlci.errors import GitCommandError, GitError, RegistryError, RemoteError
from mlci.integrations.registry import dvc_storage
from mlci.integrations.registry.artifacts import declarations
from mlci.integrations.registry.base import Candidate, ModelVersion, Pulled, pick
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
    created_at: str
    message: str
    version: str | None = None
    stage: str | None = None
    cancel: bool = False
    deprecated: bool = False
    counter: int = 0


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

    # --- reading -------------------------------------------------------------------------
    def _has_origin(self) -> bool:
        return self.git_remote in [r.name for r in self.repo.remotes]

    def _tags(self) -> list[_Tag]:
        fmt = "%(refname:strip=2)%00%(objecttype)%00%(*objectname)%00%(taggerdate:iso-strict)%00%(contents)%1e"
        out = self.repo.git.for_each_ref("refs/tags", f"--format={fmt}", strip_newline_in_stdout=False)
        tags = []
        for entry in out.split("\x1e"):
            entry = entry.lstrip("\n")
            if not entry:
                continue
            tag, kind, target, when, message = (entry.split("\0") + [""] * 5)[:5]
            match = _TAG_RE.match(tag)
            if kind != "tag" or not match:  # GTO ignores lightweight tags too
                continue
            tags.append(
                _Tag(
                    tag=tag,
                    name=match["name"],
                    commit=target,
                    created_at=when,
                    message=message.strip(),
                    version=match["version"],
                    stage=match["stage"],
                    cancel=match["cancel"] == "!",
                    deprecated=bool(match["deprecated"]),
                    counter=int(match["counter"] or 0),
                )
            )
        return tags

    def _state(self, tags: list[_Tag] | None = None) -> dict[str, list[ModelVersion]]:
        """name -> active versions (oldest first), each with the stages it holds now."""
        tags = self._tags() if tags is None else tags
        deprecated = {t.name for t in tags if t.deprecated}
        deregistered = {(t.name, t.version) for t in tags if t.version and t.cancel}
        versions: dict[str, dict[str, ModelVersion]] = {}
        for t in tags:
            if t.version and not t.cancel and t.name not in deprecated and (t.name, t.version) not in deregistered:
                meta = _metadata(t.message)
                versions.setdefault(t.name, {})[t.version] = ModelVersion(
                    name=t.name,
                    version=t.version,
                    commit=t.commit,
                    sha256=meta.get("sha256"),
                    size=meta.get("size"),
                    path=meta.get("path", ""),
                    created_at=t.created_at,
                    backend=self.kind,
                    metadata=meta,
                    card=_card(t.message),
                )
        latest_event: dict[tuple[str, str], _Tag] = {}
        for t in sorted((t for t in tags if t.stage), key=lambda t: (t.counter, t.created_at)):
            latest_event[(t.name, str(t.stage))] = t
        stages: dict[tuple[str, str], list[str]] = {}
        for (name, stage), event in latest_event.items():
            if event.cancel:
                continue
            holders = [v for v in versions.get(name, {}).values() if v.commit == event.commit]
            if holders:
                key = (name, max(holders, key=lambda v: refs.semver_key(v.version)).version)
                stages.setdefault(key, []).append(stage)
        return {
            name: sorted(
                (replace(v, stages=tuple(sorted(stages.get((name, v.version), [])))) for v in by_version.values()),
                key=lambda v: refs.semver_key(v.version),
            )
            for name, by_version in versions.items()
        }

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        if self._journal.exists():  # an interrupted promotion: finish or undo it before answering
            with self._lock():
                self._recover()
        state = self._state()
        if name is not None:
            return state.get(name, [])
        return [v for n in sorted(state) for v in state[n]]

    def local_versions(self) -> list[ModelVersion]:
        """What the local tags say, with no recovery and no network (read-only views: `mlci history --html`)."""
        state = self._state()
        return [v for n in sorted(state) for v in state[n]]

    def resolve(self, ref: refs.ModelRef) -> ModelVersion:
        return pick(self.versions(ref.name), ref)

    # --- writing -------------------------------------------------------------------------
    def refresh(self) -> None:
        with self._lock():
            self.fetch_tags()
            self._recover()

    # --- the journal: a promotion interrupted anywhere is finished or undone -------------
    @property
    def _journal(self) -> Path:
        return Path(self.repo.common_dir) / "mlci-registry-pending.json"

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

    def _recover(self) -> None:
        """Finish (push) or undo (delete) the tags of an interrupted promotion in this clone."""
        if not self._journal.exists():
            return
        try:
            wanted = json.loads(self._journal.read_text(encoding="utf-8"))["tags"]
            assert isinstance(wanted, list) and all(isinstance(t, str) and _TAG_RE.match(t) for t in wanted)
        except (ValueError, KeyError, TypeError, AssertionError):
            self._journal.unlink()  # unreadable: it named nothing we could act on
            return
        local = self._local_tags(wanted)
        if not self._has_origin():
            if len(local) != len(wanted):
                self._delete_local(local)  # killed between two `git tag`s: undo the half
        elif local:
            try:
                on_origin = self._remote_tags(local)
            except GitCommandError as exc:
                raise RemoteError(f"cannot list tags on {self.git_remote}: {exc.stderr.strip()}") from exc
            pending = [t for t in local if t not in on_origin]
            if pending and (len(local) != len(wanted) or not self._push(pending)):
                self._delete_local(pending)  # incomplete set, or the numbers were taken meanwhile
        self._journal.unlink()

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
        """Bring origin's registry tags in (origin is the truth for taken numbers)."""
        if not self._has_origin():
            return
        try:
            with self._remote() as session:
                session.git("fetch", "--quiet", session.remote, "+refs/tags/*:refs/tags/*")
                session.land("refs/tags/")
        except GitCommandError as exc:
            raise RemoteError(f"cannot fetch tags from {self.git_remote}: {exc.stderr.strip()}") from exc

    def _local_git(self, *args: str) -> str:
        """Tag writes in this clone: with the token about (Actions, `credentials()`), no hook, user
        config or signing program runs; see mlci.store.gitsafe.local."""
        import os

        environ = {**os.environ, **git_auth_env()}
        return gitsafe.local(self.root, args, environ, common_dir=self.repo.common_dir)

    def _create_local(self, tag: str, commit: str, message: str) -> bool:
        """`git tag -a`; False when the name is taken (another promotion won the race)."""
        try:
            self._local_git("tag", "-a", "--cleanup=whitespace", tag, commit, "-m", message)  # keep "## " lines
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

    def _remote_has(self, tags: list[str]) -> bool:
        return bool(self._remote_tags(tags))

    def _push(self, tags: list[str]) -> bool:
        """Push atomically; False when origin already has one of the names (retry), raise otherwise."""
        refspecs = [f"refs/tags/{t}:refs/tags/{t}" for t in tags]
        try:
            with self._remote() as session:
                session.sync(*[f"refs/tags/{t}" for t in tags])
                session.git("push", "--atomic", "--quiet", session.remote, *refspecs)
            return True
        except GitCommandError as exc:
            self._delete_local(tags)
            try:
                taken = self._remote_has(tags)
            except GitCommandError:
                taken = False
            if taken:
                return False
            lines = [line.strip() for line in exc.stderr.strip().splitlines() if line.strip()]
            raise RemoteError(
                f"{self.git_remote} rejected the registry tags {', '.join(tags)}; nothing was registered",
                details="\n".join(lines[-6:]),
            ) from exc

    def _next_stage_tag(self, tags: list[_Tag], name: str, stage: str) -> str:
        counter = max((t.counter for t in tags if t.name == name), default=0)
        return f"{name}#{stage}#{counter + 1}"

    def publish(
        self, plan: Callable[[list[_Tag]], list[tuple[str, str, str]]], on_step: Callable[[str], None] | None = None
    ) -> list[str]:
        """Create and push the tags `plan(current tags)` asks for, renumbering on conflicts."""

        def step(name: str) -> None:
            if on_step:
                on_step(name)
            faults.checkpoint(name)

        with self._lock():
            self.fetch_tags()
            self._recover()
            for _attempt in range(_ATTEMPTS):
                wanted = plan(self._tags())
                step("numbered")
                if not wanted:
                    return []
                atomicio.write_text(self._journal, json.dumps({"tags": [t for t, _c, _m in wanted]}))
                created: list[str] = []
                for tag, commit, message in wanted:
                    if not self._create_local(tag, commit, message):
                        break
                    created.append(tag)
                    if len(created) < len(wanted):
                        step("tag-created")
                if len(created) != len(wanted):
                    self._delete_local(created)
                    self._journal.unlink()
                    self.fetch_tags()
                    continue
                step("tags-created")
                try:
                    pushed = not self._has_origin() or self._push(created)
                finally:
                    if not self._local_tags(created) or not self._has_origin():
                        self._journal.unlink()  # rolled back by _push, or nothing to push to
                if pushed:
                    step("pushed")
                    if self._journal.exists():
                        self._journal.unlink()
                    return created
                self.fetch_tags()
        raise RegistryError(f"registry tags kept being taken by concurrent promotions ({_ATTEMPTS} attempts); retry")

    def register(
        self,
        candidate: Candidate,
        *,
        version: str | None,
        bump: str | None,
        stage: str | None,
        on_step: Callable[[str], None] | None = None,
    ) -> ModelVersion:
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
            state = self._state(tags).get(name, [])
            at_commit = [v for v in state if v.commit == candidate.commit]
            if at_commit and at_commit[0].sha256 == candidate.sha256:
                # another clone registered these very bytes first: converge on its version
                outcome["version"], outcome["created"] = at_commit[0].version, False
                if stage and stage not in at_commit[0].stages:
                    return [
                        (
                            self._next_stage_tag(tags, name, stage),
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
                    (self._next_stage_tag(tags, name, stage), candidate.commit, assign_message(name, stage, chosen))
                )
            return wanted

        self.publish(plan, on_step=step)
        self.last_register_created = outcome["created"]
        return self.resolve(refs.ModelRef(name, version=outcome["version"]))

    def assign(self, version: ModelVersion, stage: str, on_step: Callable[[str], None] | None = None) -> ModelVersion:
        def plan(tags: list[_Tag]) -> list[tuple[str, str, str]]:
            now = next((v for v in self._state(tags).get(version.name, []) if v.version == version.version), None)
            if now is not None and stage in now.stages:
                return []  # another clone assigned it meanwhile
            return [
                (
                    self._next_stage_tag(tags, version.name, stage),
                    version.commit,
                    assign_message(version.name, stage, version.version),
                )
            ]

        self.publish(plan, on_step=on_step)
        return self.resolve(refs.ModelRef(version.name, version=version.version))

    # --- pulling -------------------------------------------------------------------------
    def _object_of(self, v: ModelVersion) -> tuple[str, str]:
        """(path, DVC md5) of a version: from our metadata, else from its commit's files (GTO-made)."""
        if v.metadata.get("md5") and v.path:
            return v.path, v.metadata["md5"]
        declared = declarations(lambda f: gitrepo.show(self.repo, v.commit, f)).get(v.name)
        if declared is None:
            raise RegistryError(
                f"{v.name}@{v.version} has no mlci metadata and commit {v.commit[:12]} declares no artifact '{v.name}' "
                "in dvc.yaml or artifacts.yaml; cannot tell which file it is"
            )
        _deps, outs = dvcfile.lock_hashes(
            self.root,
            dvcfile.locks(self.root, show=lambda p: gitrepo.show(self.repo, v.commit, p)),
            source=f"dvc.lock at {v.commit[:12]}",
        )
        md5 = outs.get(declared.path)
        if not md5:
            raise RegistryError(
                f"{declared.path} is not a DVC output in dvc.lock at {v.commit[:12]}; only DVC-tracked models can be pulled"
            )
        return declared.path, md5

    def pull(self, ref: refs.ModelRef, directory: Path) -> Pulled:
        v = self.resolve(ref)
        path, md5 = self._object_of(v)
        target = directory / Path(path).name
        got = dvc_storage.download(self.root, md5, self.dvc_remote, target, sha256=v.sha256)
        return Pulled(version=v, file=target, sha256=got.sha256)
