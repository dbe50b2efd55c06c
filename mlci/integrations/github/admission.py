"""May this pull request's code run on a self-hosted runner? Decided before any of it runs.

A fork's code is admitted only for the exact commit a maintainer approved: an issue comment
`/mlci train <40-hex head SHA>` by a user with write access, or an APPROVED review whose
`commit_id` is the head SHA by such a user. Labels are only a trigger: a label stays on the PR
across pushes, so by itself it would admit every later push unreviewed. The SHA must be the
PR's head *now* (asked through the API, so a push after the event is caught) and the commit
checked out in the workspace must be that head (or the test-merge commit built on it).
Short SHAs are refused: a prefix can be brute-forced into a colliding commit.

Reviews are a history, judged as GitHub does (`reviews.current_reviews`): each reviewer's
latest verdict counts, so approving and then requesting changes withdraws the approval, and a
writer's standing "changes requested" blocks admission. A writer's `/mlci train` comment
counts only if it is newer than their latest verdict. The command counts only as a line of
the writer's own text: quoting (or pasting into a code block) someone else's comment that
contains it must not approve anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from markdown_it import MarkdownIt

from mlci.integrations.github import pulls
from mlci.integrations.github.client import GitHubClient, split_repo
from mlci.integrations.github.comments import COMMENT
from mlci.integrations.github.reviews import REVIEW, can_write, current_reviews, requesting_changes

# The whole line, nothing else: `/mlci train` and a full SHA, optional spaces or tabs around.
TRAIN_LINE = re.compile(r"[ \t]*/mlci[ \t]+train[ \t]+([0-9a-fA-F]{40})[ \t]*")
FULL_SHA = re.compile(r"^[0-9a-f]{40}$")
_LINE_END = re.compile(r"\r\n|\r|\n")  # CommonMark's line endings (str.splitlines knows more)
_BREAKS = ("softbreak", "hardbreak")


@dataclass(frozen=True)
class Admission:
    admitted: bool
    head_sha: str | None
    reason: str  # one line: why (not)
    approver: str | None = None


def plain_lines(markdown: str) -> list[str]:
    """The lines of `markdown` a reader sees as the writer's own plain text, stripped.

    A line counts if, rendered as CommonMark (with GitHub's tables), it is a whole line of a
    paragraph outside any block quote and holds nothing but text: no code span, inline HTML or
    comment, link or emphasis in it, and not the marker line of a list item. Fenced and indented
    code, HTML blocks, comments (multi-line too), headings and tables are not paragraphs; a
    quote's lazy continuation lines belong to the quote. Parsed by markdown-it (mlci's report
    renderer), not by line patterns, so the containers nest as GitHub nests them.
    """
    md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
    lines: list[str] = []
    quotes = 0
    opened: list[str] = ["", ""]  # the last two block tokens: (…, "paragraph_open") starts a paragraph
    for token in md.parse(markdown):
        quotes += {"blockquote_open": 1, "blockquote_close": -1}.get(token.type, 0)
        if token.type == "inline" and opened[1] == "paragraph_open" and quotes == 0:
            segments: list[list] = [[]]
            for child in token.children or []:
                if child.type in _BREAKS:
                    segments.append([])
                else:
                    segments[-1].append(child)
            for index, segment in enumerate(segments):
                if index == 0 and opened[0] == "list_item_open":  # the line with the `-` / `1.` marker
                    continue
                if len(segment) == 1 and segment[0].type == "text":
                    lines.append(segment[0].content.strip())
        if token.type != "inline":
            opened = [opened[1], token.type]
    return lines


def train_commands(body: str) -> list[str]:
    """The SHAs (lower-case) of the `/mlci train <sha>` lines of `body` that are the writer's own text.

    Each raw line that is exactly the command is swapped for a unique plain word (same
    indentation, no markdown meaning, so the structure is unchanged); the command counts if that
    word comes out of `plain_lines` as a line of its own.
    """
    lines = _LINE_END.split(body)
    tag = "mlciprobe"
    while tag in body:
        tag += "x"
    probes: dict[str, str] = {}
    for number, line in enumerate(lines):
        if match := TRAIN_LINE.fullmatch(line):
            probe = f"{tag}{number}"
            probes[probe] = match.group(1).lower()
            lines[number] = line[: len(line) - len(line.lstrip(" \t"))] + probe
    if not probes:
        return []
    plain = set(plain_lines("\n".join(lines)))
    return [sha for probe, sha in probes.items() if probe in plain]


def _when(stamp: object) -> datetime | None:
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        return None


def _verdict(review: dict) -> str:
    return f"{str(review.get('state')).lower().replace('_', ' ')} at {str(review.get('commit_id'))[:12]}"


def approval_for(client: GitHubClient, repo: str, pr: int, head_sha: str) -> tuple[str | None, str]:
    """(who approved `head_sha`, how) — or (None, why not, in one line)."""
    owner, name = split_repo(repo)
    writers: dict[str, bool] = {}
    history = list(client.paginate(f"/repos/{owner}/{name}/pulls/{pr}/reviews", item=REVIEW))
    current = current_reviews(history)
    for login in requesting_changes(client, owner, name, current, writers):
        approved_before = any(
            r.get("state") == "APPROVED" and (r.get("user") or {}).get("login") == login for r in history
        )
        return None, (
            f"{login} requested changes at {str(current[login].get('commit_id'))[:12]}"
            f"{' after approving' if approved_before else ''}; a new approval of {head_sha[:12]} by {login} "
            "(or dismissing that review) is needed"
        )
    other_shas: list[str] = []
    for login, review in current.items():
        if review.get("state") != "APPROVED" or not can_write(client, owner, name, login, writers):
            continue
        if review.get("commit_id") == head_sha:
            return login, f"review approving {head_sha[:12]} by {login}"
        other_shas.append(str(review.get("commit_id")))
    outsiders: list[str] = []
    withdrawn: list[str] = []
    for comment in client.paginate(f"/repos/{owner}/{name}/issues/{pr}/comments", item=COMMENT):
        author = (comment.get("user") or {}).get("login")
        if not author:
            continue
        for sha in train_commands(comment.get("body") or ""):
            if sha != head_sha:
                other_shas.append(sha)
            elif not can_write(client, owner, name, author, writers):
                outsiders.append(author)
            elif author in current and not _newer(comment.get("created_at"), current[author].get("submitted_at")):
                withdrawn.append(
                    f"`/mlci train {head_sha[:12]}` by {author} was withdrawn by their later review "
                    f"({_verdict(current[author])}); comment again or approve {head_sha[:12]}"
                )
            else:
                return author, f"`/mlci train {head_sha}` by {author}"
    if withdrawn:
        return None, withdrawn[0]
    if outsiders:
        return None, f"only {outsiders[0]}, who has no write access, asked to train it"
    if other_shas:
        return None, f"the approval names {other_shas[-1][:12]}, not the head {head_sha[:12]} (pushed since)"
    return None, "no maintainer approved this commit"


def _newer(created_at: object, submitted_at: object) -> bool:
    """Whether a comment is strictly newer than a review; unknown or equal times are not (fail closed)."""
    comment, review = _when(created_at), _when(submitted_at)
    return comment is not None and review is not None and comment > review


def admit(
    client: GitHubClient,
    repo: str,
    pr: int,
    *,
    event_head_sha: str | None,
    workspace_head: str | None,
    workspace_parents: tuple[str, ...] = (),
) -> Admission:
    """The admission of fork PR `pr` at its current head (see module docstring)."""
    owner, name = split_repo(repo)
    current = client.get(f"/repos/{owner}/{name}/pulls/{pr}", shape=pulls.HEAD)["head"]["sha"]
    if not FULL_SHA.match(current or ""):
        return Admission(False, None, f"GitHub gave no usable head SHA for PR #{pr}")
    if event_head_sha and event_head_sha != current:
        return Admission(
            False,
            current,
            f"PR #{pr} was pushed to since this run started (event head "
            f"{event_head_sha[:12]}, now {current[:12]}); the newer run decides",
        )
    test_merge = len(workspace_parents) == 2 and workspace_parents[1] == current  # refs/pull/N/merge: base, head
    if workspace_head and current != workspace_head and not test_merge:
        return Admission(
            False,
            current,
            f"the checked-out commit {workspace_head[:12]} is not the PR head "
            f"{current[:12]} (nor a merge of it); check out the PR head",
        )
    approver, how = approval_for(client, repo, pr, current)
    if approver is None:
        return Admission(False, current, how)
    return Admission(True, current, f"approved: {how}", approver)
