"""The sticky PR comment: one comment per `--id`, found by a hidden marker and edited in place.

An Actions token cannot ask "who am I" (`GET /user` fails for installation tokens), so the
comment is recognised by the marker `<!-- mlci:comment id=NAME -->` in its body, searched
across every page of the PR's comments. Two models or workflows pass different ids and keep
separate comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlci.errors import UsageError
from mlci.integrations.github.client import GitHubClient, split_repo

COMMENT_LIMIT = 65536
DEFAULT_ID = "mlci"
_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# What mlci reads of an issue comment (GitHub's answer is checked against it: exit 7 otherwise).
COMMENT = {"id": int, "html_url": str, "body?": str, "user?": {"type?": str, "login?": str}, "created_at?": str}


@dataclass(frozen=True)
class CommentResult:
    action: str  # "created" | "updated" | "unchanged"
    id: int
    url: str
    length: int  # characters in the posted body
    trimmed: bool  # the report was cut to fit GitHub's limit


def marker(comment_id: str = DEFAULT_ID) -> str:
    if not _ID.match(comment_id):
        raise UsageError(f"comment id {comment_id!r} must be 1-64 letters, digits, '.', '_' or '-'; pass another --id")
    return f"<!-- mlci:comment id={comment_id} -->"


def find(client: GitHubClient, repo: str, pr: int, comment_id: str = DEFAULT_ID) -> dict | None:
    """Our earlier comment on PR `pr`, on whichever page it is.

    The oldest comment that starts with the marker; one written by a bot (the Actions token
    posts as github-actions[bot]) wins over one by a person, so a pasted marker cannot
    capture the report.
    """
    owner, name = split_repo(repo)
    tag = marker(comment_id)
    first_by_person = None
    for comment in client.paginate(f"/repos/{owner}/{name}/issues/{pr}/comments", item=COMMENT):
        if not (comment.get("body") or "").startswith(tag):
            continue
        if (comment.get("user") or {}).get("type") == "Bot":
            return comment
        first_by_person = first_by_person or comment
    return first_by_person


def compose(report_md: str, comment_id: str = DEFAULT_ID, *, full_report_url: str | None = None) -> tuple[str, bool]:
    """The comment body: marker + report, trimmed (by the report's own rules) to GitHub's limit."""
    from mlci.integrations.github.limits import fit_comment
    from mlci.redact import redact

    tag = marker(comment_id)
    budget = COMMENT_LIMIT - len(tag) - 1
    report_md = redact(report_md)
    fitted = fit_comment(report_md, limit=budget, full_report_url=full_report_url)
    return f"{tag}\n{fitted}", fitted != report_md


def upsert(
    client: GitHubClient,
    repo: str,
    pr: int,
    report_md: str,
    *,
    comment_id: str = DEFAULT_ID,
    full_report_url: str | None = None,
) -> CommentResult:
    """Update our comment on the PR, or create it when there is none; never two."""
    owner, name = split_repo(repo)
    body, trimmed = compose(report_md, comment_id, full_report_url=full_report_url)
    existing = find(client, repo, pr, comment_id)
    if existing is None:
        created = client.create(
            f"/repos/{owner}/{name}/issues/{pr}/comments",
            {"body": body},
            landed=lambda: find(client, repo, pr, comment_id),
            shape=COMMENT,
        )
        if created.get("body") == body:
            return CommentResult("created", created["id"], created["html_url"], len(body), trimmed)
        existing = created  # a concurrent run created it first: make it ours below
    if existing.get("body") == body:
        return CommentResult("unchanged", existing["id"], existing["html_url"], len(body), trimmed)
    updated = client.patch(f"/repos/{owner}/{name}/issues/comments/{existing['id']}", {"body": body}, shape=COMMENT)
    return CommentResult("updated", updated["id"], updated["html_url"], len(body), trimmed)
