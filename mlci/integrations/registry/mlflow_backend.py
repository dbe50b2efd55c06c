"""The MLflow Model Registry backend (`registry.backend: mlflow`).

Where: `registry.tracking_uri` and `registry.registry_uri` in mlci.yaml (the registry defaults
to the tracking server); `MLFLOW_TRACKING_URI` / `MLFLOW_REGISTRY_URI` override them. Every
MLflow call, including the resolution of `models:/` URIs, goes to those servers, and nothing
is written into the repository (no stray `mlflow.db` or `mlruns/`).

What: a promotion logs the model in its own MLflow flavour (lightgbm, pytorch or sklearn, from
`model.flavor` or read from the file's bytes, mlci.model.flavors), with a signature and an
input example from `model.example` (else `explain.data`) when there is one, so that
`mlflow.pytorch.load_model("models:/churn@staging")` and `mlflow.pyfunc.load_model(…)` work.
The flavour directory is built in a child process without credentials (mlflow_save); the
exact recorded file travels along as `extra_files/<name>`. The upload is read back and its
sha256 checked before the model version is created. Stages are aliases (`churn@staging`);
deregistering archives a version (MLflow's `Archived` stage) after removing its aliases.

All-or-nothing in two phases: the version is created tagged `mlci.status=pending` and turned
`ready` only after its alias is set; any failure deletes it (best effort), and mlci never
lists, resolves or pulls a version that is not `ready`, so a server dying mid-promotion
cannot leave a half version anyone would use.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

from mlci import faults
from mlci.errors import ConfigError, RegistryError, RemoteError, StorageError, UsageError
from mlci.integrations.registry.base import Candidate, Event, ModelVersion, Pulled, Recovery, Registered, pick
from mlci.model import refs
from mlci.store import atomicio

STATUS_TAG = "mlci.status"
CARD_HEADING = "## Model card"  # mlci.report.card's first line: a description that is a card
DESCRIPTION_LIMIT = 5000  # MLflow's SQL stores keep model version descriptions in a String(5000)


def fit_description(card: str) -> str:
    """The card within MLflow's description column, cut at a line with a note when longer."""
    if len(card) <= DESCRIPTION_LIMIT:
        return card
    note = "\n… (card truncated to MLflow's 5,000-character description; `mlci record show COMMIT` has every metric)\n"
    lines, size = [], len(note)
    for line in card.splitlines(keepends=True):
        if size + len(line) > DESCRIPTION_LIMIT:
            break
        lines.append(line)
        size += len(line)
    return "".join(lines) + note


_PREFIX = "mlci."
_EXTRA_DIR = "extra_files"


def _mlflow():
    import logging
    import os

    # the core never prints: MLflow's progress bars and "View run at" lines would corrupt --json output
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise RegistryError(
            "registry.backend is 'mlflow' but MLflow is not installed; give the mlci action extras: mlflow "
            "(or pip install mlflow)"
        ) from None
    return mlflow, MlflowClient


def safe_uri(uri: str) -> str:
    """`uri` without any user:password@ part, fit for messages."""
    import re

    return re.sub(r"//[^/@]*@", "//", uri)


def _remote_error(action: str, exc: Exception, uri: str, outcome: str = "") -> RemoteError:
    """`action` names the operation that failed (listing, pulling, registering…); `outcome` what it left."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    text = text.replace(uri, safe_uri(uri))
    return RemoteError(
        f"MLflow at {safe_uri(uri)} failed while {action}: {text[:300]}{'; ' + outcome if outcome else ''}"
    )


_REGISTERED_NOTHING = "nothing was registered"


def _iso(millis) -> str:
    from datetime import datetime

    if not millis:
        return ""
    return datetime.fromtimestamp(int(millis) / 1000, tz=UTC).isoformat(timespec="seconds")


class MlflowBackend:
    kind = "mlflow"

    def __init__(self, tracking_uri: str | None, *, experiment: str = "mlci", registry_uri: str | None = None):
        if not tracking_uri:
            raise ConfigError(
                "registry.backend is 'mlflow' but no tracking server is set; set registry.tracking_uri in mlci.yaml "
                "(or export MLFLOW_TRACKING_URI=http://HOST:PORT)"
            )
        mlflow, client_cls = _mlflow()
        self.uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.experiment = experiment
        self._mlflow = mlflow
        self.client = client_cls(tracking_uri=tracking_uri, registry_uri=self.registry_uri)

    # --- reading -------------------------------------------------------------------------
    def _as_version(self, mv, stages: dict[str, list[str]]) -> ModelVersion | None:
        tags = dict(mv.tags or {})
        if tags.get(STATUS_TAG) != "ready" or getattr(mv, "current_stage", "") == "Archived":
            return None
        try:
            meta = json.loads(tags.get("mlci.metadata", "{}"))
        except json.JSONDecodeError:
            meta = {}
        return ModelVersion(
            name=mv.name,
            version=str(mv.version),
            commit=tags.get("mlci.commit", ""),
            sha256=tags.get("mlci.sha256"),
            size=int(tags["mlci.size"]) if tags.get("mlci.size") else None,
            path=tags.get("mlci.path", ""),
            stages=tuple(sorted(stages.get(str(mv.version), []))),
            created_at=_iso(mv.creation_timestamp),
            backend=self.kind,
            metadata={**meta, "source": mv.source, "run_id": mv.run_id},
            card=mv.description if (mv.description or "").startswith(CARD_HEADING) else "",
        )

    def _names(self) -> list[str]:
        try:
            return sorted(m.name for m in self.client.search_registered_models())
        except Exception as exc:  # noqa: BLE001 - MLflow raises many transport errors
            raise _remote_error("listing models", exc, self.uri) from exc

    def parse(self, text: str) -> refs.ModelRef:
        return refs.parse(text, backend=self.kind)

    def refresh(self) -> None:
        """The server is the one source of truth: nothing to bring in."""

    def recover(self) -> Recovery:
        """Nothing is journalled: a version a kill left `pending` stays invisible (see `pending`)."""
        return Recovery()

    def pending(self) -> list[str]:
        """Versions a failed promotion left `mlci.status=pending` (invisible; delete them in MLflow at will)."""
        try:
            listed = self.client.search_model_versions(f"tags.`{STATUS_TAG}` = 'pending'")
        except Exception as exc:  # noqa: BLE001
            raise _remote_error("listing pending versions", exc, self.uri) from exc
        return sorted(f"{mv.name}/{mv.version}" for mv in listed)

    def history(self, name: str | None = None) -> list[Event]:
        raise RegistryError(
            "the mlflow backend keeps no history of alias moves (MLflow records none); "
            "`mlci registry list` shows each version and its aliases"
        )

    def versions(self, name: str | None = None) -> list[ModelVersion]:
        from mlflow.exceptions import MlflowException

        names = [name] if name else self._names()
        found = []
        for model in names:
            try:
                registered = self.client.get_registered_model(model)
                listed = self.client.search_model_versions(f"name='{model}'")
            except MlflowException as exc:
                if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                    continue
                raise _remote_error("listing versions", exc, self.uri) from exc
            except Exception as exc:  # noqa: BLE001
                raise _remote_error("listing versions", exc, self.uri) from exc
            stages: dict[str, list[str]] = {}
            for alias, version in (registered.aliases or {}).items():
                stages.setdefault(str(version), []).append(alias)
            ready = [v for v in (self._as_version(mv, stages) for mv in listed) if v is not None]
            found.extend(sorted(ready, key=lambda v: int(v.version)))
        return found

    def resolve(self, ref: refs.ModelRef) -> ModelVersion:
        return pick(self.versions(ref.name), ref, where=f"in MLflow at {safe_uri(self.uri)}")

    # --- writing -------------------------------------------------------------------------
    def flavor_of(self, candidate: Candidate) -> str:
        """`model.flavor` from mlci.yaml, else what the file's bytes say (nothing is loaded)."""
        from mlci.model import flavors

        return candidate.flavor or flavors.infer(candidate.file, candidate.path).flavor

    def _log(self, candidate: Candidate, flavor: str) -> tuple[str, str, str]:
        """Log the model in a run; returns (run id, model URI, model id). Raises RemoteError."""
        from mlflow.entities import LoggedModelStatus, Metric

        from mlci.integrations.registry import mlflow_save

        metrics = {
            f"{k}": v
            for values in candidate.metadata.get("metrics", {}).values()
            for k, v in values.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        with tempfile.TemporaryDirectory(prefix="mlci-mlflow-") as tmp:
            saved = mlflow_save.save(
                candidate.file,
                flavor,
                Path(tmp) / "model",
                example=candidate.example,
                drop=candidate.example_drop,
                shown=candidate.path,
            )
            extra = saved.directory / _EXTRA_DIR / Path(candidate.path).name
            if not extra.is_file() or atomicio.sha256(extra) != candidate.sha256:
                raise RegistryError(f"register: the MLflow model of {candidate.path} does not carry the recorded bytes")
            # the client only, never MLflow's fluent API: that reads and sets process-wide URIs
            # (and MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI in os.environ)
            client = self.client
            run_id = None
            try:
                experiment = client.get_experiment_by_name(self.experiment)
                experiment_id = experiment.experiment_id if experiment else client.create_experiment(self.experiment)
                run = client.create_run(
                    experiment_id,
                    run_name=f"promote {candidate.name} {candidate.commit[:12]}",
                    tags={
                        "mlci.commit": candidate.commit,
                        "mlci.sha256": candidate.sha256,
                        "mlci.flavor": flavor,
                        "mlci.model.record": str(candidate.metadata.get("record", "")),
                    },
                )
                run_id = run.info.run_id
                if metrics:
                    now = int(time.time() * 1000)
                    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()])
                logged = client.create_logged_model(
                    experiment_id, name="model", source_run_id=run_id, model_type=flavor
                )
                try:
                    client.log_model_artifacts(logged.model_id, str(saved.directory))
                except Exception:
                    client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
                    raise
                client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
                with contextlib.redirect_stdout(io.StringIO()):  # MLflow prints "View run at"; the core never prints
                    client.set_terminated(run_id)
                return run_id, f"models:/{logged.model_id}", logged.model_id
            except Exception as exc:  # noqa: BLE001
                if run_id is not None:
                    self._forget_run(run_id)
                raise _remote_error("uploading the model", exc, self.uri, _REGISTERED_NOTHING) from exc

    def _verify(self, model_uri: str, candidate: Candidate) -> None:
        with tempfile.TemporaryDirectory(prefix="mlci-verify-") as tmp:
            local = self._download(model_uri, Path(tmp), "reading the upload back")
            extra = local / _EXTRA_DIR / Path(candidate.path).name
            if not extra.is_file() or atomicio.sha256(extra) != candidate.sha256:
                raise RegistryError(
                    f"MLflow at {safe_uri(self.uri)} did not store the model intact (sha256 mismatch on read-back); "
                    "nothing was registered"
                )

    def _download(self, uri: str, into: Path, action: str) -> Path:
        """`uri` (a logged model `models:/m-…`, or a registered version `models:/NAME/N`) into `into`,
        resolved through our client: MLflow's own resolution of a logged model's id would ask the
        process-wide tracking URI, not ours."""
        try:
            if uri.startswith("models:/") and uri.count("/") == 2:  # models:/NAME/N
                name, version = uri.removeprefix("models:/").split("/")
                uri = self.client.get_model_version_download_uri(name, version)
            if uri.startswith("models:/m-"):
                uri = self.client.get_logged_model(uri.removeprefix("models:/")).artifact_location
            return Path(
                self._mlflow.artifacts.download_artifacts(
                    artifact_uri=uri, dst_path=str(into), tracking_uri=self.uri, registry_uri=self.registry_uri
                )
            )
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):  # this machine's disk, not MLflow
                raise StorageError.from_os_error(OSError(exc.errno, exc.strerror, str(into))) from None
            raise _remote_error(f"{action} ({uri})", exc, self.uri) from exc
        except Exception as exc:  # noqa: BLE001
            raise _remote_error(f"{action} ({uri})", exc, self.uri) from exc

    def _ensure_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name, description="Registered by mlci promote")
        except MlflowException as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise

    def register(
        self,
        candidate: Candidate,
        *,
        version: str | None,
        bump: str | None,
        stage: str | None,
        on_step: Callable[[str], None] | None = None,
    ) -> Registered:
        if version is not None or bump is not None:
            raise UsageError("the mlflow backend numbers versions itself (1, 2, 3…); drop --version/--bump")
        step = on_step or (lambda _s: None)
        run_id, model_uri, model_id = self._log(candidate, self.flavor_of(candidate))
        try:
            self._verify(model_uri, candidate)
        except Exception:
            self._forget_run(run_id)
            raise
        step("uploaded")
        faults.checkpoint("uploaded")
        metadata = {
            k: candidate.metadata.get(k)
            for k in ("record", "approval", "gate", "allow_regression", "pr", "promoted_at")
        }
        tags: dict[str, Any] = {
            STATUS_TAG: "pending",
            "mlci.commit": candidate.commit,
            "mlci.sha256": candidate.sha256,
            "mlci.size": str(candidate.size),
            "mlci.path": candidate.path,
            "mlci.metadata": json.dumps(metadata, sort_keys=True, separators=(",", ":"))[:4000],
        }
        for values in candidate.metadata.get("metrics", {}).values():
            for key, value in values.items():
                tags[f"mlci.metric.{key}"] = str(value)
        created = None
        try:
            self._ensure_model(candidate.name)
            created = self.client.create_model_version(
                candidate.name,
                source=model_uri,
                run_id=run_id,
                tags=tags,
                description=f"mlci: commit {candidate.commit[:12]}",
                model_id=model_id,
            )
            step("version-created")
            faults.checkpoint("version-created")
            if candidate.card:
                self.client.update_model_version(
                    candidate.name, created.version, description=fit_description(candidate.card(str(created.version)))
                )
            self.client.set_model_version_tag(candidate.name, created.version, STATUS_TAG, "ready")
            faults.checkpoint("ready")
            # the alias last: it never points at a pending (invisible) version; a crash before
            # it leaves a ready version with this digest, whose stage the retry assigns
            if stage:
                self.client.set_registered_model_alias(candidate.name, stage, created.version)
        except Exception as exc:  # noqa: BLE001
            if created is not None:
                self._discard(candidate.name, created.version)
            self._forget_run(run_id)
            if isinstance(exc, (RegistryError, RemoteError)):
                raise
            raise _remote_error("registering the version", exc, self.uri, _REGISTERED_NOTHING) from exc
        return Registered(self.resolve(refs.ModelRef(candidate.name, version=str(created.version))), created=True)

    def _discard(self, name: str, version) -> None:
        """Delete a half-made version; when the server is gone it stays `pending`, i.e. invisible."""
        try:
            self.client.delete_model_version(name, str(version))
        except Exception:  # noqa: BLE001, S110 - best effort by design, see the module docstring
            pass

    def _forget_run(self, run_id: str) -> None:
        """Delete the promotion's run (and so its logged model) after a failure; best effort."""
        try:
            self.client.delete_run(run_id)
        except Exception:  # noqa: BLE001, S110 - the server may be the thing that failed
            pass

    def assign(self, version: ModelVersion, stage: str, on_step=None) -> ModelVersion:
        try:
            self.client.set_registered_model_alias(version.name, stage, version.version)
        except Exception as exc:  # noqa: BLE001
            raise _remote_error(f"setting alias {stage}", exc, self.uri) from exc
        return self.resolve(refs.ModelRef(version.name, version=version.version))

    def unassign(self, version: ModelVersion, stage: str) -> ModelVersion:
        """Delete the alias `stage` (MLflow's stage), when it points at `version`."""
        if stage not in version.stages:
            raise RegistryError(
                f"{version.name}/{version.version} has no alias '{stage}'; `mlci registry list` shows them"
            )
        try:
            self.client.delete_registered_model_alias(version.name, stage)
        except Exception as exc:  # noqa: BLE001
            raise _remote_error(f"deleting alias {stage}", exc, self.uri) from exc
        return self.resolve(refs.ModelRef(version.name, version=version.version))

    def deregister(self, version: ModelVersion) -> None:
        """Archive the version (MLflow's `Archived` stage), its aliases removed first so that none
        keeps serving it; mlci no longer lists or resolves archived versions."""
        import warnings

        try:
            for alias in version.stages:
                self.client.delete_registered_model_alias(version.name, alias)
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore"
                )  # stages are deprecated in MLflow; `Archived` is still its word for this
                self.client.transition_model_version_stage(version.name, version.version, "Archived")
        except Exception as exc:  # noqa: BLE001
            raise _remote_error(f"archiving {version.name}/{version.version}", exc, self.uri) from exc

    def deprecate(self, name: str) -> None:
        raise RegistryError(
            f"MLflow has no deprecation of a whole model; archive its versions (`mlci registry deregister {name}/N`) "
            "or delete the registered model in MLflow"
        )

    # --- pulling -------------------------------------------------------------------------
    def pull(self, ref: refs.ModelRef, directory: Path) -> Pulled:
        """Download the version's MLflow model; its original file goes to `directory`, verified."""
        v = self.resolve(ref)
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".mlci-pull-", dir=directory) as tmp:
            local = self._download(f"models:/{v.name}/{v.version}", Path(tmp), f"pulling {v.name}/{v.version}")
            name = Path(v.path).name or "model.txt"
            extra = local / _EXTRA_DIR / name
            if not extra.is_file():
                raise RegistryError(
                    f"{v.name}/{v.version} in MLflow has no {_EXTRA_DIR}/{name}; it was not registered by mlci"
                )
            got = atomicio.sha256(extra)
            if v.sha256 and got != v.sha256:
                raise RegistryError(
                    f"integrity check failed for {v.name}/{v.version}: expected sha256 {v.sha256[:12]}…, got {got[:12]}…; "
                    "the stored artifact is corrupted, re-promote the model"
                )
            target = directory / name
            atomicio.write_bytes(target, extra.read_bytes())
            model_dir = directory / "mlflow-model"
            if model_dir.exists():
                shutil.rmtree(model_dir)
            shutil.move(str(local), model_dir)
        return Pulled(version=v, file=target, sha256=got)
