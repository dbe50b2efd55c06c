"""Issue 18, row 3: finding `pr/999` among 2,000 recorded commits (what `mlci reproduce pr/999`
resolves first), and the peer figure of `git notes list` alone.

    python bench/bench_notes.py [--repeat 5] [--commits 2000] [--compare /path/to/other/checkout]

Builds the history and its notes with one `git fast-import`, then times a fresh process
doing `baseline.all_records` + the pr filter (median of `repeat`). `--compare` runs the same
with another checkout's mlci on PYTHONPATH (before/after in the same run). Numbers only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_cli import ENV, git
from timing import timed

LOOKUP = (
    "from mlci.store import baseline, gitrepo\n"
    "r = gitrepo.open_repo('.')\n"
    "assert [x for x in baseline.all_records(r) if x.pr == 999]\n"
)


def noted_history(root: Path, commits: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mlci.model.record import RunRecord

    git(root, "init", "-q", "-b", "main")
    stream = []
    for i in range(1, commits + 1):
        message = f"c{i}".encode()
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
    hashes = sorted((line.split() for line in marks.read_text().splitlines()), key=lambda p: int(p[0][1:]))
    shas = [sha for _mark, sha in hashes]
    notes = [b"commit refs/notes/mlci\ncommitter b <b@x.invalid> 1700000000 +0000\ndata 5\nnotes\n"]
    for n, sha in enumerate(shas):
        line = (
            RunRecord(
                commit=sha, branch="main", dirty=False, params={}, metrics={"m.json": {"acc": n / commits}}, pr=n % 1000
            )
            .to_json()
            .encode()
            + b"\n"
        )
        notes.append(b"N inline %s\ndata %d\n%s\n" % (sha.encode(), len(line), line))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, env=ENV, input=b"".join(notes), check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    here = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        noted_history(root, args.commits)
        peer = timed(["git", "notes", "--ref=refs/notes/mlci", "list"], env=ENV, cwd=root, repeat=args.repeat)
        ours = timed([sys.executable, "-c", LOOKUP], env={**ENV, "PYTHONPATH": here}, cwd=root, repeat=args.repeat)
        print(f"pr/999 lookup, {args.commits} noted commits: {ours:6.2f} s   (git notes list alone {peer:5.2f} s)")
        if args.compare:
            other = timed(
                [sys.executable, "-c", LOOKUP],
                env={**ENV, "PYTHONPATH": str(args.compare)},
                cwd=root,
                repeat=args.repeat,
            )
            print(f"same lookup with {args.compare}: {other:6.2f} s   ratio this/that {ours / other:5.2f}")
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
