"""R(2+1)D: pytorchvideo's R(2+1)D-R50 layout, temporal strides, lengths after them."""

import torch
from tiny_models import build_tiny, calibrate_bn, mixed_clips, tiny_cfg

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.models import build_model, varlen
from slowfast_atfr.models.r2plus1d import R2plus1DTransform
from slowfast_atfr.models.resnet_helper import TRANSFORM_REGISTRY


def _cfg(width=64):
    cfg = get_cfg()
    cfg.NUM_GPUS = 0
    cfg.MODEL.MODEL_NAME = "R2plus1D"
    cfg.MODEL.ARCH = "r2plus1d"
    cfg.RESNET.DEPTH = 50
    cfg.RESNET.WIDTH_PER_GROUP = width
    cfg.DATA.INPUT_CHANNEL_NUM = [3]
    cfg.ATFR.PATHWAYS = [True]
    return cfg


def test_r50_parameter_count_matches_pytorchvideo():
    """pytorchvideo's R(2+1)D-R50 16x4 (Kinetics model zoo): 28.11 M parameters."""
    model = build_model(_cfg())
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == 28.11


def test_blocks_factorise_space_then_time():
    assert TRANSFORM_REGISTRY.get("r2plus1d_transform") is R2plus1DTransform
    model = build_model(_cfg())
    block = model.s4.pathway0_res0.branch2
    assert block.b.kernel_size == (1, 3, 3) and block.b.stride == (1, 2, 2)
    assert block.b_t.kernel_size == (3, 1, 1) and block.b_t.stride == (2, 1, 1)
    assert model.s4.pathway0_res0.branch1.stride == (2, 2, 2)
    assert model.s1.pathway0_stem.conv.kernel_size == (1, 7, 7)
    assert isinstance(model.s1.pathway0_stem.pool_layer, torch.nn.Identity)


def test_temporal_strides_in_res4_and_res5():
    model = build_model(_cfg(width=4)).eval()
    feats = [torch.randn(1, 3, 16, 64, 64)]
    sizes = {}
    with torch.no_grad():
        for name, step in model.stage_steps()[:-1]:
            feats = step(feats)
            sizes[name] = tuple(feats[0].shape[2:])
    assert sizes == {"stem": (16, 32, 32), "res2": (16, 16, 16), "res3": (16, 8, 8),
                     "res4": (8, 4, 4), "res5": (4, 2, 2)}


def test_lengths_follow_the_temporal_strides_after_the_sampler():
    """Inside the padded run the strided convs halve each clip's length as they would alone."""
    cfg = tiny_cfg("R2plus1D", "r18", atfr=True, sampler="TestDedupSampler")
    model = build_tiny(cfg)
    calibrate_bn(model, mixed_clips(cfg, seed=1))
    with torch.no_grad():
        feats, lengths = model.sample(model.forward_before_sampler(mixed_clips(cfg)))
    seen = {}

    def after(xs):
        for name, step in model.stage_steps()[2:-1]:
            xs = step(xs)
            seen[name] = varlen.active_lengths(xs[0].shape[2]).clone()
        return xs

    with torch.no_grad():
        varlen.run_padded(after, feats, lengths)
    res4 = varlen.resampled_lengths(lengths[:, 0], 3, 2, 1)
    assert torch.equal(seen["res3"], lengths[:, 0])
    assert torch.equal(seen["res4"], res4)
    assert torch.equal(seen["res5"], varlen.resampled_lengths(res4, 3, 2, 1))
