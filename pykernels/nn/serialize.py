"""``model.save(path)`` / ``load(path)``: every model as one .npz file, written atomically.

Layout: the entry ``__pykernels__`` holds JSON (format, version, the model's spec — its type and
constructor arguments, recursively for Sequential — and each parameter's name, shape, dtype and
SHA-256), and ``param_000``, ``param_001``, ... the parameters in ``model.parameters()`` order.
No pickle anywhere: the file is read with ``allow_pickle=False``.

Atomic write: the file is written under a temporary name in the same directory, flushed and
fsync'ed, then renamed over ``path`` with ``os.replace`` (atomic on POSIX and Windows), so a crash
or a kill at any moment leaves either the old file or the new one, never a mixture.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
import zlib

import numpy as np

from pykernels.nn.module import _REGISTRY, Module

__all__ = ["save", "load", "build"]

FORMAT = "pykernels.nn"
VERSION = 1
_META = "__pykernels__"


def _digest(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def save(model, path):
    if not isinstance(model, Module):
        raise TypeError(f"save: expected a pykernels.nn.Module, got {type(model).__name__}")
    path = os.fspath(path)
    arrays = {}
    params = []
    for i, p in enumerate(model.parameters()):
        data = np.ascontiguousarray(_host(p.data))
        arrays[f"param_{i:03d}"] = data
        params.append({"name": p.name, "shape": list(data.shape), "dtype": str(data.dtype), "sha256": _digest(data)})
    meta = {"format": FORMAT, "version": VERSION, "model": model.spec(), "params": params}
    arrays[_META] = np.array(json.dumps(meta))
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _host(a):
    from pykernels.nn._tensor import to_numpy

    return to_numpy(a)


def build(spec):
    """A fresh model of the type and constructor arguments recorded in ``spec``."""
    cls = _REGISTRY.get(spec.get("type")) if isinstance(spec, dict) else None
    if cls is None:
        raise ValueError(f"unknown model type {spec.get('type') if isinstance(spec, dict) else spec!r}")
    return cls.from_spec(spec)


def load(path):
    """The model saved at ``path``.  ValueError naming the file when it is not a complete, intact
    pykernels model file (truncated, corrupted, another kind of file); FileNotFoundError when absent."""
    path = os.fspath(path)
    where = f"pykernels.nn.load: {path!r}"
    if not os.path.exists(path):
        raise FileNotFoundError(f"{where}: no such file")
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if not raw.startswith(b"PK"):
            if raw.startswith(b"\x93NUMPY"):
                raise ValueError("it holds a single array (.npy), not a model archive")
            raise ValueError("it is not a zip archive (.npz)" if raw else "it is empty")
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            if _META not in npz.files:
                raise ValueError("it has no pykernels metadata (not written by model.save)")
            meta = json.loads(str(npz[_META][()]))
            if not isinstance(meta, dict) or meta.get("format") != FORMAT:
                raise ValueError("its metadata is not of the pykernels.nn format")
            if meta.get("version") != VERSION:
                raise ValueError(f"format version {meta.get('version')!r} is not supported (this is version {VERSION})")
            arrays = [npz[f"param_{i:03d}"] for i in range(len(meta["params"]))]
    except FileNotFoundError:
        raise
    except ValueError as exc:
        raise ValueError(f"{where} is not a valid pykernels model file: {exc}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, TypeError, UnicodeDecodeError,
            MemoryError, OverflowError) as exc:
        raise ValueError(f"{where} is not a valid pykernels model file (truncated or corrupted?): "
                         f"{type(exc).__name__}: {exc}") from None
    for i, (a, info) in enumerate(zip(arrays, meta["params"])):
        if list(a.shape) != info["shape"] or str(a.dtype) != info["dtype"] or _digest(a) != info["sha256"]:
            raise ValueError(f"{where} is corrupted: parameter {i} ({info.get('name')}) does not match its "
                             f"recorded shape, dtype and checksum")
    try:
        model = build(meta["model"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{where}: cannot rebuild the model it describes: {exc}") from None
    params = model.parameters()
    if len(params) != len(arrays):
        raise ValueError(f"{where}: the model has {len(params)} parameters but the file holds {len(arrays)}")
    for p, a in zip(params, arrays):
        if p.data.shape != a.shape or p.data.dtype != a.dtype:
            raise ValueError(f"{where}: parameter {p.name} has shape {a.shape} and dtype {a.dtype} in the "
                             f"file but the model expects {p.data.shape} {p.data.dtype}")
        p.data = np.array(a, order="C", copy=True)
        p.grad = np.zeros_like(p.data)
    return model._place_parameters()
