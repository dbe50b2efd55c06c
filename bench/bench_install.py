"""Cold and warm time of action.yml's install steps ("Find mlci's venv", then "Install mlci"),
run as the runner runs them on a self-hosted runner (no actions/cache).

Cold: an empty tool cache (a fresh venv from requirements.lock, hashes checked). Warm: the same
tool cache again (a second job on a self-hosted runner: the venv is reused). Packages come from
the registry, or from a local wheelhouse with --wheelhouse DIR (PIP_NO_INDEX + PIP_FIND_LINKS).
The step must find no mlci already installed, so the Python used is --python (default
/usr/bin/python3). Targets (issue 14): warm <= 3 s, cold <= 60 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def install_scripts() -> tuple[str, str]:
    steps = {s.get("name"): s for s in yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]}
    return steps["Find mlci's venv"]["run"], steps["Install mlci"]["run"]


def outputs(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def run_step(tool_cache: Path, temp: Path, python: str, wheelhouse: str | None) -> float:
    env = {
        "PATH": f"{Path(python).parent}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
        "RUNNER_TEMP": str(temp),
        "RUNNER_TOOL_CACHE": str(tool_cache),
        "RUNNER_OS": "Linux",
        "MLCI_ACTION_PATH": str(ROOT),
        "MLCI_RUNNER_OS": "Linux",
    }
    if wheelhouse:
        env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=wheelhouse)
    find, install = install_scripts()
    output = temp / "find-output"
    output.write_text("")
    start = time.perf_counter()
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", find],
        cwd=temp,
        env={**env, "GITHUB_OUTPUT": str(output)},
        check=True,
    )
    found = outputs(output)
    subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", install],
        cwd=temp,
        env={**env, "MLCI_VENV": found["path"], "MLCI_LOCK": found["lock"]},
        check=True,
    )
    took = time.perf_counter() - start
    subprocess.run([str(temp / "mlci-venv" / "bin" / "mlci"), "--version"], check=True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", default="/usr/bin/python3")
    parser.add_argument("--wheelhouse", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cache, temp = Path(tmp, "toolcache"), Path(tmp, "temp")
        temp.mkdir()
        cold = run_step(cache, temp, args.python, args.wheelhouse)
        warm = run_step(cache, temp, args.python, args.wheelhouse)
        size = subprocess.run(["du", "-sm", str(cache)], capture_output=True, text=True, check=True).stdout.split()[0]
    source = f"wheelhouse {args.wheelhouse}" if args.wheelhouse else "the registry"
    print(
        f"install from {source}: cold {cold:.1f} s (target <= 60 s), warm {warm:.2f} s (target <= 3 s), venv {size} MB"
    )


if __name__ == "__main__":
    main()
