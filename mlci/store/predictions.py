"""Per-row predictions (row_id, label, score) of base and head, read and checked.

Head's file is the working tree's (`predictions:` in mlci.yaml). Base's is the same output as
it was at the base commit: a DVC-cached output, found by its md5 in the base commit's
`dvc.lock` and read from the DVC cache (DVC 3 layout, then DVC 2's), or, when the file is
tracked by git instead, read from the commit. Every problem is a `DataError` whose message
the report shows as a note ("what was skipped and why"); nothing here is fatal to a report.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlci.errors import ConfigError, DataError
from mlci.store import dvcfile, gitrepo, repopath
from mlci.store.config import ModelConfig

if TYPE_CHECKING:
    import numpy as np

COLUMNS = ("row_id", "label", "score")


@dataclass
class Predictions:
    source: str  # for messages: "eval/predictions.csv at base 1a2b3c4d5e6f"
    row_id: np.ndarray
    label: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return len(self.row_id)


def _plain_csv(data: bytes) -> tuple[Any, Any, Any] | None:
    """(row_id, label, score) of a plain numeric row_id,label,score CSV, read by numpy alone.

    The common shape (what numpy/pandas write) skips pandas: its import alone is ~70 MB and
    half a second. Anything unusual (other or quoted headers, text ids, empty or non-finite
    cells, no rows) gives None, and the pandas path reads the file and says what is wrong.
    """
    import numpy as np

    header, _, body = data.partition(b"\n")
    try:
        names = [n.strip() for n in header.decode("ascii").strip().split(",")]
    except UnicodeDecodeError:
        return None
    if len(names) != len(COLUMNS) or set(names) != set(COLUMNS) or not body.strip():
        return None
    try:
        values = np.loadtxt(io.BytesIO(body), delimiter=",", dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        return None
    if values.shape[0] == 0 or values.shape[1] != len(COLUMNS) or not np.isfinite(values).all():
        return None
    row_id, label, score = (values[:, names.index(c)] for c in COLUMNS)
    if np.abs(row_id).max() >= 2**53:
        return None  # ids a float64 cannot hold exactly: pandas reads them as integers
    if np.all(row_id == np.round(row_id)):
        row_id = row_id.astype(np.int64)  # pandas reads integer ids as int64
    return row_id, label, score


def parse(data: bytes, source: str, *, task: str = "binary", suffix: str = ".csv") -> Predictions:
    """Parse and validate CSV (or parquet, by `suffix`) bytes; raises DataError on bad content."""
    import numpy as np

    plain = _plain_csv(data) if suffix != ".parquet" else None
    if plain is not None:
        row_id, label, score = plain
        ascending = len(row_id) < 2 or bool(np.all(row_id[1:] > row_id[:-1]))  # the usual case: no sort
        if not ascending and len(np.unique(row_id)) != len(row_id):
            plain = None  # the pandas path names the duplicate
    if plain is None:
        row_id, label, score = _parse_with_pandas(data, source, suffix)
    return _checked(source, task, row_id, label, score)


def _parse_with_pandas(data: bytes, source: str, suffix: str) -> tuple[Any, Any, Any]:
    import numpy as np
    import pandas as pd

    try:
        if suffix == ".parquet":
            frame = pd.read_parquet(io.BytesIO(data))
        else:
            frame = pd.read_csv(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - pandas raises many types for unreadable files
        raise DataError(
            f"{source}: cannot read predictions ({type(exc).__name__}: {exc}); "
            "write a CSV with columns row_id,label,score"
        ) from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {', '.join(missing)}; predictions need row_id,label,score")
    if len(frame) == 0:
        raise DataError(f"{source}: 0 rows; the evaluation produced no predictions")
    for column in ("label", "score"):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = int(values.isna().sum())
        if bad:
            raise DataError(
                f"{source}: {bad} row(s) with a missing or non-numeric {column} (NaN); "
                "fix the evaluation so every row has a finite value"
            )
        if not np.isfinite(values.to_numpy(dtype=float)).all():
            raise DataError(f"{source}: infinite {column} values; clip or fix the model output")
    if frame["row_id"].duplicated().any():
        dup = frame["row_id"][frame["row_id"].duplicated()].iloc[0]
        raise DataError(f"{source}: row_id {dup!r} appears more than once; row ids must be unique")
    return frame["row_id"].to_numpy(), frame["label"].to_numpy(dtype=float), frame["score"].to_numpy(dtype=float)


def _checked(source: str, task: str, row_id: Any, label: Any, score: Any) -> Predictions:
    import numpy as np

    if task == "binary":
        binary = bool(np.all((label == 0) | (label == 1)))  # one pass; the sort below only to name the odd ones
        outside = [] if binary else sorted(set(np.unique(label).tolist()) - {0.0, 1.0})
        if outside:
            shown = ", ".join(f"{v:g}" for v in outside[:5])
            raise DataError(
                f"{source}: labels outside {{0, 1}} ({shown}) for a binary task; "
                "encode the positive class as 1 or set task: regression"
            )
        label = label.astype(np.int64)
    if task == "multiclass":
        for name, values in (("label", label), ("score", score)):
            if not np.all(values == np.round(values)):
                raise DataError(
                    f"{source}: non-integer {name} values for a multiclass task; write class ids "
                    "(integers) as label and the predicted class id as score"
                )
        label, score = label.astype(np.int64), score.astype(np.int64)
    return Predictions(source=source, row_id=row_id, label=label, score=score)


def problems(pred: Predictions, task: str) -> list[str]:
    """Valid but degenerate predictions: what the statistics can't say about them."""
    import numpy as np

    found = []
    if task == "binary":
        classes = np.unique(pred.label)
        if len(classes) < 2:
            found.append(
                f"{pred.source}: every label is {int(classes[0])} (a single class): "
                "AUC is undefined; evaluate on a set with both classes"
            )
    if task == "multiclass":
        if np.all(pred.score == pred.score[0]):
            found.append(f"{pred.source}: every prediction is class {pred.score[0]} (constant)")
        return found
    if np.all(pred.score == pred.score[0]):
        found.append(f"{pred.source}: every score is {pred.score[0]:g} (constant): the model does not rank rows")
    return found


def read_head(root: Path, model: ModelConfig) -> Predictions:
    if not model.predictions:
        raise DataError(
            f"model '{model.name}' has no 'predictions:' in mlci.yaml; "
            "add one (row_id,label,score) to enable significance tests"
        )
    path = repopath.inside(root, model.predictions, model.predictions, DataError)  # a stage may link out
    if not path.exists():
        raise DataError(f"{model.predictions}: predictions file missing in the working tree; run `mlci run`")
    if not path.is_file():
        raise DataError(
            f"{model.predictions}: not a file; point 'predictions:' in mlci.yaml at the CSV or parquet file"
        )
    return parse(path.read_bytes(), model.predictions, task=model.task, suffix=path.suffix)


def _cache_file(root: Path, md5: str) -> Path | None:
    md5 = md5.split(".")[0]
    cache = _cache_dir(root)
    for candidate in (cache / "files" / "md5" / md5[:2] / md5[2:], cache / md5[:2] / md5[2:]):
        if candidate.is_file():
            return candidate
    return None


def _cache_dir(root: Path) -> Path:
    """`.dvc/cache`, or `cache.dir` from `.dvc/config` (relative to `.dvc/`)."""
    import configparser

    config = root / ".dvc" / "config"
    if config.exists():
        parser = configparser.ConfigParser()
        try:
            parser.read(config, encoding="utf-8")
            configured = parser.get("cache", "dir", fallback=None)
        except configparser.Error:
            configured = None
        if configured:
            return (root / ".dvc" / configured).resolve()
    return root / ".dvc" / "cache"


def read_base(repo: Any, root: Path, commit: str, model: ModelConfig) -> Predictions:
    """The predictions file as it was at `commit`: from the DVC cache, or from git."""
    if not model.predictions:
        raise DataError(f"model '{model.name}' has no 'predictions:' in mlci.yaml")
    rel = model.predictions
    source = f"{rel} at base {commit[:12]}"
    suffix = Path(rel).suffix
    lock = dvcfile.locks(root, show=lambda p: gitrepo.show(repo, commit, p))
    if lock:
        try:
            _deps, outs = dvcfile.lock_hashes(root, lock, source=f"dvc.lock at base {commit[:12]}")
        except ConfigError as exc:  # shown as a note, as every predictions problem is
            raise DataError(exc.message) from None
        md5 = outs.get(rel)
        if md5:
            cached = _cache_file(root, md5)
            if cached is None:
                raise DataError(
                    f"{source}: not in the local DVC cache (md5 {md5[:12]}); "
                    "run `dvc pull` or `mlci run` on the base commit"
                )
            return parse(cached.read_bytes(), source, task=model.task, suffix=suffix)
    try:
        data = repo.git.show(f"{commit}:{rel}", stdout_as_string=False)
    except Exception:  # noqa: BLE001 - git reports "does not exist" as a command error
        raise DataError(f"{source}: not recorded at the base (neither in its dvc.lock nor in git)") from None
    return parse(data, source, task=model.task, suffix=suffix)


def align(base: Predictions, head: Predictions) -> tuple[Predictions, Predictions] | None:
    """Both sides on the same rows in the same order, or None when the row sets differ."""
    import numpy as np

    if len(base) != len(head):
        return None
    if np.array_equal(base.row_id, head.row_id):
        return base, head
    try:
        b_order, h_order = np.argsort(base.row_id, kind="stable"), np.argsort(head.row_id, kind="stable")
    except TypeError:
        return None
    if not np.array_equal(base.row_id[b_order], head.row_id[h_order]):
        return None
    head_sorted = Predictions(head.source, head.row_id[h_order], head.label[h_order], head.score[h_order])
    base_sorted = Predictions(base.source, base.row_id[b_order], base.label[b_order], base.score[b_order])
    return base_sorted, head_sorted


def labels_agree(base: Predictions, head: Predictions) -> bool:
    import numpy as np

    return bool(np.array_equal(base.label, head.label))
