"""X3D (slowfast_atfr/models/x3d.py, x3d_helper.py): upstream-compatible shapes, names,
parameter counts and GFLOPs; ATFR forward/backward and batched == per-sample in eval."""

import math

import pytest
import torch
import torch.nn as nn
from fvcore.nn import FlopCountAnalysis

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.models import build_model
from slowfast_atfr.models.atfr.samplers import TEMPORAL_SAMPLER_REGISTRY, SamplerOutput
from slowfast_atfr.models.cost import params_count
from slowfast_atfr.models.x3d import X3D, stage_widths
from slowfast_atfr.models.x3d_helper import X3DHead, round_width

# (WIDTH_FACTOR, DEPTH_FACTOR, frames, crop) of the X3D paper's Table 3 and PySlowFast configs.
VARIANTS = {
    "XS": (2.0, 2.2, 4, 160),
    "S": (2.0, 2.2, 13, 160),
    "M": (2.0, 2.2, 16, 224),
    "L": (2.0, 5.0, 16, 312),
    "XL": (2.9, 5.0, 16, 312),
}
# Parameters of PySlowFast's X3D code with 400 classes (BENCHMARKS.md).
UPSTREAM_PARAMS_M = {"XS": 3.794, "S": 3.794, "M": 3.794, "L": 6.153, "XL": 11.09}
# Blocks per stage after DEPTH_FACTOR 2.2 (ceil of 2.2 x [1, 2, 5, 3]).
X3D_S_BLOCKS = [3, 5, 11, 7]


class _FakeSampler(nn.Module):
    """Keeps the frames that differ from their predecessor (deterministic, per sample)."""

    def __init__(self, *, dim_in, **unused):
        super().__init__()
        self.dim_in = dim_in
        self.gain = nn.Parameter(torch.ones(1))

    def forward(self, x):
        assert x.shape[1] == self.dim_in, f"sampler built for {self.dim_in}, got {x.shape[1]}"
        change = (x[:, :, 1:] - x[:, :, :-1]).abs().amax(dim=(1, 3, 4)) > 1e-4
        keep = torch.cat([torch.ones_like(change[:, :1]), change], dim=1)
        lengths = keep.sum(dim=1)
        out = torch.zeros_like(x)
        for i in range(x.shape[0]):
            out[i, :, : lengths[i]] = x[i][:, keep[i]] * self.gain
        return SamplerOutput.whole_clip(out, lengths.to(torch.int64))




def _cfg(variant="S", atfr=False, sampler="X3DTestSampler", num_classes=400):
    width, depth, frames, crop = VARIANTS[variant]
    cfg = get_cfg()
    cfg.NUM_GPUS = 0
    cfg.MODEL.MODEL_NAME, cfg.MODEL.ARCH = "X3D", "x3d"
    cfg.MODEL.NUM_CLASSES = num_classes
    cfg.RESNET.TRANS_FUNC = "x3d_transform"
    cfg.DATA.INPUT_CHANNEL_NUM = [3]
    cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE = frames, crop
    cfg.X3D.WIDTH_FACTOR, cfg.X3D.DEPTH_FACTOR = width, depth
    cfg.X3D.BOTTLENECK_FACTOR, cfg.X3D.DIM_C1, cfg.X3D.DIM_C5 = 2.25, 12, 2048
    cfg.ATFR.ENABLED = atfr
    cfg.ATFR.SAMPLER = sampler
    cfg.ATFR.PATHWAYS = [True]
    cfg.ATFR.NUM_BINS_TRAIN, cfg.ATFR.NUM_BINS_TEST, cfg.ATFR.BLOCK_LENGTH = [-1], [-1], [0]
    return cfg



def _build(cfg, seed=0):
    """build_model(cfg), with X3DTestSampler registered only while it builds."""
    torch.manual_seed(seed)
    if cfg.ATFR.SAMPLER != "X3DTestSampler":
        return build_model(cfg)
    TEMPORAL_SAMPLER_REGISTRY.register_as("X3DTestSampler")(_FakeSampler)
    try:
        return build_model(cfg)
    finally:
        TEMPORAL_SAMPLER_REGISTRY._obj_map.pop("X3DTestSampler")


def _mixed_clips(frames=8, size=32):
    """[static clip (identical frames), two moving clips] -> [3, 3, T, H, W]."""
    g = torch.Generator().manual_seed(1)
    static = torch.randn(1, 3, 1, size, size, generator=g).expand(1, 3, frames, size, size)
    moving = torch.randn(2, 3, frames, size, size, generator=g)
    return torch.cat([static, moving]).contiguous()


def _gflops(model, x):
    """GFLOPs of conv and linear layers only (the papers' convention), batch 1."""
    analysis = FlopCountAnalysis(model, ([x],))
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    ops = analysis.by_operator()
    return (ops.get("conv", 0) + ops.get("linear", 0)) / 1e9


def test_round_width_follows_pyslowfast():
    assert round_width(12, 2.0, divisor=8) == 24
    assert round_width(12, 2.9) == 35  # XL's stem: whole channels
    assert round_width(96, 2.9) == 278
    assert round_width(54, 1 / 16, min_width=8, divisor=8) == 8  # SE of X3D-S res2
    assert stage_widths(12, scale_res2=False) == {"res2": 12, "res3": 24, "res4": 48, "res5": 96}
    assert stage_widths(12, scale_res2=True)["res2"] == 24


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_builds_with_upstream_parameter_count(variant):
    model = _build(_cfg(variant)).eval()
    params = params_count(model) / 1e6
    assert math.isclose(params, UPSTREAM_PARAMS_M[variant], rel_tol=1e-3), params
    with torch.no_grad():
        logits = model([torch.randn(2, 3, 4, 32, 32)])
    assert logits.shape == (2, 400)
    assert torch.isfinite(logits).all()


def test_x3d_s_gflops_match_published():
    model = _build(_cfg("S")).eval()
    gflops = _gflops(model, torch.randn(1, 3, 13, 160, 160))
    assert math.isclose(gflops, 1.96, rel_tol=0.01), gflops


def _expected_x3d_s_keys():
    """State-dict keys of PySlowFast's X3D-S, derived from its module tree."""
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    keys = ["s1.pathway0_stem.conv_xy.weight", "s1.pathway0_stem.conv.weight"]
    keys += [f"s1.pathway0_stem.bn.{k}" for k in bn]
    for stage, blocks in enumerate(X3D_S_BLOCKS, start=2):
        for i in range(blocks):
            block = f"s{stage}.pathway0_res{i}"
            if i == 0:
                keys += [f"{block}.branch1.weight"] + [f"{block}.branch1_bn.{k}" for k in bn]
            for conv in ("a", "b", "c"):
                keys += [f"{block}.branch2.{conv}.weight"]
                keys += [f"{block}.branch2.{conv}_bn.{k}" for k in bn]
            if i % 2 == 0:
                fcs = [f"fc{j}.{k}" for j in (1, 2) for k in ("weight", "bias")]
                keys += [f"{block}.branch2.se.{fc}" for fc in fcs]
    keys += ["head.conv_5.weight"] + [f"head.conv_5_bn.{k}" for k in bn]
    keys += ["head.lin_5.weight", "head.projection.weight", "head.projection.bias"]
    return keys


def test_state_dict_has_upstream_names_and_shapes():
    state = _build(_cfg("S")).state_dict()
    assert sorted(state) == sorted(_expected_x3d_s_keys())
    shapes = {
        "s1.pathway0_stem.conv_xy.weight": (24, 3, 1, 3, 3),
        "s1.pathway0_stem.conv.weight": (24, 1, 5, 1, 1),
        "s2.pathway0_res0.branch1.weight": (24, 24, 1, 1, 1),
        "s2.pathway0_res0.branch2.a.weight": (54, 24, 1, 1, 1),
        "s2.pathway0_res0.branch2.b.weight": (54, 1, 3, 3, 3),
        "s2.pathway0_res0.branch2.se.fc1.weight": (8, 54, 1, 1, 1),
        "s2.pathway0_res0.branch2.c.weight": (24, 54, 1, 1, 1),
        "s5.pathway0_res0.branch2.se.fc1.weight": (32, 432, 1, 1, 1),
        "s5.pathway0_res6.branch2.c.weight": (192, 432, 1, 1, 1),
        "head.conv_5.weight": (432, 192, 1, 1, 1),
        "head.lin_5.weight": (2048, 432, 1, 1, 1),
        "head.projection.weight": (400, 2048),
    }
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key


def test_atfr_adds_only_sampler_keys_and_upstream_checkpoint_loads():
    plain = _build(_cfg("S"), seed=1).state_dict()
    model = _build(_cfg("S", atfr=True))
    extra = set(model.state_dict()) - set(plain)
    assert extra and all(k.startswith("sampler.") for k in extra)
    assert set(plain) <= set(model.state_dict())
    _build(_cfg("S")).load_state_dict(plain, strict=True)
    missing, unexpected = model.load_state_dict(plain, strict=False)
    assert not unexpected and set(missing) == extra


def test_stage_steps_and_sampler_channels():
    model = _build(_cfg("S"))
    names = [name for name, _ in model.stage_steps()]
    assert names == ["stem", "res2", "res3", "res4", "res5", "head"]
    expected = {"stem": 24, "res2": 24, "res3": 48, "res4": 96}
    for stage, dim in expected.items():
        cfg = _cfg("XS", atfr=True)
        cfg.ATFR.STAGE = stage
        model = _build(cfg).eval()
        assert model.sampler[0].dim_in == dim
        with torch.no_grad():
            model([torch.randn(1, 3, 4, 32, 32)])  # the fake sampler checks the channels


@pytest.mark.parametrize("variant", ["XS", "S"])
@pytest.mark.parametrize("sampler", [None, "X3DTestSampler", "SGS"])
def test_forward_backward_every_parameter_gets_gradient(variant, sampler):
    cfg = _cfg(variant, atfr=sampler is not None, sampler=sampler or "SGS", num_classes=5)
    cfg.MODEL.DROPCONNECT_RATE = 0.1
    model = _build(cfg).train()
    logits = model([_mixed_clips(frames=6, size=32)])
    assert logits.shape == (3, 5) and torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, torch.tensor([0, 1, 2])).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
    if sampler is not None:
        lengths = model.temporal_lengths
        assert lengths.shape == (3, 1) and (lengths >= 1).all() and (lengths <= 6).all()
    else:
        assert model.temporal_lengths is None


def test_bn_lin5_trains_with_variable_lengths():
    cfg = _cfg("XS", atfr=True, num_classes=5)
    cfg.X3D.BN_LIN5 = True
    model = _build(cfg).train()
    logits = model([_mixed_clips(frames=6, size=32)])
    logits.sum().backward()
    assert torch.isfinite(logits).all()
    assert model.head.lin_5_bn.weight.grad is not None


@pytest.mark.parametrize("sampler", ["X3DTestSampler", "SGS"])
def test_eval_batched_equals_per_sample(sampler):
    cfg = _cfg("S", atfr=True, sampler=sampler, num_classes=7)
    if sampler == "X3DTestSampler":
        # After the stem (temporal kernel 5) a static 8-frame clip keeps 5 distinct frames.
        cfg.ATFR.STAGE = "stem"
    # SGS turns the features before it into bins: float64, so that the batched convolutions'
    # rounding (another reduction order than one clip's) cannot move a frame across a border.
    dtype = torch.float64 if sampler == "SGS" else torch.float32
    model = _build(cfg).to(dtype)
    model.train()
    with torch.no_grad():  # one training step's worth of BN statistics
        model([_mixed_clips(frames=8, size=32).to(dtype)])
    model.eval()
    clips = _mixed_clips(frames=8, size=32).to(dtype)
    with torch.no_grad():
        batched = model([clips])
        lengths = model.temporal_lengths.clone()
        single = torch.cat([model([clips[i : i + 1]]) for i in range(clips.shape[0])])
    if sampler == "X3DTestSampler":
        assert lengths[0, 0] < lengths[1, 0], lengths  # a mix of lengths in one batch
    torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("batching", ["packed", "padded"])
def test_variable_length_training_paths_match_per_sample(batching):
    """With frozen BN and no dropout, both training paths (packed: per-clip SE and head
    pooling, per-clip temporal taps; padded: masked pooling, padding re-zeroed by BN) give
    each clip what it gets alone."""
    cfg = _cfg("XS", atfr=True, num_classes=5)
    cfg.ATFR.TRAIN_BATCHING = batching
    cfg.ATFR.STAGE = "stem"
    cfg.MODEL.DROPOUT_RATE = 0.0
    model = _build(cfg)
    clips = _mixed_clips(frames=8, size=32)
    with torch.no_grad():
        model.train()
        model([clips])  # non-trivial running statistics
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        padded = model([clips])
        assert model.temporal_lengths[:, 0].tolist() == [5, 8, 8]
        model.eval()
        single = torch.cat([model([clips[i : i + 1]]) for i in range(clips.shape[0])])
    torch.testing.assert_close(padded, single, atol=1e-5, rtol=1e-5)


def test_eval_after_sampler_runs_on_trimmed_groups():
    """Inference cost follows the sum of the lengths: no clip is padded to the longest."""
    cfg = _cfg("XS", atfr=True, num_classes=5)
    cfg.ATFR.STAGE = "stem"
    model = _build(cfg).eval()
    seen = []
    model.s2.register_forward_hook(lambda m, args, out: seen.append(tuple(args[0][0].shape[:3])))
    with torch.no_grad():
        model([_mixed_clips(frames=8, size=32)])
    assert model.temporal_lengths[:, 0].tolist() == [5, 8, 8]
    assert sorted(seen) == [(1, 24, 5), (2, 24, 8)]


def test_head_pools_any_input_size():
    head = X3DHead(dim_in=16, dim_inner=24, dim_out=32, num_classes=3).eval()
    for shape in [(2, 16, 1, 1, 1), (2, 16, 3, 5, 7), (2, 16, 8, 2, 2)]:
        x = torch.randn(shape)
        assert head([x]).shape == (2, 3)
    x = torch.randn(2, 16, 4, 3, 3)
    pooled_twice = torch.cat([x, x], dim=2)  # same mean over T
    torch.testing.assert_close(head([x]), head([pooled_twice]))


def test_module_built_without_config_matches_builder():
    model = X3D(num_classes=400, width_factor=2.0, depth_factor=2.2)
    assert params_count(model) == params_count(_build(_cfg("S")))


def test_config_errors_name_the_key():
    cfg = _cfg("XS")
    cfg.MODEL.ARCH = "slowfast"
    with pytest.raises(ValueError, match="MODEL.ARCH"):
        build_model(cfg)
    cfg = _cfg("XS", atfr=True)
    cfg.ATFR.STAGE = "res5"
    with pytest.raises(ValueError, match="ATFR.STAGE"):
        build_model(cfg)
