"""Tiny configs of every registered model family and clips that make B' differ.

`TINY` maps each MODEL_REGISTRY name to its tiny variants; a test asserts that every
registered name has one, so a new family is tested without writing a new test.
`TestDedupSampler` is a parameter-free sampler (registered by `build_tiny` only while it
builds a model, so other tests never see it in the registry) that keeps a
frame only when it differs from the previous one: static clips keep few frames, moving clips
keep all, so a mixed batch always has several lengths.
"""

from typing import Dict, List, Tuple

import torch
import torch.nn as nn

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.models import build_model
from slowfast_atfr.models.atfr.samplers import TEMPORAL_SAMPLER_REGISTRY, SamplerOutput

NUM_CLASSES = 5
CROP = 32

_SLOWFAST = {
    "MODEL.ARCH": "slowfast", "SLOWFAST.ALPHA": 2, "SLOWFAST.BETA_INV": 4,
    "RESNET.SPATIAL_STRIDES": [[1, 1], [2, 2], [2, 2], [2, 2]],
    "RESNET.SPATIAL_DILATIONS": [[1, 1]] * 4, "NONLOCAL.GROUP": [[1, 1]] * 4,
}
_DEPTH18_TEMP = [[2], [2], [2], [2]]

# name -> {variant: config overrides}
TINY: Dict[str, Dict[str, dict]] = {
    "ResNet": {
        "resnet3d18": {"MODEL.ARCH": "resnet3d", "RESNET.DEPTH": 18,
                       "RESNET.WIDTH_PER_GROUP": 2,
                       "RESNET.NUM_BLOCK_TEMP_KERNEL": _DEPTH18_TEMP},
        "resnet3d50": {"MODEL.ARCH": "resnet3d", "RESNET.DEPTH": 50},
        "i3d50": {"MODEL.ARCH": "i3d", "RESNET.DEPTH": 50},
        "slow18_nl": {"MODEL.ARCH": "slow", "RESNET.DEPTH": 18,
                      "RESNET.NUM_BLOCK_TEMP_KERNEL": _DEPTH18_TEMP,
                      "NONLOCAL.LOCATION": [[[]], [[1]], [[0]], [[]]],
                      "NONLOCAL.INSTANTIATION": "softmax"},
        "c2d18": {"MODEL.ARCH": "c2d", "RESNET.DEPTH": 18,
                  "RESNET.NUM_BLOCK_TEMP_KERNEL": _DEPTH18_TEMP},
    },
    "ResNet_nopool": {
        "c2d18_nopool": {"MODEL.ARCH": "c2d", "RESNET.DEPTH": 18,
                         "RESNET.NUM_BLOCK_TEMP_KERNEL": _DEPTH18_TEMP},
    },
    "SlowFast": {
        "r18": dict(_SLOWFAST, **{"RESNET.DEPTH": 18,
                                  "RESNET.NUM_BLOCK_TEMP_KERNEL": [[2, 2]] * 4,
                                  "NONLOCAL.LOCATION": [[[], []]] * 4}),
        "r50_nl": dict(_SLOWFAST, **{"RESNET.DEPTH": 50,
                                     "RESNET.NUM_BLOCK_TEMP_KERNEL": [[3, 3], [4, 4], [6, 6],
                                                                      [3, 3]],
                                     "NONLOCAL.LOCATION": [[[], []], [[], []], [[1, 3], []],
                                                           [[], []]]}),
    },
    "R2plus1D": {
        "r18": {"MODEL.ARCH": "r2plus1d", "RESNET.DEPTH": 18},
    },
    "X3D": {
        "xs": {"MODEL.ARCH": "x3d", "X3D.WIDTH_FACTOR": 1.0, "X3D.DEPTH_FACTOR": 1.0,
               "X3D.DIM_C5": 32, "X3D.DIM_C1": 8, "RESNET.TRANS_FUNC": "x3d_transform"},
    },
}


def variants() -> List[Tuple[str, str]]:
    """All (model name, variant) pairs of TINY."""
    return [(name, variant) for name, table in TINY.items() for variant in table]


def tiny_cfg(name: str, variant: str, atfr: bool, sampler: str = "SGS"):
    """A config of model `name` small enough for CPU tests."""
    cfg = get_cfg()
    cfg.NUM_GPUS = 0
    cfg.MODEL.MODEL_NAME = name
    cfg.MODEL.NUM_CLASSES = NUM_CLASSES
    cfg.MODEL.DROPOUT_RATE = 0.0
    cfg.RESNET.WIDTH_PER_GROUP = 4
    for key, value in TINY[name][variant].items():
        group, leaf = key.split(".")
        cfg[group][leaf] = value
    pathways = 2 if cfg.MODEL.ARCH == "slowfast" else 1
    cfg.DATA.INPUT_CHANNEL_NUM = [3] * pathways
    cfg.ATFR.ENABLED = atfr
    cfg.ATFR.SAMPLER = sampler
    cfg.ATFR.PATHWAYS = [True] * pathways
    cfg.ATFR.NUM_BINS_TRAIN = [-1] * pathways
    cfg.ATFR.NUM_BINS_TEST = [-1] * pathways
    cfg.ATFR.BLOCK_LENGTH = [0] * pathways
    return cfg


def build_tiny(cfg) -> nn.Module:
    """build_model(cfg), with TestDedupSampler registered while it builds."""
    name = TestDedupSampler.__name__
    if cfg.ATFR.SAMPLER != name:
        return build_model(cfg)
    TEMPORAL_SAMPLER_REGISTRY.register_as(name)(TestDedupSampler)
    try:
        return build_model(cfg)
    finally:
        TEMPORAL_SAMPLER_REGISTRY._obj_map.pop(name)


def mixed_clips(cfg, n: int = 4, frames: int = 8, seed: int = 0) -> List[torch.Tensor]:
    """Inputs [N, 3, T, CROP, CROP] per pathway: even samples static, odd ones moving."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 3, 1, CROP, CROP, generator=gen)
    motion = torch.randn(n, 3, frames, CROP, CROP, generator=gen)
    moving = (torch.arange(n) % 2 == 1).float().view(n, 1, 1, 1, 1)
    fast = base.expand(-1, -1, frames, -1, -1) + moving * motion
    if cfg.MODEL.ARCH != "slowfast":
        return [fast]
    return [fast[:, :, :: cfg.SLOWFAST.ALPHA].contiguous(), fast]


class TestDedupSampler(nn.Module):
    """Keep frame t if its change from frame t-1 exceeds half the clip's largest change."""

    def __init__(self, **kwargs):
        super().__init__()

    def forward(self, x: torch.Tensor):
        n, c, t = x.shape[:3]
        diff = (x[:, :, 1:] - x[:, :, :-1]).abs().flatten(3).mean(dim=(1, 3))
        threshold = 0.5 * diff.max(dim=1, keepdim=True).values
        keep = torch.cat([torch.ones(n, 1, dtype=torch.bool), diff > threshold], dim=1)
        lengths = keep.sum(dim=1)
        order = torch.argsort((~keep).to(torch.int8), dim=1, stable=True)
        out = x.gather(2, order.view(n, 1, t, 1, 1).expand_as(x))
        mask = torch.arange(t).view(1, t) < lengths.view(n, 1)
        return SamplerOutput.whole_clip(out * mask.view(n, 1, t, 1, 1).to(x.dtype),
                                        lengths.to(torch.int64))


@torch.no_grad()
def calibrate_bn(model: nn.Module, xs: List[torch.Tensor]) -> nn.Module:
    """Set BN running statistics from one training pass over xs, then switch to eval.

    Random-init running statistics (mean 0, var 1) let activations of deep nets grow to
    1e14 in eval; calibrated ones keep logits O(1), so absolute tolerances mean something.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    model(xs)
    for m in norms:
        m.momentum = 0.1
    return model.eval()


def train_pass(model: nn.Module, xs: List[torch.Tensor], batching: str, seed: int = 0):
    """One training forward + backward with ATFR.TRAIN_BATCHING `batching`.

    Returns (logits, loss, {parameter: gradient}, {buffer: value}); dropout and drop-connect
    draw the same masks for the same `seed` whatever the batching.
    """
    model.train()
    model.train_batching = batching
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    logits = model(xs)
    labels = torch.arange(logits.shape[0]) % logits.shape[1]
    loss = nn.functional.cross_entropy(logits.float(), labels)
    loss.backward()
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    return logits.detach(), loss.detach(), grads, buffers


def assert_same_training(packed, padded, rtol: float, atol: float) -> None:
    """Logits, loss, every gradient and every BN buffer of two `train_pass` results agree."""
    (logits_a, loss_a, grads_a, bufs_a), (logits_b, loss_b, grads_b, bufs_b) = packed, padded
    torch.testing.assert_close(logits_a, logits_b, rtol=rtol, atol=atol)
    torch.testing.assert_close(loss_a, loss_b, rtol=rtol, atol=atol)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        scale = max(grads_b[name].abs().max().item(), 1.0)
        torch.testing.assert_close(grads_a[name], grads_b[name], rtol=rtol, atol=atol * scale,
                                   msg=lambda m, n=name: f"gradient of {n}: {m}")
    for name in bufs_a:
        torch.testing.assert_close(bufs_a[name], bufs_b[name], rtol=rtol, atol=atol,
                                   msg=lambda m, n=name: f"buffer {n}: {m}")


def relative_errors(result, reference) -> Dict[str, float]:
    """||a - b|| / ||b|| of the logits, of all gradients together and of all buffers together
    of two `train_pass` results."""

    def joined(tensors: Dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([tensors[k].double().flatten() for k in sorted(tensors)])

    pairs = {"logits": (result[0].double(), reference[0].double()),
             "gradients": (joined(result[2]), joined(reference[2])),
             "buffers": (joined(result[3]), joined(reference[3]))}
    return {key: ((a - b).norm() / b.norm()).item() for key, (a, b) in pairs.items()}
