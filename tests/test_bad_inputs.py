"""Every bad input fails cleanly: a table of cases, each run through the real CLI.

Each case mutates a private copy of a small real repository (git, notes, dvc.yaml, params,
metrics, predictions), runs one `mlci` command and asserts: the documented exit code (the
README's table), exactly one line on stderr, no traceback, and no changed state (`git
status`, refs incl. tags and notes, every file's bytes). Cases run in-process through
click's CliRunner; only the disk-full cases need a subprocess (an RLIMIT_FSIZE limit).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlci.cli import cli
from tests.helpers import commit_all, git

METRICS = '{"auc": 0.91, "logloss": 0.29}\n'
OUT = "{out}"  # in args: a directory outside the repository (a report that succeeds writes there)
CONFIG = (
    "metrics: [metrics.json]\npredictions: preds.csv\n"
    "goals:\n  auc: {direction: higher, min: 0.5}\n  logloss: {direction: lower}\n"
)
DVC_YAML = "stages:\n  train:\n    cmd: python train.py\n    params: [train]\n    metrics:\n    - metrics.json:\n        cache: false\n"


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    exit: int
    expect: str  # a piece of the one stderr line
    files: dict[str, str | bytes | None] = field(default_factory=dict)  # None: delete
    setup: Callable[[Path], None] | None = None
    indented_ok: bool = False  # a pipeline failure adds progress and `  | ` output lines (README)


def note(text: str, rev: str = "HEAD") -> Callable[[Path], None]:
    return lambda root: git(root, "notes", "--ref=refs/notes/mlci", "add", "-f", "-m", text, rev)


def make_dir(rel: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        target = root / rel
        if target.exists():
            target.unlink()
        target.mkdir()
        (target / "x").write_text("x")

    return setup


def fifo(rel: str) -> Callable[[Path], None]:
    """A named pipe where a file should be: reading it would block forever."""

    def setup(root: Path) -> None:
        (root / rel).unlink(missing_ok=True)
        os.mkfifo(root / rel)

    return setup


def symlink(rel: str, to: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / rel).unlink(missing_ok=True)
        (root / rel).symlink_to(to)

    return setup


# --- the table ----------------------------------------------------------------------------


def _config_cases() -> list[Case]:
    bad = {
        "unknown-top-key": ("metrics: [metrics.json]\nbogus: 1\n", "unknown key 'bogus'"),
        "unknown-goal-key": (
            "metrics: [metrics.json]\ngoals:\n  auc: {dirction: higher}\n",
            "did you mean 'direction'",
        ),
        "unknown-section-key": ("metrics: [metrics.json]\nregistry: {promot_on: main}\n", "did you mean 'promote_on'"),
        "promote-on-typo": ("metrics: [metrics.json]\nregistry: {promote_on: mian}\n", "did you mean 'main'"),
        "backend-typo": ("metrics: [metrics.json]\nregistry: {backend: gtoo}\n", "did you mean 'gto'"),
        "task-typo": ("metrics: [metrics.json]\ntask: binry\n", "did you mean 'binary'"),
        "direction-typo": ("metrics: [metrics.json]\ngoals:\n  auc: {direction: hihger}\n", "did you mean 'higher'"),
        "direction-number": ("metrics: [metrics.json]\ngoals:\n  auc: {direction: 1}\n", "must be a string"),
        "min-nan": ("metrics: [metrics.json]\ngoals:\n  auc: {min: .nan}\n", "write a finite number"),
        "min-inf": ("metrics: [metrics.json]\ngoals:\n  auc: {min: .inf}\n", "write a finite number"),
        "max-neg-inf": ("metrics: [metrics.json]\ngoals:\n  auc: {max: -.inf}\n", "write a finite number"),
        "min-1e400": ("metrics: [metrics.json]\ngoals:\n  auc: {min: 1e400}\n", "'goals.auc.min'"),
        "huge-int": ("metrics: [metrics.json]\ngoals:\n  auc: {min: " + "9" * 400 + "}\n", "out of range"),
        "max-regression-negative": ("metrics: [metrics.json]\ngoals:\n  auc: {max_regression: -1}\n", "must be >= 0"),
        "max-regression-rel-negative": (
            "metrics: [metrics.json]\ngoals:\n  auc: {max_regression_rel: -0.1}\n",
            "must be >= 0",
        ),
        "tolerance-negative": ("metrics: [metrics.json]\ngoals:\n  auc: {tolerance: -0.1}\n", "must be >= 0"),
        "tolerance-nan": ("metrics: [metrics.json]\nreproduce: {tolerance: .nan}\n", "write a finite number"),
        "min-string": ("metrics: [metrics.json]\ngoals:\n  auc: {min: high}\n", "must be a number"),
        "min-bool": ("metrics: [metrics.json]\ngoals:\n  auc: {min: true}\n", "must be a number"),
        "min-null": ("metrics: [metrics.json]\ngoals:\n  auc: {min: null}\n", "must be a number"),
        "min-above-max": ("metrics: [metrics.json]\ngoals:\n  auc: {min: 0.9, max: 0.1}\n", "above its max"),
        "significant-only-string": (
            "metrics: [metrics.json]\ngoals:\n  auc: {significant_only: 'yes'}\n",
            "true/false",
        ),
        "goals-list": ("metrics: [metrics.json]\ngoals: [auc]\n", "must be a mapping"),
        "goal-scalar": ("metrics: [metrics.json]\ngoals:\n  auc: 0.8\n", "must be a mapping"),
        "goal-unknown-metric": ("metrics: [metrics.json]\ngoals:\n  aucc: {min: 0.8}\n", "known: auc, logloss"),
        "goal-unknown-file": ("metrics: [metrics.json]\ngoals:\n  'other.json:auc': {min: 0.8}\n", "names no metric"),
        "metrics-string": ("metrics: metrics.json\n", "must be a list"),
        "metrics-numbers": ("metrics: [1, 2]\n", "must be a path string"),
        "metrics-parent": ("metrics: [../outside.json]\n", "outside the repository"),
        "metrics-absolute": ("metrics: [/etc/hostname]\n", "outside the repository"),
        "metrics-dotdot-inside": ("metrics: [a/../../x.json]\n", "outside the repository"),
        "params-parent": ("metrics: [metrics.json]\nparams: [../p.yaml]\n", "outside the repository"),
        "predictions-absolute": ("metrics: [metrics.json]\npredictions: /etc/passwd\n", "outside the repository"),
        "model-parent": ("metrics: [metrics.json]\nmodel: ../model.bin\n", "outside the repository"),
        "duplicate-top-key": ("metrics: [metrics.json]\nmetrics: [metrics.json]\n", "duplicate key 'metrics'"),
        "duplicate-goal": (
            "metrics: [metrics.json]\ngoals:\n  auc: {min: 0.1}\n  auc: {min: 0.2}\n",
            "duplicate key 'auc'",
        ),
        "duplicate-nested": ("metrics: [metrics.json]\nregistry:\n  stage: a\n  stage: b\n", "duplicate key 'stage'"),
        "version-2": ("version: 2\nmetrics: [metrics.json]\n", "use version: 1"),
        "version-string": ("version: '1'\nmetrics: [metrics.json]\n", "must be a number"),
        "models-empty": ("models: []\n", "'models' is empty"),
        "models-mapping": ("models: {a: 1}\n", "must be a list"),
        "models-entry-scalar": ("models: [churn]\n", "must be a mapping"),
        "models-duplicate-names": (
            "models:\n  - {name: a, metrics: [metrics.json]}\n  - {name: a, metrics: [metrics.json]}\n",
            "must be unique",
        ),
        "models-and-top-metrics": (
            "metrics: [metrics.json]\nmodels:\n  - {name: a, metrics: [metrics.json]}\n",
            "conflicts with 'models:'",
        ),
        "models-unknown-key": (
            "models:\n  - {name: a, metrics: [metrics.json], metrcs: []}\n",
            "did you mean 'metrics'",
        ),
        "yaml-syntax": ("metrics: [metrics.json\ngoals: {\n", "cannot parse YAML"),
        "yaml-tab": ("metrics:\n\t- metrics.json\n", "cannot parse YAML"),
        "top-level-list": ("- metrics.json\n", "must be a mapping"),
        "top-level-string": ("just words\n", "must be a mapping"),
        "unhashable-key": ("? [a, b]\n: 1\n", "plain name"),
        "deep-nesting": ("metrics: " + "[" * 3000 + "]" * 3000 + "\n", "mlci.yaml"),
        "section-scalar": ("metrics: [metrics.json]\nci: true\n", "must be a mapping"),
        "ci-bool-string": ("metrics: [metrics.json]\nci: {fail_on_regression: 'no'}\n", "true/false"),
        "drift-negative": ("metrics: [metrics.json]\ndata: {drift: {psi_warn: -1}}\n", "must be >= 0"),
        "drift-plot-top-float": ("metrics: [metrics.json]\ndata: {drift: {plot_top: 1.5}}\n", "must be a number"),
        "stage-invalid": ("metrics: [metrics.json]\nregistry: {stage: 'pro d'}\n", "not a valid stage name"),
        "retrain-negative": ("metrics: [metrics.json]\nretrain: {metric_change: -0.5}\n", "must be >= 0"),
    }
    cases = [
        Case(f"config-{name}", ("diff",), 3, expect, files={"mlci.yaml": text}) for name, (text, expect) in bad.items()
    ]
    cases += [
        Case("config-not-utf8", ("diff",), 3, "not UTF-8", files={"mlci.yaml": b"metrics: [m\xff\xfe.json]\n"}),
        Case("config-binary", ("diff",), 3, "mlci.yaml", files={"mlci.yaml": bytes(range(256))}),
        Case("config-missing-explicit", ("diff", "--config", "nope.yaml"), 3, "does not exist"),
        Case(
            "config-explicit-directory", ("diff", "--config", "confdir"), 3, "is a directory", setup=make_dir("confdir")
        ),
        Case(
            "config-gate",
            ("gate",),
            3,
            "did you mean 'main'",
            files={"mlci.yaml": "metrics: [metrics.json]\nregistry: {promote_on: mian}\n"},
        ),
        Case(
            "config-report",
            ("report", "-o", "rep"),
            3,
            "finite number",
            files={"mlci.yaml": "metrics: [metrics.json]\ngoals:\n  auc: {min: .nan}\n"},
        ),
        Case(
            "config-promote",
            ("promote", "--force"),
            3,
            "did you mean 'gto'",
            files={"mlci.yaml": "metrics: [metrics.json]\nregistry: {backend: gtoo}\n"},
        ),
        Case(
            "config-registry-list",
            ("registry", "list"),
            3,
            "duplicate key",
            files={"mlci.yaml": "metrics: [metrics.json]\nregistry: {stage: a, stage: b}\n"},
        ),
        Case("config-run", ("run",), 3, "unknown key", files={"mlci.yaml": "metrics: [metrics.json]\nbogus: 1\n"}),
        Case(
            "config-symlink-outside",
            ("diff",),
            3,
            "outside the repository",
            files={"mlci.yaml": "metrics: [link.json]\n"},
            setup=symlink("link.json", "/etc/hostname"),
        ),
    ]
    return cases


def _dvc_yaml_cases() -> list[Case]:
    no_cfg = {"mlci.yaml": None}
    bad = {
        "stages-list": ("stages:\n  - cmd: python train.py\n", "'stages' must be a mapping"),
        "stage-string": ("stages:\n  train: python train.py\n", "stage 'train' must be a mapping"),
        "not-utf8": (b"stages:\n  tr\xffain: {cmd: x}\n", "not UTF-8"),
        "syntax": ("stages: {train: {cmd: x\n", "cannot parse YAML"),
        "top-list": ("- stages\n", "expected a mapping"),
        "metrics-parent": ("stages:\n  train:\n    cmd: x\n    metrics: [../outside.json]\n", "outside the repository"),
        "metrics-absolute": ("stages:\n  train:\n    cmd: x\n    metrics: [/etc/hostname]\n", "outside the repository"),
        "artifacts-list": (
            "stages:\n  train: {cmd: x, metrics: [metrics.json]}\nartifacts: [model]\n",
            "'artifacts' must be a mapping",
        ),
        "deep": ("stages: " + "[" * 3000 + "]" * 3000 + "\n", "dvc.yaml"),
    }
    cases = [
        Case(f"dvcyaml-{name}", ("diff",), 3, expect, files={**no_cfg, "dvc.yaml": text})
        for name, (text, expect) in bad.items()
    ]
    cases += [
        Case("dvcyaml-directory", ("diff",), 3, "dvc.yaml", files=no_cfg, setup=make_dir("dvc.yaml")),
        Case("dvcyaml-missing-no-config", ("diff",), 3, "mlci init --example", files={**no_cfg, "dvc.yaml": None}),
        Case(
            "dvcyaml-stages-list-with-config",
            ("diff",),
            3,
            "'stages' must be a mapping",
            files={"dvc.yaml": "stages:\n  - cmd: x\n", "mlci.yaml": "metrics: [metrics.json]\n"},
        ),
        Case("dvcyaml-stages-list-run", ("run",), 3, "'stages' must be a mapping", files={"dvc.yaml": "stages: [a]\n"}),
    ]
    return cases


def _params_cases() -> list[Case]:
    bad = {
        "not-utf8": (b"train:\n  lr: \xff\n", "not UTF-8 text"),
        "syntax": ("train: {lr: 0.1\n", "neither JSON nor YAML"),
        "top-list": ("- 1\n- 2\n", "must be a mapping"),
        "scalar": ("3\n", "must be a mapping"),
        "collision": ("a.b: 1\na:\n  b: 2\n", "appears twice"),
        "deep": ("x: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    }
    cases = [
        Case(f"params-{name}", ("diff",), 5, expect, files={"params.yaml": text})
        for name, (text, expect) in bad.items()
    ]
    cases.append(Case("params-directory", ("diff",), 5, "is a directory", setup=make_dir("params.yaml")))
    return cases


def _metrics_cases() -> list[Case]:
    bad = {
        "invalid": ("{auc: [\n", "neither JSON nor YAML"),
        "empty": ("", "is empty"),
        "whitespace": ("   \n", "is empty"),
        "list": ("[1, 2]", "not a mapping"),
        "string": ('"auc"', "not a mapping"),
        "string-value": ('{"auc": "high"}', "not a number"),
        "bool-value": ('{"auc": true}', "not a number"),
        "null-value": ('{"auc": null}', "not a number"),
        "list-value": ('{"auc": [0.9]}', "not a number"),
        "nan": ('{"auc": NaN}', "finite number"),
        "infinity": ('{"auc": Infinity}', "finite number"),
        "neg-infinity": ('{"auc": -Infinity}', "finite number"),
        "overflow-float": ('{"auc": 1e999}', "finite number"),
        "int-400-digits": ('{"auc": ' + "9" * 400 + "}", "too large to compare"),
        "int-5000-digits": ('{"auc": ' + "9" * 5000 + "}", "too long to read"),
        "deep-json": ('{"a": ' * 3000 + "1" + "}" * 3000, "nested too deeply"),
        "deep-list": ("[" * 3000 + "]" * 3000, "metrics.json"),
        "collision": ('{"a.b": 1, "a": {"b": 2}}', "appears twice"),
        "no-metrics": ("{}", "holds no metrics"),
        "nested-empty": ('{"a": {}}', "holds no metrics"),
        "yaml-string-value": ("auc: high\n", "not a number"),
        "yaml-nan": ("auc: .nan\n", "finite number"),
        "not-utf8": (b'{"auc": 0.9, "\xff": 1}', "not UTF-8 text"),
    }
    cases = [
        Case(f"metrics-{name}", ("diff",), 5, expect, files={"metrics.json": text})
        for name, (text, expect) in bad.items()
    ]
    cases += [
        Case("metrics-missing", ("diff",), 5, "does not exist", files={"metrics.json": None}),
        Case("metrics-directory", ("diff",), 5, "is a directory", setup=make_dir("metrics.json")),
        Case("metrics-gate", ("gate",), 5, "not a number", files={"metrics.json": '{"auc": "x"}'}),
        Case("metrics-report", ("report", "-o", "rep"), 5, "finite number", files={"metrics.json": '{"auc": NaN}'}),
        Case(
            "metrics-base-commit-corrupt",
            ("diff", "--base", "broken-base"),
            5,
            "at base",
            setup=lambda root: _commit_on_branch(root, "broken-base", "metrics.json", '{"auc": [\n'),
        ),
    ]
    return cases


def _commit_on_branch(root: Path, branch: str, rel: str, text: str) -> None:
    """A base branch whose committed metrics are bad (no run record there), HEAD rebased on it."""
    git(root, "checkout", "-q", "-b", branch, "main")
    (root / rel).write_text(text)
    commit_all(root, "bad metrics at base")
    git(root, "checkout", "-q", "feature")
    git(root, "rebase", "-q", branch) if False else git(root, "merge", "-q", "--no-edit", "-X", "theirs", branch)
    (root / rel).write_text(METRICS)
    commit_all(root, "good metrics at head")


def _predictions_cases() -> list[Case]:
    """Predictions feed the report's significance: bad ones become the one warning, the report still exits 0."""
    bad = {
        "missing-columns": ("a,b\n1,2\n", "missing column"),
        "no-rows": ("row_id,label,score\n", "0 rows"),
        "nan-score": ("row_id,label,score\n1,0,\n2,1,0.5\n", "non-numeric"),
        "inf-score": ("row_id,label,score\n1,0,inf\n2,1,0.5\n", "infinite"),
        "duplicate-ids": ("row_id,label,score\n1,0,0.1\n1,1,0.5\n", "more than once"),
        "labels-not-binary": ("row_id,label,score\n1,0,0.1\n2,7,0.5\n", "labels outside"),
        "binary-garbage": (bytes(range(256)) * 4, "predictions"),
    }
    cases = [
        Case(f"predictions-{name}", ("report", "-o", OUT), 0, expect, files={"preds.csv": text})
        for name, (text, expect) in bad.items()
    ]
    cases += [
        Case("predictions-directory", ("report", "-o", OUT), 0, "not a file", setup=make_dir("preds.csv")),
        Case("predictions-missing", ("report", "-o", OUT), 0, "missing in the working tree", files={"preds.csv": None}),
    ]
    return cases


def _notes_cases() -> list[Case]:
    lines = {
        "list": "[1,2]",
        "schema-only": '{"schema":1}',
        "not-json": "hello",
        "newer-schema": '{"schema":99,"commit":"x","dirty":false,"params":{},"metrics":{}}',
        "string-metric": '{"schema":1,"commit":"x","dirty":false,"params":{},"metrics":{"m.json":{"auc":"hi"}}}',
        "bad-stage": '{"schema":1,"commit":"x","dirty":false,"params":{},"metrics":{},"stages":[{"name":1}]}',
        "deep": "[" * 3000 + "]" * 3000,
        "schema-string": '{"schema":"1"}',
    }
    cases = []
    for name, text in lines.items():
        cases.append(Case(f"notes-head-{name}", ("record", "show"), 0, "mlci record repair", setup=note(text)))
        cases.append(
            Case(
                f"notes-base-{name}",
                ("diff", "--json"),
                0,
                "skipped an unreadable run record",
                setup=note(text, "main"),
            )
        )
    return cases


def _ref_cases() -> list[Case]:
    return [
        Case("ref-base-unknown", ("diff", "--base", "nosuch"), 4, "nosuch"),
        Case("ref-base-option-like", ("diff", "--base", "--output=/tmp/x"), 2, "not a git ref"),
        Case("ref-base-range", ("diff", "--base", "main..feature"), 4, "main..feature"),
        Case("ref-base-blank", ("diff", "--base", " "), 2, "is empty"),
        Case("ref-base-reflog-selector", ("diff", "--base", "@{-99}"), 4, "@{-99}"),
        Case("ref-base-tree", ("diff", "--base", "main^{tree}"), 4, "main^{tree}"),
        Case("ref-base-blob", ("diff", "--base", "HEAD:dvc.yaml"), 4, "HEAD:dvc.yaml"),
        Case("ref-base-notes-ref", ("diff", "--base", "refs/notes/mlci"), 4, "share no history"),
        Case("ref-record-show-reflog-selector", ("record", "show", "@{-99}"), 4, "@{-99}"),
        Case("ref-promote-commit-option-like", ("promote", "--force", "--commit", "--all"), 2, "not a git ref"),
        Case("ref-reproduce-reflog-selector", ("reproduce", "@{-99}"), 4, "@{-99}"),
        Case("ref-base-zero-sha", ("diff", "--base", "0" * 40), 4, "0000000"),
        Case("ref-record-show-unknown", ("record", "show", "nosuch"), 4, "nosuch"),
        Case("ref-record-show-too-far", ("record", "show", "HEAD~99"), 4, "HEAD~99"),
        Case("ref-record-repair-unknown", ("record", "repair", "nosuch"), 4, "nosuch"),
        Case("ref-reproduce-unknown", ("reproduce", "nosuch"), 4, "nosuch"),
        Case("ref-reproduce-not-dvc", ("reproduce", "main"), 2, "no pipeline"),
        Case("ref-promote-commit-unknown", ("promote", "--force", "--commit", "nosuch"), 4, "nosuch"),
        Case("ref-registry-show-bad-version", ("registry", "show", "churn@1.0"), 2, "invalid version"),
        Case("ref-registry-show-bad-name", ("registry", "show", "bad name!"), 2, "cannot read model reference"),
        Case("ref-registry-show-empty-stage", ("registry", "show", "churn#"), 2, "cannot read model reference"),
        Case("ref-registry-show-both", ("registry", "show", "churn@v1.0.0#prod"), 2, "cannot read model reference"),
        Case("ref-registry-show-unregistered", ("registry", "show", "churn"), 8, "no registered versions"),
        Case(
            "ref-registry-pull-unregistered",
            ("registry", "pull", "churn#prod", "-o", "got"),
            8,
            "no registered versions",
        ),
    ]


def _flag_cases() -> list[Case]:
    return [
        Case("flag-tolerance-nan", ("reproduce", "--tolerance", "nan"), 2, "not a finite number"),
        Case("flag-tolerance-inf", ("reproduce", "--tolerance", "inf"), 2, "not a finite number"),
        Case("flag-tolerance-negative", ("reproduce", "--tolerance", "-1"), 2, "must be >= 0"),
        Case("flag-tolerance-word", ("reproduce", "--tolerance", "tiny"), 2, "is not a number"),
        Case("flag-pr-zero", ("promote", "--pr", "0"), 2, "--pr"),
        Case("flag-pr-negative", ("promote", "--pr", "-5"), 2, "--pr"),
        Case("flag-pr-word", ("promote", "--pr", "seven"), 2, "--pr"),
        Case("flag-pr-huge", ("promote", "--pr", "9" * 30), 2, "--pr"),
        Case("flag-comment-pr-zero", ("comment", "--pr", "0", "--body-file", "README.md"), 2, "--pr"),
        Case("flag-comment-pr-huge", ("comment", "--pr", "9" * 30, "--body-file", "README.md"), 2, "--pr"),
        Case("flag-bump-unknown", ("promote", "--bump", "huge"), 2, "--bump"),
        Case("flag-version-and-bump", ("promote", "--force", "--version", "v1.0.0", "--bump", "patch"), 8, "not both"),
        Case("flag-version-invalid", ("promote", "--force", "--version", "1.0"), 2, "invalid version"),
        Case("flag-stage-invalid", ("promote", "--force", "--stage", "no stage"), 2, "invalid stage"),
        Case("flag-model-invalid", ("promote", "--force", "--model", "-rf"), 2, "invalid model name"),
        Case("flag-diff-json-and-md", ("diff", "--json", "--md"), 2, "exclusive"),
        Case("flag-unknown-option", ("diff", "--frobnicate"), 2, "No such option"),
        Case("flag-unknown-command", ("frobnicate",), 2, "No such command"),
        Case("flag-missing-argument", ("registry", "show"), 2, "Missing argument"),
        Case("flag-C-missing", ("-C", "/nonexistent/dir", "diff"), 2, "does not exist"),
        Case("flag-report-merge-missing", ("report", "--merge", "nosuch"), 2, "does not exist"),
    ]


def _path_cases() -> list[Case]:
    return [
        Case("path-report-out-is-file", ("report", "-o", "metrics.json"), 2, "is a file"),
        Case("path-report-out-is-the-repo", ("report", "-o", "."), 2, "holds files mlci did not write"),
        Case(
            "path-report-out-holds-user-files",
            ("report", "-o", "docs"),
            2,
            "holds files mlci did not write",
            files={"docs/guide.md": "mine\n"},
        ),
        Case("path-report-out-in-proc", ("report", "-o", "/proc/mlci-report"), 9, "cannot access"),
        Case("path-report-out-in-sys", ("report", "-o", "/sys/mlci-report"), 9, "cannot access"),
        Case("path-pull-out-in-proc", ("registry", "pull", "churn", "-o", "/proc/x"), 8, "no registered versions"),
        Case("path-metrics-fifo", ("diff",), 5, "not a regular file", setup=fifo("metrics.json")),
        Case("path-params-fifo", ("diff",), 5, "not a regular file", setup=fifo("params.yaml")),
        Case("path-config-fifo", ("diff",), 3, "not a regular file", setup=fifo("mlci.yaml")),
        Case("path-dvcyaml-fifo", ("diff",), 3, "not a regular file", setup=fifo("dvc.yaml")),
        Case("path-metrics-empty", ("diff",), 3, "empty path", files={"mlci.yaml": "metrics: ['']\n"}),
        Case(
            "path-metrics-symlink-outside",
            ("diff",),
            3,
            "outside the repository",
            files={"mlci.yaml": "metrics: [m2.json]\n"},
            setup=symlink("m2.json", "/etc/hostname"),
        ),
        Case(
            "path-metrics-symlink-dangling",
            ("diff",),
            5,
            "does not exist",
            files={"mlci.yaml": "metrics: [m3.json]\n"},
            setup=symlink("m3.json", "nowhere.json"),
        ),
        Case(
            "path-predictions-parent",
            ("report", "-o", "rep"),
            3,
            "outside the repository",
            files={"mlci.yaml": "metrics: [metrics.json]\npredictions: ../preds.csv\n"},
        ),
        Case("path-not-a-repo", ("-C", "/", "diff"), 4, "git"),
        Case(
            "path-config-outside-names-outside-metrics",
            ("diff", "--config", "sub/c.yaml"),
            3,
            "outside the repository",
            files={"sub/c.yaml": "metrics: [../../x.json]\n"},
        ),
    ]


def _remote_cases() -> list[Case]:
    def broken_origin(root: Path) -> None:
        git(root, "remote", "add", "origin", str(root.parent / "no-such-origin.git"))

    def dvc_project_with_failing_stage(root: Path) -> None:
        from mlci.store.pipeline import run_dvc

        run_dvc(root, "init", "-q")
        (root / "dvc.yaml").write_text(
            "stages:\n  train:\n    cmd: exit 3\n    metrics:\n    - scores.json:\n        cache: false\n"
        )
        (root / "pipe.yaml").write_text("metrics: [scores.json]\n")  # DVC deletes a stage's outputs before running it
        commit_all(root, "a stage that fails")

    return [
        Case("remote-record-push-unreachable", ("record", "push"), 7, "cannot push", setup=broken_origin),
        Case("remote-record-fetch-unreachable", ("record", "fetch"), 7, "cannot fetch", setup=broken_origin),
        Case("remote-record-push-unknown-remote", ("record", "push", "--remote", "nope"), 4, "no remote named 'nope'"),
        Case(
            "pipeline-stage-fails",
            ("run", "--config", "pipe.yaml"),
            6,
            "stage 'train' failed",
            setup=dvc_project_with_failing_stage,
            indented_ok=True,
        ),
    ]


# --- generated: every YAML-reading entry point × every hostile shape of file ----------------

# ~700 bytes, one flow list, that expand to 9**9 (387 million) strings once anything walks them
BOMB = (
    "[&a0 ["
    + ",".join(["lol"] * 9)
    + "], "
    + ", ".join(f"&a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10))
    + "]"
)
HUGE_INT = "9" * 5000  # over Python's 4,300-digit limit for int(str)


@dataclass(frozen=True)
class EntryPoint:
    """One YAML file mlci reads, the command that reads it and how a bad one must fail."""

    file: str
    args: tuple[str, ...]
    exit: int
    place: str  # a valid file with VALUE where a hostile value goes (where mlci shows or walks it)
    shape: str  # a wrong shape for this file (a list, a scalar, strings where mappings go)
    shape_expect: str
    files: dict[str, str | bytes | None] = field(default_factory=dict)
    committed_at_base: bool = False  # the file is read from the base commit, not the working tree


_LOCK = (
    "schema: '2.0'\nstages:\n  train:\n    cmd: python train.py\n    deps:\n    - path: train.py\n      md5: VALUE\n"
)
YAML_ENTRY_POINTS = {
    "config": EntryPoint(
        "mlci.yaml",
        ("diff",),
        3,
        "metrics: [metrics.json]\ngoals:\n  auc: {direction: VALUE}\n",
        "- metrics.json\n",
        "must be a mapping",
    ),
    "config-gate": EntryPoint(
        "mlci.yaml",
        ("gate",),
        3,
        "metrics: [metrics.json]\nregistry: {stage: VALUE}\n",
        "goals: [auc]\nmetrics: [metrics.json]\n",
        "must be a mapping",
    ),
    "params": EntryPoint("params.yaml", ("diff",), 5, "train:\n  lr: VALUE\n", "- 1\n- 2\n", "must be a mapping"),
    "metrics-yaml": EntryPoint(
        "metrics.yaml",
        ("diff",),
        5,
        "auc: 0.9\nlogloss: 0.3\nnote: VALUE\n",
        "- 0.9\n",
        "not a mapping",
        files={"mlci.yaml": "metrics: [metrics.yaml]\n"},
    ),
    "dvc-yaml": EntryPoint(
        "dvc.yaml",
        ("diff",),
        3,
        DVC_YAML + "    desc: VALUE\n",
        "stages:\n  train: [python train.py]\n",
        "must be a mapping",
        {"mlci.yaml": None},
    ),
    "dvc-lock": EntryPoint(
        "dvc.lock", ("report", "-o", OUT), 3, _LOCK, "stages:\n  train:\n    deps: [a.csv]\n", "must be a list of"
    ),
    "base-dvc-lock": EntryPoint(
        "dvc.lock",
        ("report", "--base", "lock-base", "-o", OUT),
        3,
        _LOCK,
        "- stages\n",
        "expected a mapping",
        committed_at_base=True,
    ),
}
HOSTILE = {  # name -> (the value put in place, or None for a FIFO; what the one line says)
    "anchor-bomb": (BOMB, "aliases expand it beyond"),
    "huge-int": (HUGE_INT, "out of range"),
    "non-utf8": (b"caf\xe9", "not UTF-8"),
    "fifo": (None, "not a regular file"),
}


def _commit_at_base(rel: str, content: str | bytes) -> Callable[[Path], None]:
    """A base branch whose commit holds `content` at `rel` (and no run record); HEAD merges it, then
    drops `rel`, so only the base's committed copy is read."""

    def setup(root: Path) -> None:
        git(root, "checkout", "-q", "-b", "lock-base", "main")
        (root / rel).write_bytes(content if isinstance(content, bytes) else content.encode())
        commit_all(root, f"bad {rel} at base")
        git(root, "checkout", "-q", "feature")
        git(root, "merge", "-q", "--no-edit", "lock-base")
        git(root, "rm", "-q", rel)
        commit_all(root, f"no {rel} at head")

    return setup


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _generated_yaml_cases() -> list[Case]:
    cases = []
    for entry_name, entry in YAML_ENTRY_POINTS.items():
        hostile = {
            kind: (None if value is None else entry.place.encode().replace(b"VALUE", _bytes(value)), expect)
            for kind, (value, expect) in HOSTILE.items()
        }
        hostile["wrong-shape"] = (entry.shape.encode(), entry.shape_expect)
        for kind, (content, expect) in hostile.items():
            case_id = f"gen-{entry_name}-{kind}"
            if entry.committed_at_base:
                if content is None:
                    continue  # git cannot commit a FIFO
                cases.append(Case(case_id, entry.args, entry.exit, expect, setup=_commit_at_base(entry.file, content)))
            elif content is None:
                cases.append(Case(case_id, entry.args, entry.exit, expect, files=entry.files, setup=fifo(entry.file)))
            else:
                cases.append(Case(case_id, entry.args, entry.exit, expect, files={**entry.files, entry.file: content}))
    return cases


def _contract_cases() -> list[Case]:
    """The small contracts of issue 29: each refused in one line, as DVC or the docs say."""
    config = "metrics: [metrics.json]\n"
    secret = "/tmp/mlci-secret-outside.csv"
    return [
        Case(
            "dvcyaml-duplicate-stage",
            ("diff",),
            3,
            "duplicate key 'train'",
            files={
                "mlci.yaml": None,
                "dvc.yaml": "stages:\n  train: {cmd: a, metrics: [metrics.json]}\n  train: {cmd: b}\n",
            },
        ),
        Case(
            "params-duplicate-key",
            ("diff",),
            5,
            "duplicate key 'lr'",
            files={"params.yaml": "train:\n  lr: 1\n  lr: 2\n"},
        ),
        Case(
            "dvcyaml-plots-number", ("diff",), 3, "'plots' must be a list", files={"dvc.yaml": DVC_YAML + "plots: 5\n"}
        ),
        Case(
            "config-model-root", ("diff",), 3, "names the repository root", files={"mlci.yaml": config + "model: .\n"}
        ),
        Case("config-model-git", ("diff",), 3, "git's own directory", files={"mlci.yaml": config + "model: .git\n"}),
        Case(
            "config-params-in-git",
            ("diff",),
            3,
            "git's own directory",
            files={"mlci.yaml": config + "params: [.git/config]\n"},
        ),
        Case("config-symlink-dangling", ("gate",), 3, "leads nowhere", setup=symlink("mlci.yaml", "nowhere.yaml")),
        Case("config-symlink-loop", ("gate",), 3, "leads nowhere", setup=symlink("mlci.yaml", "mlci.yaml")),
        Case(
            "config-link-outside-default",
            ("gate",),
            3,
            "outside the repository",
            setup=symlink("mlci.yaml", "/etc/hostname"),
        ),
        Case("config-merge-key-bad", ("diff",), 3, "merge key", files={"mlci.yaml": config + "ci:\n  <<: 5\n"}),
        Case("config-recursive-alias", ("diff",), 3, "its own anchor", files={"mlci.yaml": config + "x: &x [*x]\n"}),
        Case(
            "config-data-tables-absolute",
            ("diff",),
            3,
            "outside the repository",
            files={"mlci.yaml": config + f"data: {{tables: [{secret}]}}\n"},
        ),
        Case(
            "config-data-tables-parent",
            ("data", "check"),
            3,
            "outside the repository",
            files={"mlci.yaml": config + "data: {tables: [../outside.csv]}\n"},
        ),
        Case(
            "config-data-expectations-outside",
            ("data", "check"),
            3,
            "outside the repository",
            files={"mlci.yaml": config + f"data:\n  expectations:\n    {secret}: {{min_rows: 1}}\n"},
        ),
        Case(
            "config-expectation-nan",
            ("data", "check"),
            3,
            "finite number",
            files={"mlci.yaml": config + "data:\n  expectations:\n    t.csv:\n      columns: {a: {min: .nan}}\n"},
        ),
        Case(
            "config-expectation-inf",
            ("data", "check"),
            3,
            "finite number",
            files={"mlci.yaml": config + "data:\n  expectations:\n    t.csv:\n      columns: {a: {max: .inf}}\n"},
        ),
        Case(
            "metrics-no-numbers-gate",
            ("gate",),
            5,
            "nothing to check",
            files={"mlci.yaml": "metrics: [status.json]\n", "status.json": '{"status": "ok"}'},
        ),
        Case(
            "metrics-json-int-400-digits-gate",
            ("gate",),
            5,
            "too large to compare",
            files={"metrics.json": '{"auc": ' + "9" * 400 + "}"},
        ),
        Case(
            "params-json-huge-int",
            ("diff",),
            5,
            "out of range",
            files={"mlci.yaml": config + "params: [p.json]\n", "p.json": '{"lr": ' + "9" * 350 + "}"},
        ),
    ]


def _fifo_table_cases() -> list[Case]:
    return [
        Case("data-profile-fifo", ("data", "profile", "t.csv"), 5, "not a regular file", setup=fifo("t.csv")),
    ]


def _huge_record(rev: str) -> Callable[[Path], None]:
    """A valid run record for `rev` but for one metric: an integer of 400 digits (valid JSON)."""

    def setup(root: Path) -> None:
        commit = git(root, "rev-parse", rev)
        line = (
            '{"schema":1,"commit":"' + commit + '","dirty":false,"params":{},'
            '"metrics":{"metrics.json":{"auc":' + "9" * 400 + '}},"id":"huge"}'
        )
        git(root, "notes", "--ref=refs/notes/mlci", "append", "-m", line, rev)  # beside a good record, if any

    return setup


def _huge_record_cases() -> list[Case]:
    return [
        Case("record-huge-int-diff", ("diff",), 0, "skipped an unreadable run record", setup=_huge_record("main")),
        Case(
            "record-huge-int-show",
            ("record", "show"),
            0,
            "skipped an unreadable run record",
            setup=_huge_record("HEAD"),
        ),
        Case(
            "record-huge-int-report",
            ("report", "-o", OUT),
            0,
            "skipped an unreadable run record",
            setup=_huge_record("main"),
        ),
    ]


CASES = (
    _remote_cases()
    + _config_cases()
    + _dvc_yaml_cases()
    + _params_cases()
    + _metrics_cases()
    + _predictions_cases()
    + _notes_cases()
    + _ref_cases()
    + _flag_cases()
    + _path_cases()
    + _generated_yaml_cases()
    + _contract_cases()
    + _fifo_table_cases()
    + _huge_record_cases()
)


# --- the harness --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """main: dvc.yaml, params, metrics, predictions, mlci.yaml and a run record; feature: one commit on top."""
    from mlci.model.record import RunRecord
    from mlci.store import baseline, gitrepo

    root = tmp_path_factory.mktemp("bad-inputs") / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / "params.yaml").write_text("train:\n  lr: 0.1\n  n: 10\n")
    (root / "metrics.json").write_text('{"auc": 0.9, "logloss": 0.3}\n')
    (root / "mlci.yaml").write_text(CONFIG)
    (root / "preds.csv").write_text(
        "row_id,label,score\n" + "".join(f"{i},{i % 2},{0.2 + 0.6 * (i % 2) - 0.001 * i}\n" for i in range(60))
    )
    main = commit_all(root, "base")
    repo = gitrepo.open_repo(root)
    baseline.save(
        repo,
        RunRecord(
            commit=main,
            branch="main",
            dirty=False,
            params={"params.yaml": {"train.lr": 0.1}},
            metrics={"metrics.json": {"auc": 0.9, "logloss": 0.3}},
        ),
    )
    git(root, "checkout", "-q", "-b", "feature")
    (root / "metrics.json").write_text(METRICS)
    commit_all(root, "feature")
    return root


def snapshot(root: Path) -> tuple:
    """Everything a failed command must leave as it was: files, refs (tags, notes), git status."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] == ".git" or rel.parts[:2] == (".dvc", "tmp"):
            continue  # git's and DVC's own bookkeeping (index stat cache, DVC's lock and updater files)
        if path.is_symlink():
            files[str(rel)] = "-> " + os.readlink(path)
        elif path.is_fifo():
            files[str(rel)] = "fifo"
        elif path.is_dir():
            files[str(rel)] = "dir"
        else:
            files[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    refs = git(root, "for-each-ref", "--format=%(refname) %(objectname)")
    status = [
        line
        for line in git(root, "status", "--porcelain", "--ignored", "--untracked-files=all").splitlines()
        if not line.startswith("!! .dvc/tmp/")
    ]
    return files, refs, status


def prepare(template: Path, dest: Path, case: Case) -> Path:
    root = dest / "repo"
    shutil.copytree(template, root, symlinks=True)
    for rel, content in case.files.items():
        path = root / rel
        if content is None:
            path.unlink(missing_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    if case.setup:
        case.setup(root)
    return root


def test_the_table_has_at_least_150_cases_with_unique_ids():
    assert len(CASES) >= 150
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.timeout(120)  # a hang (a FIFO opened, a bomb expanded) fails the case instead of the run
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_fails_cleanly(case: Case, template: Path, tmp_path: Path):
    root = prepare(template, tmp_path, case)
    before = snapshot(root)
    cwd = os.getcwd()
    try:
        args = [str(tmp_path / "out") if a == OUT else a for a in case.args]
        result = CliRunner().invoke(cli, args if "-C" in args else ["-C", str(root), *args])
    finally:
        os.chdir(cwd)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        pytest.fail("".join(traceback.format_exception(result.exception)))
    lines = result.stderr.splitlines()
    if case.indented_ok:
        lines = [line for line in lines if not line.startswith("  ")]
    assert (result.exit_code, len(lines)) == (case.exit, 1), result.stderr
    assert case.expect in lines[0], lines[0]
    assert lines[0].startswith("mlci: warning: " if case.exit == 0 else "mlci: error: ")
    assert "Traceback" not in result.output
    assert_unchanged(before, snapshot(root))


def assert_unchanged(before: tuple, after: tuple) -> None:
    files_before, files_after = before[0], after[0]
    changed = sorted(k for k in files_before.keys() | files_after.keys() if files_before.get(k) != files_after.get(k))
    assert changed == [], f"files changed: {changed}"
    assert after[1:] == before[1:]


# --- disk full: a real limit on file size, in a subprocess ---------------------------------


def _limited(max_bytes: int) -> Callable[[], None]:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # over the limit: write() fails with EFBIG, no signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return preexec


def _mlci_limited(root: Path, max_bytes: int, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlci", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        preexec_fn=_limited(max_bytes),
    )


@pytest.mark.parametrize("limit", [0, 2_000], ids=["nothing-fits", "json-fits-html-does-not"])
def test_disk_full_during_report_keeps_the_previous_report_whole(template: Path, tmp_path: Path, limit: int):
    root = prepare(template, tmp_path, Case("disk", (), 0, ""))
    previous = CliRunner().invoke(cli, ["-C", str(root), "report", "-o", "rep"])
    assert previous.exit_code == 0, previous.output
    before = snapshot(root)
    failed = _mlci_limited(root, limit, "report", "-o", "rep")
    lines = failed.stderr.splitlines()
    assert (failed.returncode, len(lines)) == (9, 1), failed.stderr
    assert lines[0].startswith("mlci: error: cannot access") and "File too large" in lines[0]
    assert snapshot(root) == before


def test_disk_full_while_storing_a_record_keeps_the_notes(template: Path, tmp_path: Path):
    root = prepare(template, tmp_path, Case("disk", (), 0, "", setup=note("[1,2]")))
    before = snapshot(root)
    failed = _mlci_limited(root, 0, "record", "repair")
    lines = failed.stderr.splitlines()
    assert failed.returncode in (4, 9) and len(lines) == 1, failed.stderr
    assert lines[0].startswith("mlci: error: ")
    assert snapshot(root) == before


def test_the_readme_exit_code_table_is_what_the_suite_asserts():
    """Every code the suite asserts is documented, and every documented code is an error class or click's."""
    from mlci import errors

    page = (Path(__file__).parents[1] / "docs" / "commands.md").read_text(encoding="utf-8")  # was README's section
    section = page.split("# Commands and exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \| ", section, re.MULTILINE)}

    def subclasses(cls: type) -> set[type]:
        return {cls} | {s for sub in cls.__subclasses__() for s in subclasses(sub)}

    raised = {cls.exit_code for cls in subclasses(errors.MlciError)} | {0, 2}  # 0 success, 2 click usage
    asserted = {case.exit for case in CASES} | {9}  # 9: the disk-full tests below the table
    assert documented == raised == set(range(10))
    assert asserted == documented - {1}  # 1 is a verdict (gate failed), not a bad input: tests/test_gate.py


# --- records: one huge integer must not break a reader --------------------------------------


@pytest.mark.timeout(120)
def test_record_repair_sets_aside_a_record_holding_a_huge_integer(template: Path, tmp_path: Path):
    root = prepare(template, tmp_path, Case("huge", (), 0, "", setup=_huge_record("main")))
    repaired = CliRunner().invoke(cli, ["-C", str(root), "record", "repair"])
    assert repaired.exit_code == 0 and "Traceback" not in repaired.output, repaired.output
    assert '"id":"huge"' in git(root, "notes", "--ref=refs/notes/mlci-quarantine", "show", "main")
    assert '"id":"huge"' not in git(root, "notes", "--ref=refs/notes/mlci", "show", "main")
    after = CliRunner().invoke(cli, ["-C", str(root), "diff"])
    assert after.exit_code == 0 and after.stderr == "", after.stderr  # the good record of main still reads


@pytest.mark.timeout(120)
def test_promote_skips_a_record_holding_a_huge_integer(template: Path, tmp_path: Path):
    root = prepare(template, tmp_path, Case("huge", (), 0, "", setup=_huge_record("HEAD")))
    result = CliRunner().invoke(cli, ["-C", str(root), "promote", "--force"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 8 and "skipped an unreadable run record" in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].startswith("mlci: error: no run record")


# --- paths: nothing outside the repository is read ------------------------------------------

SECRET = "SECRET-TOKEN-123"


def _secret(tmp_path: Path) -> Path:
    secret = tmp_path / "secret.csv"  # next to the repository (tmp_path/repo), not in it
    secret.write_text(f"token\n{SECRET}\n")
    return secret


def _everything_mlci_wrote(root: Path, result, out: Path) -> str:
    notes = git(root, "for-each-ref", "--format=%(refname)", "refs/notes/")
    texts = [result.output, result.stderr]
    for ref in notes.splitlines():
        for line in git(root, "notes", f"--ref={ref}", "list").splitlines():
            texts.append(git(root, "notes", f"--ref={ref}", "show", line.split()[1]))
    texts += [p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()] if out.exists() else []
    return "\n".join(texts)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("where", ["absolute", "parent", "symlink"])
@pytest.mark.parametrize("args", [("data", "check"), ("diff",), ("gate",), ("report", "-o", OUT)], ids=" ".join)
def test_a_data_table_outside_the_repository_is_refused_and_never_read(
    template: Path, tmp_path: Path, where: str, args: tuple[str, ...]
):
    secret = _secret(tmp_path)
    table = {"absolute": str(secret), "parent": "../secret.csv", "symlink": "data/t.csv"}[where]
    config = CONFIG + f"data:\n  tables: [{table}]\n  expectations:\n    {table}: {{min_rows: 1}}\n"

    def setup(root: Path) -> None:
        if where == "symlink":
            (root / "data").mkdir()
            (root / "data/t.csv").symlink_to(secret)

    root = prepare(template, tmp_path, Case("secret", (), 0, "", files={"mlci.yaml": config}, setup=setup))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["-C", str(root), *[str(out) if a == OUT else a for a in args]])
    assert result.exit_code == 3 and "outside the repository" in result.stderr, result.stderr
    assert SECRET not in _everything_mlci_wrote(root, result, out)


def test_a_table_a_stage_links_out_after_the_config_loaded_is_not_read(tmp_path: Path):
    """The pipeline runs PR code after mlci.yaml is checked: the readers check again."""
    from mlci.analysis import expectations
    from mlci.analysis.profile import profile_tables
    from mlci.model.data_rules import TableRule

    secret = _secret(tmp_path)
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    (root / "data/t.csv").symlink_to(secret)
    profiles = profile_tables(root, ["data/t.csv"])
    assert "outside the repository" in profiles["data/t.csv"]["error"]
    assert SECRET not in str(profiles)
    violations = expectations.check_file(root, TableRule(table="data/t.csv", min_rows=5))
    assert [v.rule for v in violations] == ["read"] and SECRET not in str(violations)


def test_metrics_params_and_predictions_a_stage_links_out_are_not_read(tmp_path: Path):
    from mlci.errors import DataError
    from mlci.store import predictions
    from mlci.store.config import ModelConfig
    from mlci.store.metrics import read_metrics, read_params

    outside = tmp_path / "outside.yaml"
    outside.write_text(f"note: {SECRET}\nauc: 0.9\n")
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("metrics.yaml", "params.yaml", "preds.csv"):
        (root / name).symlink_to(outside)
    model = ModelConfig(name="m", metrics=("metrics.yaml",), predictions="preds.csv")
    for read in (
        lambda: read_metrics(root, ["metrics.yaml"]),
        lambda: read_params(root, ["params.yaml"]),
        lambda: predictions.read_head(root, model),
    ):
        with pytest.raises(DataError, match="outside the repository") as raised:
            read()
        assert SECRET not in raised.value.message


@pytest.mark.timeout(60)
def test_a_fifo_as_a_data_table_is_refused_without_blocking(tmp_path: Path):
    from mlci.analysis import expectations
    from mlci.analysis.profile import profile_tables
    from mlci.model.data_rules import TableRule

    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    os.mkfifo(root / "data/t.csv")
    assert "not a regular file" in profile_tables(root, ["data/t.csv"])["data/t.csv"]["error"]
    assert "not a regular file" in expectations.check_file(root, TableRule(table="data/t.csv"))[0].message


# --- output: strict JSON, any encoding, a closed stdout --------------------------------------


def test_diff_json_is_strict_json_with_non_finite_params(template: Path, tmp_path: Path):
    case = Case("nan", (), 0, "", files={"params.yaml": "train:\n  lr: .nan\n  n: .inf\n"})
    root = prepare(template, tmp_path, case)
    result = CliRunner().invoke(cli, ["-C", str(root), "diff", "--json"])
    assert result.exit_code == 0, result.output

    def refuse(constant: str) -> None:
        raise AssertionError(f"bare {constant} in --json output")

    data = json.loads(result.stdout, parse_constant=refuse)
    params = {p["name"]: (p["base"], p["head"]) for p in data["params"]}
    assert params["train.lr"] == (0.1, "NaN")


def _mlci(root: Path, *args: str, env: dict[str, str] | None = None, close_stdout: bool = False):
    return subprocess.run(
        [sys.executable, "-m", "mlci", *args],
        cwd=root,
        capture_output=not close_stdout,
        stderr=subprocess.PIPE if close_stdout else None,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **(env or {})},
        preexec_fn=(lambda: os.close(1)) if close_stdout else None,
    )


def test_non_ascii_metric_names_print_under_an_ascii_encoding(template: Path, tmp_path: Path):
    files = {"metrics.json": '{"aucé": 0.9, "logloss": 0.3}', "mlci.yaml": "metrics: [metrics.json]\n"}
    root = prepare(template, tmp_path, Case("ascii", (), 0, "", files=files))
    done = _mlci(root, "diff", env={"PYTHONIOENCODING": "ascii"})
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "auc\\xe9" in done.stdout


def test_a_closed_stdout_is_one_line_and_exit_9(template: Path, tmp_path: Path):
    root = prepare(template, tmp_path, Case("closed", (), 0, ""))
    done = _mlci(root, "diff", "--json", close_stdout=True)
    lines = done.stderr.splitlines()
    assert (done.returncode, len(lines)) == (9, 1), done.stderr
    assert lines[0].startswith("mlci: error: cannot access <stdout>")


def test_a_reader_that_leaves_early_stops_mlci_quietly(tmp_path: Path):
    """`mlci diff | head -1`: the pipe breaks mid-table; no error line, exit 141 as for SIGPIPE."""
    import json
    import subprocess
    import sys

    from tests.helpers import commit_all, git

    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "mlci.yaml").write_text("metrics: [m.json]\n")
    (root / "m.json").write_text(json.dumps({f"auc_{i:05d}": 0.5 for i in range(5000)}))
    commit_all(root, "base")
    (root / "m.json").write_text(json.dumps({f"auc_{i:05d}": 0.6 for i in range(5000)}))  # ~500 KB of table
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlci", "diff"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline()
    proc.stdout.close()  # the reader leaves
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err
    assert err == b""


# --- YAML: what DVC accepts still reads -----------------------------------------------------


def test_merge_keys_with_an_override_and_shared_anchors_are_accepted(tmp_path: Path):
    from mlci.store import config as config_mod
    from mlci.store.metrics import read_params

    root = tmp_path / "repo"
    root.mkdir()
    (root / "metrics.json").write_text(METRICS)
    (root / "mlci.yaml").write_text(
        "metrics: [metrics.json]\n"
        "goals:\n"
        "  auc: &goal {direction: higher, min: 0.5, tolerance: 0.01}\n"
        "  logloss:\n"
        "    <<: *goal\n"
        "    direction: lower\n"
        "    min: 0.0\n"
    )
    (root / "params.yaml").write_text("base: &base {lr: 0.1, depth: 3}\ntrain:\n  <<: *base\n  lr: 0.2\n")
    goals = config_mod.load(root).models[0].goals
    assert (goals["logloss"].direction, goals["logloss"].min, goals["logloss"].tolerance) == ("lower", 0.0, 0.01)
    assert (goals["auc"].direction, goals["auc"].min) == ("higher", 0.5)
    assert read_params(root, ["params.yaml"])["params.yaml"]["train.lr"] == 0.2


@pytest.mark.timeout(60)
def test_data_check_refuses_a_fifo_table_without_blocking(template: Path, tmp_path: Path):
    config = "metrics: [metrics.json]\ndata:\n  expectations:\n    t.csv: {min_rows: 1}\n"
    root = prepare(template, tmp_path, Case("fifo", (), 0, "", files={"mlci.yaml": config}, setup=fifo("t.csv")))
    result = CliRunner().invoke(cli, ["-C", str(root), "data", "check"])
    assert result.exit_code == 5 and "t.csv is not a regular file" in result.stdout, result.output
