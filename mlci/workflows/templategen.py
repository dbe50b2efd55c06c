"""The one place the mlci action's ref is set, and the files derived from it.

The workflow templates (`templates/workflows/*.yml`, what `mlci init --workflows` copies and
users copy by hand) stay plain, copyable YAML; what is derived is the action ref in their
`uses:` lines, the runner image's install ref, and the README's copy-paste workflow blocks,
which are the templates verbatim. `scripts/gen-templates` rewrites them; a test fails when a
checked-in file differs from what this module derives, so a template edit is one edit plus a
re-run, and a new ref (a fork, a release) is one line here.
"""

from __future__ import annotations

import re
from pathlib import Path

#: The action every template uses; `release.yml` moves the major tag `v1` on each release.
ACTION_REPO = "org/mlci"
ACTION_MAJOR = "v1"
ACTION_REF = f"{ACTION_REPO}@{ACTION_MAJOR}"

# `someone/mlci@anything`: the action, in a `uses:` line or in prose, whatever ref it has now
_ACTION = re.compile(r"(?<![\w./-])[A-Za-z0-9_.-]+/mlci@[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
# README: <!-- mlci:template templates/workflows/pr.yml --> ```yaml … ``` <!-- /mlci:template -->
_BLOCK = re.compile(r"(<!-- mlci:template (?P<path>[^ ]+) -->\n)(?P<body>.*?)(<!-- /mlci:template -->)", re.DOTALL)
_DOCKER_ARGS = re.compile(r"(?m)^ARG MLCI_(REPO|REF)=.*$")
# README's runner install: `git clone … --branch v1 https://github.com/org/mlci`
_CLONE = re.compile(r"--branch [A-Za-z0-9_.-]+ https://github\.com/[A-Za-z0-9_.-]+/mlci(?![\w.-])")


def render_workflow(text: str, ref: str = ACTION_REF) -> str:
    """`text` with every mention of the mlci action (its `uses:` lines, comments) naming `ref`."""
    return _ACTION.sub(ref, text)


def render_dockerfile(text: str, repo: str = ACTION_REPO, major: str = ACTION_MAJOR) -> str:
    """The runner image installs mlci from the action's repository at the same ref."""
    values = {"REPO": f"https://github.com/{repo}", "REF": major}
    return _DOCKER_ARGS.sub(lambda m: f"ARG MLCI_{m.group(1)}={values[m.group(1)]}", text)


def render_readme(text: str, templates: dict[str, str]) -> str:
    """Every marked README block replaced by the (rendered) template it names, verbatim."""

    def block(m: re.Match) -> str:
        if m.group("path") not in templates:
            raise ValueError(f"README block names {m.group('path')}, which is not a workflow template")
        return f"{m.group(1)}```yaml\n{templates[m.group('path')].rstrip()}\n```\n{m.group(4)}"

    return _BLOCK.sub(block, text)


def derived(root: Path) -> dict[str, str]:
    """Relative path -> the content it must have: every template, the runner image, the README and docs."""
    out: dict[str, str] = {}
    for path in sorted([*root.glob("templates/workflows/*.yml"), *root.glob("templates/workflows-cpu/*.yml")]):
        out[path.relative_to(root).as_posix()] = render_workflow(path.read_text())
    docker = root / "templates" / "runners" / "Dockerfile.gpu-runner"
    out[docker.relative_to(root).as_posix()] = render_dockerfile(docker.read_text())
    # the README and the docs embed the templates as they will be written, not as they are on disk now
    for page in [root / "README.md", *sorted(root.glob("docs/**/*.md"))]:
        text = _CLONE.sub(f"--branch {ACTION_MAJOR} https://github.com/{ACTION_REPO}", page.read_text())
        out[page.relative_to(root).as_posix()] = render_readme(render_workflow(text), out)
    return out


def drifted(root: Path) -> list[str]:
    """The files whose checked-in content differs from what is derived (empty: all in sync)."""
    return [rel for rel, text in derived(root).items() if (root / rel).read_text() != text]


def write(root: Path) -> list[str]:
    """Rewrite the drifted files in place (atomically); returns their paths."""
    from mlci.store.atomicio import write_text

    changed = drifted(root)
    everything = derived(root)
    for rel in changed:
        write_text(root / rel, everything[rel])
    return changed
