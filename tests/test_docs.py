"""The docs site: it builds strictly, documents every command and option, and its generated
pages (architecture map, JSON schemas) are what the code says today."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _commands(group: click.Group, ctx: click.Context, prefix: str):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        path = f"{prefix} {name}"
        yield path, command
        if isinstance(command, click.Group):
            yield from _commands(command, click.Context(command, parent=ctx, info_name=name), path)


def test_the_docs_build_strictly(site):
    assert (site / "index.html").is_file() and (site / "reference" / "cli" / "index.html").is_file()


def test_every_command_and_option_is_in_the_cli_reference(site):
    from mlci.cli import cli

    page = html.unescape((site / "reference" / "cli" / "index.html").read_text(encoding="utf-8"))
    # each command's section: from its heading to the next heading
    parts = re.split(r'<h\d id="([^"]+)"', page)
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    missing = []
    for path, command in _commands(cli, click.Context(cli, info_name="mlci"), "mlci"):
        section = sections.get(path.replace(" ", "-"))
        if section is None:
            missing.append(path)
            continue
        for param in command.params:
            if isinstance(param, click.Option):
                missing += [f"{path} {opt}" for opt in param.opts if opt not in section]
    assert missing == []


def test_the_generated_pages_are_current():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen-docs"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def test_the_architecture_map_and_the_tree_agree():
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(mlci/[\w/]+\.py)`", page))
    tree = {p.relative_to(ROOT).as_posix() for p in (ROOT / "mlci").rglob("*.py")}
    assert named == tree


def test_the_mlci_yaml_schema_accepts_the_bundled_configs_and_names_every_key():
    import jsonschema

    from mlci.store import config

    schema = json.loads((ROOT / "docs" / "reference" / "mlci-yaml.schema.json").read_text())
    for example in sorted(ROOT.glob("templates/example*/mlci.yaml")):
        jsonschema.validate(yaml.safe_load(example.read_text()), schema)
    assert set(schema["properties"]) == set(config._TOP_SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"registry": {"promote_on": "sometimes"}}, schema)


def test_the_readme_is_short_and_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250
    commands = [line for line in lines[:20] if line.startswith("pip install")]
    assert commands == ["pip install -e . && mlci demo", 'pip install -e ".[all,dev]" && pytest']
    assert (ROOT / ".ci" / "run").read_text().count('pip install -e ".[all,dev]" && pytest') == 1


def test_the_quick_start_in_the_docs_is_the_one_the_readme_runs():
    """tests/test_quickstart.py runs the README's block; the docs pages may not drift from it."""
    block = re.compile(r"<!-- quickstart.*?<!-- /quickstart -->", re.DOTALL)
    [readme] = block.findall((ROOT / "README.md").read_text(encoding="utf-8"))
    for page in ("getting-started.md", "index.md"):
        assert block.findall((ROOT / "docs" / page).read_text(encoding="utf-8")) == [readme], page
