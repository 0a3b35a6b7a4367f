"""Every configs/**/*.yaml: loads, builds small, trains a step; ATFR twins differ only in ATFR.

The build test shrinks the input (8 frames of 32 x 32, batch 2) and, for the ResNet
families, RESNET.WIDTH_PER_GROUP, so that all configs run on CPU in a few minutes; the
architecture at full size is checked by the GFLOPs and parameter references of
tests/models/test_cost.py.
"""

import glob
import os
from functools import lru_cache
from typing import Dict, List, Optional

import pytest
import torch
import yaml
from fvcore.common.config import CfgNode

from slowfast_atfr.config.defaults import assert_and_infer_cfg
from slowfast_atfr.config.parser import load_config, parse_args
from slowfast_atfr.datasets.transform import pack_pathway_output
from slowfast_atfr.models import MODEL_REGISTRY, build_model
from slowfast_atfr.utils.misc import num_pathways

_ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "configs"))
_CONFIGS = sorted(
    os.path.relpath(path, _ROOT) for path in glob.glob(os.path.join(_ROOT, "**", "*.yaml"),
                                                       recursive=True)
)
# The demo configs (configs/Demo) are tiny models for the built-in data set, not paper models.
_PAPER_CONFIGS = [c for c in _CONFIGS if not c.startswith("Demo" + os.sep)]
# Input small enough for CPU; 8 frames are divisible by every SLOWFAST.ALPHA used (4, 8).
_SMALL = ["NUM_GPUS", "0", "DATA.NUM_FRAMES", "8", "DATA.TRAIN_CROP_SIZE", "32",
          "DATA.TEST_CROP_SIZE", "32", "TRAIN.BATCH_SIZE", "2", "TEST.BATCH_SIZE", "2"]
# ResNet-family widths are narrowed to this RESNET.WIDTH_PER_GROUP (if wider).
_NARROW_WIDTH = 16



@lru_cache(maxsize=None)
def _load(config: str, *opts: str) -> CfgNode:
    args = parse_args(["--cfg", os.path.join(_ROOT, config), *opts])
    return assert_and_infer_cfg(load_config(args))


def _base(config: str) -> Optional[str]:
    """The config named by `config`'s `_BASE_`, relative to configs/, or None."""
    with open(os.path.join(_ROOT, config)) as f:
        base = (yaml.safe_load(f) or {}).get("_BASE_")
    if base is None:
        return None
    return os.path.normpath(os.path.join(os.path.dirname(config), base))


def _baseline(config: str) -> Optional[str]:
    """The nearest config up `config`'s `_BASE_` chain with ATFR disabled."""
    base = _base(config)
    while base is not None and _load(base).ATFR.ENABLED:
        base = _base(base)
    return base


def _flatten(node: CfgNode, prefix: str = "") -> Dict[str, object]:
    flat = {}
    for key, value in node.items():
        if isinstance(value, CfgNode):
            flat.update(_flatten(value, prefix + key + "."))
        else:
            flat[prefix + key] = value
    return flat


_ATFR_CONFIGS = [c for c in _PAPER_CONFIGS if _load(c).ATFR.ENABLED]


@pytest.mark.parametrize("config", _CONFIGS)
def test_config_loads_and_names_a_registered_model(config):
    cfg = _load(config)
    assert cfg.MODEL.MODEL_NAME in MODEL_REGISTRY, cfg.MODEL.MODEL_NAME
    assert len(cfg.DATA.INPUT_CHANNEL_NUM) == num_pathways(cfg)
    if cfg.ATFR.ENABLED:
        assert len(cfg.ATFR.PATHWAYS) == num_pathways(cfg) and any(cfg.ATFR.PATHWAYS)
    if config in _PAPER_CONFIGS:
        assert cfg.NUM_GPUS == 8 and cfg.TRAIN.BATCH_SIZE % 8 == 0 and cfg.TEST.BATCH_SIZE % 8 == 0
        assert cfg.SOLVER.OPTIMIZING_METHOD == "sgd" and cfg.SOLVER.MOMENTUM == 0.9


@pytest.mark.parametrize("config", _ATFR_CONFIGS)
def test_atfr_config_differs_from_its_baseline_only_under_atfr(config):
    baseline = _baseline(config)
    assert baseline is not None, f"{config} must inherit (_BASE_) from its non-ATFR config"
    ours, theirs = _flatten(_load(config)), _flatten(_load(baseline))
    # Each config runs in its own folder (output/<folder>/<name>): OUTPUT_DIR differs by design.
    differ = sorted(k for k in ours.keys() | theirs.keys()
                    if k != "OUTPUT_DIR" and ours.get(k) != theirs.get(k))
    assert "ATFR.ENABLED" in differ
    assert all(key.startswith("ATFR.") for key in differ), (config, baseline, differ)


def test_every_baseline_config_has_an_atfr_twin():
    baselines = {c for c in _PAPER_CONFIGS if not _load(c).ATFR.ENABLED}
    twinned = {_baseline(c) for c in _ATFR_CONFIGS}
    assert sorted(baselines - twinned) == []
    for config in _ATFR_CONFIGS:
        assert "_ATFR" in config or "TemporalAttention" in config, config


def test_paper_models_have_configs():
    names = {os.path.splitext(c)[0] for c in _PAPER_CONFIGS}
    for name in ("Kinetics/X3D_S", "Kinetics/X3D_XL", "Kinetics/SLOWFAST_4x16_R50",
                 "Kinetics600/X3D_M", "Kinetics600/X3D_XL", "MiniKinetics/R2PLUS1D_32x2_R50",
                 "MiniKinetics/I3D_32x2_R50", "MiniKinetics/X3D_S", "MiniKinetics/RESNET3D18",
                 "MiniKinetics/RESNET3D50", "MiniKinetics/SLOWFAST_8x8_R18",
                 "MiniKinetics/SLOWFAST_8x8_R50", "SSv2/SLOWFAST_16x8_R50",
                 "SSv2/SLOWFAST_16x8_R50_ATFR_multigrid", "UCF101/RESNET3D50",
                 "HMDB51/RESNET3D50"):
        assert name in names and (name.endswith("multigrid") or name + "_ATFR" in names), name
    ssv2 = _load(os.path.join("SSv2", "SLOWFAST_16x8_R50_ATFR.yaml"))
    assert list(ssv2.ATFR.BLOCK_LENGTH) == [2, 8]  # pathway 0 = slow: blocks of 2, fast: 8
    assert (ssv2.DATA.NUM_FRAMES, ssv2.SLOWFAST.ALPHA, ssv2.SLOWFAST.BETA_INV) == (64, 4, 8)
    multigrid = _load(os.path.join("SSv2", "SLOWFAST_16x8_R50_ATFR_multigrid.yaml"))
    assert multigrid.MULTIGRID.LONG_CYCLE and multigrid.MULTIGRID.SHORT_CYCLE


def _small_opts(config: str) -> List[str]:
    cfg = _load(config)
    opts = list(_SMALL)
    if cfg.MODEL.MODEL_NAME != "X3D" and cfg.RESNET.WIDTH_PER_GROUP > _NARROW_WIDTH:
        opts += ["RESNET.WIDTH_PER_GROUP", str(_NARROW_WIDTH)]
    return opts


def _batch(cfg: CfgNode) -> List[torch.Tensor]:
    """Two clips [2, C, T, H, W] per pathway: a static one (identical frames) and noise."""
    gen = torch.Generator().manual_seed(0)
    frames, crop = cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE
    static = torch.rand(3, 1, crop, crop, generator=gen).expand(3, frames, crop, crop)
    moving = torch.rand(3, frames, crop, crop, generator=gen)
    multi = num_pathways(cfg) == 2
    clips = [pack_pathway_output(v, multi, cfg.SLOWFAST.ALPHA) for v in (static, moving)]
    return [torch.stack([clip[p] for clip in clips]) for p in range(len(clips[0]))]


@pytest.mark.parametrize("config", _CONFIGS)
def test_config_builds_small_and_trains_one_step(config):
    cfg = _load(config, *_small_opts(config))
    torch.manual_seed(0)
    model = build_model(cfg)
    xs = _batch(cfg)
    logits = model.train()(xs)
    assert logits.shape == (2, cfg.MODEL.NUM_CLASSES) and torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"

    # float64: SGS bins features computed by batched convolutions, whose rounding differs
    # from one clip's; in float32 that can move a frame across a bin border on some CPUs.
    model.double().eval()
    xs = [x.double() for x in xs]
    with torch.no_grad():
        batched = model(xs)
        lengths = model.temporal_lengths
        singles = [model([x[i:i + 1] for x in xs]) for i in range(2)]
    torch.testing.assert_close(batched, torch.cat(singles), rtol=1e-7, atol=1e-9)
    if not cfg.ATFR.ENABLED:
        assert lengths is None
        return
    assert lengths.shape == (2, num_pathways(cfg)) and (lengths >= 1).all()
    with torch.device("meta"):  # names only: no memory, no initialisation cost
        baseline = build_model(_load(_baseline(config), *_small_opts(config)))
    extra = set(model.state_dict()) - set(baseline.state_dict())
    assert extra == {k for k in model.state_dict() if k.startswith("sampler.")} and extra
    assert set(baseline.state_dict()) <= set(model.state_dict())


def _mixed_batch(cfg: CfgNode) -> List[torch.Tensor]:
    """Four clips per pathway, float64: static, noise, and two that are still for part of
    the clip, so that the sampler gives different lengths."""
    gen = torch.Generator().manual_seed(1)
    frames, crop = cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE
    noise = torch.rand(3, frames, crop, crop, generator=gen, dtype=torch.float64)
    still = noise[:, :1].expand(-1, frames, -1, -1)
    half = torch.cat([still[:, :frames // 2], noise[:, frames // 2:]], dim=1)
    quarter = torch.cat([still[:, :frames // 4], noise[:, frames // 4:]], dim=1)
    multi = num_pathways(cfg) == 2
    clips = [pack_pathway_output(v, multi, cfg.SLOWFAST.ALPHA)
             for v in (still, noise, half, quarter)]
    return [torch.stack([clip[p] for clip in clips]) for p in range(len(clips[0]))]


# The configs whose layers after the sampler do not all run packed in training, and the
# layers that run padded instead (README.md, "Training cost"). Every other ATFR config
# trains fully packed.
_PADDED_PARTS = {
    "temporal stride": ("SLOWFAST", "R2PLUS1D"),
    "non-local": ("NLN",),
}
_ALL_ATFR_CONFIGS = [c for c in _CONFIGS if _load(c).ATFR.ENABLED]


@pytest.mark.parametrize("config", _ALL_ATFR_CONFIGS)
def test_packed_training_equals_padded_training(config):
    """ATFR.TRAIN_BATCHING packed gives padded training's logits, loss, gradients and BN
    statistics (float64), and runs padded exactly the layers the README says."""
    from slowfast_atfr.models import varlen

    cfg = _load(config, *_small_opts(config))
    torch.manual_seed(0)
    model = build_model(cfg).double()
    xs = _mixed_batch(cfg)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    results = {}
    with varlen.recording_padded_parts() as parts:
        for batching in ("packed", "padded"):
            model.load_state_dict(state)
            model.train_batching = batching
            model.zero_grad(set_to_none=True)
            torch.manual_seed(0)
            logits = model.train()(xs)
            torch.nn.functional.cross_entropy(logits, torch.arange(4) % 2).backward()
            results[batching] = (logits.detach(), {n: p.grad for n, p in
                                                   model.named_parameters()},
                                 {n: b.clone() for n, b in model.named_buffers()})
    (logits_a, grads_a, bufs_a), (logits_b, grads_b, bufs_b) = results.values()
    torch.testing.assert_close(logits_a, logits_b, rtol=1e-7, atol=1e-9)
    for name in grads_b:
        scale = max(grads_b[name].abs().max().item(), 1.0)
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=1e-7, atol=1e-9 * scale,
                                   msg=lambda m, n=name: f"gradient of {n}: {m}")
    for name in bufs_b:
        torch.testing.assert_close(bufs_a[name], bufs_b[name], rtol=1e-7, atol=1e-9)
    expected = sorted(kind for kind, names in _PADDED_PARTS.items()
                      if any(n in os.path.basename(config) for n in names))
    got = sorted({"non-local" if "non-local" in reason else "temporal stride"
                  for _, reason in parts})
    assert got == expected, (config, parts)
