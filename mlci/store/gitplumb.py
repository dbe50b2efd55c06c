"""Read-only git through plain plumbing: no GitPython, few processes.

`mlci diff` runs on every push, so its read path spawns one `git cat-file --batch` for
every blob and note it needs instead of one `git show` per file, and never imports
GitPython (whose import alone costs more than the whole diff). Errors say how to get
unstuck, with the same words as `mlci.store.gitrepo`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from mlci.errors import GitCommandError, GitError
from mlci.store import gitrepo  # light: GitPython loads only inside its functions


class _Cmd:
    """`plumb.git.ls_files("-z", ...)`: the GitPython call shape, so shared readers
    (`reproducibility.dirty_inputs`, `gitrepo.changed_paths`) work on either repo."""

    def __init__(self, plumb: Plumb):
        self._plumb = plumb

    def __getattr__(self, name: str):
        def call(*args: str) -> str:
            return self._plumb.run(name.replace("_", "-"), *args).rstrip("\n")

        return call


class Plumb:
    """A working-tree repository read with plain git commands."""

    def __init__(self, path: Path | str = "."):
        self.path = Path(path)
        if not self.path.is_dir():
            raise GitError(
                f"{self.path.resolve()} is not inside a git repository; cd into your project or run `git init`"
            )
        proc = subprocess.run(
            ["git", "rev-parse", "--is-bare-repository", "--git-common-dir", "--show-toplevel"],
            cwd=self.path,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = proc.stdout.splitlines()
        if proc.returncode != 0 and lines[:1] == ["true"]:
            raise GitError(f"{self.path.resolve()} is a bare repository; run mlci in a clone with a working tree")
        if proc.returncode != 0 or len(lines) < 3:
            raise GitError(
                f"{self.path.resolve()} is not inside a git repository; cd into your project or run `git init`"
            )
        self.working_tree_dir = lines[2]
        self.common_dir = str((self.path / lines[1]).resolve())
        self.git = _Cmd(self)
        self._batch: subprocess.Popen | None = None
        self._notes: dict[str, dict[str, str]] = {}  # ref -> listing; a Plumb only reads, so it holds
        self._head = self.run_ok("rev-parse", "--verify", "--quiet", "HEAD^{commit}")
        if self._head is None:
            raise GitError(
                "the repository has no commits yet; commit your project first (git add -A && git commit -m init)"
            )

    # -- processes -----------------------------------------------------------------------------
    def run(self, *args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=self.working_tree_dir, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise GitCommandError(args, proc.stderr)
        return proc.stdout

    def run_ok(self, *args: str) -> str | None:
        """Stripped stdout, or None when git says no."""
        try:
            return self.run(*args).strip()
        except GitCommandError:
            return None

    def blob(self, spec: str) -> bytes | None:
        """The object `spec` names (`<commit>:<path>`, a blob SHA), via one long-lived
        `git cat-file --batch`; None when it is missing or not a blob."""
        if "\n" in spec or "\0" in spec:
            return None
        if self._batch is None:
            self._batch = subprocess.Popen(
                ["git", "cat-file", "--batch"],
                cwd=self.working_tree_dir,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
        stdin, stdout = self._batch.stdin, self._batch.stdout
        assert stdin is not None and stdout is not None
        stdin.write(spec.encode("utf-8") + b"\n")
        stdin.flush()
        header = stdout.readline().decode("utf-8", "replace").split()
        if len(header) != 3:  # "<spec> missing" / "ambiguous"
            return None
        data = stdout.read(int(header[2]) + 1)[:-1]
        return data if header[1] == "blob" else None

    def show(self, commit: str, path: str) -> str | None:
        """The text of `path` at `commit`, or None (the same answer as `gitrepo.show`)."""
        data = self.blob(f"{commit}:{path}")
        return None if data is None else data.decode("utf-8", "replace").removesuffix("\n")

    def close(self) -> None:
        if self._batch is not None:
            assert self._batch.stdin is not None
            self._batch.stdin.close()
            self._batch.wait()
            self._batch = None

    def __enter__(self) -> Plumb:  # noqa: PYI034 - final class
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- facts ---------------------------------------------------------------------------------
    def head_commit(self) -> str:
        """HEAD as resolved when this Plumb opened (a read-only view: one process fewer)."""
        assert self._head is not None
        return self._head

    def commit_of(self, ref: str) -> str | None:
        return gitrepo.commit_of_by(self.run_ok, ref)

    def resolve(self, ref: str) -> str:
        return gitrepo.resolve_by(self.commit_of, ref)

    def default_branch(self) -> str:
        return gitrepo.default_branch_by(self.run_ok)

    def default_base(self) -> tuple[str, str]:
        return gitrepo.default_base_by(self.run_ok)

    def github_merge(self, commit: str) -> tuple[str, str] | None:
        return gitrepo.github_merge_by(self.run_ok, commit)

    def merge_base(self, head: str, base: str) -> str:
        return gitrepo.merge_base_by(self.run_ok, head, base)

    # -- notes ---------------------------------------------------------------------------------
    def notes_list(self, ref: str) -> dict[str, str]:
        """commit -> note blob SHA under `ref`, in one process per Plumb (baseline and head lookups share it)."""
        if ref not in self._notes:
            out = self.run_ok("notes", f"--ref={ref}", "list") or ""
            if not out:  # no notes, or a ref git cannot read (a blob, a missing object): say which
                from mlci.store import notesref

                notesref.check(self.working_tree_dir, ref)
            pairs = (line.split() for line in out.splitlines())
            self._notes[ref] = {p[1]: p[0] for p in pairs if len(p) == 2}
        return self._notes[ref]

    def note_texts(self, ref: str, commits: list[str] | None = None) -> dict[str, str]:
        """commit -> note text, for `commits` (default: every noted commit): one `notes list`
        and the shared cat-file process, never a process per commit."""
        listing = self.notes_list(ref)
        wanted = listing if commits is None else {c: listing[c] for c in commits if c in listing}
        texts = {}
        for commit, sha in wanted.items():
            data = self.blob(sha)
            if data is not None:
                texts[commit] = data.decode("utf-8", "replace")
        return texts
