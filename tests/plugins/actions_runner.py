"""action.yml and the workflow templates' jobs, run the way the GitHub Actions runner runs them.

- Expressions (`${{ … }}` in `env:`, `with:`, `working-directory:`, `if:`, outputs): context
  paths (inputs, github, env, steps, runner, needs, secrets, job), string/boolean literals,
  `== != ! && ||` and parentheses with GitHub's semantics (`||` yields the first truthy
  operand, strings compare case-insensitively, booleans render as `true`/`false`), and the
  functions `always() success() failure() cancelled() hashFiles() startsWith() contains()`.
- `run:` steps run as `bash --noprofile --norc -eo pipefail SCRIPT` with `bash` looked up on
  the step's PATH, as the runner does; each step gets its own GITHUB_OUTPUT file;
  `::add-mask::` lines are collected.
- Between steps, of the job and of a composite action alike, `$GITHUB_ENV` (`NAME=value` and
  `NAME<<DELIM` heredocs) and `$GITHUB_PATH` apply to every later step: GITHUB_ENV values join
  the environment below each step's own `env:`, GITHUB_PATH lines go first on PATH (the last
  written first). This is what lets a step's code reach a later step's secrets.
- `uses:` steps: the mlci action (`*/mlci@*`) runs through its own steps; others are stood in
  for: actions/checkout (the test prepared the workspace), actions/setup-python, and
  upload-/download-artifact through an in-memory artifact store; actions/cache only with a
  test-given stand-in.

A job is one `Job` (its env files and environment); `run_job` runs a template's job and
returns its outputs for the next job's `needs`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACTION_DIR = Path(__file__).resolve().parents[2]
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|!|\(|\)|,)"
    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z_*][A-Za-z0-9_\-]*)*))"
)


# --- expressions --------------------------------------------------------------------------------


def render(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def truthy(value: Any) -> bool:
    return value not in (None, False, "", 0)


class _Parser:
    def __init__(self, text: str, ctx: dict, functions: dict[str, Callable[..., Any]]):
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise AssertionError(f"harness: cannot parse expression {text!r} at {text[pos:]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i, self.ctx, self.functions = 0, ctx, functions

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def parse(self) -> Any:
        value = self.or_()
        assert self.i == len(self.tokens), f"harness: trailing tokens in expression: {self.tokens[self.i :]}"
        return value

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            other = self.and_()
            value = value if truthy(value) else other
        return value

    def and_(self) -> Any:
        value = self.cmp()
        while self.peek() == "&&":
            self.take()
            other = self.cmp()
            value = other if truthy(value) else value
        return value

    def cmp(self) -> Any:
        value = self.unary()
        if self.peek() in ("==", "!="):
            op = self.take()[1]
            other = self.unary()
            same = render(value).lower() == render(other).lower()
            return same if op == "==" else not same
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            value = self.or_()
            assert self.take()[1] == ")"
            return value
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind != "name":
            raise AssertionError(f"harness: unexpected {text!r} in an expression")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == "(":
            self.take()
            args = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take()
            self.take()
            assert text in self.functions, f"harness: unsupported function {text}()"
            return self.functions[text](*args)
        first, *rest = text.split(".")
        assert first in self.ctx, f"harness: unsupported context {first!r} in {text!r}"
        value = self.ctx[first]
        for part in rest:  # a missing property is null
            value = value.get(part) if isinstance(value, dict) else None
        return value


def evaluate(expr: str, ctx: dict, functions: dict[str, Callable[..., Any]] | None = None) -> Any:
    return _Parser(expr, ctx, functions or {}).parse()


def expand(text: Any, ctx: dict, functions: dict[str, Callable[..., Any]] | None = None) -> str:
    if not isinstance(text, str):  # a YAML boolean or number in `with:` / `env:`, as the runner renders it
        return render(text)
    whole = _EXPR.fullmatch(text.strip())
    if whole:
        return render(evaluate(whole.group(1), ctx, functions))
    return _EXPR.sub(lambda m: render(evaluate(m.group(1), ctx, functions)), text)


def condition(expr: str, ctx: dict, functions: dict[str, Callable[..., Any]]) -> bool:
    """A step's `if:` (with or without `${{ }}`); without a status function it implies success()."""
    expr = str(expr).strip()
    if m := _EXPR.fullmatch(expr):
        expr = m.group(1)
    if not re.search(r"\b(always|success|failure|cancelled)\(", expr):
        expr = f"success() && ({expr})"
    return truthy(evaluate(expr, ctx, functions))


# --- env files ------------------------------------------------------------------------------------


def parse_env_file(text: str) -> dict[str, str]:
    """`NAME=value` and `NAME<<DELIMITER … DELIMITER` lines, as the runner reads $GITHUB_ENV."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            values[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        i += 1
    return values


# --- a job ------------------------------------------------------------------------------------------


@dataclass
class ActionRun:
    rc: int
    log: str  # what the job log shows (masked)
    raw: str  # everything the steps printed except ::add-mask:: commands (unmasked)
    outputs: dict[str, str] = field(default_factory=dict)
    masks: list[str] = field(default_factory=list)


@dataclass
class Job:
    """One job's runner state: its environment, and what steps wrote to GITHUB_ENV / GITHUB_PATH."""

    workspace: Path
    env: dict[str, str]
    token: str = ""
    github_env: dict[str, str] = field(default_factory=dict)
    github_path: list[str] = field(default_factory=list)  # first = first on PATH
    failed: bool = False
    masks: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    artifacts: dict[str, Path] = field(default_factory=dict)
    counter: int = 0

    @property
    def temp(self) -> Path:
        return Path(self.env["RUNNER_TEMP"])

    def base_env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
        base = {k: v for k, v in base.items() if "TOKEN" not in k.upper()}
        base.update(self.env)
        base.pop("GITHUB_TOKEN", None)  # a step sees secrets only through its own env: / inputs
        base.setdefault("MLCI_PREINSTALLED", "true")  # the test venv's mlci, like a runner image's root-owned one
        base["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base['PATH']}"
        base["GITHUB_WORKSPACE"] = str(self.workspace)
        return base

    def context(self) -> dict:
        env = self.base_env()
        return {
            "github": {
                "token": self.token,
                "workspace": str(self.workspace),
                "repository": env.get("GITHUB_REPOSITORY", ""),
                "event_name": env.get("GITHUB_EVENT_NAME", ""),
                "event": _event(env),
                "sha": env.get("GITHUB_SHA", ""),
                "ref": env.get("GITHUB_REF", ""),
                "run_id": env.get("GITHUB_RUN_ID", ""),
            },
            "runner": {
                "temp": self.env["RUNNER_TEMP"],
                "os": self.env.get("RUNNER_OS", "Linux"),
                "arch": self.env.get("RUNNER_ARCH", "X64"),
                "environment": self.env.get("RUNNER_ENVIRONMENT", ""),
            },
            "secrets": {"GITHUB_TOKEN": self.token},
            "env": env,
        }

    def functions(self) -> dict[str, Callable[..., Any]]:
        return {
            "always": lambda: True,
            "success": lambda: not self.failed,
            "failure": lambda: self.failed,
            "cancelled": lambda: False,
            "hashFiles": lambda *globs: "x" if any(list(self.workspace.glob(g)) for g in globs) else "",
            "startsWith": lambda a, b: render(a).lower().startswith(render(b).lower()),
            "contains": lambda a, b: render(b).lower() in render(a).lower(),
        }

    def run_script(self, script: str, step_env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
        """One `run:` step: GITHUB_ENV below the step's env, GITHUB_PATH first on PATH, `bash` from PATH."""
        self.counter += 1
        env_file, path_file, output_file = (self.temp / f"_{kind}_{self.counter}" for kind in ("env", "path", "out"))
        for file in (env_file, path_file, output_file):
            file.write_text("")
        env = {**step_env}
        # GITHUB_PATH lines go first, except the test venv's bin (mlci preinstalled on this
        # "runner", standing in for the action's install step, which puts its venv first too)
        mlci_bin = str(Path(sys.executable).parent)
        rest = [p for p in env["PATH"].split(os.pathsep) if p != mlci_bin]
        env["PATH"] = os.pathsep.join([mlci_bin, *self.github_path, *rest])
        env.update({"GITHUB_ENV": str(env_file), "GITHUB_PATH": str(path_file), "GITHUB_OUTPUT": str(output_file)})
        bash = shutil.which("bash", path=env["PATH"]) or "bash"
        file = self.temp / f"_step_{self.counter}.sh"
        file.write_text(script)
        done = subprocess.run(
            [bash, "--noprofile", "--norc", "-eo", "pipefail", str(file)],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        for line in (done.stdout + done.stderr).splitlines():
            if line.startswith("::add-mask::"):
                self.masks.append(line[len("::add-mask::") :])
            else:
                self.log.append(line)
        self.github_env.update(parse_env_file(env_file.read_text()))
        for line in path_file.read_text().splitlines():
            if line.strip():
                self.github_path.insert(0, line.strip())
        from tests.plugins.fake_github import read_outputs  # imported late: pytest loads it as a plugin first

        done.outputs = read_outputs(output_file)  # type: ignore[attr-defined]
        if done.returncode != 0:
            self.failed = True
        return done

    def step_env(self, ctx: dict, declared: dict | None, functions) -> dict[str, str]:
        """The runner's variables, then what earlier steps wrote to GITHUB_ENV, then the step's `env:`."""
        own = {k: expand(v, ctx, functions) for k, v in (declared or {}).items()}
        return {**self.base_env(), **self.github_env, **own}

    def masked(self, text: str) -> str:
        for secret in self.masks:
            if secret:
                text = text.replace(secret, "***")
        return text


def _event(env: dict[str, str]) -> dict:
    import json

    path = env.get("GITHUB_EVENT_PATH")
    return json.loads(Path(path).read_text()) if path and Path(path).exists() else {}


# --- the composite action ------------------------------------------------------------------------


def run_action(
    workspace: Path,
    env: dict[str, str],
    with_: dict[str, str] | None = None,
    uses: dict | None = None,
    *,
    job: Job | None = None,
) -> ActionRun:
    """action.yml's steps in `job` (a fresh job when None). `uses` maps an action (`actions/cache`)
    to a stand-in called with the step's expanded `with:`. `env` may carry GITHUB_TOKEN: it is the
    job's `github.token`, as the input default `${{ github.token }}` sees it."""
    action = yaml.safe_load((ACTION_DIR / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    if job is None:
        job = Job(workspace, dict(env), token=env.get("GITHUB_TOKEN", ""))
    start_log, start_masks = len(job.log), len(job.masks)
    ctx = job.context()
    ctx["github"]["action_path"] = str(ACTION_DIR)
    ctx["steps"] = {}
    functions = job.functions()
    given = with_ or {}
    unknown = set(given) - set(action["inputs"])
    assert not unknown, f"action.yml has no input(s) {unknown}"
    ctx["inputs"] = {
        name: given[name] if name in given else expand(spec.get("default", ""), ctx, functions)
        for name, spec in action["inputs"].items()
    }
    rc = 0
    failed_before = job.failed
    job.failed = False  # inside the action: its own steps' success()
    for step in action["runs"]["steps"]:
        if "if" in step and not condition(step["if"], ctx, functions):
            continue
        if "uses" in step:
            name = step["uses"].split("@")[0]
            assert name in (uses or {}), f"harness cannot run `uses:` step {step.get('name')}"
            uses[name]({k: expand(v, ctx, functions) for k, v in (step.get("with") or {}).items()})  # type: ignore[index]
            continue
        assert step.get("shell") == "bash", "every run step needs shell: bash"
        assert "${{" not in step["run"], f"step {step.get('name')!r} interpolates an expression into run:"
        step_env = job.step_env(ctx, step.get("env"), functions)
        step_env["GITHUB_ACTION_PATH"] = str(ACTION_DIR)
        cwd = workspace / expand(step.get("working-directory", "."), ctx, functions)
        done = job.run_script(step["run"], step_env, cwd)
        if "id" in step:
            ctx["steps"][step["id"]] = {
                "outputs": done.outputs,
                "outcome": "success" if not done.returncode else "failure",
            }
        if done.returncode != 0:
            rc = done.returncode
            break
    outputs = {name: expand(spec["value"], ctx, functions) for name, spec in action["outputs"].items()}
    job.failed = failed_before or rc != 0
    raw = "\n".join(job.log[start_log:])
    masks = job.masks[start_masks:]
    log = raw
    for secret in masks:
        log = log.replace(secret, "***")
    return ActionRun(rc, log, raw, outputs, masks)


# --- a template's job ---------------------------------------------------------------------------------


@dataclass
class JobRun:
    job: Job
    outputs: dict[str, str]
    steps: dict[str, Any]  # step id -> ActionRun / CompletedProcess
    ran: list[str]  # names (or uses) of the steps that ran
    uses_with: dict[str, dict[str, str]]  # stood-in action -> its expanded with:
    rc: int = 0

    @property
    def mlci(self) -> ActionRun:
        """The job's last mlci step (a train job has two: verify, then train)."""
        return [s for s in self.steps.values() if isinstance(s, ActionRun)][-1]


def run_job(
    workflow: Path,
    name: str,
    workspace: Path,
    env: dict[str, str],
    *,
    needs: dict[str, dict] | None = None,
    artifacts: dict[str, Path] | None = None,
    stand_ins: dict[str, Callable[[dict[str, str], Job], None]] | None = None,
    action_uses: dict | None = None,
) -> JobRun:
    """Every step of job `name` of `workflow` in one fresh `Job`. `env` carries the runner's
    variables and GITHUB_TOKEN as the job's token; `needs` the earlier jobs' outputs; `artifacts`
    the workflow run's artifact store (upload-artifact adds to it, download-artifact reads it)."""
    spec = yaml.safe_load(workflow.read_text())["jobs"][name]
    job = Job(workspace, dict(env), token=env.get("GITHUB_TOKEN", ""))
    job.artifacts = artifacts if artifacts is not None else {}
    functions = job.functions()
    ctx = job.context()
    ctx["needs"] = needs or {}
    ctx["steps"] = {}
    if "if" in spec:
        assert condition(spec["if"], ctx, functions), f"job {name} would be skipped"
    stand_ins = {**_default_stand_ins(), **(stand_ins or {})}
    result = JobRun(job, {}, {}, [], {})
    for index, step in enumerate(spec["steps"]):
        ctx["env"] = job.base_env()
        if "if" in step and not condition(step["if"], ctx, functions):
            continue
        key = step.get("id", f"_{index}")
        uses = step.get("uses", "")
        with_ = {k: expand(v, ctx, functions) for k, v in (step.get("with") or {}).items()}
        if "/mlci@" in uses:
            run = run_action(workspace, env, with_, action_uses, job=job)
            result.steps[key] = run
            ctx["steps"][key] = {"outputs": run.outputs, "outcome": "success" if not run.rc else "failure"}
            result.ran.append("mlci")
            if run.rc:
                result.rc = run.rc
            continue
        if uses:
            action = uses.split("@")[0]
            assert action in stand_ins, f"harness: no stand-in for {uses}"
            stand_ins[action](with_, job)
            result.uses_with[action] = with_
            result.ran.append(action)
            continue
        assert "${{" not in step["run"], f"step {step.get('name')!r} interpolates an expression into run:"
        step_env = job.step_env(ctx, step.get("env"), functions)
        done = job.run_script(step["run"], step_env, workspace / step.get("working-directory", "."))
        result.steps[key] = done
        ctx["steps"][key] = {"outputs": done.outputs, "outcome": "success" if not done.returncode else "failure"}
        result.ran.append(step.get("name", "run"))
        if done.returncode:
            result.rc = done.returncode
    ctx["env"] = job.base_env()
    result.outputs = {k: expand(v, ctx, functions) for k, v in (spec.get("outputs") or {}).items()}
    return result


def _default_stand_ins() -> dict[str, Callable[[dict[str, str], Job], None]]:
    def upload(with_: dict[str, str], job: Job) -> None:
        source = Path(with_["path"])
        if not source.exists():
            return  # if-no-files-found: warn
        stored = job.temp.parent / f"_artifact_{with_['name']}"
        shutil.rmtree(stored, ignore_errors=True)
        if source.is_dir():
            shutil.copytree(source, stored, symlinks=True)
        else:  # one file: the artifact holds it by its name, as upload-artifact stores it
            stored.mkdir(parents=True)
            shutil.copy2(source, stored / source.name)
        job.artifacts[with_["name"]] = stored

    def download(with_: dict[str, str], job: Job) -> None:
        stored = job.artifacts[with_["name"]]
        target = Path(with_["path"])
        shutil.copytree(stored, target, symlinks=True, dirs_exist_ok=True)

    def nothing(with_: dict[str, str], job: Job) -> None:
        return None

    return {
        "actions/checkout": nothing,  # the test prepared the workspace (and asserts the with:)
        "actions/setup-python": nothing,  # the test venv's Python is the runner's
        "actions/upload-artifact": upload,
        "actions/download-artifact": download,
    }
