"""PySlowFast's state-dict key sets, written out from its naming scheme (not from our code).

Upstream (facebookresearch/SlowFast, video_model_builder.py and its helpers) names a
model's parameters s1.pathway{p}_stem.{conv,bn}, s{2..5}.pathway{p}_res{i}.branch1(_bn)
(first block only), .branch2.{a,b,c}(_bn), s{2..5}.pathway{p}_nonlocal{i}.{conv_theta,
conv_phi,conv_g,conv_out,bn}, s{1..4}_fuse.{conv_f2s,bn} (SlowFast) and head.projection.
"""

from typing import Dict, Iterable, Sequence, Set

_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn(prefix: str) -> Set[str]:
    return {f"{prefix}.{leaf}" for leaf in _BN}


def _block(prefix: str, first: bool, convs: Iterable[str]) -> Set[str]:
    keys = set()
    if first:
        keys |= {f"{prefix}.branch1.weight"} | _bn(f"{prefix}.branch1_bn")
    for conv in convs:
        keys |= {f"{prefix}.branch2.{conv}.weight"} | _bn(f"{prefix}.branch2.{conv}_bn")
    return keys


def _nonlocal(prefix: str) -> Set[str]:
    keys = _bn(f"{prefix}.bn")
    for conv in ("conv_theta", "conv_phi", "conv_g", "conv_out"):
        keys |= {f"{prefix}.{conv}.weight", f"{prefix}.{conv}.bias"}
    return keys


def upstream_keys(depths: Sequence[int], pathways: int = 1,
                  nonlocal_inds: Dict[int, Sequence[int]] = None,
                  convs: Iterable[str] = ("a", "b", "c")) -> Set[str]:
    """Keys of a PySlowFast ResNet (pathways=1) or SlowFast (pathways=2) model.

    Args:
        depths: blocks in res2..res5.
        nonlocal_inds: {stage number (2..5): block indices with a non-local block} for the
            slow pathway.
        convs: the transform's convs ("a", "b", "c" for bottlenecks).
    """
    nonlocal_inds = nonlocal_inds or {}
    keys = {"head.projection.weight", "head.projection.bias"}
    for p in range(pathways):
        keys |= {f"s1.pathway{p}_stem.conv.weight"} | _bn(f"s1.pathway{p}_stem.bn")
        for stage, depth in enumerate(depths, start=2):
            for i in range(depth):
                keys |= _block(f"s{stage}.pathway{p}_res{i}", i == 0, convs)
                if p == 0 and i in nonlocal_inds.get(stage, ()):
                    keys |= _nonlocal(f"s{stage}.pathway{p}_nonlocal{i}")
    if pathways == 2:
        for stage in range(1, 5):
            keys |= {f"s{stage}_fuse.conv_f2s.weight"} | _bn(f"s{stage}_fuse.bn")
    return keys
