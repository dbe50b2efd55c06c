"""What `mlci reproduce` costs on top of re-running the pipeline itself.

    python bench/bench_reproduce.py [--repeat 2]

Builds the demo repo, then times `mlci reproduce <main's commit>` (worktree, DVC cache
wiring, checkout, forced re-run, comparison, cleanup) against a bare
`dvc repro --force --no-run-cache` of the same commit in a plain clone. Prints both and the
overhead (target: under 3 s, i.e. the pipeline dominates). Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import timed

BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "DVC_NO_ANALYTICS": "1",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "b@x.invalid",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "b@x.invalid",
    "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        demo = Path(tmp) / "demo"
        subprocess.run([str(BIN / "mlci"), "demo", "--dir", str(demo)], env=ENV, check=True, capture_output=True)
        commit = subprocess.run(
            ["git", "rev-parse", "main"], cwd=demo, env=ENV, check=True, capture_output=True, text=True
        ).stdout.strip()
        reproduce = timed([str(BIN / "mlci"), "reproduce", commit], env=ENV, cwd=demo, repeat=args.repeat)

        plain = Path(tmp) / "plain"
        subprocess.run(["git", "clone", "-q", str(demo), str(plain)], env=ENV, check=True)
        subprocess.run(["git", "checkout", "-q", commit], cwd=plain, env=ENV, check=True)
        shutil.copytree(demo / ".dvc" / "cache", plain / ".dvc" / "cache")
        subprocess.run([str(BIN / "dvc"), "checkout", "-q"], cwd=plain, env=ENV, check=False, capture_output=True)
        repro = timed([str(BIN / "dvc"), "repro", "--force", "--no-run-cache"], env=ENV, cwd=plain, repeat=args.repeat)

    print(f"dvc repro --force --no-run-cache   {repro:6.1f} s")
    print(f"mlci reproduce <commit>            {reproduce:6.1f} s")
    print(
        f"overhead                           {reproduce - repro:6.1f} s   (target < 3 s)  ratio {reproduce / repro:.2f}"
    )


if __name__ == "__main__":
    main()
