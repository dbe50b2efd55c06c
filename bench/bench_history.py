"""Issue 28: `mlci history` over 2,000 recorded commits (target ≤ 1 s), in a fresh process.

    python bench/bench_history.py [--repeat 5] [--commits 2000]

Builds a first-parent history of `commits` commits, each with a realistic run record (params,
six metrics, dvc.lock deps and outs, stage timings, an environment), with one `git fast-import`
for the commits and one for the notes; then times `mlci history --json` (all runs) and
`mlci history --json --last 20` (median of `repeat`), and prints `git log --first-parent` and
`git notes list` alone for scale. Numbers only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_cli import ENV, byte_compile_mlci, git
from timing import timed

HERE = str(Path(__file__).resolve().parents[1])


def recorded_history(root: Path, commits: int) -> None:
    sys.path.insert(0, HERE)
    from mlci.model.record import RunRecord, StageRun

    git(root, "init", "-q", "-b", "main")
    stream = []
    for i in range(1, commits + 1):
        message = f"main commit {i}".encode()
        stream.append(
            b"commit refs/heads/main\nmark :%d\ncommitter b <b@x.invalid> %d +0000\ndata %d\n%s\n"
            % (i, 1_700_000_000 + i, len(message), message)
        )
        if i > 1:
            stream.append(b"from :%d\n" % (i - 1))
    marks = root / ".git" / "bench-marks"
    subprocess.run(
        ["git", "fast-import", "--quiet", f"--export-marks={marks}"],
        cwd=root,
        env=ENV,
        input=b"".join(stream),
        check=True,
    )
    shas = [
        sha
        for _m, sha in sorted((line.split() for line in marks.read_text().splitlines()), key=lambda p: int(p[0][1:]))
    ]
    notes = [b"commit refs/notes/mlci\ncommitter b <b@x.invalid> 1700000000 +0000\ndata 5\nnotes\n"]
    for n, sha in enumerate(shas):
        record = RunRecord(
            commit=sha,
            branch="main",
            dirty=False,
            params={"params.yaml": {f"train.p{k}": k + n % 7 for k in range(10)}},
            metrics={
                "metrics.json": {
                    m: 0.8 + (n % 97) / 1000 for m in ("auc", "accuracy", "f1", "precision", "recall", "logloss")
                }
            },
            deps={f"src/s{k}.py": f"{n:032x}" for k in range(6)},
            outs={"models/model.txt": f"{n:032x}", "eval/predictions.csv": f"{n + 1:032x}"},
            stages=[StageRun(s, "ran", 1.5) for s in ("prepare", "train", "evaluate")],
            environment={
                "python": "3.11.7",
                "os": "Linux",
                "cpu": "x86_64",
                "cpu_count": 8,
                "packages": {"lightgbm": "4.5"},
            },
            created_at="2026-01-01T00:00:00+00:00",
        )
        line = record.to_json().encode() + b"\n"
        notes.append(b"N inline %s\ndata %d\n%s\n" % (sha.encode(), len(line), line))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, env=ENV, input=b"".join(notes), check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--commits", type=int, default=2000)
    args = parser.parse_args()
    byte_compile_mlci()
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    env = {**ENV, "PYTHONPATH": HERE}
    mlci = [sys.executable, "-m", "mlci"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        recorded_history(root, args.commits)
        walk = timed(["git", "log", "--first-parent", "--format=%H", "main"], env=ENV, cwd=root, repeat=args.repeat)
        listing = timed(["git", "notes", "--ref=refs/notes/mlci", "list"], env=ENV, cwd=root, repeat=args.repeat)
        every = timed([*mlci, "history", "--json"], env=env, cwd=root, repeat=args.repeat)
        last = timed([*mlci, "history", "--json", "--last", "20"], env=env, cwd=root, repeat=args.repeat)
        table = timed([*mlci, "history", "--last", "20"], env=env, cwd=root, repeat=args.repeat)
        print(f"mlci history --json, {args.commits} recorded commits: {every:6.2f} s   (target ≤ 1 s)")
        print(f"mlci history --json --last 20:                 {last:6.2f} s")
        print(f"mlci history --last 20 (table):                {table:6.2f} s")
        print(f"git log --first-parent alone {walk:5.2f} s, git notes list alone {listing:5.2f} s")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
