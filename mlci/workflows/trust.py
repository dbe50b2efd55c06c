"""Which base records a PR may compare with: the ones main's CI run published (issue 25).

A record is a git note, so anyone who can push `refs/notes/mlci` can add a newer one for the
merge-base and become the baseline. With a token, the admit phase (before any PR code runs)
asks GitHub which of the candidate base records a push-to-default-branch run bound in its
`mlci` check (`mlci.integrations.github.provenance`); the answer, id -> digest, travels to the
run phase in the phase state, so a note written later (by anyone, PR code included) cannot
join it: the digest would differ. `pick` then prefers a verified record and says, in the
report's notes, when it passed one over or had to use an unverified one.

Without a token (local `mlci diff`) nothing is checked and the base record is "unverified".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from mlci.errors import MlciError
from mlci.model.record import RunRecord
from mlci.store import baseline
from mlci.store.gitplumb import Plumb
from mlci.store.project import Project

MAX_CANDIDATES = 10  # records verified per PR (a few API calls each)
ANCESTORS = 50  # as far back as `baseline.same_inputs` looks


def _candidates(plumb: Plumb, base: str) -> list[RunRecord]:
    """The records `mlci diff` could choose for `base`, newest first: clean ones at `base`, else
    clean ones on its nearest ancestors (the same-inputs fallback)."""
    at_base = [r for r in reversed(baseline.records_for(plumb, base)) if not r.dirty]
    if at_base:
        return at_base[:MAX_CANDIDATES]
    ancestors = (plumb.run_ok("rev-list", f"--max-count={ANCESTORS}", base) or "").split()
    found = baseline.records_by_commit(plumb, ancestors)
    return [r for sha in ancestors for r in reversed(found.get(sha, [])) if not r.dirty][:MAX_CANDIDATES]


def check_baselines(
    project: Project,
    base_ref: str | None,
    *,
    token: str | None,
    api_url: str | None,
    repo: str,
    retry: Any = None,
) -> dict[str, Any] | None:
    """{"base": sha, "verified": {id: sha256}, "unverified": {id: reason}} for the merge-base's
    candidate records; None without a token or a resolvable base (the run phase says why)."""
    if not token:
        return None
    from mlci.integrations.github import provenance
    from mlci.integrations.github.client import GitHubClient

    with Plumb(project.root) as plumb:
        try:
            head = plumb.head_commit()
            base = plumb.merge_base(head, plumb.resolve(base_ref or plumb.default_base()[0]))
        except MlciError:
            return None
        candidates = _candidates(plumb, base)
    verdicts = []
    if candidates:
        with GitHubClient(token, api_url=api_url, retry=retry) as client:
            verdicts = provenance.verify_all(client, repo, candidates, require_default_branch=True)
    return {
        "base": base,
        "verified": {v.record_id: v.digest for v in verdicts if v.verified},
        "unverified": {v.record_id: v.reason for v in verdicts if not v.verified},
    }


def pick(
    find: Callable[[Mapping[str, str] | None], RunRecord | None], trust: dict | None, notes: list[str]
) -> RunRecord | None:
    """`find(trusted)` among the verified records first; an unverified one only with a warning.
    No `trust` (nothing was checked): `find(None)`, today's choice."""
    if trust is None:
        return find(None)
    verified = find(trust.get("verified") or {})
    newest = find(None)
    unverified = trust.get("unverified") or {}
    if verified is not None:
        if newest is not None and newest.id != verified.id:
            why = unverified.get(newest.id, "written after the check, before this report")
            notes.append(
                f"⚠️ passed over the newer run record {newest.id} at {newest.commit[:12]}: no push-to-main CI run "
                f"published it ({why}); compared with {verified.id}, which main's CI run did"
            )
        return verified
    if newest is not None:
        why = unverified.get(newest.id, "written after the check, before this report")
        notes.append(
            f"⚠️ the baseline, run record {newest.id} at {newest.commit[:12]}, is unverified ({why}): anyone who "
            "can push refs/notes/mlci could have written it; re-run the baseline job on main to publish a verified one"
        )
    return newest


def provenance_of(record: RunRecord | None, trust: dict | None) -> str | None:
    """ "verified" when `record` is, byte for byte, one the check found bound; else "unverified"."""
    if record is None:
        return None
    verified = (trust or {}).get("verified") or {}
    return "verified" if verified.get(record.id) == record.digest() else "unverified"
