"""ResNet family (C2D, I3D, Slow, the ATFR paper's 3DResNet): names, shapes, tables."""

import pytest
import torch
from tiny_models import tiny_cfg
from upstream_keys import upstream_keys

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.models import build_model
from slowfast_atfr.models.cost import params_count
from slowfast_atfr.models.r2plus1d import r2plus1d_kwargs
from slowfast_atfr.models.resnet import ResNet, resnet_kwargs, shared_kwargs
from slowfast_atfr.models.slowfast import slowfast_kwargs
from slowfast_atfr.models.x3d import x3d_kwargs


def _cfg(arch, depth, width=64, classes=400):
    cfg = get_cfg()
    cfg.NUM_GPUS = 0
    cfg.MODEL.MODEL_NAME = "ResNet"
    cfg.MODEL.ARCH = arch
    cfg.MODEL.NUM_CLASSES = classes
    cfg.RESNET.DEPTH = depth
    cfg.RESNET.WIDTH_PER_GROUP = width
    cfg.DATA.INPUT_CHANNEL_NUM = [3]
    cfg.ATFR.PATHWAYS = [True]
    if depth == 18:
        cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[2], [2], [2], [2]]
    return cfg


# Parameter counts (M, 400 classes) of PySlowFast / pytorchvideo's Kinetics model zoo.
@pytest.mark.parametrize("arch,millions", [("c2d", 24.33), ("i3d", 28.04), ("slow", 32.45)])
def test_r50_parameter_counts_match_the_model_zoo(arch, millions):
    assert round(params_count(build_model(_cfg(arch, 50))) / 1e6, 2) == millions


def test_resnet3d18_follows_table_a1():
    """conv1 5x7x7 8; res2 [3x1x1 8, 1x3x3 8, 1x1x1 32]; ...; res5 [3x1x1 256, ..., 1024]."""
    model = build_model(_cfg("resnet3d", 18, width=8))
    sd = model.state_dict()
    assert sd["s1.pathway0_stem.conv.weight"].shape == (8, 3, 5, 7, 7)
    assert model.s1.pathway0_stem.conv.stride == (1, 2, 2)
    # stage: (input channels, inner, output, temporal kernel of a)
    expected = {2: (8, 8, 32, 3), 3: (32, 64, 256, 1), 4: (256, 128, 512, 1),
                5: (512, 256, 1024, 3)}
    for stage, (dim_in, inner, out, kt) in expected.items():
        for i in range(2):
            prefix = f"s{stage}.pathway0_res{i}.branch2"
            a_in = dim_in if i == 0 else out
            assert sd[f"{prefix}.a.weight"].shape == (inner, a_in, kt, 1, 1)
            assert sd[f"{prefix}.b.weight"].shape == (inner, inner, 1, 3, 3)
            assert sd[f"{prefix}.c.weight"].shape == (out, inner, 1, 1, 1)
    assert sd["head.projection.weight"].shape == (400, 1024)
    # No temporal striding: 32 frames in, 32 frames at res5 (Table A.1's output sizes).
    x = torch.randn(1, 3, 32, 64, 64)
    with torch.no_grad():
        feats = model.forward_before_sampler([x])
        for name, step in model.stage_steps()[:-1]:
            feats = step(feats)
            if name == "res2":
                assert feats[0].shape[2:] == (32, 16, 16)
    assert feats[0].shape == (1, 1024, 32, 2, 2)


def test_resnet3d50_has_table_a1_widths_with_r50_blocks():
    model = build_model(_cfg("resnet3d", 50, width=8))
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert shapes["s1.pathway0_stem.conv.weight"] == (8, 3, 5, 7, 7)
    assert shapes["s2.pathway0_res2.branch2.c.weight"][0] == 32
    assert shapes["s3.pathway0_res3.branch2.b.weight"][:3] == (64, 64, 1)
    assert shapes["s4.pathway0_res5.branch2.c.weight"][0] == 512
    assert shapes["s5.pathway0_res2.branch2.a.weight"][:3] == (256, 512 * 2, 3)
    assert "s4.pathway0_res6.branch2.a.weight" not in shapes  # R50: 6 blocks in res4


@pytest.mark.parametrize("arch", ["c2d", "i3d", "slow", "resnet3d"])
def test_state_dict_keys_are_pyslowfast_keys(arch):
    model = build_model(_cfg(arch, 18, width=4))
    assert set(model.state_dict()) == upstream_keys((2, 2, 2, 2))


def test_nonlocal_keys_are_pyslowfast_keys():
    cfg = tiny_cfg("ResNet", "slow18_nl", atfr=False)
    model = build_model(cfg)
    assert set(model.state_dict()) == upstream_keys((2, 2, 2, 2), nonlocal_inds={3: [1], 4: [0]})


def test_i3d_kernel_basis_alternates_within_a_stage():
    model = build_model(_cfg("i3d", 50, width=4))
    kernels = [getattr(model.s3, f"pathway0_res{i}").branch2.a.kernel_size[0] for i in range(4)]
    assert kernels == [3, 1, 3, 1]
    assert [getattr(model.s5, f"pathway0_res{i}").branch2.a.kernel_size[0]
            for i in range(3)] == [1, 3, 1]
    assert model.pathway0_pool.kernel_size == [2, 1, 1]


def test_head_accepts_any_input_size():
    model = build_model(_cfg("c2d", 18, width=4, classes=7)).eval()
    with torch.no_grad():
        for frames, crop in ((4, 32), (8, 48), (6, 40)):
            assert model([torch.randn(2, 3, frames, crop, crop)]).shape == (2, 7)


def test_user_errors_name_the_key():
    cfg = _cfg("slowfast", 50)
    with pytest.raises(ValueError, match="MODEL.ARCH"):
        resnet_kwargs(cfg)
    cfg = _cfg("slow", 34)
    with pytest.raises(ValueError, match="RESNET.DEPTH"):
        build_model(cfg)
    cfg = _cfg("slow", 18)
    cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[3], [4], [6], [3]]
    with pytest.raises(ValueError, match="NUM_BLOCK_TEMP_KERNEL"):
        build_model(cfg)
    cfg = _cfg("slow", 50)
    cfg.RESNET.TRANS_FUNC = "nope"
    with pytest.raises(ValueError, match="RESNET.TRANS_FUNC"):
        build_model(cfg)
    model = build_model(_cfg("c2d", 18, width=4))
    with pytest.raises(ValueError, match=r"\[N, C, T, H, W\]"):
        model([torch.randn(3, 8, 32, 32)])


def test_sampler_goes_after_the_configured_stage():
    for stage, channels in (("stem", 4), ("res2", 16), ("res3", 32), ("res4", 64)):
        cfg = _cfg("slow", 18, width=4, classes=5)
        cfg.ATFR.ENABLED = True
        cfg.ATFR.STAGE = stage
        model = build_model(cfg)
        assert model.sampler[0].dim_in == channels
        assert isinstance(model, ResNet)
        model.eval()
        with torch.no_grad():
            assert model([torch.randn(2, 3, 4, 32, 32)]).shape == (2, 5)
        assert model.temporal_lengths.shape == (2, 1)


@pytest.mark.parametrize("kwargs_of, name, variant", [
    (resnet_kwargs, "ResNet", "resnet3d18"), (x3d_kwargs, "X3D", "xs"),
    (slowfast_kwargs, "SlowFast", "r18"), (r2plus1d_kwargs, "R2plus1D", "r18"),
])
def test_every_family_takes_the_shared_arguments(kwargs_of, name, variant):
    cfg = tiny_cfg(name, variant, atfr=False)
    cfg.RESNET.STRIDE_1X1, cfg.RESNET.INPLACE_RELU, cfg.MODEL.DROPOUT_RATE = True, False, 0.3
    shared = shared_kwargs(cfg)
    if name == "R2plus1D":  # its transform is the architecture, not RESNET.TRANS_FUNC
        shared["trans_func_name"] = "r2plus1d_transform"
    kwargs = kwargs_of(cfg)
    assert {key: kwargs[key] for key in shared} == shared
