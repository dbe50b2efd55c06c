"""How fast the PR loop's everyday commands are, against what users would run otherwise.

    python bench/bench_cli.py [--repeat 5]

Prints: `mlci --help` wall time (target < 0.15 s); `mlci diff` vs `dvc metrics diff` on a
50-metric repo and their ratio (target: mlci at most a third of DVC's time); and a second
`mlci run` with nothing changed (target: no stage runs). Numbers, not assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
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
}


def byte_compile_mlci() -> None:
    """Write mlci's .pyc files, as `pip install` does, so timings do not include compiling it.

    Development shells often set PYTHONDONTWRITEBYTECODE (this project's do): every `mlci`
    process would then compile mlci's modules from source (~25 ms), while the peer's
    (dvc's, installed) are read from .pyc. Stale .pyc files are never used (mtime check).
    """
    import mlci

    env = {k: v for k, v in ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(mlci.__file__).parent)],
        env=env,
        check=True,
        capture_output=True,
    )


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=ENV, check=True, capture_output=True)


def fifty_metric_repo(root: Path) -> None:
    git(root, "init", "-q", "-b", "main")
    subprocess.run([str(BIN / "dvc"), "init", "-q"], cwd=root, env=ENV, check=True)
    names = [f"metric_{i:02d}" for i in range(50)]
    (root / "dvc.yaml").write_text("metrics:\n  - metrics.json\n")
    (root / "metrics.json").write_text(json.dumps({n: 0.5 + i / 1000 for i, n in enumerate(names)}))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "baseline")
    git(root, "checkout", "-q", "-b", "feature")
    (root / "metrics.json").write_text(json.dumps({n: 0.6 - i / 1000 for i, n in enumerate(names)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    help_time = timed([str(BIN / "mlci"), "--help"], env=ENV, repeat=args.repeat)
    print(f"mlci --help                 {help_time * 1000:7.0f} ms   (target < 150 ms)")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        fifty_metric_repo(root)
        ours = timed([str(BIN / "mlci"), "diff", "--base", "main", "--json"], env=ENV, cwd=root, repeat=args.repeat)
        theirs = timed([str(BIN / "dvc"), "metrics", "diff", "main", "--json"], env=ENV, cwd=root, repeat=args.repeat)
        print(f"mlci diff (50 metrics)      {ours * 1000:7.0f} ms")
        print(f"dvc metrics diff            {theirs * 1000:7.0f} ms")
        print(f"ratio mlci/dvc              {ours / theirs:7.2f}      (target <= 0.33)")

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "example"
        subprocess.run([str(BIN / "mlci"), "demo", "--dir", str(root)], env=ENV, check=True, capture_output=True)
        start = time.perf_counter()
        out = subprocess.run(
            [str(BIN / "mlci"), "run", "--json", "--no-record"],
            cwd=root,
            env=ENV,
            check=True,
            capture_output=True,
            text=True,
        )
        second = time.perf_counter() - start
        ran = [s["name"] for s in json.loads(out.stdout)["stages"] if s["status"] == "ran"]
        print(f"second mlci run, no change  {second * 1000:7.0f} ms   stages that ran: {ran or 'none'}")


if __name__ == "__main__":
    main()
