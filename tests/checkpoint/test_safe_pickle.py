"""The restricted unpickler loads numeric numpy data and refuses anything that runs code."""

import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

from slowfast_atfr.checkpoint.safe_pickle import safe_load, safe_loads


class _RunsShell:
    """Unpickling this with plain `pickle` would run a shell command."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _blobs(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "blobs": {
            "conv1_w": rng.standard_normal((4, 3, 1, 3, 3)).astype(np.float32),
            "res_conv1_bn_rm": rng.standard_normal(4).astype(np.float64),
            "pred_b": np.zeros(5, dtype=np.float32),
            "fortran": np.asfortranarray(rng.standard_normal((3, 2)).astype(np.float32)),
            "big_endian": np.arange(6, dtype=">i4").reshape(2, 3),
            "empty": np.zeros((0, 3), dtype=np.float32),
            "flags": np.array([True, False]),
            "model_iter": np.int64(1234),
            "lr": np.float32(0.1),
        },
        "meta": ["text", b"bytes", 1.5, 7, (1, 2), None, True],
    }


def _assert_same(loaded: dict, original: dict) -> None:
    assert set(loaded["blobs"]) == set(original["blobs"])
    for name, value in original["blobs"].items():
        got = loaded["blobs"][name]
        np.testing.assert_array_equal(np.asarray(got), np.asarray(value))
        assert np.asarray(got).dtype == np.asarray(value).dtype, name
    assert loaded["meta"] == original["meta"]


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_round_trip_of_numeric_arrays(protocol):
    original = _blobs()
    _assert_same(safe_loads(pickle.dumps(original, protocol=protocol)), original)


def test_numpy1_module_paths_load():
    """Pickles written with numpy 1.x name `numpy.core.multiarray`, numpy 2 `numpy._core`."""
    original = _blobs(1)
    data = pickle.dumps(original, protocol=2)
    if b"numpy._core.multiarray" in data:
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in data
    _assert_same(safe_loads(data), original)


def _py2_array_pickle(raw: bytes, length: int) -> bytes:
    """Protocol-0 pickle of a float32 [length] array as Python 2 + numpy 1.x wrote it."""
    text = (
        "cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(I0\ntp0\nS'b'\ntp1\nRp2\n"
        f"(I1\n(I{length}\ntp3\ncnumpy\ndtype\n(S'f4'\nI0\nI1\ntp4\nRp5\n"
        "(I3\nS'<'\nNNNI-1\nI-1\nI0\ntp6\nbI00\nS" + repr(raw.decode("latin1")) + "\ntp7\nb."
    )
    return text.encode("latin1")


def test_python2_style_str_payload_loads():
    """Python 2 Caffe2 pickles store array bytes as str; latin1 maps them back exactly."""
    array = np.arange(4, dtype=np.float32)
    np.testing.assert_array_equal(safe_loads(_py2_array_pickle(array.tobytes(), 4)), array)


def test_array_data_of_the_wrong_size_is_refused():
    raw = np.arange(4, dtype=np.float32).tobytes()
    with pytest.raises(pickle.UnpicklingError, match="array data has 12 bytes, expected 16"):
        safe_loads(_py2_array_pickle(raw[:-4], 4))


def test_ordered_dict_is_allowed():
    original = OrderedDict([("a", np.ones(2, dtype=np.float32)), ("b", 3)])
    loaded = safe_loads(pickle.dumps(original, protocol=2))
    assert isinstance(loaded, OrderedDict) and list(loaded) == ["a", "b"]


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_malicious_pickle_is_refused_and_does_not_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    data = pickle.dumps({"blobs": {"x": _RunsShell(str(marker))}}, protocol=protocol)
    with pytest.raises(pickle.UnpicklingError, match=r"forbidden global (posix|os|nt)\.system"):
        safe_loads(data)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        np.array([1, "a"], dtype=object),  # object arrays hold arbitrary references
        np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]),  # structured dtype
    ],
)
def test_non_numeric_arrays_are_refused(payload):
    with pytest.raises(pickle.UnpicklingError):
        safe_loads(pickle.dumps(payload, protocol=2))


def test_dtype_state_with_object_flags_is_refused():
    """A float dtype whose pickled state claims object flags must not reach numpy."""
    data = pickle.dumps(np.zeros(2, dtype=np.float32), protocol=0)
    forged = data.replace(b"I-1\nI-1\nI0\n", b"I-1\nI-1\nI63\n")
    assert forged != data
    with pytest.raises(pickle.UnpicklingError, match="object"):
        safe_loads(forged)


def test_other_globals_are_refused():
    for target in (eval, getattr, pickle.loads, np.load):
        with pytest.raises(pickle.UnpicklingError, match="forbidden global"):
            safe_loads(pickle.dumps(target, protocol=2))
    # bytes(n) would allocate n bytes: only the empty `bytes()` of old protocols is allowed.
    with pytest.raises(pickle.UnpicklingError, match="bytes"):
        safe_loads(b"c__builtin__\nbytes\n(I1000000000000\ntR.")


def test_safe_load_reads_files(tmp_path):
    path = tmp_path / "model.pkl"
    original = _blobs(2)
    path.write_bytes(pickle.dumps(original, protocol=2))
    with open(path, "rb") as f:
        _assert_same(safe_load(f), original)
