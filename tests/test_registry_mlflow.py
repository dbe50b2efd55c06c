"""The MLflow backend against a real `mlflow server` on loopback: versions with evidence,
stages as aliases, a loadable lightgbm model, and no usable half version when the server dies."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlci.integrations.registry.mlflow_backend import STATUS_TAG, MlflowBackend
from mlci.model.refs import parse
from mlci.workflows.promote import promote
from tests.helpers import invoke

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
    assert result.exit_code == 3 and "MLFLOW_TRACKING_URI" in result.stderr


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
