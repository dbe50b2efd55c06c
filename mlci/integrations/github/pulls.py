"""Pull requests mlci opens itself (the scheduled retrain): find the open one by its head
branch, create it, or update it in place, so that there is only ever one open at a time.
"""

from __future__ import annotations

from mlci.integrations.github.client import GitHubClient, split_repo

# What mlci reads of a pull request (GitHub's answer is checked against it: exit 7 otherwise).
PULL = {
    "number": int,
    "html_url": str,
    "head": {"ref": str, "sha?": str, "repo?": {"full_name?": str}},
    "base?": {"ref?": str},
    "title?": str,
    "body?": str,
}
HEAD = {"head": {"sha": str}}  # GET one pull: its head commit


def find_open(
    client: GitHubClient, repo: str, branch: str, *, head_owner: str | None = None, base: str | None = None
) -> dict | None:
    """The open PR whose head is `head_owner:branch` (GitHub wants the owner in the filter)."""
    owner, name = split_repo(repo)
    params = {"state": "open", "head": f"{head_owner or owner}:{branch}"}
    if base:
        params["base"] = base
    for pull in client.paginate(f"/repos/{owner}/{name}/pulls", params, item=PULL):
        if pull["head"]["ref"] == branch:
            return pull
    return None


def create(client: GitHubClient, repo: str, *, branch: str, base: str, title: str, body: str) -> dict:
    """Open a PR from `branch` into `base`; a retried POST that already landed is not repeated."""
    owner, name = split_repo(repo)
    return client.create(
        f"/repos/{owner}/{name}/pulls",
        {"title": title, "head": branch, "base": base, "body": body, "maintainer_can_modify": True},
        landed=lambda: find_open(client, repo, branch, base=base),
        shape=PULL,
    )


def update(client: GitHubClient, repo: str, number: int, *, title: str, body: str, base: str | None = None) -> dict:
    owner, name = split_repo(repo)
    fields = {"title": title, "body": body, **({"base": base} if base else {})}
    return client.patch(f"/repos/{owner}/{name}/pulls/{number}", fields, shape=PULL)


def open_or_update(
    client: GitHubClient, repo: str, *, branch: str, base: str, title: str, body: str
) -> tuple[str, dict]:
    """("created" | "updated" | "unchanged", the PR) for the one open PR of `branch` (whatever its base)."""
    existing = find_open(client, repo, branch)
    if existing is None:
        return "created", create(client, repo, branch=branch, base=base, title=title, body=body)
    same_base = (existing.get("base") or {}).get("ref") == base
    if same_base and existing.get("title") == title and (existing.get("body") or "") == body:
        return "unchanged", existing
    return "updated", update(client, repo, existing["number"], title=title, body=body, base=None if same_base else base)
