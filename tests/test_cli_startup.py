"""The CLI stays light: `--help` and `diff` import none of the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("git", "dvc", "pandas", "matplotlib", "lightgbm", "sklearn", "mlflow", "gto", "numpy", "dask", "httpx")

_PROBE = """
import json, sys
from mlci.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="mlci", standalone_mode=False)
except SystemExit:
    pass
print("\\nMODULES=" + json.dumps(sorted({m.split('.')[0] for m in sys.modules})))
"""


def loaded_modules(*args: str, cwd: Path | None = None) -> set[str]:
    out = subprocess.run([sys.executable, "-c", _PROBE, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.rsplit("MODULES=", 1)[1]))


def test_help_imports_nothing_heavy():
    assert not loaded_modules("--help") & set(HEAVY)


def test_diff_imports_nothing_heavy(trained_repo: Path):
    """Not even GitPython ("git"): the read path is plain git plumbing."""
    modules = loaded_modules("diff", "--json", cwd=trained_repo)
    assert "mlci.store.gitplumb" in _submodules("diff", "--json", cwd=trained_repo)  # it did real work, on plumbing
    assert not modules & set(HEAVY)


def test_diff_reads_the_real_base_without_gitpython(trained_repo: Path):
    out = subprocess.run(
        [sys.executable, "-m", "mlci", "diff", "--json"], cwd=trained_repo, capture_output=True, text=True, check=True
    )
    base = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=trained_repo, capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out.stdout)
    assert result["base"]["commit"] == base.strip()
    assert result["base"]["source"] == "record"  # the note was read through cat-file
    assert result["metrics"] and all(m["base"] is not None for m in result["metrics"])


def _submodules(*args: str, cwd: Path | None = None) -> set[str]:
    probe = _PROBE.replace("m.split('.')[0] for m in sys.modules", "m for m in sys.modules")
    out = subprocess.run([sys.executable, "-c", probe, *args], cwd=cwd, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.rsplit("MODULES=", 1)[1]))


def test_console_script_is_installed_and_prints_help():
    script = Path(sys.executable).with_name("mlci")
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    assert "mlci demo" in out.stdout
    for command in ("init", "run", "diff", "demo", "record"):
        assert command in out.stdout


def test_version_option():
    script = Path(sys.executable).with_name("mlci")
    assert subprocess.run([str(script), "--version"], capture_output=True, text=True).stdout.startswith("mlci, version")
