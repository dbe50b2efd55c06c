"""Git commands that carry mlci's token run out of reach of anything PR code can plant.

The PR's code runs in the workspace before mlci's publish step, and on a self-hosted runner
`$HOME` and the workspace's `.git` outlive the job. Each test plants a real attack there (a
hook, a user or repository config entry), runs one of mlci's credentialed git operations the
way `mlci ci` runs it, and checks two things: the token never reached the attacker (the hook
logs its environment and argv, the second server logs the headers it was sent), and the
legitimate operation still landed on origin (or, where the attack takes the URL itself, that
it failed without the token).
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlci.errors import MlciError
from mlci.integrations.github import assets
from mlci.integrations.github.gitauth import auth_env
from mlci.integrations.registry.gto_tags import GitTagsBackend, credentials, register_message
from mlci.model.record import RunRecord
from mlci.store import baseline, gitrepo
from tests.helpers import git

HOOKS = (
    "reference-transaction",
    "pre-push",
    "pre-auto-gc",
    "post-index-change",
    "post-checkout",
    "post-commit",
    "post-rewrite",
    "pre-commit",
)


@dataclass
class Workspace:
    root: Path
    origin: object  # tests.plugins.git_http.GitHttpOrigin
    auth: dict[str, str]  # what ci.py hands git: the Authorization header in GIT_CONFIG_* entries
    log: Path  # where every planted attack writes what it saw

    @property
    def token(self) -> str:
        return self.origin.token

    def secrets(self) -> list[str]:
        header = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
        return [self.token, header]

    def seen(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def _env_with(auth: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **auth, "GIT_TERMINAL_PROMPT": "0"}


@pytest.fixture
def ws(git_repo: Path, git_http_origin, tmp_path: Path, monkeypatch) -> Workspace:
    """A clone whose origin is the loopback git server that wants the token, main pushed."""
    auth = auth_env(git_http_origin.token, git_http_origin.server_url, {})
    git(git_repo, "remote", "add", "origin", git_http_origin.url)
    subprocess.run(["git", "push", "-q", "origin", "main"], cwd=git_repo, env=_env_with(auth), check=True)
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    return Workspace(git_repo, git_http_origin, auth, tmp_path / "attacker.log")


def _hook_script(log: Path) -> str:
    return f'#!/bin/sh\n{{ echo "hook: $0 $*"; env; cat; }} >> "{log}" 2>/dev/null\nexit 0\n'


def plant_hooks(directory: Path, log: Path, names: tuple[str, ...] = HOOKS) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        hook = directory / name
        hook.write_text(_hook_script(log))
        hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


# --- the operations, run as mlci ci / promote run them ---------------------------------------------


def _record(ws: Workspace) -> RunRecord:
    head = git(ws.root, "rev-parse", "HEAD")
    return RunRecord(commit=head, branch="main", dirty=False, params={}, metrics={"m.json": {"auc": 0.9}})


def _origin_note(ws: Workspace) -> str:
    head = git(ws.root, "rev-parse", "HEAD")
    done = subprocess.run(
        ["git", "notes", "--ref=mlci", "show", head], cwd=ws.origin.bare, capture_output=True, text=True
    )
    return done.stdout


def do_share(ws: Workspace, attack: Callable[[], None] = lambda: None) -> Callable[[], bool]:
    repo = gitrepo.open_repo(ws.root)
    record = _record(ws)
    attack()
    with repo.git.custom_environment(**ws.auth):
        baseline.share(repo, record, "origin")
    return lambda: record.id in _origin_note(ws)


def do_push(ws: Workspace, attack: Callable[[], None] = lambda: None) -> Callable[[], bool]:
    """A concurrent writer got there first: the push is rejected, merges origin's records, retries."""
    head = git(ws.root, "rev-parse", "HEAD")
    repo = gitrepo.open_repo(ws.root)
    ours, theirs = _record(ws), _record(ws)
    baseline.save(repo, ours)
    git(ws.origin.bare, "notes", "--ref=mlci", "append", "-m", theirs.to_json(), head)
    attack()
    with repo.git.custom_environment(**ws.auth):
        baseline.push(repo, "origin")
    return lambda: ours.id in _origin_note(ws) and theirs.id in _origin_note(ws)


def do_fetch(ws: Workspace, attack: Callable[[], None] = lambda: None) -> Callable[[], bool]:
    """Origin holds a record this clone lacks; the clone holds one origin lacks: both survive."""
    head = git(ws.root, "rev-parse", "HEAD")
    theirs, ours = _record(ws), _record(ws)
    git(ws.origin.bare, "notes", "--ref=mlci", "append", "-m", theirs.to_json(), head)
    repo = gitrepo.open_repo(ws.root)
    baseline.save(repo, ours)
    attack()
    with repo.git.custom_environment(**ws.auth):
        baseline.fetch(repo, "origin")
    return lambda: {theirs.id, ours.id} <= {r.id for r in baseline.records_for(repo, head)}


def do_assets(ws: Workspace, attack: Callable[[], None] = lambda: None) -> Callable[[], bool]:
    report = ws.root.parent / "report"
    report.mkdir(exist_ok=True)
    (report / "plot.png").write_bytes(b"\x89PNG fake plot")
    attack()
    markdown, commit = assets.publish(
        ws.root,
        "![plot](plot.png)\n",
        report,
        repo="octo/models",
        prefix="pr-1/abc",
        server_url=ws.origin.server_url,
        extra_env=ws.auth,
    )

    def landed() -> bool:
        tip = git(ws.origin.bare, "rev-parse", "refs/heads/mlci-assets")
        blob = subprocess.run(
            ["git", "cat-file", "blob", f"{tip}:pr-1/abc/plot.png"], cwd=ws.origin.bare, capture_output=True
        ).stdout
        return tip == commit and blob == b"\x89PNG fake plot" and f"/blob/{commit}/" in markdown

    return landed


def do_tags(ws: Workspace, attack: Callable[[], None] = lambda: None) -> Callable[[], bool]:
    head = git(ws.root, "rev-parse", "HEAD")

    def plan(tags) -> list[tuple[str, str, str]]:
        if any(t.tag == "churn@v0.0.1" for t in tags):
            return []
        return [("churn@v0.0.1", head, register_message("churn", "v0.0.1"))]

    attack()
    with credentials(ws.token, ws.origin.server_url):
        GitTagsBackend(ws.root).publish(plan)
    return lambda: git(ws.origin.bare, "tag", "--list", "churn@*") == "churn@v0.0.1"


@contextmanager
def _environment(**values: str):
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def do_promote_tags(ws: Workspace, attack: Callable[[], None] = lambda: None) -> Callable[[], bool]:
    """As templates/workflows/promote.yml runs `mlci promote`: GITHUB_TOKEN in the environment."""
    actions = {"GITHUB_ACTIONS": "true", "GITHUB_TOKEN": ws.token, "GITHUB_SERVER_URL": ws.origin.server_url}
    with _environment(**actions):
        return do_tags(ws, attack)


def do_retrain(ws: Workspace, attack: Callable[[], None] = lambda: None) -> Callable[[], bool]:
    """`mlci retrain --open-pr` force-pushes the retrain branch with the token."""
    from mlci.workflows.retrain import _push

    head = git(ws.root, "rev-parse", "HEAD")
    attack()
    with _environment(GITHUB_SERVER_URL=ws.origin.server_url):
        _push(gitrepo.open_repo(ws.root), "origin", head, "mlci/retrain", ws.token)

    def landed() -> bool:
        done = subprocess.run(
            ["git", "rev-parse", "refs/heads/mlci/retrain"], cwd=ws.origin.bare, capture_output=True, text=True
        )
        return done.stdout.strip() == head

    return landed


OPERATIONS = {
    "retrain": do_retrain,
    "share": do_share,
    "push": do_push,
    "fetch": do_fetch,
    "assets": do_assets,
    "tags": do_tags,
    "promote-tags": do_promote_tags,
}


def assert_no_token(ws: Workspace, seen: str) -> None:
    assert all(secret not in seen for secret in ws.secrets()), "the attacker saw the token"
    assert "authorization" not in seen.lower(), "the attacker saw the Authorization header"


def attempt(ws: Workspace, operation: str, attack: Callable[[], None]) -> Callable[[], bool] | MlciError:
    """Run `operation` with `attack` planted just before its credentialed part; its error if it failed."""
    try:
        return OPERATIONS[operation](ws, attack)
    except MlciError as exc:
        return exc


def assert_landed(outcome: Callable[[], bool] | MlciError) -> None:
    assert not isinstance(outcome, MlciError), outcome.message
    assert outcome(), "the operation did not land on origin"


# --- (a) and (b): hooks in the workspace's .git/hooks ----------------------------------------------


@pytest.mark.parametrize("operation", ["share", "fetch", "push"])
def test_a_reference_transaction_hook_never_runs_during_a_credentialed_operation(ws: Workspace, operation: str):
    outcome = attempt(
        ws, operation, lambda: plant_hooks(ws.root / ".git" / "hooks", ws.log, ("reference-transaction",))
    )
    assert_no_token(ws, ws.seen())
    assert not ws.log.exists(), "hooks must be off, not merely token-free"
    assert_landed(outcome)


@pytest.mark.parametrize("operation", ["push", "assets", "tags", "promote-tags", "retrain"])
def test_a_pre_push_hook_never_runs_during_a_credentialed_push(ws: Workspace, operation: str):
    outcome = attempt(ws, operation, lambda: plant_hooks(ws.root / ".git" / "hooks", ws.log, ("pre-push",)))
    assert_no_token(ws, ws.seen())
    assert not ws.log.exists()
    assert_landed(outcome)


# --- (c): hooks from the user's ~/.gitconfig (it outlives a job on a self-hosted runner) or .git/config


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_hooks_from_the_users_gitconfig_never_run(ws: Workspace, operation: str, tmp_path: Path, monkeypatch):
    home = tmp_path / "home"

    def attack() -> None:
        plant_hooks(home / "hooks", ws.log)
        (home / ".gitconfig").write_text(f"[core]\n\thooksPath = {home / 'hooks'}\n")
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)

    outcome = attempt(ws, operation, attack)
    assert_no_token(ws, ws.seen())
    assert not ws.log.exists()
    assert_landed(outcome)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_hooks_path_in_the_workspace_config_is_ignored(ws: Workspace, operation: str, tmp_path: Path):
    def attack() -> None:
        plant_hooks(tmp_path / "planted-hooks", ws.log)
        git(ws.root, "config", "core.hooksPath", str(tmp_path / "planted-hooks"))

    outcome = attempt(ws, operation, attack)
    assert_no_token(ws, ws.seen())
    assert not ws.log.exists()
    assert_landed(outcome)


# --- (d) and (e): where the request goes --------------------------------------------------------


@dataclass
class Recorder:
    url: str
    requests: list[str]  # request line and headers of each request

    def seen(self) -> str:
        return "\n".join(self.requests)


@pytest.fixture
def recorder():
    """A second loopback server: it logs every request's headers and serves nothing."""
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _record(self) -> None:
            requests.append(f"{self.command} {self.path}\n{self.headers}")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="attacker"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_CONNECT = _record

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Recorder(f"http://127.0.0.1:{server.server_address[1]}", requests)
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_proxy_in_the_workspace_config_never_sees_the_token(ws: Workspace, operation: str, recorder: Recorder):
    outcome = attempt(ws, operation, lambda: git(ws.root, "config", "http.proxy", recorder.url))
    assert_no_token(ws, recorder.seen())
    assert recorder.requests == []
    assert_landed(outcome)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_url_rewrite_in_the_workspace_config_is_ignored(ws: Workspace, operation: str, recorder: Recorder):
    def attack() -> None:
        git(ws.root, "config", f"url.{recorder.url}/origin.git.insteadOf", ws.origin.url)
        git(ws.root, "config", f"url.{recorder.url}/origin.git.pushInsteadOf", ws.origin.url)

    outcome = attempt(ws, operation, attack)
    assert_no_token(ws, recorder.seen())
    assert recorder.requests == []
    assert_landed(outcome)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_a_url_rewrite_in_the_users_gitconfig_is_ignored(
    ws: Workspace, operation: str, recorder: Recorder, tmp_path: Path, monkeypatch
):
    home = tmp_path / "home"

    def attack() -> None:
        home.mkdir()
        (home / ".gitconfig").write_text(f'[url "{recorder.url}/origin.git"]\n\tinsteadOf = {ws.origin.url}\n')
        monkeypatch.setenv("HOME", str(home))

    outcome = attempt(ws, operation, attack)
    assert_no_token(ws, recorder.seen())
    assert recorder.requests == []
    assert_landed(outcome)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_an_origin_moved_to_another_server_never_gets_the_token(ws: Workspace, operation: str, recorder: Recorder):
    outcome = attempt(ws, operation, lambda: git(ws.root, "config", "remote.origin.url", f"{recorder.url}/origin.git"))
    assert_no_token(ws, recorder.seen())
    assert isinstance(outcome, MlciError), "the records went to the other server"
    assert "\n" not in outcome.message and all(secret not in outcome.message for secret in ws.secrets())


# --- (f) and the rest of .git/config: nothing in it runs ----------------------------------------


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_an_fsmonitor_command_in_the_workspace_config_never_runs(ws: Workspace, operation: str, tmp_path: Path):
    def attack() -> None:
        script = tmp_path / "fsmonitor.sh"
        script.write_text(_hook_script(ws.log))
        script.chmod(0o755)
        git(ws.root, "config", "core.fsmonitor", str(script))

    outcome = attempt(ws, operation, attack)
    assert_no_token(ws, ws.seen())
    assert not ws.log.exists()
    assert_landed(outcome)


def test_a_clean_filter_on_the_report_images_never_runs(ws: Workspace, tmp_path: Path):
    def attack() -> None:
        script = tmp_path / "filter.sh"
        script.write_text(f'#!/bin/sh\n{{ echo "filter: $0 $*"; env; }} >> "{ws.log}" 2>/dev/null\ncat\n')
        script.chmod(0o755)
        git(ws.root, "config", "filter.steal.clean", str(script))
        (ws.root / ".gitattributes").write_text("*.png filter=steal\n")

    outcome = attempt(ws, "assets", attack)
    assert_no_token(ws, ws.seen())
    assert not ws.log.exists()
    assert_landed(outcome)


# --- what stays as it was -----------------------------------------------------------------------


def test_without_a_credential_the_users_own_git_setup_is_used(git_repo: Path, tmp_path: Path, monkeypatch):
    """Locally (no token from mlci) pushes go through the user's config: their rewrites, helpers, keys."""
    bare = tmp_path / "real-origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(git_repo, "remote", "add", "origin", "mine:real-origin.git")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f'[url "{tmp_path}/"]\n\tinsteadOf = mine:\n')
    monkeypatch.setenv("HOME", str(home))
    repo = gitrepo.open_repo(git_repo)
    record = RunRecord(
        commit=git(git_repo, "rev-parse", "HEAD"), branch="main", dirty=False, params={}, metrics={"m": {"a": 1}}
    )
    baseline.save(repo, record)
    baseline.push(repo, "origin")
    assert record.id in git(bare, "notes", "--ref=mlci", "show", record.commit)


def test_share_pushes_onto_origins_records_and_leaves_the_workspace_refs_alone(ws: Workspace):
    """The scratch repository does the work: no scratch ref is left in the clone."""
    head = git(ws.root, "rev-parse", "HEAD")
    earlier = _record(ws)
    git(ws.origin.bare, "notes", "--ref=mlci", "add", "-m", earlier.to_json(), head)
    before = git(ws.root, "for-each-ref")
    landed = do_share(ws)
    assert landed()
    assert earlier.id in _origin_note(ws)
    assert git(ws.root, "for-each-ref") == before


def test_a_shallow_clone_shares_fetches_and_pushes(ws: Workspace, tmp_path: Path):
    """actions/checkout clones with depth 1 by default: the scratch repository keeps its boundary."""
    from tests.helpers import commit_all

    for n in range(3):
        (ws.root / f"f{n}.txt").write_text(f"{n}\n")
        commit_all(ws.root, f"commit {n}")
    subprocess.run(["git", "push", "-q", "origin", "main"], cwd=ws.root, env=_env_with(ws.auth), check=True)
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth=1", ws.origin.url, str(shallow)], env=_env_with(ws.auth), check=True)
    assert (shallow / ".git" / "shallow").is_file()
    clone = Workspace(shallow, ws.origin, ws.auth, ws.log)
    assert do_share(clone)()
    assert do_fetch(clone)()
    assert do_push(clone)()
    assert do_tags(clone)()
    assert git(shallow, "rev-list", "--count", "HEAD") == "1"  # still shallow, nothing broken
    git(shallow, "fsck", "--connectivity-only")


def test_a_rejected_push_merges_origins_new_records_and_retries(ws: Workspace):
    landed = do_push(ws)  # origin has a record from a concurrent writer: rejected, merged, pushed
    assert landed()
    head = git(ws.root, "rev-parse", "HEAD")
    on_origin = {json.loads(line)["id"] for line in _origin_note(ws).splitlines()}
    here = {r.id for r in baseline.records_for(gitrepo.open_repo(ws.root), head)}
    assert len(on_origin) == 2 and on_origin == here


def test_no_token_in_the_error_when_origin_refuses(ws: Workspace):
    ws.origin.token = "ghs_anotherTokenThatOriginWants000000001"  # ours is now wrong
    repo = gitrepo.open_repo(ws.root)
    baseline.save(repo, _record(ws))
    with pytest.raises(MlciError) as caught, repo.git.custom_environment(**ws.auth):
        baseline.push(repo, "origin")
    assert "origin" in caught.value.message
    assert all(secret not in caught.value.message for secret in ws.secrets())


# --- the whole command, as the runner runs it ----------------------------------------------------


def test_the_main_baseline_job_after_a_pr_job_planted_hooks_in_home(
    trained_repo, fake_github, git_http_origin, tmp_path
):
    """Finding 2: on a self-hosted runner an earlier (PR) job wrote `~/.gitconfig`; the next job,
    main's baseline with a `contents: write` token, records, pushes its record and promotes. No
    hook the earlier job left sees the token, and the record and the registry tags reach origin."""
    import sys

    from tests.helpers import commit_all
    from tests.plugins.fake_github import actions_env

    config = trained_repo / "mlci.yaml"
    config.write_text(config.read_text() + "registry:\n  promote_on: main\n")
    subprocess.run(
        [sys.executable, "-m", "dvc", "remote", "add", "--local", "-d", "storage", str(tmp_path / "dvc-storage")],
        cwd=trained_repo,
        check=True,
        capture_output=True,
    )
    sha = commit_all(trained_repo, "Promote from main")
    git_http_origin.token = fake_github.token  # one job token for git and the API, as on GitHub
    git(trained_repo, "remote", "add", "origin", git_http_origin.url)
    auth = auth_env(git_http_origin.token, git_http_origin.server_url, {})
    subprocess.run(["git", "push", "-q", "origin", "main"], cwd=trained_repo, check=True, env=_env_with(auth))
    home, log = tmp_path / "home", tmp_path / "attacker.log"
    plant_hooks(home / "hooks", log)
    (home / ".gitconfig").write_text(f"[core]\n\thooksPath = {home / 'hooks'}\n")
    env = {
        **os.environ,
        **actions_env(fake_github, tmp_path / "runner", event="push", sha=sha, token=git_http_origin.token),
        "GITHUB_SERVER_URL": git_http_origin.server_url,
        "GIT_TERMINAL_PROMPT": "0",
        "HOME": str(home),
    }
    out = subprocess.run(
        [sys.executable, "-m", "mlci", "ci", "--json"], cwd=trained_repo, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    seen = log.read_text(errors="replace") if log.exists() else ""
    header = base64.b64encode(f"x-access-token:{git_http_origin.token}".encode()).decode()
    assert git_http_origin.token not in seen and header not in seen and "authorization" not in seen.lower()
    assert git(git_http_origin.bare, "notes", "--ref=mlci", "show", sha)
    assert git(git_http_origin.bare, "tag", "--list", "churn@*") == "churn@v0.0.1"
