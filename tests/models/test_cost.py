"""Per-clip GFLOPs: cost tables equal brute-force counts; baselines match published tables."""

import os

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

from slowfast_atfr.config.defaults import assert_and_infer_cfg
from slowfast_atfr.config.parser import load_config, parse_args
from slowfast_atfr.datasets.transform import pack_pathway_output
from slowfast_atfr.models import build_model
from slowfast_atfr.models.atfr.sgs import sample_in_blocks
from slowfast_atfr.models.cost import CostTable, clip_gflops, count_flops, params_count
from slowfast_atfr.models.video_model import VideoModel

_CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs")



class _TinyTwoPathway(VideoModel):
    """Two pathways; stem and res2 keep T, after the sampler a temporal conv and a head."""

    def __init__(self, with_sampler: bool):
        super().__init__(num_pathways=2)
        self.pathway0_stem = nn.Conv3d(3, 4, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.pathway1_stem = nn.Conv3d(3, 2, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.pathway0_res3 = nn.Sequential(nn.Conv3d(4, 6, (3, 1, 1), padding=(1, 0, 0)),
                                           nn.BatchNorm3d(6), nn.ReLU())
        self.pathway1_res3 = nn.Sequential(nn.Conv3d(2, 3, (3, 3, 3), padding=1),
                                           nn.BatchNorm3d(3), nn.ReLU())
        self.head = nn.Linear(9, 5)
        if with_sampler:
            self.attach_sampler([_BrightnessSampler(4), _BrightnessSampler(2)], "stem")

    def stage_steps(self):
        return [
            ("stem", lambda xs: [self.pathway0_stem(xs[0]), self.pathway1_stem(xs[1])]),
            ("res3", lambda xs: [self.pathway0_res3(xs[0]), self.pathway1_res3(xs[1])]),
            ("head", lambda xs: self.head(torch.cat([x.mean(dim=(2, 3, 4)) for x in xs], 1))),
        ]


class _BrightnessSampler(nn.Module):
    """SGS core binning frames by their mean magnitude: B' follows the input's brightness."""

    def __init__(self, channels: int):
        super().__init__()
        self.similarity = nn.Conv1d(channels, 1, 1)  # counted like f_s; its output is unused

    def forward(self, x):
        self.similarity(x.mean(dim=(3, 4)))
        delta = x.abs().mean(dim=(1, 3, 4))
        return sample_in_blocks(x, delta, int(x.shape[2]))


def _clip(seed: int, static_frames: int, frames: int = 8) -> list:
    """One clip of increasingly bright random frames; the first `static_frames` identical."""
    gen = torch.Generator().manual_seed(seed)
    video = torch.rand(1, 3, frames, 16, 16, generator=gen)
    video = video * torch.linspace(0.1, 1.0, frames).view(1, 1, frames, 1, 1)
    video[:, :, :static_frames] = video[:, :, :1]
    return [video, video.clone()]


@pytest.mark.parametrize("conv_linear_only", [False, True])
def test_cost_table_equals_brute_force_per_clip(conv_linear_only):
    torch.manual_seed(0)
    model = _TinyTwoPathway(with_sampler=True)
    table = CostTable(model, [(3, 8, 16, 16), (3, 8, 16, 16)], conv_linear_only=conv_linear_only)
    seen = set()
    for seed, static in enumerate((8, 5, 2, 0)):
        clip = _clip(seed, static)
        expected = clip_gflops(model, clip, conv_linear_only=conv_linear_only)
        with torch.no_grad():
            model.eval()(clip)
        lengths = tuple(model.temporal_lengths[0].tolist())
        seen.add(lengths)
        assert table.gflops(lengths) == expected, (lengths, table.gflops(lengths), expected)
    assert (1, 1) in seen and len(seen) >= 3, f"clips should span several B': {seen}"
    assert table.gflops((1, 1)) < table.gflops((8, 8))


def test_baseline_is_the_model_without_sampler():
    torch.manual_seed(0)
    adaptive = _TinyTwoPathway(with_sampler=True)
    plain = _TinyTwoPathway(with_sampler=False)
    shapes = [(3, 8, 16, 16), (3, 8, 16, 16)]
    table = CostTable(adaptive, shapes)
    plain_table = CostTable(plain, shapes)
    clip = _clip(0, 0)
    assert table.baseline_gflops() == clip_gflops(plain, clip)
    assert plain_table.gflops() == plain_table.baseline_gflops() == clip_gflops(plain, clip)
    # Full lengths with the sampler: the baseline plus the similarity networks.
    assert table.gflops((8, 8)) == pytest.approx(
        table.baseline_gflops() + table.sampler_gflops(), abs=1e-15)
    assert table.sampler_gflops() > 0


def test_batch_norm_counted_only_by_default():
    bn = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4)).eval()
    x = [torch.rand(1, 3, 2, 4, 4)]
    with torch.no_grad():
        conv = count_flops(_First(bn), x, conv_linear_only=True)
        full = count_flops(_First(bn), x)
    assert conv == 3 * 4 * 2 * 4 * 4
    assert full == conv + 2 * 4 * 2 * 4 * 4  # fvcore: eval BN with affine, 2 per element


def _fvcore_case(name: str):
    """(model in eval, one clip) for the fvcore comparison."""
    if name == "tiny":
        torch.manual_seed(0)
        return _TinyTwoPathway(with_sampler=False).eval(), _clip(0, 0)
    cfg, model = _build(name, "RESNET.WIDTH_PER_GROUP", "16")
    gen = torch.Generator().manual_seed(0)
    clip = [torch.rand((1,) + shape, generator=gen) for shape in _clip_shapes(cfg, 8, 64)]
    return model.eval(), clip


@pytest.mark.parametrize("conv_linear_only", [False, True])
@pytest.mark.parametrize("name", [
    "tiny", "Kinetics/X3D_S.yaml",
    # Non-local blocks: fvcore counts their einsum, torch the bmm it runs as.
    "Kinetics/SLOWFAST_NLN_16x8_R101_50_50.yaml",
])
def test_counts_equal_fvcore_on_traceable_models(name, conv_linear_only):
    model, clip = _fvcore_case(name)
    analysis = FlopCountAnalysis(model, (clip,)).unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    expected = analysis.total()
    assert analysis.by_operator()["batch_norm"] > 0
    if conv_linear_only:
        expected -= analysis.by_operator()["batch_norm"]
    with torch.no_grad():
        assert count_flops(model, clip, conv_linear_only=conv_linear_only) == expected


class _First(nn.Module):
    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, xs):
        return self.module(xs[0])


def test_inputs_must_be_one_clip_and_lengths_in_range():
    model = _TinyTwoPathway(with_sampler=True)
    with pytest.raises(ValueError, match="per clip"):
        clip_gflops(model, [torch.rand(2, 3, 4, 8, 8)] * 2)
    table = CostTable(model, [(3, 4, 8, 8)] * 2)
    with pytest.raises(ValueError, match="lengths"):
        table.gflops((5, 1))
    assert model.training, "clip_gflops/CostTable must restore the training mode"


def test_params_count():
    model = _TinyTwoPathway(with_sampler=False)
    assert params_count(model) == sum(p.numel() for p in model.parameters()) > 0


def _build(config: str, *opts: str):
    args = parse_args(["--cfg", os.path.join(_CONFIGS, config), "NUM_GPUS", "0", *opts])
    cfg = assert_and_infer_cfg(load_config(args))
    torch.manual_seed(0)
    return cfg, build_model(cfg)


def _clip_shapes(cfg, frames: int, crop: int) -> list:
    if cfg.MODEL.ARCH in cfg.MODEL.MULTI_PATHWAY_ARCH:
        return [(3, frames // cfg.SLOWFAST.ALPHA, crop, crop), (3, frames, crop, crop)]
    return [(3, frames, crop, crop)]


def _videos(frames: int, crop: int) -> list:
    """[C, T, H, W] clips with different motion: static, shifted texture, noise, fading."""
    gen = torch.Generator().manual_seed(0)
    texture = torch.rand(3, crop, 3 * crop, generator=gen)
    noise = torch.rand(3, frames, crop, crop, generator=gen)
    return [
        texture[:, None, :, :crop].expand(3, frames, crop, crop).clone(),
        torch.stack([texture[:, :, 2 * t:2 * t + crop] for t in range(frames)], dim=1),
        noise,
        noise * torch.linspace(0.1, 1.0, frames).view(1, frames, 1, 1),
    ]


@pytest.mark.parametrize("config, opts, frames, crop", [
    # mean_distance spreads the bins of an untrained f_s, so B' varies between clips.
    ("Kinetics/X3D_S_ATFR.yaml", ("ATFR.MEASURE", "mean_distance"), 13, 64),
    # Two pathways, temporal blocks (App. A) and the zero-padded lateral fusion.
    ("SSv2/SLOWFAST_16x8_R50_ATFR.yaml",
     ("ATFR.MEASURE", "mean_distance", "RESNET.WIDTH_PER_GROUP", "8"), 16, 32),
])
def test_cost_table_equals_brute_force_on_real_models(config, opts, frames, crop):
    cfg, model = _build(config, *opts)
    table = CostTable(model, _clip_shapes(cfg, frames, crop), conv_linear_only=True)
    multi = cfg.MODEL.ARCH in cfg.MODEL.MULTI_PATHWAY_ARCH
    seen = set()
    for video in _videos(frames, crop):
        clip = [x.unsqueeze(0) for x in pack_pathway_output(video, multi, cfg.SLOWFAST.ALPHA)]
        expected = clip_gflops(model, clip, conv_linear_only=True)
        lengths = tuple(model.temporal_lengths[0].tolist())
        seen.add(lengths)
        assert table.gflops(lengths) == expected, (lengths, table.gflops(lengths), expected)
        assert table.gflops(lengths) <= table.gflops()
    assert len(seen) >= 2, f"the clips should get different B': {seen}"


# Published single-view GFLOPs (X3D and SlowFast papers, PySlowFast's model zoo; ATFR paper
# for the last two), one
# multiply-add = 1 FLOP, batch 1: (config, frames, crop, GFLOPs, convention, params in M).
# Convention: X3D and the Kinetics SlowFast figures are conv + linear ("conv"). The model-zoo
# figures of I3D 8x8 R50 (37.3) and SSv2 SlowFast 16x8 R50 (132.1) are fvcore's default
# count with batch norm ("bn": 37.27 and 132.13 here); conv + linear gives 37.10 and 131.42,
# 0.5% lower. X3D-XL: 36.65 is upstream's code with the XL factors; the X3D paper's 35.84 is
# 2.2% lower (BENCHMARKS.md, GFLOPs section).
_PUBLISHED = [
    ("Kinetics/X3D_XS.yaml", 4, 160, 0.60, "conv", 3.794),
    ("Kinetics/X3D_S.yaml", 13, 160, 1.96, "conv", 3.794),
    ("Kinetics/X3D_M.yaml", 16, 224, 4.73, "conv", 3.794),
    ("Kinetics/X3D_L.yaml", 16, 312, 18.37, "conv", 6.153),
    ("Kinetics/X3D_XL.yaml", 16, 312, 36.65, "conv", 11.09),
    ("Kinetics/SLOWFAST_4x16_R50.yaml", 32, 256, 36.1, "conv", None),
    ("Kinetics/SLOWFAST_8x8_R50.yaml", 32, 256, 65.7, "conv", None),
    ("Kinetics/I3D_8x8_R50.yaml", 8, 256, 37.3, "bn", None),
    ("SSv2/SLOWFAST_16x8_R50.yaml", 64, 256, 132.1, "bn", None),
    # ATFR paper, Table 4 (SlowFast-8x8-ResNet18, 32 x 224^2) and Table 7 (I3D R50, 256^2).
    ("MiniKinetics/SLOWFAST_8x8_R18.yaml", 32, 224, 30.9, "conv", None),
    ("MiniKinetics/I3D_32x2_R50.yaml", 32, 256, 148.4, "conv", None),
    # ATFR paper, Table 7 (3DResNet R50, 32 x 256^2).
    ("Kinetics/RESNET3D50.yaml", 32, 256, 40.8, "conv", None),
]


@pytest.mark.parametrize("config, frames, crop, published, convention, params", _PUBLISHED,
                         ids=[row[0] for row in _PUBLISHED])
def test_baseline_gflops_match_published(config, frames, crop, published, convention, params):
    cfg, model = _build(config)
    shapes = _clip_shapes(cfg, frames, crop)
    conv = CostTable(model, shapes, conv_linear_only=True).baseline_gflops()
    with_bn = CostTable(model, shapes).baseline_gflops()
    measured = conv if convention == "conv" else with_bn
    assert measured == pytest.approx(published, rel=0.01)
    assert conv == pytest.approx(published, rel=0.01), "conv + linear within 1% of the table"
    assert with_bn > conv
    if params is not None:
        assert params_count(model) / 1e6 == pytest.approx(params, rel=0.001)
