"""The MLflow backend against a real `mlflow server` on loopback: versions with evidence,
stages as aliases, a loadable lightgbm model, and no usable half version when the server dies."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.integrations.registry.mlflow_backend import STATUS_TAG, MlflowBackend
from mlci.model.refs import parse
from mlci.workflows.promote import promote
from tests.helpers import commit_all, git, invoke, invoke_json

_names = itertools.count(1)


@pytest.fixture
def mlflow_repo(trained_repo: Path, mlflow_server, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The trained example configured for MLflow, under a model name no other test uses."""
    name = f"churn-{next(_names)}"
    config = trained_repo / "mlci.yaml"
    config.write_text(config.read_text().replace("name: churn", f"name: {name}") + "registry:\n  backend: mlflow\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a dead server fails now, not in minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    return trained_repo


def model_name(root: Path) -> str:
    import yaml

    return yaml.safe_load((root / "mlci.yaml").read_text())["name"]


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_promotion_registers_a_loadable_version_with_evidence(mlflow_repo: Path, mlflow_server):
    import mlflow.lightgbm

    name = model_name(mlflow_repo)
    result = invoke(mlflow_repo, "promote", "--stage", "staging", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["version"]["version"], data["version"]["stages"], data["created"]) == ("1", ["staging"], True)
    mv = client(mlflow_server.uri).get_model_version_by_alias(name, "staging")
    assert mv.tags[STATUS_TAG] == "ready"
    assert mv.tags["mlci.sha256"] == data["version"]["sha256"]
    assert mv.tags["mlci.commit"] == data["version"]["commit"]
    assert float(mv.tags["mlci.metric.auc"]) > 0.5
    booster = mlflow.lightgbm.load_model(f"models:/{name}@staging")
    assert booster.num_trees() > 0


def test_pull_returns_the_recorded_bytes(mlflow_repo: Path, tmp_path: Path):
    name = model_name(mlflow_repo)
    promote(mlflow_repo, stage="prod")
    result = invoke(mlflow_repo, "registry", "pull", f"{name}#prod", "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "model.txt").read_bytes() == (mlflow_repo / "models" / "model.txt").read_bytes()
    assert (tmp_path / "out" / "mlflow-model" / "MLmodel").is_file()


def test_repromotion_is_a_noop(mlflow_repo: Path, mlflow_server):
    name = model_name(mlflow_repo)
    first = promote(mlflow_repo)
    again = promote(mlflow_repo, stage="prod")
    assert (again.created, again.version.version, again.version.stages) == (False, first.version.version, ("prod",))
    assert len(client(mlflow_server.uri).search_model_versions(f"name='{name}'")) == 1


def test_server_gone_after_upload_registers_nothing(mlflow_repo: Path, mlflow_server, mlflow_proxy, monkeypatch):
    name = model_name(mlflow_repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_proxy.uri)
    cut = lambda step: step == "uploaded" and mlflow_proxy.cut()  # noqa: E731
    with pytest.raises(Exception) as caught:
        promote(mlflow_repo, stage="prod", on_step=cut)
    assert getattr(caught.value, "exit_code", None) == 7, caught.value
    assert client(mlflow_server.uri).search_model_versions(f"name='{name}'") == []


def test_server_gone_after_version_creation_leaves_no_usable_version(
    mlflow_repo: Path, mlflow_server, mlflow_proxy, monkeypatch
):
    name = model_name(mlflow_repo)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_proxy.uri)
    cut = lambda step: step == "version-created" and mlflow_proxy.cut()  # noqa: E731
    with pytest.raises(Exception) as caught:
        promote(mlflow_repo, stage="prod", on_step=cut)
    assert getattr(caught.value, "exit_code", None) == 7, caught.value
    leftovers = client(mlflow_server.uri).search_model_versions(f"name='{name}'")
    assert all(mv.tags.get(STATUS_TAG) == "pending" for mv in leftovers)  # the delete could not reach the server
    assert MlflowBackend(mlflow_server.uri).versions(name) == []
    # once the server is back, promoting again yields a complete version
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    again = promote(mlflow_repo, stage="prod")
    assert again.created and again.version.stages == ("prod",)


def test_pull_refuses_an_artifact_corrupted_on_the_server(mlflow_repo: Path, mlflow_server, tmp_path: Path):
    name = model_name(mlflow_repo)
    v = promote(mlflow_repo).version
    model_id = v.metadata["source"].rsplit("/", 1)[-1]
    stored = [p for p in mlflow_server.artifacts.rglob("extra_files/model.txt") if model_id in str(p)]
    assert len(stored) == 1
    stored[0].write_bytes(stored[0].read_bytes() + b"\n# tampered\n")
    result = invoke(mlflow_repo, "registry", "pull", f"{name}@{v.version}", "-o", str(tmp_path / "out"))
    assert result.exit_code == 8 and "integrity check failed" in result.stderr
    assert not (tmp_path / "out" / "model.txt").exists()


def test_semver_options_are_refused_by_mlflow(mlflow_repo: Path):
    result = invoke(mlflow_repo, "promote", "--version", "v1.0.0")
    assert result.exit_code == 2 and "numbers versions itself" in result.stderr


def test_missing_tracking_uri_is_a_config_error(mlflow_repo: Path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    result = invoke(mlflow_repo, "registry", "list")
    assert result.exit_code == 3 and "registry.tracking_uri" in result.stderr and "MLFLOW_TRACKING_URI" in result.stderr


def test_missing_mlflow_package_is_one_clear_line(tmp_path: Path):
    code = (
        "import sys; sys.modules['mlflow'] = None\n"  # what an install without the extra looks like
        "from mlci.integrations.registry.mlflow_backend import MlflowBackend\n"
        "from mlci.errors import MlciError\n"
        "try:\n    MlflowBackend('http://127.0.0.1:9')\n"
        "except MlciError as e:\n    print(e.exit_code, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("8 ") and "extras: mlflow" in out


def test_resolve_by_number_and_alias(mlflow_repo: Path, mlflow_server):
    name = model_name(mlflow_repo)
    promote(mlflow_repo, stage="staging")
    backend = MlflowBackend(mlflow_server.uri)
    assert backend.resolve(parse(f"{name}@1")).stages == ("staging",)
    assert backend.resolve(parse(f"{name}#staging")).version == "1"


# --- configuration is the truth: URIs from mlci.yaml, nothing written into the repo ---------


@pytest.fixture
def configured_repo(mlflow_repo: Path, mlflow_server, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The server named only in mlci.yaml (as a user writes it), run from inside the repo."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    config = mlflow_repo / "mlci.yaml"
    config.write_text(config.read_text() + f"  tracking_uri: {mlflow_server.uri}\n")
    monkeypatch.chdir(mlflow_repo)  # where MLflow's default store (mlflow.db, mlruns/) would appear
    return mlflow_repo


def stray(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name in ("mlflow.db", "mlruns", "mlartifacts"))


def test_pull_with_the_server_only_in_mlci_yaml_writes_nothing_into_the_repo(configured_repo: Path, tmp_path: Path):
    name = model_name(configured_repo)
    promoted = invoke(configured_repo, "promote", "--stage", "staging")
    assert promoted.exit_code == 0, promoted.output
    pulled = invoke(configured_repo, "registry", "pull", f"{name}#staging", "-o", str(tmp_path / "out"))
    assert pulled.exit_code == 0, pulled.output
    assert (tmp_path / "out" / "model.txt").read_bytes() == (configured_repo / "models" / "model.txt").read_bytes()
    assert stray(configured_repo) == []
    assert os.environ.get("MLFLOW_TRACKING_URI") is None and os.environ.get("MLFLOW_REGISTRY_URI") is None


def test_a_separate_registry_uri_is_used_for_the_registry(configured_repo: Path, mlflow_server):
    """`registry_uri` names the registry; a tracking URI that is no server makes only tracking fail."""
    config = configured_repo / "mlci.yaml"
    config.write_text(config.read_text() + f"  registry_uri: {mlflow_server.uri}\n")
    listed = invoke(configured_repo, "registry", "list", "--json")
    assert listed.exit_code == 0, listed.output
    config.write_text(
        config.read_text().replace(f"  registry_uri: {mlflow_server.uri}\n", "  registry_uri: http://127.0.0.1:9\n")
    )
    broken = invoke(configured_repo, "registry", "list")
    assert broken.exit_code == 7 and "failed while listing" in broken.stderr


def test_a_failed_pull_says_pull(configured_repo: Path, tmp_path: Path):
    name = model_name(configured_repo)
    missing = invoke(configured_repo, "registry", "pull", f"{name}#staging", "-o", str(tmp_path / "out"))
    assert missing.exit_code == 8 and "nothing was registered" not in missing.stderr
    assert f"no registered versions of '{name}'" in missing.stderr
    config = configured_repo / "mlci.yaml"
    config.write_text(config.read_text().rsplit("  tracking_uri:", 1)[0] + "  tracking_uri: http://127.0.0.1:9\n")
    down = invoke(configured_repo, "registry", "pull", f"{name}#staging", "-o", str(tmp_path / "out"))
    assert down.exit_code == 7 and "nothing was registered" not in down.stderr and "listing" in down.stderr
    assert stray(configured_repo) == []


def test_the_environment_overrides_mlci_yaml(configured_repo: Path, mlflow_server, monkeypatch):
    config = configured_repo / "mlci.yaml"
    config.write_text(config.read_text().replace(mlflow_server.uri, "http://127.0.0.1:9"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    assert invoke(configured_repo, "registry", "list").exit_code == 0


# --- the references MLflow users type -------------------------------------------------------


def test_mlflow_references_resolve(mlflow_repo: Path, mlflow_server):
    name = model_name(mlflow_repo)
    promote(mlflow_repo, stage="staging")
    for ref in (f"{name}@staging", f"models:/{name}@staging", f"{name}/1", f"models:/{name}/1", f"{name}#staging"):
        shown = invoke(mlflow_repo, "registry", "show", ref, "--json")
        assert shown.exit_code == 0, (ref, shown.output)
        assert json.loads(shown.stdout)["version"] == "1"
    for ref, says in ((f"{name}@v1.0.0", "numbers versions itself"), (f"models:/{name}/Production", "aliases")):
        refused = invoke(mlflow_repo, "registry", "show", ref)
        assert refused.exit_code == 2 and says in refused.stderr and "models:/NAME@alias" in refused.stderr


# --- the lifecycle, in MLflow's terms -------------------------------------------------------


def test_unassign_deletes_the_alias_and_deregister_archives(mlflow_repo: Path, mlflow_server):
    name = model_name(mlflow_repo)
    promote(mlflow_repo, stage="staging")
    assert invoke(mlflow_repo, "registry", "assign", f"{name}/1", "prod").exit_code == 0
    assert invoke(mlflow_repo, "registry", "unassign", f"{name}@staging").exit_code == 0
    assert client(mlflow_server.uri).get_registered_model(name).aliases == {"prod": "1"}
    assert invoke(mlflow_repo, "registry", "deregister", f"{name}/1").exit_code == 0
    mv = client(mlflow_server.uri).get_model_version(name, "1")
    assert mv.current_stage == "Archived"
    assert client(mlflow_server.uri).get_registered_model(name).aliases == {}  # no alias serves it any more
    assert invoke_json(mlflow_repo, "registry", "list", name) == []


def test_what_mlflow_lacks_is_refused_clearly(mlflow_repo: Path):
    name = model_name(mlflow_repo)
    deprecated = invoke(mlflow_repo, "registry", "deprecate", name)
    assert deprecated.exit_code == 8 and "MLflow has no deprecation" in deprecated.stderr
    history = invoke(mlflow_repo, "registry", "history")
    assert history.exit_code == 8 and "keeps no history" in history.stderr


# --- any model: scikit-learn, loaded back in another process ------------------------------

SKLEARN_TRAIN = """\
import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

rng = np.random.default_rng(0)
x = pd.DataFrame(rng.normal(size=(300, 4)), columns=["a", "b", "c", "d"])
y = (x.a + 0.5 * x.b > 0).astype(int)
model = LogisticRegression().fit(x, y)
Path("models").mkdir(exist_ok=True)
Path("data").mkdir(exist_ok=True)
joblib.dump(model, "models/model.joblib")
x.assign(row_id=range(len(x)), label=y).to_csv("data/test.csv", index=False)
Path("metrics.json").write_text(json.dumps({"accuracy": float(model.score(x, y))}))
"""

SKLEARN_DVC = """\
stages:
  train:
    cmd: python src/train.py
    deps: [src/train.py]
    outs: [models/model.joblib, data/test.csv]
    metrics:
      - metrics.json:
          cache: false
"""


@pytest.fixture(scope="module")
def _sklearn_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scikit-learn pipeline (joblib), trained and recorded on main."""
    from mlci.store.pipeline import run_dvc
    from mlci.workflows import run

    root = tmp_path_factory.mktemp("sklearn") / "repo"
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    run_dvc(root, "init", "-q")
    (root / "src" / "train.py").write_text(SKLEARN_TRAIN)
    (root / "dvc.yaml").write_text(SKLEARN_DVC)
    (root / "mlci.yaml").write_text(
        "version: 1\nname: skl\nmetrics: [metrics.json]\n"
        "model: {path: models/model.joblib, example: {data: data/test.csv, drop: [row_id, label]}}\n"
    )
    commit_all(root, "sklearn pipeline")
    run.run(root)
    commit_all(root, "train")
    run.run(root)
    return root


LOAD_ELSEWHERE = """\
import json, sys
import numpy as np, pandas as pd, mlflow, mlflow.pyfunc
uri, flavor, table, drop = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
frame = pd.read_csv(table).drop(columns=drop)
native = getattr(__import__("mlflow." + flavor).__dict__[flavor], "load_model")(uri)
pyfunc = mlflow.pyfunc.load_model(uri)
if flavor == "pytorch":
    import torch
    x = frame.to_numpy(np.float32)
    with torch.no_grad():
        a = native(torch.from_numpy(x)).numpy()
    b = pyfunc.predict(x)
else:
    a, b = native.predict_proba(frame)[:, 1], pyfunc.predict(frame)
    a = np.column_stack([a, native.predict(frame)])
print(json.dumps({"native": np.asarray(a).tolist(), "pyfunc": np.asarray(b).tolist(),
                  "signature": pyfunc.metadata.signature is not None,
                  "example": pyfunc.metadata.saved_input_example_info is not None}))
"""


def load_elsewhere(uri: str, model_uri: str, flavor: str, table: Path, drop: list[str], cwd: Path) -> dict:
    """Load `model_uri` with MLflow in a fresh process that has none of the project's code."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MLFLOW_TRACKING_URI"] = uri
    done = subprocess.run(
        [sys.executable, "-c", LOAD_ELSEWHERE, model_uri, flavor, str(table), json.dumps(drop)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_scikit_learn_model_is_promoted_and_loads_back_elsewhere(
    _sklearn_project: Path, mlflow_server, tmp_path: Path, monkeypatch
):
    import joblib
    import numpy as np
    import pandas as pd

    root = tmp_path / "repo"
    shutil.copytree(_sklearn_project, root, symlinks=True)
    name = f"skl-{next(_names)}"
    config = root / "mlci.yaml"
    config.write_text(
        config.read_text().replace("name: skl", f"name: {name}")
        + f"registry:\n  backend: mlflow\n  tracking_uri: {mlflow_server.uri}\n"
    )
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    result = invoke(root, "promote", "--stage", "staging", "--json")
    assert result.exit_code == 0, result.output
    mv = client(mlflow_server.uri).get_model_version_by_alias(name, "staging")
    assert mv.tags["mlci.sha256"] == json.loads(result.stdout)["version"]["sha256"]
    got = load_elsewhere(
        mlflow_server.uri,
        f"models:/{name}@staging",
        "sklearn",
        root / "data/test.csv",
        ["row_id", "label"],
        tmp_path / "x",
    )
    frame = pd.read_csv(root / "data/test.csv").drop(columns=["row_id", "label"])
    local = joblib.load(root / "models/model.joblib")
    expected = np.column_stack([local.predict_proba(frame)[:, 1], local.predict(frame)])
    assert np.array_equal(np.asarray(got["native"]), expected)
    assert np.array_equal(np.asarray(got["pyfunc"]), local.predict(frame))
    assert got["signature"] and got["example"]
