"""Record the main commits whose baseline run GitHub dropped, before recording the new head.

A concurrency group keeps one running and one pending run; a newer push cancels the pending
one, so a middle commit of main never gets its run record and a PR based on it has nothing to
compare with. The baseline job therefore first re-runs the unrecorded first-parent commits
since the last recorded one (at most `ci.baseline_backfill` of them, newest first kept), each
in a throw-away worktree sharing this checkout's DVC cache, and says what it skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlci.errors import MlciError

DEFAULT_LIMIT = 3  # each is a full pipeline run; mlci.yaml `ci: baseline_backfill: N` changes it


@dataclass
class Backfill:
    recorded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # commit -> why its run failed
    skipped: list[str] = field(default_factory=list)  # over the limit: left unrecorded
    anchor: str | None = None

    def as_dict(self) -> dict:
        return {"recorded": self.recorded, "failed": self.failed, "skipped": self.skipped, "anchor": self.anchor}


def before_head(
    root: Path,
    *,
    limit: int = DEFAULT_LIMIT,
    config_path: Path | None = None,
    note: Callable[[str], None] = lambda _line: None,
) -> Backfill:
    """Record the gap before HEAD (see the module doc); a gap commit that fails is noted, not fatal."""
    from mlci.store import baseline, gitrepo
    from mlci.store.worktree import isolated
    from mlci.workflows.reproduce import share_dvc_cache
    from mlci.workflows.run import run

    repo = gitrepo.open_repo(root)
    head = gitrepo.head_commit(repo)
    gap = baseline.unrecorded(repo, head, limit=limit)
    done = Backfill(skipped=gap.skipped, anchor=gap.anchor)
    if gap.anchor is None:
        note(f"no run record on the {head[:12]} first-parent history within reach: recording {head[:12]} only")
        return done
    if gap.skipped:
        note(
            f"{len(gap.skipped)} older main commit(s) stay unrecorded (over ci.baseline_backfill={limit}): "
            f"{', '.join(c[:12] for c in gap.skipped)}; `mlci reproduce` or a larger limit fills them"
        )
    top = Path(gitrepo.root(repo)).resolve()
    project = Path(root).resolve().relative_to(top)
    for commit in gap.to_record:
        note(f"recording {commit[:12]}: its baseline run never happened (cancelled while pending)")
        try:
            with isolated(repo, commit, prefix="mlci-backfill-") as tree:
                share_dvc_cache(Path(root), tree / project)
                run(tree / project, config_path=_inside(config_path, Path(root), tree / project))
        except MlciError as exc:
            done.failed[commit] = exc.message
            note(f"could not record {commit[:12]}: {exc.message}")
            continue
        done.recorded.append(commit)
    return done


def _inside(config_path: Path | None, root: Path, tree: Path) -> Path | None:
    """The same config file in the worktree (a path under the checkout is moved over)."""
    if config_path is None:
        return None
    path = Path(config_path).resolve()  # a relative one is relative to the cwd, as config.load reads it
    try:
        return tree / path.relative_to(root.resolve())
    except ValueError:
        return path
