"""Restricted unpickling of Caffe2 checkpoints (`.pkl`): numeric numpy arrays and plain data.

A pickle can run any callable it names, so `pickle.load` on a downloaded file is remote code
execution. `SafeUnpickler` resolves only a fixed allow-list of globals and never lets numpy
see untrusted reconstruction state: arrays, dtypes and scalars are rebuilt here from their
raw bytes with a validated numeric dtype (a crafted dtype state could otherwise make numpy
read object pointers from the file). Everything else raises `pickle.UnpicklingError`.
"""

import codecs
import io
import pickle
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np

# numpy kinds a weight blob may have: bool, signed/unsigned int, float, complex.
NUMERIC_KINDS = "biufc"
# Module paths numpy's pickles name: numpy 1.x ("numpy.core") and numpy 2.x ("numpy._core").
_NUMPY_CORES = ("numpy.core", "numpy._core")


class _DtypeStub:
    """Stands for `numpy.dtype(spec, align, copy)` until its pickled state is validated."""

    def __init__(self, spec: Any, align: Any = False, copy: Any = True) -> None:
        if not isinstance(spec, str):
            raise pickle.UnpicklingError(f"numpy dtype spec must be a string, got {spec!r}")
        self.spec = spec
        self.byteorder = "="

    def __setstate__(self, state: Any) -> None:
        # (version, byteorder, subarray, names, fields, elsize, alignment, flags); only plain
        # scalar dtypes are accepted: no subarray, no fields, no object flags.
        if not isinstance(state, tuple) or len(state) < 8:
            raise pickle.UnpicklingError(f"unsupported numpy dtype state {state!r}")
        if state[2] is not None or state[3] is not None or state[4] is not None or state[7]:
            raise pickle.UnpicklingError(f"refusing structured/object numpy dtype {state!r}")
        if state[1] not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError(f"bad numpy byte order {state[1]!r}")
        self.byteorder = state[1]

    def resolve(self) -> np.dtype:
        try:
            dtype = np.dtype(self.spec)
        except TypeError as err:
            raise pickle.UnpicklingError(f"bad numpy dtype {self.spec!r}") from err
        if dtype.kind not in NUMERIC_KINDS or dtype.hasobject or dtype.fields is not None:
            raise pickle.UnpicklingError(f"refusing non-numeric numpy dtype {dtype!r}")
        return dtype.newbyteorder(self.byteorder) if self.byteorder in "<>" else dtype


class _ArrayStub:
    """Stands for an ndarray from `_reconstruct`; built from raw bytes in `__setstate__`."""

    def __init__(self, cls: Any, shape: Any, typecode: Any) -> None:
        if cls is not np.ndarray:
            raise pickle.UnpicklingError(f"_reconstruct of {cls!r} is not allowed")
        self.array: np.ndarray | None = None

    def __setstate__(self, state: Any) -> None:
        # (version, shape, dtype, is_fortran, raw bytes)
        if not isinstance(state, tuple) or len(state) != 5:
            raise pickle.UnpicklingError(f"unsupported ndarray state of length {len(state)}")
        _, shape, dtype, fortran, raw = state
        self.array = _array_from_bytes(raw, dtype, shape, "F" if fortran else "C")


def _as_dtype(dtype: Any) -> np.dtype:
    if not isinstance(dtype, _DtypeStub):
        raise pickle.UnpicklingError(f"expected a numpy dtype, got {type(dtype).__name__}")
    return dtype.resolve()


def _as_bytes(raw: Any) -> bytes:
    # Python 2 pickles store raw data as str; with encoding="latin1" it maps byte-for-byte.
    if isinstance(raw, str):
        return raw.encode("latin1")
    if isinstance(raw, (bytes, bytearray)):
        return bytes(raw)
    raise pickle.UnpicklingError(f"array data must be bytes, got {type(raw).__name__}")


def _array_from_bytes(raw: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    dt = _as_dtype(dtype)
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise pickle.UnpicklingError(f"bad array shape {shape!r}")
    data = _as_bytes(raw)
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) != count * dt.itemsize:
        raise pickle.UnpicklingError(
            f"array data has {len(data)} bytes, expected {count * dt.itemsize} for {shape} {dt}"
        )
    return np.frombuffer(data, dtype=dt).reshape(shape, order=order).copy()


def _scalar(dtype: Any, raw: Any = b"") -> Any:
    return _array_from_bytes(raw, dtype, (), "C")[()]


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: str) -> np.ndarray:
    return _array_from_bytes(buf, dtype, tuple(shape), "F" if order == "F" else "C")


def _latin1_encode(text: Any, encoding: str = "utf-8") -> bytes:
    # Python 3 writes bytes at protocol <= 2 as `_codecs.encode(str, "latin1")`.
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r} is not allowed")
    return codecs.encode(text, "latin1")


def _empty_bytes(*args: Any) -> bytes:
    # Python 3 writes b"" at protocol <= 2 as `bytes()`; `bytes(n)` would allocate n bytes.
    if args:
        raise pickle.UnpicklingError("bytes() with arguments is not allowed")
    return b""


_ALLOWED = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _DtypeStub,
    ("_codecs", "encode"): _latin1_encode,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
    ("collections", "OrderedDict"): OrderedDict,
}
for _core in _NUMPY_CORES:
    _ALLOWED[(f"{_core}.multiarray", "_reconstruct")] = _ArrayStub
    _ALLOWED[(f"{_core}.multiarray", "scalar")] = _scalar
    _ALLOWED[(f"{_core}.numeric", "_frombuffer")] = _frombuffer


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only numeric numpy arrays and plain Python data."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise pickle.UnpicklingError(
            f"forbidden global {module}.{name} in pickle: only numpy arrays, numbers, strings, "
            "bytes, lists, tuples and dicts may be loaded"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError(f"forbidden persistent id {pid!r} in pickle")


def _finalize(obj: Any) -> Any:
    """Replace the stubs left in the loaded tree by real arrays and dtypes."""
    if isinstance(obj, _ArrayStub):
        if obj.array is None:
            raise pickle.UnpicklingError("ndarray without state in pickle")
        return obj.array
    if isinstance(obj, _DtypeStub):
        return obj.resolve()
    if isinstance(obj, dict):
        return type(obj)((k, _finalize(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_finalize(v) for v in obj)
    return obj


def safe_load(f: BinaryIO) -> Any:
    """Unpickle `f` allowing only numeric numpy arrays, numbers, str, bytes, list, tuple, dict.

    Python 2 pickles (Caffe2 checkpoints) are read with `encoding="latin1"`.

    Raises:
        pickle.UnpicklingError: naming the forbidden global or the malformed array.
    """
    return _finalize(SafeUnpickler(f, encoding="latin1").load())


def safe_loads(data: bytes) -> Any:
    """`safe_load` for an in-memory pickle."""
    return safe_load(io.BytesIO(data))
