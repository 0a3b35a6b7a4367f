"""SlowFast: upstream names and sizes, the padded lateral fusion, per-pathway samplers."""

import pytest
import torch
from tiny_models import calibrate_bn, mixed_clips, tiny_cfg
from upstream_keys import upstream_keys

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.models import build_model, varlen
from slowfast_atfr.models.slowfast import FuseFastToSlow
from slowfast_atfr.models.varlen import VarLenBatchNorm3d
from slowfast_atfr.models.video_model import PassThrough


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _cfg(depth=50, alpha=8, fusion_kernel=5, width=64, nonlocal_location=None):
    cfg = get_cfg()
    cfg.NUM_GPUS = 0
    cfg.MODEL.MODEL_NAME = "SlowFast"
    cfg.MODEL.ARCH = "slowfast"
    cfg.RESNET.DEPTH = depth
    cfg.RESNET.WIDTH_PER_GROUP = width
    blocks = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}[depth]
    cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[b, b] for b in blocks]
    cfg.RESNET.SPATIAL_STRIDES = [[1, 1], [2, 2], [2, 2], [2, 2]]
    cfg.RESNET.SPATIAL_DILATIONS = [[1, 1]] * 4
    cfg.NONLOCAL.LOCATION = nonlocal_location or [[[], []]] * 4
    cfg.NONLOCAL.GROUP = [[1, 1]] * 4
    cfg.SLOWFAST.ALPHA = alpha
    cfg.SLOWFAST.FUSION_KERNEL_SZ = fusion_kernel
    return cfg


# Parameter counts (M, 400 classes) of PySlowFast / pytorchvideo's Kinetics model zoo.
@pytest.mark.parametrize("depth,alpha,fusion_kernel,millions", [
    (50, 8, 5, 34.48),  # SLOWFAST_4x16_R50
    (50, 4, 7, 34.57),  # SLOWFAST_8x8_R50
    (101, 4, 5, 62.83),  # SLOWFAST_8x8_R101
])
def test_parameter_counts_match_the_model_zoo(depth, alpha, fusion_kernel, millions):
    model = build_model(_cfg(depth, alpha, fusion_kernel))
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 2) == millions


def test_state_dict_keys_are_pyslowfast_keys():
    location = [[[], []], [[], []], [[1, 3], []], [[], []]]
    model = build_model(_cfg(depth=50, width=8, nonlocal_location=location))
    assert set(model.state_dict()) == upstream_keys((3, 4, 6, 3), pathways=2,
                                                    nonlocal_inds={4: [1, 3]})
    sd = model.state_dict()
    # Slow res2 input = w + w // (BETA_INV / FUSION_CONV_CHANNEL_RATIO) fused channels (w=8).
    assert sd["s2.pathway0_res0.branch1.weight"].shape == (32, 8 + 8 // 4, 1, 1, 1)
    assert sd["s1_fuse.conv_f2s.weight"].shape == (2, 1, 5, 1, 1)
    assert sd["head.projection.weight"].shape == (400, 256 + 32)


def test_fusion_reads_the_pathways_at_the_indices_it_is_given():
    args = dict(dim_in=2, fusion_conv_channel_ratio=2, fusion_kernel=5, alpha=4)
    fuse = FuseFastToSlow(slow_pathway=0, fast_pathway=1, **args).eval()
    swapped = FuseFastToSlow(slow_pathway=1, fast_pathway=0, **args).eval()
    swapped.load_state_dict(fuse.state_dict())
    slow, fast = torch.randn(2, 3, 2, 4, 4), torch.randn(2, 2, 8, 4, 4)
    with torch.no_grad():
        expected, _ = fuse([slow, fast])
        out_fast, out_slow = swapped([fast, slow])
    assert out_fast is fast and torch.equal(out_slow, expected)


def test_fusion_pads_the_shorter_tensor_like_lone_clips():
    """Padded batch in a lengths context == each clip fused alone (eval BN)."""
    fuse = FuseFastToSlow(dim_in=2, fusion_conv_channel_ratio=2, fusion_kernel=5, alpha=4,
                          slow_pathway=0, fast_pathway=1, norm_module=VarLenBatchNorm3d)
    varlen.install_hooks(fuse)
    fuse.bn.running_mean.uniform_()
    fuse.eval()
    lengths = torch.tensor([[1, 16], [3, 4], [2, 9]])  # fused lengths 4, 1, 3
    slow = varlen.zero_padding(torch.randn(3, 3, 3, 4, 4), lengths[:, 0])
    fast = varlen.zero_padding(torch.randn(3, 2, 16, 4, 4), lengths[:, 1])
    with torch.no_grad(), varlen.lengths_context([slow, fast], lengths):
        out_slow, out_fast = fuse([slow, fast])
        new = varlen.active_lengths(out_slow.shape[2])
    assert out_slow.shape == (3, 7, 4, 4, 4) and out_fast is fast
    assert new.tolist() == [4, 3, 3]
    for i in range(3):
        ls, lf = lengths[i].tolist()
        with torch.no_grad():
            lone = fuse([slow[i:i + 1, :, :ls], fast[i:i + 1, :, :lf]])[0]
        assert lone.shape[2] == new[i]
        assert torch.allclose(out_slow[i:i + 1, :, :new[i]], lone, atol=1e-6)
        assert not out_slow[i, :, new[i]:].any()


def test_per_pathway_block_samplers():
    """SSv2 setting (App. A): SGS per temporal block, fast blocks of 8, slow blocks of 2."""
    cfg = tiny_cfg("SlowFast", "r18", atfr=True)
    cfg.ATFR.BLOCK_LENGTH = [2, 8]
    model = build_model(cfg).double()  # float64: see test_eval_batched_equals_per_sample
    assert [s.block_length for s in model.sampler] == [2, 8]
    xs = [x.double() for x in mixed_clips(cfg, frames=16)]
    calibrate_bn(model, xs)
    with torch.no_grad():
        batched = model(xs)
        lengths = model.temporal_lengths
        singles = torch.cat([model([x[i:i + 1] for x in xs]) for i in range(4)])
    assert torch.allclose(batched, singles, atol=1e-5)
    assert (lengths[:, 0] <= 8).all() and (lengths[:, 1] <= 16).all()
    # B' per block: slow T = 8 at the sampler -> 4 blocks of 2, fast T = 16 -> 2 blocks of 8.
    model(xs)
    slow, fast = model.temporal_block_lengths
    assert slow.shape == (4, 4) and fast.shape == (4, 2)
    assert torch.equal(torch.stack([slow.sum(1), fast.sum(1)], dim=1), model.temporal_lengths)
    assert (slow >= 1).all() and (slow <= 2).all() and (fast >= 1).all() and (fast <= 8).all()


def test_sampler_on_one_pathway_only():
    cfg = tiny_cfg("SlowFast", "r18", atfr=True)
    cfg.ATFR.PATHWAYS = [False, True]
    model = build_model(cfg)
    assert isinstance(model.sampler[0], PassThrough)
    assert not any(k.startswith("sampler.0.") for k in model.state_dict())
    xs = mixed_clips(cfg)
    model.eval()
    with torch.no_grad():
        model(xs)
    assert model.temporal_lengths[:, 0].tolist() == [xs[0].shape[2]] * 4
    kept = model.temporal_block_lengths[0]  # the pathway without sampler: one block of T
    assert kept.shape == (4, 1) and kept[:, 0].tolist() == [xs[0].shape[2]] * 4


def test_mismatched_pathway_lists_name_the_problem():
    cfg = _cfg(depth=18, width=8)
    cfg.RESNET.SPATIAL_STRIDES = [[1], [2], [2], [2]]
    with pytest.raises(ValueError, match="one per pathway"):
        build_model(cfg)
