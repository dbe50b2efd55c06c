"""`evaluate()`: the verdict and what it rests on, computed without rendering anything."""

from __future__ import annotations

import json
import subprocess
import sys

from mlci.workflows.evaluate import evaluate
from mlci.workflows.report import build
from tests.helpers import git


def test_the_evaluation_is_what_the_report_renders(_regressed_pr, tmp_path):
    ev = evaluate(_regressed_pr, base_ref="main", resamples=50)
    report = json.loads(build(_regressed_pr, base_ref="main", out_dir=tmp_path / "out", resamples=50).json.read_text())
    assert not ev.verdict.passed
    assert ev.verdict.to_dict() == report["gate"]
    assert ev.comparison.to_dict() == report["comparison"]
    assert [d.__dict__ for d in ev.deps] == report["deps"]
    assert {n: e.significance.to_dict() for n, e in ev.evidence.items()} == {
        n: m["significance"] for n, m in report["models"].items()
    }


_AUDIT = """
import os, sys
writes = []
def hook(event, args):
    if event in ("os.mkdir", "tempfile.mkdtemp", "tempfile.mkstemp"):
        writes.append(f"{event} {args[0]}")
    elif event == "open" and isinstance(args[0], (str, bytes, os.PathLike)) and args[0] != os.devnull:
        mode, flags = args[1] or "", args[2] or 0
        if any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            writes.append(f"open {args[0]} {mode}")
sys.addaudithook(hook)
from mlci.cli import cli
try:
    cli(["gate", "--base", "main"], prog_name="mlci")
except SystemExit as exc:
    code = exc.code
sys.stderr.write("WRITES:" + repr(writes) + "\\n")
sys.exit(code)
"""


def test_mlci_gate_writes_no_file(_regressed_pr):
    """Python's audit hooks see every file and directory the gate's process creates: none."""
    before = git(_regressed_pr, "status", "--porcelain", "--ignored")
    done = subprocess.run([sys.executable, "-c", _AUDIT], cwd=_regressed_pr, capture_output=True, text=True)
    assert done.returncode == 1 and "gate failed" in done.stdout, done.stderr
    assert "WRITES:[]" in done.stderr, done.stderr[-2000:]
    assert git(_regressed_pr, "status", "--porcelain", "--ignored") == before
