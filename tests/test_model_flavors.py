"""What kind of model a file is, told from its bytes alone: nothing in it is ever run."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from mlci.errors import RegistryError
from mlci.model.flavors import Kind, infer


def test_a_lightgbm_text_model(tmp_path: Path):
    model = tmp_path / "model.txt"
    model.write_text("tree\nversion=v4\nnum_class=1\n")
    assert infer(model).flavor == "lightgbm"


def test_torchscript_and_a_whole_module_are_pytorch(tmp_path: Path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    torch.jit.save(torch.jit.script(net), tmp_path / "ts.pt")
    torch.save(net, tmp_path / "full.pt")
    assert infer(tmp_path / "ts.pt") == Kind("pytorch", "torchscript")
    assert infer(tmp_path / "full.pt") == Kind("pytorch", "module torch.nn.modules.container.Sequential")


def test_a_state_dict_is_refused_with_the_fix(tmp_path: Path):
    torch = pytest.importorskip("torch")
    torch.save(torch.nn.Linear(3, 2).state_dict(), tmp_path / "weights.pt")
    with pytest.raises(RegistryError, match=r"state dict .* torch\.jit\.save"):
        infer(tmp_path / "weights.pt", "models/weights.pt")


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3)])
def test_scikit_learn_estimators_pickled_by_joblib(tmp_path: Path, compress):
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    estimator = LogisticRegression().fit(np.random.default_rng(0).random((20, 3)), np.arange(20) % 2)
    joblib.dump(estimator, tmp_path / "model.joblib", compress=compress)
    kind = infer(tmp_path / "model.joblib")
    assert (kind.flavor, kind.detail) == ("sklearn", "estimator sklearn.linear_model._logistic.LogisticRegression")


class Evil:
    """A pickle that runs `touch PATH` when loaded."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.path}",))


def test_inference_never_runs_what_a_pickle_names(tmp_path: Path):
    """The control: unpickling this file runs a command. Inference only reads it, and refuses."""
    marker = tmp_path / "pwned"
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps(Evil(marker)))
    with pytest.raises(RegistryError, match="cannot tell what kind of model"):
        infer(model)
    assert not marker.exists()
    pickle.loads(model.read_bytes())  # noqa: S301 - the control: loading it does run the command
    assert marker.exists()


def test_a_class_of_the_training_script_is_refused(tmp_path: Path):
    model = tmp_path / "model.pkl"
    model.write_bytes(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x08__main__\x8c\x03Net\x93)\x81.")
    with pytest.raises(RegistryError, match="class of your training script"):
        infer(model)


def test_unknown_bytes_ask_for_the_flavor_in_mlci_yaml(tmp_path: Path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x08\x07\x12\x07pytorch")
    with pytest.raises(RegistryError, match=r"flavor: lightgbm \| pytorch \| sklearn"):
        infer(model, "models/model.onnx")


def test_the_child_that_loads_a_model_for_mlflow_holds_no_credential(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The attack: a pickle that dumps its environment when loaded. Loaded in mlci's own process
    (the control) it sees the token; in mlflow_save's child it sees none, and the promotion fails."""
    from mlci.integrations.registry import mlflow_save

    monkeypatch.setenv("GITHUB_TOKEN", "ghs_registrysecret")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "mlflowsecret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "awssecret")
    seen = tmp_path / "seen-env"
    model = tmp_path / "model.joblib"
    model.write_bytes(pickle.dumps(DumpEnv(seen)))
    pickle.loads(model.read_bytes())  # noqa: S301 - the control
    assert "ghs_registrysecret" in seen.read_text()
    seen.unlink()
    with pytest.raises(RegistryError):
        mlflow_save.save(model, "sklearn", tmp_path / "out", shown="models/model.joblib")
    leaked = seen.read_text()
    assert leaked and not any(s in leaked for s in ("ghs_registrysecret", "mlflowsecret", "awssecret"))


class DumpEnv:
    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        import os

        return (os.system, (f"env > {self.path}",))
