"""Issue 18, row 5: `mlci ci` on a PR that changes nothing the pipeline reads (no training).

    python bench/bench_ci.py [--repeat 5]

Builds the example project (scaffold, trained and recorded on main, like tests/conftest.py's
`_trained_example`), branches a docs-only PR, and runs the real `mlci ci` as a pull_request
step against the loopback GitHub of tests/plugins/fake_github.py (comment, check, summary).
Prints the median wall time of `mlci ci`, of `dvc repro` (a no-op here) in the same repo, and
their difference: mlci's own time (target <= 5 s), with the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

from bench_cli import BIN, ENV, byte_compile_mlci, git
from timing import timed

REPO = Path(__file__).resolve().parents[1]


def fake_github():
    """The loopback GitHub the tests use, served from a thread of this process."""
    sys.path.insert(0, str(REPO))
    from tests.plugins.fake_github import FakeGitHub, _Handler

    state = FakeGitHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Handler,), {"state": state}))
    state.port = server.server_address[1]
    state.url = f"http://127.0.0.1:{state.port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state, server


def trained_pr(root: Path) -> str:
    env = {**ENV, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), ENV.get("PYTHONPATH")]))}
    git(root, "init", "-q", "-b", "main")
    code = (
        "import sys; from pathlib import Path; from mlci.workflows import scaffold, run; r = Path(sys.argv[1]); "
        "scaffold.init(r, example=True)"
    )
    subprocess.run([sys.executable, "-c", code, str(root)], env=env, check=True, capture_output=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Add pipeline")
    subprocess.run([str(BIN / "mlci"), "run"], cwd=root, env=env, check=True, capture_output=True)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Train baseline")
    subprocess.run([str(BIN / "mlci"), "run"], cwd=root, env=env, check=True, capture_output=True)
    git(root, "checkout", "-q", "-b", "feature")
    (root / "NOTES.md").write_text("docs only\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "Docs")
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    byte_compile_mlci()
    state, server = fake_github()
    from tests.plugins.fake_github import actions_env

    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "repo"
            root.mkdir()
            sha = trained_pr(root)
            env = {**ENV, **actions_env(state, Path(tmp) / "runner", sha=sha)}
            print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
            ci = timed([str(BIN / "mlci"), "ci"], env=env, cwd=root, repeat=args.repeat)
            repro = timed([str(BIN / "dvc"), "repro"], env=ENV, cwd=root, repeat=args.repeat)
            assert state.check_runs, "mlci ci posted no check run"
    finally:
        server.shutdown()
    print(
        f"mlci ci, docs-only PR: {ci:5.2f} s   dvc repro (no-op) {repro:5.2f} s   "
        f"mlci's own time {ci - repro:5.2f} s (target <= 5 s; median of {args.repeat})"
    )
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
