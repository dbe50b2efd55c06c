"""Turn a model file into an MLflow model directory, in a child process without credentials.

MLflow's flavours need the model *object* (`mlflow.pytorch.save_model(module, …)`), and
loading a torch module or a scikit-learn pickle runs the code its pickle names. mlci loads it
only here: at promote time, after the promotion was authorized and the run record's
provenance verified, in a fresh `python -m mlci.integrations.registry.mlflow_save` with

- an environment without credentials (no `*TOKEN*` variable, no git auth header, no MLflow
  or cloud password; mlci.runner.tokenenv.stage_env plus `_SECRETS`), and nothing to reach:
  it writes a directory and exits; the parent uploads it;
- its working directory in a temp dir, so the project's own code is not importable: a model
  that needs it fails here, at promotion, rather than at deployment.

The child writes `<out>/` (MLmodel, the flavour's files, `extra_files/<the recorded file>`)
and one line of JSON on stdout: `{"flavor", "signature", "notes"}`, or `{"error": "…"}`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from mlci.errors import RegistryError

EXTRA_DIR = "extra_files"
_EXAMPLE_ROWS = 5
_SECRETS = ("PASSWORD", "SECRET", "CREDENTIAL", "AWS_", "AZURE_", "GOOGLE_", "MLFLOW_TRACKING_")
_TIMEOUT = 600


@dataclass(frozen=True)
class Saved:
    directory: Path
    flavor: str
    signature: bool
    notes: tuple[str, ...]


def child_env(environ: dict[str, str]) -> dict[str, str]:
    """`environ` without any credential (see the module docstring)."""
    from mlci.runner.tokenenv import stage_env

    env = stage_env(dict(environ))
    return {k: v for k, v in env.items() if not any(s in k.upper() for s in _SECRETS)}


def save(
    file: Path,
    flavor: str,
    out: Path,
    *,
    example: Path | None = None,
    drop: tuple[str, ...] = (),
    shown: str = "",
) -> Saved:
    """Run the child: the MLflow model directory of `file` (a `flavor` model) at `out`."""
    import mlci

    request: dict[str, Any] = {"file": str(file), "flavor": flavor, "out": str(out)}
    request.update(example=example and str(example), drop=list(drop), shown=shown or file.name)
    env = child_env(dict(os.environ))
    package_root = str(Path(mlci.__file__).resolve().parents[1])  # mlci itself, not the project
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env["MLFLOW_TRACKING_URI"] = "file:///dev/null/unused"  # the child talks to no server
    with tempfile.TemporaryDirectory(prefix="mlci-flavor-") as cwd:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "mlci.integrations.registry.mlflow_save"],
                input=json.dumps(request),
                capture_output=True,
                text=True,
                cwd=cwd,
                env=env,
                timeout=_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RegistryError(f"loading {shown or file.name} as a {flavor} model took over {_TIMEOUT}s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    try:
        answer = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = " ".join(done.stderr.strip().splitlines()[-3:])[:400]
        raise RegistryError(
            f"could not load {shown or file.name} as a {flavor} model (exit {done.returncode}): {tail}"
        ) from None
    if "error" in answer:
        raise RegistryError(str(answer["error"]))
    return Saved(out, answer["flavor"], bool(answer["signature"]), tuple(answer.get("notes", ())))


# --- the child ------------------------------------------------------------------------------


def _table(path: Path, drop: list[str]):
    import pandas as pd

    frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
    missing = [c for c in drop if c not in frame.columns]
    if missing:
        raise ValueError(f"model.example.drop names columns {path.name} does not have: {', '.join(missing)}")
    return frame.drop(columns=drop)


def _features(frame, names: list[str] | None, notes: list[str]):
    """The model's own input columns when it knows them, else every column left."""
    if names and all(n in frame.columns for n in names):
        return frame[names]
    if names:
        notes.append("the example table lacks some of the model's features; no input example logged")
        return None
    return frame


def _load(flavor: str, file: Path) -> Any:
    if flavor == "lightgbm":
        import lightgbm

        return lightgbm.Booster(model_file=str(file))
    if flavor == "pytorch":
        import torch

        try:
            return torch.jit.load(str(file), map_location="cpu")
        except RuntimeError:
            model = torch.load(str(file), map_location="cpu", weights_only=False)  # noqa: S614 - see module docstring
        if not isinstance(model, torch.nn.Module):
            raise ValueError(f"holds a {type(model).__name__}, not a torch.nn.Module")
        return model
    import joblib

    model = joblib.load(file)  # noqa: S301 - see the module docstring
    if not callable(getattr(model, "predict", None)):
        raise ValueError(f"holds a {type(model).__name__}, not an estimator with predict()")
    return model


def _save(request: dict[str, Any]) -> dict[str, Any]:
    import mlflow
    from mlflow.models import infer_signature

    flavor, file, out = request["flavor"], Path(request["file"]), Path(request["out"])
    shown, notes = request["shown"], cast(list[str], [])
    try:
        model = _load(flavor, file)
    except Exception as exc:  # noqa: BLE001 - any loader error is the user's file
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return {
            "error": f"{shown} does not load as a {flavor} model without your project's code ({text[:300]}); "
            "save a self-contained model (TorchScript, a LightGBM text model, a pickle of library classes) "
            "or set model.flavor in mlci.yaml"
        }
    frame = _table(Path(request["example"]), request["drop"]) if request.get("example") else None
    signature, example = None, None
    if flavor == "pytorch":
        import numpy as np
        import torch

        model.eval()
        if frame is not None:
            example = frame.head(_EXAMPLE_ROWS).to_numpy(dtype=np.float32)
            with torch.no_grad():
                output = model(torch.from_numpy(example)).detach().cpu().numpy()
            signature = infer_signature(example, output)
        mlflow.pytorch.save_model(
            model,
            str(out),
            signature=signature,
            input_example=example,
            pip_requirements=[f"torch=={torch.__version__}"],
            serialization_format="pickle",  # what MLflow takes for TorchScript (pt2 needs torch.export)
        )
    elif flavor == "lightgbm":
        import lightgbm

        if frame is not None:
            example = _features(frame, model.feature_name(), notes)
            if example is not None:
                example = example.head(_EXAMPLE_ROWS)
                signature = infer_signature(example, model.predict(example))
        mlflow.lightgbm.save_model(
            model,
            str(out),
            signature=signature,
            input_example=example,
            pip_requirements=[f"lightgbm=={lightgbm.__version__}"],
        )
    else:
        import sklearn

        if frame is not None:
            names = getattr(model, "feature_names_in_", None)
            example = _features(frame, list(names) if names is not None else None, notes)
            if example is not None:
                example = example.head(_EXAMPLE_ROWS)
                signature = infer_signature(example, model.predict(example))
        requirements = [f"scikit-learn=={sklearn.__version__}"]
        if type(model).__module__.startswith("lightgbm"):
            import lightgbm

            requirements.append(f"lightgbm=={lightgbm.__version__}")
        mlflow.sklearn.save_model(
            model, str(out), signature=signature, input_example=example, pip_requirements=requirements
        )
    if frame is None:
        notes.append("no example table (model.example.data, or explain.data): no signature or input example logged")
    extra = out / EXTRA_DIR
    extra.mkdir(exist_ok=True)
    shutil.copyfile(file, extra / Path(shown).name)  # the exact recorded bytes: what `mlci registry pull` returns
    return {"flavor": flavor, "signature": signature is not None, "notes": notes}


def main() -> int:
    import contextlib
    import io
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    request = json.loads(sys.stdin.read())
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # MLflow and torch print; our stdout is one JSON line
            answer = _save(request)
    except Exception as exc:  # noqa: BLE001 - reported as one line to the parent
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        answer = {"error": f"cannot log {request.get('shown')} to MLflow as {request.get('flavor')}: {text[:300]}"}
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
