"""Cost of the SGS layer next to the X3D-S backbone it sits in (CPU, forward + backward).

Times, in one run, forward+backward of
- the SGS layer on an X3D-S res2 output, `[N, 24, T, S/4, S/4]` (B = T, linear kernel), and
- the backbone: the real X3D-S res3..res5 + head when MODEL_REGISTRY has "X3D", else a
  stand-in stack of X3D-S-shaped res2..res5 bottlenecks (conv-BN-ReLU, widths 24/48/96/192,
  expansion 2.25, depthwise 3x3x3, depths 3/5/11/7) on the stem output `[N, 24, T, S/2, S/2]`.
Prints one JSON object on the last line; the target is ratio = sgs / backbone < 0.03.

    python benchmarks/sgs_overhead.py [--batch 8] [--frames 13] [--size 160] [--iters 3]
        [--sgs-repeats 5] [--threads N]
"""

import argparse
import json
import os
import sys
from typing import Callable, List, Tuple

# Run from a clean checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from slowfast_atfr.engine.benchmark import time_alternately  # noqa: E402
from slowfast_atfr.models.atfr.sgs import SGS  # noqa: E402

# X3D-S stages after the stem: (output width, depth, spatial stride of the first block).
_X3D_S_STAGES = (
    (24, 3, 2),  # res2
    (48, 5, 2),  # res3
    (96, 11, 2),  # res4
    (192, 7, 2),  # res5
)
# X3D's bottleneck expansion: inner width = 2.25 x output width.
_EXPANSION = 2.25
_STEM_WIDTH = 24


class _Bottleneck(nn.Module):
    """1x1x1 conv, BN, ReLU; depthwise 3x3x3 conv, BN, ReLU; 1x1x1 conv, BN; residual."""

    def __init__(self, dim_in: int, dim_out: int, stride: int) -> None:
        super().__init__()
        inner = int(_EXPANSION * dim_out)
        self.branch = nn.Sequential(
            nn.Conv3d(dim_in, inner, 1, bias=False), nn.BatchNorm3d(inner), nn.ReLU(True),
            nn.Conv3d(inner, inner, 3, stride=(1, stride, stride), padding=1, groups=inner,
                      bias=False),
            nn.BatchNorm3d(inner), nn.ReLU(True),
            nn.Conv3d(inner, dim_out, 1, bias=False), nn.BatchNorm3d(dim_out),
        )
        self.shortcut = (
            nn.Identity() if dim_in == dim_out and stride == 1
            else nn.Sequential(nn.Conv3d(dim_in, dim_out, 1, stride=(1, stride, stride),
                                         bias=False), nn.BatchNorm3d(dim_out))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.shortcut(x) + self.branch(x))


def _standin_backbone() -> nn.Module:
    blocks: List[nn.Module] = []
    dim_in = _STEM_WIDTH
    for width, depth, stride in _X3D_S_STAGES:
        for i in range(depth):
            blocks.append(_Bottleneck(dim_in, width, stride if i == 0 else 1))
            dim_in = width
    return nn.Sequential(*blocks)


# X3D-S (X3D paper, Table 3; PySlowFast's X3D_S.yaml).
_X3D_S_OPTS = ["MODEL.MODEL_NAME", "X3D", "MODEL.ARCH", "x3d", "NUM_GPUS", "0",
               "DATA.INPUT_CHANNEL_NUM", "[3]", "X3D.WIDTH_FACTOR", "2.0",
               "X3D.DEPTH_FACTOR", "2.2", "X3D.BOTTLENECK_FACTOR", "2.25", "X3D.DIM_C5", "2048",
               "X3D.DIM_C1", "12"]


def _real_x3d_after_res2() -> Callable[[torch.Tensor], torch.Tensor]:
    """X3D-S res3..res5 + head from MODEL_REGISTRY["X3D"] (the stages that follow SGS)."""
    from slowfast_atfr.config.defaults import get_cfg
    from slowfast_atfr.models import build_model

    cfg = get_cfg()
    cfg.merge_from_list(_X3D_S_OPTS)
    model = build_model(cfg).train()
    steps = model.stage_steps()
    after = [fn for _, fn in steps[[name for name, _ in steps].index("res2") + 1:]]

    def run(x: torch.Tensor) -> torch.Tensor:
        xs = [x]
        for fn in after:
            xs = fn(xs)
        return xs

    return run


def _backbone(batch: int, frames: int, size: int) -> Tuple[Callable, torch.Tensor, str]:
    """The timed backbone, its input and its name."""
    from slowfast_atfr.models import MODEL_REGISTRY

    if "X3D" in MODEL_REGISTRY:
        try:
            run = _real_x3d_after_res2()
        except Exception as error:  # the stand-in still gives a number; say why
            print(f"real X3D unavailable ({error!r}); using the stand-in", file=sys.stderr)
        else:
            res2 = torch.randn(batch, _STEM_WIDTH, frames, size // 4, size // 4,
                               requires_grad=True)
            return run, res2, "X3D-S res3..res5 + head (MODEL_REGISTRY['X3D'])"
    stem_out = torch.randn(batch, _STEM_WIDTH, frames, size // 2, size // 2, requires_grad=True)
    return _standin_backbone().train(), stem_out, "stand-in X3D-S res2..res5"


def _time_both(sgs_fn: Callable[[], torch.Tensor], backbone_fn: Callable[[], torch.Tensor],
               warmup: int, iters: int, sgs_repeats: int) -> Tuple[float, float]:
    """Median seconds of forward + backward of each, measured alternately (the timing core of
    tools/benchmark_net.py); SGS runs `sgs_repeats` times per round (it is cheap and noisier).
    """

    def sgs_rounds() -> None:
        for _ in range(sgs_repeats):
            sgs_fn().sum().backward()

    timings = time_alternately({"backbone": lambda: backbone_fn().sum().backward(),
                                "sgs": sgs_rounds}, rounds=iters, warmup=warmup,
                               device=torch.device("cpu"))
    return timings["sgs"].median / sgs_repeats, timings["backbone"].median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=13)
    parser.add_argument("--size", type=int, default=160, help="input crop size S")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--sgs-repeats", type=int, default=5,
                        help="SGS runs per backbone run (SGS is cheap and noisier)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    args = parser.parse_args()
    torch.manual_seed(0)
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    sgs = SGS(dim_in=_STEM_WIDTH, num_bins_train=-1, num_bins_test=-1, block_length=0,
              embed_dim=8, kernel="linear", measure="magnitude", multi_bins=(),
              similarity_net="conv").train()
    res2 = torch.randn(args.batch, _STEM_WIDTH, args.frames, args.size // 4, args.size // 4,
                       requires_grad=True)
    backbone, backbone_in, backbone_name = _backbone(args.batch, args.frames, args.size)

    sgs_s, backbone_s = _time_both(lambda: sgs(res2)[0], lambda: backbone(backbone_in),
                                   args.warmup, args.iters, args.sgs_repeats)
    print(json.dumps({
        "benchmark": "sgs_overhead",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "sgs_input": list(res2.shape),
        "backbone": backbone_name,
        "backbone_input": list(backbone_in.shape),
        "iters": args.iters,
        "sgs_repeats": args.sgs_repeats,
        "sgs_fwd_bwd_median_ms": round(sgs_s * 1e3, 2),
        "backbone_fwd_bwd_median_ms": round(backbone_s * 1e3, 2),
        "ratio": round(sgs_s / backbone_s, 5),
        "target_ratio": 0.03,
    }))


if __name__ == "__main__":
    main()
