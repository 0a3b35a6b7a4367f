"""Caffe2 name conversion, shape reconciliation (inflation) and Caffe2 `.pkl` loading."""

import pickle
import re

import numpy as np
import pytest
import torch
from torch import nn

from slowfast_atfr.checkpoint import load_checkpoint
from slowfast_atfr.checkpoint.convert import (
    caffe2_to_pyslowfast_name,
    convert_caffe2_blobs,
    reconcile_shapes,
    strip_module_prefix,
)

# Caffe2 blob -> PySlowFast parameter, as in the upstream model zoo.
CAFFE2_NAMES = {
    "conv1_w": "s1.pathway0_stem.conv.weight",
    "res_conv1_bn_s": "s1.pathway0_stem.bn.weight",
    "res_conv1_bn_b": "s1.pathway0_stem.bn.bias",
    "res_conv1_bn_rm": "s1.pathway0_stem.bn.running_mean",
    "res_conv1_bn_riv": "s1.pathway0_stem.bn.running_var",
    "t_conv1_w": "s1.pathway1_stem.conv.weight",
    "t_res_conv1_bn_riv": "s1.pathway1_stem.bn.running_var",
    "t_pool1_subsample_w": "s1_fuse.conv_f2s.weight",
    "t_pool1_subsample_bn_s": "s1_fuse.bn.weight",
    "t_pool1_subsample_bn_rm": "s1_fuse.bn.running_mean",
    "t_res2_2_branch2c_bn_subsample_w": "s2_fuse.conv_f2s.weight",
    "t_res4_5_branch2c_bn_subsample_bn_rm": "s4_fuse.bn.running_mean",
    "res2_0_branch1_w": "s2.pathway0_res0.branch1.weight",
    "res2_0_branch1_bn_b": "s2.pathway0_res0.branch1_bn.bias",
    "res2_0_branch2a_w": "s2.pathway0_res0.branch2.a.weight",
    "res2_0_branch2a_bn_rm": "s2.pathway0_res0.branch2.a_bn.running_mean",
    "res4_4_branch2c_w": "s4.pathway0_res4.branch2.c.weight",
    "res4_4_branch2c_bn_s": "s4.pathway0_res4.branch2.c_bn.weight",
    "t_res3_1_branch2b_bn_riv": "s3.pathway1_res1.branch2.b_bn.running_var",
    "t_res5_0_branch1_w": "s5.pathway1_res0.branch1.weight",
    "nonlocal_conv3_1_theta_w": "s3.pathway0_nonlocal1.conv_theta.weight",
    "nonlocal_conv4_5_out_b": "s4.pathway0_nonlocal5.conv_out.bias",
    "nonlocal_conv3_1_bn_s": "s3.pathway0_nonlocal1.bn.weight",
    "pred_w": "head.projection.weight",
    "pred_b": "head.projection.bias",
}


@pytest.mark.parametrize("caffe2, expected", sorted(CAFFE2_NAMES.items()))
def test_caffe2_names(caffe2, expected):
    assert caffe2_to_pyslowfast_name(caffe2) == expected


@pytest.mark.parametrize("name", ["data", "conv1_s", "res2_0_branch2a_bn_w", "xpred_w", "fc_w"])
def test_unknown_caffe2_names(name):
    assert caffe2_to_pyslowfast_name(name) is None


def test_convert_caffe2_blobs_drops_solver_state_and_keeps_unknown():
    blobs = {
        "conv1_w": np.ones((2, 3, 1, 3, 3), dtype=np.float32),
        "conv1_w_momentum": np.ones((2, 3, 1, 3, 3), dtype=np.float32),
        "lr": np.float32(0.1),
        "model_iter": np.int64(7),
        "mystery_blob": np.zeros(3, dtype=np.float32),
    }
    state = convert_caffe2_blobs(blobs)
    assert sorted(state) == ["mystery_blob", "s1.pathway0_stem.conv.weight"]
    assert torch.equal(state["s1.pathway0_stem.conv.weight"], torch.ones(2, 3, 1, 3, 3))


def test_strip_module_prefix():
    state = {"module.a.weight": torch.zeros(1), "module.b": torch.ones(1)}
    assert sorted(strip_module_prefix(state)) == ["a.weight", "b"]
    mixed = {"module.a": torch.zeros(1), "b": torch.ones(1)}
    assert strip_module_prefix(mixed) is mixed


def test_inflation_of_2d_and_t1_kernels():
    torch.manual_seed(0)
    k2d = torch.randn(4, 3, 3, 3)
    k_t1 = torch.randn(4, 3, 1, 3, 3)
    model = {"a": torch.zeros(4, 3, 5, 3, 3), "b": torch.zeros(4, 3, 3, 3, 3)}
    out = reconcile_shapes({"a": k2d, "b": k_t1}, model, inflation=True)
    assert out["a"].shape == (4, 3, 5, 3, 3) and out["b"].shape == (4, 3, 3, 3, 3)
    # Repeated over T and divided by T: on a temporally constant input the 3D conv gives
    # the 2D conv's answer.
    assert torch.allclose(out["a"].sum(dim=2), k2d, atol=1e-6)
    assert torch.allclose(out["a"][:, :, 2], k2d / 5)
    x = torch.randn(1, 3, 5, 8, 8)
    y3d = nn.functional.conv3d(x[:, :, :1].repeat(1, 1, 5, 1, 1), out["a"])
    y2d = nn.functional.conv2d(x[:, :, 0], k2d)
    assert torch.allclose(y3d[:, :, 0], y2d, atol=1e-5)
    # Without inflation the shapes stay as they are, for load_state to report.
    kept = reconcile_shapes({"a": k2d}, model, inflation=False)
    assert kept["a"].shape == k2d.shape


def test_inflation_refuses_other_mismatches():
    model = {"a": torch.zeros(4, 3, 3, 3, 3), "b": torch.zeros(8)}
    state = {"a": torch.randn(4, 2, 3, 3), "b": torch.randn(4)}
    out = reconcile_shapes(state, model, inflation=True)
    assert out["a"].shape == (4, 2, 3, 3) and out["b"].shape == (4,)


def test_trailing_singleton_dims_are_reshaped():
    """A Caffe2 FC weight [K, C] fits a 1x1x1 conv head [K, C, 1, 1, 1] and vice versa."""
    fc = torch.randn(5, 8)
    out = reconcile_shapes({"w": fc}, {"w": torch.zeros(5, 8, 1, 1, 1)}, inflation=False)
    assert torch.equal(out["w"].flatten(1), fc)
    back = reconcile_shapes({"w": out["w"]}, {"w": torch.zeros(5, 8)}, inflation=False)
    assert torch.equal(back["w"], fc)


def _set(root: nn.Module, dotted: str, module: nn.Module) -> None:
    *parents, leaf = dotted.split(".")
    for name in parents:
        if not hasattr(root, name):
            root.add_module(name, nn.Module())
        root = getattr(root, name)
    root.add_module(leaf, module)


def _tiny_slowfast(stem_t: int = 1) -> nn.Module:
    """A module tree with SlowFast's parameter names (no forward needed here)."""
    model = nn.Module()
    parts = {
        "s1.pathway0_stem.conv": nn.Conv3d(3, 4, (stem_t, 3, 3), bias=False),
        "s1.pathway0_stem.bn": nn.BatchNorm3d(4),
        "s1.pathway1_stem.conv": nn.Conv3d(3, 2, (5, 3, 3), bias=False),
        "s1.pathway1_stem.bn": nn.BatchNorm3d(2),
        "s1_fuse.conv_f2s": nn.Conv3d(2, 4, (5, 1, 1), bias=False),
        "s1_fuse.bn": nn.BatchNorm3d(4),
        "s2.pathway0_res0.branch1": nn.Conv3d(8, 6, 1, bias=False),
        "s2.pathway0_res0.branch1_bn": nn.BatchNorm3d(6),
        "s2.pathway0_res0.branch2.a": nn.Conv3d(8, 2, (3, 1, 1), bias=False),
        "s2.pathway0_res0.branch2.a_bn": nn.BatchNorm3d(2),
        "head.projection": nn.Linear(6, 5),
    }
    for name, module in parts.items():
        _set(model, name, module)
    return model


def _caffe2_blobs(model: nn.Module, seed: int) -> dict:
    """Random blobs under the Caffe2 names of `model`'s parameters, stems with T=1."""
    rng = np.random.default_rng(seed)
    c2_of = {v: k for k, v in CAFFE2_NAMES.items()}
    c2_of.update(
        {
            "s1.pathway1_stem.bn.weight": "t_res_conv1_bn_s",
            "s1.pathway1_stem.bn.bias": "t_res_conv1_bn_b",
            "s1.pathway1_stem.bn.running_mean": "t_res_conv1_bn_rm",
            "s1_fuse.bn.bias": "t_pool1_subsample_bn_b",
            "s1_fuse.bn.running_var": "t_pool1_subsample_bn_riv",
            "s2.pathway0_res0.branch1_bn.weight": "res2_0_branch1_bn_s",
            "s2.pathway0_res0.branch1_bn.running_mean": "res2_0_branch1_bn_rm",
            "s2.pathway0_res0.branch1_bn.running_var": "res2_0_branch1_bn_riv",
            "s2.pathway0_res0.branch2.a_bn.weight": "res2_0_branch2a_bn_s",
            "s2.pathway0_res0.branch2.a_bn.bias": "res2_0_branch2a_bn_b",
            "s2.pathway0_res0.branch2.a_bn.running_var": "res2_0_branch2a_bn_riv",
        }
    )
    blobs = {}
    for name, value in model.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        shape = list(value.shape)
        if name == "s1.pathway0_stem.conv.weight":
            shape[2] = 1  # a C2D stem
        blobs[c2_of[name]] = rng.standard_normal(shape).astype(np.float32)
    blobs["conv1_w_momentum"] = np.zeros_like(blobs["conv1_w"])
    blobs["lr"] = np.float32(0.01)
    return blobs


def _write_caffe2(tmp_path, blobs: dict) -> str:
    path = tmp_path / "model.pkl"
    # Protocol 2 as the Python 2 Caffe2 tools wrote.
    path.write_bytes(pickle.dumps({"blobs": blobs}, protocol=2))
    return str(path)


def test_caffe2_checkpoint_loads_into_pyslowfast_names(tmp_path):
    torch.manual_seed(0)
    model = _tiny_slowfast(stem_t=1)
    blobs = _caffe2_blobs(model, seed=1)
    info = load_checkpoint(_write_caffe2(tmp_path, blobs), model, convert_from_caffe2=True)
    assert info == {"epoch": -1, "iteration": 0}
    state = model.state_dict()
    for c2_name, blob in blobs.items():
        name = caffe2_to_pyslowfast_name(c2_name)
        if c2_name in ("conv1_w_momentum", "lr"):
            continue
        assert torch.equal(state[name], torch.from_numpy(blob)), c2_name


def test_caffe2_checkpoint_inflates_c2d_stem(tmp_path):
    torch.manual_seed(0)
    blobs = _caffe2_blobs(_tiny_slowfast(stem_t=3), seed=2)
    path = _write_caffe2(tmp_path, blobs)
    with pytest.raises(ValueError, match="s1.pathway0_stem.conv.weight"):
        load_checkpoint(path, _tiny_slowfast(stem_t=3), convert_from_caffe2=True)
    model = _tiny_slowfast(stem_t=3)
    load_checkpoint(path, model, convert_from_caffe2=True, inflation=True)
    expected = torch.from_numpy(blobs["conv1_w"]).repeat(1, 1, 3, 1, 1) / 3
    assert torch.allclose(model.s1.pathway0_stem.conv.weight, expected)


def test_pkl_without_caffe2_flag_says_what_to_set(tmp_path):
    path = _write_caffe2(tmp_path, {"pred_b": np.zeros(5, dtype=np.float32)})
    with pytest.raises(ValueError, match="CHECKPOINT_TYPE"):
        load_checkpoint(path, _tiny_slowfast())


_BN_C2 = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
_CONV_C2 = {"weight": "w", "bias": "b"}
# PySlowFast name -> Caffe2 blob name, the inverse of the converter for the blobs upstream's
# Caffe2 checkpoints hold (the fusion blob's block index is irrelevant to the converter).
_TO_CAFFE2 = [
    (r"s1\.pathway(\d)_stem\.conv\.(\w+)", lambda m: f"{_t(m[1])}conv1_{_CONV_C2[m[2]]}"),
    (r"s1\.pathway(\d)_stem\.bn\.(\w+)", lambda m: f"{_t(m[1])}res_conv1_bn_{_BN_C2[m[2]]}"),
    (r"s1_fuse\.conv_f2s\.(\w+)", lambda m: f"t_pool1_subsample_{_CONV_C2[m[1]]}"),
    (r"s1_fuse\.bn\.(\w+)", lambda m: f"t_pool1_subsample_bn_{_BN_C2[m[1]]}"),
    (
        r"s(\d)_fuse\.conv_f2s\.(\w+)",
        lambda m: f"t_res{m[1]}_0_branch2c_bn_subsample_{_CONV_C2[m[2]]}",
    ),
    (r"s(\d)_fuse\.bn\.(\w+)", lambda m: f"t_res{m[1]}_0_branch2c_bn_subsample_bn_{_BN_C2[m[2]]}"),
    (
        r"s(\d)\.pathway(\d)_res(\d+)\.branch2\.([abc])(_bn)?\.(\w+)",
        lambda m: f"{_t(m[2])}res{m[1]}_{m[3]}_branch2{m[4]}{m[5] or ''}_"
        + (_BN_C2 if m[5] else _CONV_C2)[m[6]],
    ),
    (
        r"s(\d)\.pathway(\d)_res(\d+)\.branch1(_bn)?\.(\w+)",
        lambda m: f"{_t(m[2])}res{m[1]}_{m[3]}_branch1{m[4] or ''}_"
        + (_BN_C2 if m[4] else _CONV_C2)[m[5]],
    ),
    (r"head\.projection\.(\w+)", lambda m: f"pred_{_CONV_C2[m[1]]}"),
]


def _t(pathway: str) -> str:
    return "t_" if pathway == "1" else ""


def _to_caffe2(name: str):
    for pattern, build in _TO_CAFFE2:
        match = re.fullmatch(pattern, name)
        if match:
            return build(match)
    return None


def test_every_real_slowfast_parameter_has_a_caffe2_name():
    """The converter covers the real SlowFast model's names (upstream's Caffe2 zoo)."""
    from slowfast_atfr.config.defaults import assert_and_infer_cfg, get_cfg
    from slowfast_atfr.models import MODEL_REGISTRY, build_model

    if "SlowFast" not in MODEL_REGISTRY:
        pytest.skip("SlowFast is not registered yet")
    cfg = get_cfg()
    cfg.merge_from_list([
        "MODEL.MODEL_NAME", "SlowFast", "MODEL.ARCH", "slowfast", "NUM_GPUS", 0,
        "RESNET.WIDTH_PER_GROUP", 8,
        "RESNET.SPATIAL_STRIDES", [[1, 1], [2, 2], [2, 2], [2, 2]],
        "RESNET.SPATIAL_DILATIONS", [[1, 1], [1, 1], [1, 1], [1, 1]],
        "NONLOCAL.LOCATION", [[[], []], [[], []], [[], []], [[], []]],
        "NONLOCAL.GROUP", [[1, 1], [1, 1], [1, 1], [1, 1]],
        "RESNET.NUM_BLOCK_TEMP_KERNEL", [[3, 3], [4, 4], [6, 6], [3, 3]],
    ])
    model = build_model(assert_and_infer_cfg(cfg))
    names = [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]
    uncovered = [k for k in names if _to_caffe2(k) is None]
    assert not uncovered, uncovered[:20]
    wrong = [k for k in names if caffe2_to_pyslowfast_name(_to_caffe2(k)) != k]
    assert not wrong, wrong[:20]
    assert any(".pathway1_" in k for k in names) and any("_fuse." in k for k in names)


def test_pyth_loaded_as_caffe2_names_the_file_and_the_type_key(tmp_path):
    from slowfast_atfr import checkpoint as cu
    from slowfast_atfr.config.defaults import get_cfg

    path = str(tmp_path / "x3d.pyth")
    torch.save({"epoch": 0, "model_state": _tiny_slowfast().state_dict()}, path)
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path / "job")
    cfg.TRAIN.CHECKPOINT_FILE_PATH, cfg.TRAIN.CHECKPOINT_TYPE = path, "caffe2"
    model = _tiny_slowfast()
    with pytest.raises(cu.UnreadableCheckpointError) as err:
        cu.load_train_checkpoint(cfg, model, torch.optim.SGD(model.parameters(), lr=0.1))
    message = str(err.value)
    assert message.startswith(
        f"{path} (TRAIN.CHECKPOINT_FILE_PATH) is not a readable Caffe2 checkpoint ("
    )
    assert message.endswith("set TRAIN.CHECKPOINT_TYPE pytorch")
    cfg.TEST.CHECKPOINT_FILE_PATH, cfg.TEST.CHECKPOINT_TYPE = path, "caffe2"
    with pytest.raises(cu.UnreadableCheckpointError, match="set TEST.CHECKPOINT_TYPE pytorch"):
        cu.load_test_checkpoint(cfg, _tiny_slowfast())


@pytest.mark.parametrize(
    "blob, cause",
    [
        (eval, "forbidden global __builtin__.eval in pickle"),
        (np.array([1, "a"], dtype=object), "refusing structured/object numpy dtype"),
    ],
)
def test_unsafe_caffe2_pickle_names_the_file(tmp_path, blob, cause):
    path = _write_caffe2(tmp_path, {"pred_b": blob})
    with pytest.raises(ValueError) as err:
        load_checkpoint(path, _tiny_slowfast(), convert_from_caffe2=True)
    message = str(err.value)
    assert message.startswith(f"{path} is not a readable Caffe2 checkpoint (")
    assert cause in message and "CHECKPOINT_TYPE" not in message


def test_string_blob_is_refused_by_name(tmp_path):
    path = _write_caffe2(tmp_path, {"pred_w": np.zeros((5, 6), np.float32), "pred_b": "hi"})
    with pytest.raises(ValueError) as err:
        load_checkpoint(path, _tiny_slowfast(), convert_from_caffe2=True)
    assert str(err.value) == f"{path}: Caffe2 blob 'pred_b' is not numeric (str 'hi')"
    with pytest.raises(ValueError, match="'lab' is not numeric"):
        convert_caffe2_blobs({"lab": np.array(["a", "b"])})


def test_big_endian_and_bool_blobs_convert():
    state = convert_caffe2_blobs({"pred_b": np.arange(3, dtype=">f4"), "m": np.array([True])})
    assert torch.equal(state["head.projection.bias"], torch.tensor([0.0, 1.0, 2.0]))
    assert state["m"].dtype == torch.bool
