"""The templates' concurrency groups against GitHub's documented rule: per group, one running
and one pending run; a newer run cancels the older pending one (nothing queues).

The group expressions are read from the templates and evaluated for each event, so a change of
key that lets one PR's approval cancel another's fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "workflows"


def _group(template: str, event: dict) -> str:
    """The workflow's `concurrency.group` for `event` (context paths, `a || 'literal'`)."""
    spec = yaml.safe_load((TEMPLATES / template).read_text())["concurrency"]
    assert spec["cancel-in-progress"] is False  # a running baseline/promotion is never cancelled

    def value(expr: str) -> str:
        for alternative in (part.strip() for part in expr.split("||")):
            if alternative.startswith("'"):
                return alternative.strip("'")
            node = event
            for key in alternative.split(".")[1:]:  # drop the `github.` context name
                node = node.get(key) if isinstance(node, dict) else None
            if node not in (None, ""):
                return str(node)
        return ""

    return re.sub(r"\$\{\{\s*(.*?)\s*\}\}", lambda m: value(m.group(1)), spec["group"])


def _surviving(template: str, events: list[dict]) -> list[int]:
    """Indexes of the events whose run is not cancelled when all arrive while a run of the same
    group is in progress (GitHub: the newest pending run per group survives)."""
    newest: dict[str, int] = {}
    for index, event in enumerate(events):
        newest[_group(template, event)] = index
    return sorted(newest.values())


def _review(pr: int, state: str) -> dict:
    return {
        "event_name": "pull_request_review",
        "event": {"pull_request": {"number": pr}, "review": {"state": state}},
        "ref": f"refs/pull/{pr}/merge",
    }


def _push() -> dict:
    return {"event_name": "push", "event": {}, "ref": "refs/heads/main"}


def test_an_approval_is_never_cancelled_by_another_prs_approval():
    events = [_review(1, "approved"), _review(2, "approved"), _review(3, "approved")]
    assert _surviving("promote.yml", events) == [0, 1, 2]


def test_an_approval_is_never_cancelled_by_a_later_comment_on_the_same_pr():
    events = [_review(1, "approved"), _review(1, "commented")]
    assert 0 in _surviving("promote.yml", events)


def test_only_a_newer_approval_of_the_same_pr_replaces_a_pending_one():
    events = [_review(1, "approved"), _review(1, "approved")]
    assert _surviving("promote.yml", events) == [1]


def test_main_pushes_and_approvals_do_not_cancel_each_other():
    events = [_review(1, "approved"), _push(), _push()]
    assert _surviving("promote.yml", events) == [0, 2]


def test_baseline_runs_of_main_share_one_group_so_the_surviving_run_backfills():
    # the one group is why the baseline run records the cancelled commits (mlci.workflows.backfill)
    assert _surviving("baseline.yml", [_push(), _push(), _push()]) == [2]
