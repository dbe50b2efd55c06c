"""What kind of model a file holds, told by reading its bytes, never by loading them.

A registry that logs a model in its own format (MLflow's flavours) must know whether
`models/model.pt` is a LightGBM text model, a PyTorch module (TorchScript, or a whole module
saved with `torch.save`) or a pickled scikit-learn estimator. Loading a pickle runs whatever
code it names, so inference here only parses: LightGBM's text header, the zip layout of a
torch archive, and the opcodes of a pickle (`pickletools.genops`, which decodes without
executing), whose first global is the class of the saved object.

Loading happens later, and only in `mlci promote` to MLflow: after the promotion was
authorized and the run record's provenance verified (the bytes are what an approved CI run
produced), in a child process without credentials (mlci.integrations.registry.mlflow_save).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from mlci.errors import RegistryError

FLAVORS = ("lightgbm", "pytorch", "sklearn")
_HEAD = 1 << 20  # a pickle's first global comes first: a megabyte is plenty


@dataclass(frozen=True)
class Kind:
    flavor: str
    detail: str  # "text model", "torchscript", "module torch.nn.modules.container.Sequential", …


def _first_global(data: bytes) -> str | None:
    """`module.Name` of the first global a pickle references (the saved object's class), or None
    when the pickle starts with a plain dict/list; parsing stops at the first global."""
    import pickletools

    strings: list[str] = []
    try:
        for opcode, arg, _pos in pickletools.genops(io.BytesIO(data)):
            if opcode.name in ("GLOBAL", "INST"):
                module, _, name = str(arg).partition(" ")
                return f"{module}.{name}"
            if opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                return f"{strings[-2]}.{strings[-1]}"
            if opcode.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(str(arg))
            elif opcode.name in ("EMPTY_DICT", "EMPTY_LIST", "DICT", "LIST"):
                return None
    except (ValueError, EOFError, KeyError):
        return None
    return None


def _decompressed(head: bytes, path: Path) -> bytes:
    """joblib's compressed dumps (zlib, gzip, bz2, xz/lzma): their first megabyte, decompressed."""
    import bz2
    import gzip
    import lzma
    import zlib

    with path.open("rb") as handle:
        raw = handle.read(_HEAD * 4)
    try:
        if head[:2] == b"\x1f\x8b":
            return gzip.GzipFile(fileobj=io.BytesIO(raw)).read(_HEAD)
        if head[:3] == b"BZh":
            return bz2.BZ2Decompressor().decompress(raw)[:_HEAD]
        if head[:6] == b"\xfd7zXZ\x00" or head[:1] == b"\x5d":
            return lzma.LZMADecompressor().decompress(raw, max_length=_HEAD)
        if head[:1] == b"x":
            return zlib.decompressobj().decompress(raw, _HEAD)
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error):  # a damaged or foreign stream
        return b""
    return b""


def _torch_archive(path: Path, shown: str) -> Kind:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if any("/code/" in n for n in names) and any(n.endswith("/constants.pkl") for n in names):
                return Kind("pytorch", "torchscript")
            data = next((n for n in names if n.endswith("/data.pkl")), None)
            top = _first_global(archive.read(data)[:_HEAD]) if data else None
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise RegistryError(f"{shown}: a zip archive, but not one torch wrote ({exc})") from None
    if data is None:
        raise RegistryError(f"{shown}: a zip archive, but not a torch.save/TorchScript file (no data.pkl)")
    if top is None or top in ("collections.OrderedDict", "builtins.dict"):
        raise RegistryError(
            f"{shown} holds a state dict (weights without the network): no registry can load it without your "
            "code; save the whole module, torch.save(model, path), or TorchScript, "
            "torch.jit.save(torch.jit.script(model), path)"
        )
    if top.startswith("__main__."):
        raise RegistryError(
            f"{shown} is a module of class {top.removeprefix('__main__.')}, defined in your training script: loading "
            "it needs that script; save TorchScript instead: torch.jit.save(torch.jit.script(model), path)"
        )
    return Kind("pytorch", f"module {top}")


def infer(path: Path, shown: str | None = None) -> Kind:
    """The flavour of the model file at `path`, read without running anything; a RegistryError
    that says how to declare it (`model: {path, flavor}`) when the bytes do not tell."""
    shown = shown or path.name
    try:
        with path.open("rb") as handle:
            head = handle.read(_HEAD)
    except OSError as exc:
        raise RegistryError(f"cannot read the model file {shown}: {exc.strerror or exc}") from None
    if head.startswith(b"tree\n"):
        return Kind("lightgbm", "text model")
    if head.startswith(b"PK\x03\x04"):
        return _torch_archive(path, shown)
    data = head if head[:1] == b"\x80" else _decompressed(head, path)
    top = _first_global(data) if data[:1] == b"\x80" else None
    if top is not None:
        package = top.split(".", 1)[0]
        if package == "sklearn" or package == "lightgbm" and not top.endswith(".Booster"):
            return Kind("sklearn", f"estimator {top}")
        if package == "lightgbm":
            return Kind("lightgbm", f"pickled {top}")
        if package == "__main__":
            raise RegistryError(
                f"{shown} pickles {top.removeprefix('__main__.')}, a class of your training script: a registry cannot "
                "load it; pickle a scikit-learn estimator or pipeline of library classes"
            )
    what = f"a pickle of {top}" if top else "not a LightGBM text model, torch archive or scikit-learn pickle"
    raise RegistryError(
        f"cannot tell what kind of model {shown} is ({what}); declare it in mlci.yaml: "
        f"model: {{path: {shown}, flavor: {' | '.join(FLAVORS)}}}"
    )
