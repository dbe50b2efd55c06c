"""Feature attributions for a PR report: the head model on head's evaluation table, the base
model on base's, each read where it lives (`explain:` in mlci.yaml).

Head's files are the working tree's. Base's are the files as they were at the base commit:
committed to git, or DVC outputs read from the local DVC cache by the base's dvc.lock (as base
predictions are). Anything missing or unreadable becomes a note on the report, never a crash.

The report is built in the job that ran the pipeline (no token there): a pickled scikit-learn
model is loaded like the pipeline itself would load it, and only there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlci.analysis import explain
from mlci.errors import DataError, MlciError
from mlci.store import dvcfile
from mlci.store.config import Config, ModelConfig
from mlci.store.gitplumb import Plumb


def file_at(repo: Plumb, root: Path, commit: str, rel: str) -> bytes:
    """`rel` as it was at `commit`: from git, else from the DVC cache by that commit's dvc.lock."""
    data = repo.blob(f"{commit}:{rel}")
    if data is not None:
        return data
    lock = dvcfile.locks(root, show=lambda p: repo.show(commit, p))
    if lock and dvcfile.is_dvc_output(lock, rel, root):
        cached = dvcfile.read_cached(root, lock, rel)
        if cached is None:
            raise DataError(
                f"{rel} at base {commit[:12]} is not in the local DVC cache; `dvc pull` it (or `mlci run` on the base)"
            )
        return cached
    raise DataError(f"{rel} at base {commit[:12]}: not recorded there (neither in git nor in its dvc.lock)")


def _head_file(root: Path, rel: str) -> bytes:
    path = root / rel
    if not path.is_file():
        raise DataError(f"{rel}: missing in the working tree; run `mlci run`")
    return path.read_bytes()


def _side(model: ModelConfig, read, where: str, cache: dict[tuple[bytes, bytes], Any]) -> explain.Attribution:
    spec = model.explain
    assert spec is not None
    if spec.file:
        values = explain.parse_file(read(spec.file), f"{spec.file} at {where}", Path(spec.file).suffix)
        return explain.Attribution(explain.ranked(values), "pipeline file", f"{spec.file} at {where}")
    assert spec.data and model.model
    model_bytes, table_bytes = read(model.model), read(spec.data)
    key = (model_bytes, table_bytes)
    source = f"{model.model} on {spec.data} at {where}"
    if key in cache:  # the same model on the same table: the same numbers (base = head when neither changed)
        same = cache[key]
        return explain.Attribution(same.features, same.method, source, same.rows)
    loaded = explain.load_model(model_bytes, f"{model.model} at {where}", Path(model.model).suffix)
    frame = explain.read_table(table_bytes, f"{spec.data} at {where}", Path(spec.data).suffix)
    found = explain.attribute(loaded, frame, source, spec.rows)
    cache[key] = found
    return found


def _reason(exc: Exception) -> str:
    if isinstance(exc, MlciError):
        return exc.message
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}".rstrip(": ")


def for_report(root: Path, cfg: Config, comparison: Any) -> list[explain.ModelExplanation]:
    """Base and head attributions of every model with `explain:`; problems are the explanation's notes."""
    found: list[explain.ModelExplanation] = []
    if all(m.explain is None for m in cfg.models):
        return found
    with Plumb(root) as repo:
        for model in cfg.models:
            if model.explain is None:
                continue
            result = explain.ModelExplanation(model.name, model.explain.top, None, None)
            cache: dict[tuple[bytes, bytes], Any] = {}
            try:
                result.head = _side(model, lambda rel: _head_file(root, rel), "head", cache)
            except Exception as exc:  # noqa: BLE001 - a model library's own errors too: a note, never a crash
                result.notes.append(f"head attributions not computed: {_reason(exc)}")
            base = comparison.base_commit
            if base is None:
                result.notes.append("no base commit: base attributions not computed")
            else:
                try:
                    result.base = _side(model, lambda rel, c=base: file_at(repo, root, c, rel), "base", cache)
                except Exception as exc:  # noqa: BLE001 - as above
                    result.notes.append(f"base attributions not computed: {_reason(exc)}")
            found.append(result)
    return found
