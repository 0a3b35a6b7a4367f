"""Do fewer GFLOPs become less wall-clock in inference? An ATFR model vs its twin, one CPU run.

The model is X3D-S+ATFR (`--config` picks another ATFR config; its twin is the same config
with ATFR.ENABLED False), with identical weights for the shared layers.

A batch mixes static clips (one random texture repeated: identical frames) and moving clips
(the texture shifted a few pixels per frame, plus noise). In eval mode it prints
(a) flop_ratio = batch GFLOPs of the baseline / batch GFLOPs of ATFR, where ATFR's is the
    sum over clips of `CostTable.gflops(B' of the clip)` (conv + linear, the papers' count);
(b) time_ratio = median forward time of the baseline (the non-ATFR twin, i.e. every clip
    at full T, with the ATFR model's weights) / median forward time of ATFR, timed
    alternately in the same run after warm-up;
(c) quotient = time_ratio / flop_ratio (target >= 0.9: the saved FLOPs are saved time).
It also prints quotient_ceiling: the quotient if the sampler cost nothing and the layers
after it took exactly their FLOP share of the time. The stages before the sampler run in
both models; where they take a larger share of the time than of the FLOPs, the ceiling is
below 1 whatever ATFR does.
The same three figures for the layers after the sampler alone (res3..head at full T vs the
sampled clips, run as ATFR.EVAL_BATCHING says: `--batching grouped|packed|padded`) isolate
what the variable-length handling controls: on CPU the stem and res2 (depthwise convs, batch
norm at high resolution) take a larger share of the time than of the FLOPs, which lowers the
whole-model quotient. The two models and the two layer stacks are timed alternately by the
timing core of tools/benchmark_net.py (`engine.benchmark.time_alternately`).
Both models are timed after `optimize_for_inference` (BatchNorm folded into the
convolutions, channels-last tensors, every convolution through oneDNN with its ReLU fused),
the CPU deployment form; --no-optimize times them as built. The timing runs inside
`retain_freed_memory` (glibc keeps freed activations for reuse instead of unmapping them and
page-faulting them in again on the next forward, as jemalloc/tcmalloc would);
--no-retain-memory keeps glibc's defaults. --layer-times also times each layer before the
sampler (forward hooks, a separate pass) and prints the convolutions' GMAC/s: where the
fixed stages spend the time that lowers the ceiling.
An untrained SGS gives B' from its random similarity network; --measure and --bins
(ATFR.NUM_BINS_TEST) change how many frames it keeps, to show how time follows B'; --lengths
sets B' per clip instead (`engine.benchmark.FixedLengthMeasure`).
Last line: one JSON object.

    python benchmarks/varlen_speed.py [--config configs/Kinetics/X3D_S_ATFR.yaml] [--size 160]
        [--frames 13] [--batch 8] [--iters 5] [--static 4] [--measure magnitude] [--bins -1]
        [--lengths B' ...] [--batching grouped] [--threads 0] [--no-optimize]
        [--no-retain-memory] [--layer-times]
"""

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any, Dict, List, Tuple

# Run from a clean checkout without installing the package.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from slowfast_atfr.config.defaults import assert_and_infer_cfg  # noqa: E402
from slowfast_atfr.config.parser import load_config, parse_args  # noqa: E402
from slowfast_atfr.engine.benchmark import fix_sampler_lengths, time_alternately  # noqa: E402
from slowfast_atfr.models import build_model, varlen  # noqa: E402
from slowfast_atfr.models.cost import CostTable  # noqa: E402
from slowfast_atfr.models.inference_rewrite import optimize_for_inference  # noqa: E402
from slowfast_atfr.utils.cpu_allocator import retain_freed_memory  # noqa: E402


def _models(args: argparse.Namespace) -> Tuple[torch.nn.Module, torch.nn.Module]:
    """(the ATFR model, its twin without ATFR) in eval mode with identical shared weights."""
    opts = ["NUM_GPUS", "0", "DATA.NUM_FRAMES", str(args.frames),
            "DATA.TRAIN_CROP_SIZE", str(args.size), "DATA.TEST_CROP_SIZE", str(args.size),
            "ATFR.MEASURE", args.measure, "ATFR.NUM_BINS_TEST", f"[{args.bins}]",
            "ATFR.EVAL_BATCHING", args.batching]
    torch.manual_seed(args.seed)
    cfgs = [assert_and_infer_cfg(load_config(parse_args(
        ["--cfg", os.path.join(ROOT, args.config), *opts, "ATFR.ENABLED", str(enabled)])))
        for enabled in (True, False)]
    atfr, baseline = build_model(cfgs[0]).eval(), build_model(cfgs[1]).eval()
    weights = {k: v for k, v in atfr.state_dict().items() if not k.startswith("sampler.")}
    baseline.load_state_dict(weights, strict=True)
    return atfr, baseline


def _batch(args: argparse.Namespace) -> List[torch.Tensor]:
    """[N, 3, T, S, S]: `static` clips of identical frames, then moving textures."""
    gen = torch.Generator().manual_seed(args.seed)
    s, t = args.size, args.frames
    clips = []
    for i in range(args.batch):
        texture = torch.rand(3, s, s + 4 * t, generator=gen)
        if i < args.static:
            clips.append(texture[:, None, :, :s].expand(3, t, s, s))
        else:
            shifted = torch.stack([texture[:, :, 4 * k:4 * k + s] for k in range(t)], dim=1)
            clips.append(shifted + 0.1 * torch.rand(3, t, s, s, generator=gen))
    return [torch.stack(clips)]


def _timings(atfr, baseline, xs, args) -> Dict[str, float]:
    """Median seconds per batch of both models, whole and after the sampler, alternately."""
    feats = atfr.forward_before_sampler(xs)
    sampled, lengths = atfr.sample(feats)
    runs = {
        "baseline": lambda: baseline(xs),
        "atfr": lambda: atfr(xs),
        # The same layers (res3..head) on every clip at full T vs on the sampled clips.
        "after_full": lambda: atfr.forward_after_sampler(feats),
        "after_sampled": lambda: varlen.RUNS[args.batching](atfr.forward_after_sampler, sampled,
                                                      lengths),
    }
    timings = time_alternately(runs, rounds=args.iters, warmup=args.warmup,
                               device=torch.device("cpu"))
    return {name: timing.median for name, timing in timings.items()}


def _conv_macs(module: torch.nn.Module, out: torch.Tensor) -> int:
    """Multiply-adds of a convolution's forward that produced `out` (0 for other layers)."""
    if not isinstance(module, torch.nn.Conv3d):
        return 0
    kernel = module.kernel_size[0] * module.kernel_size[1] * module.kernel_size[2]
    return out.numel() * module.in_channels // module.groups * kernel


def _layer_times(model, xs, args) -> List[Dict[str, Any]]:
    """Median ms per batch and GMAC/s of every leaf layer run before the sampler."""
    starts: Dict[str, float] = {}
    times: Dict[str, List[float]] = {}
    macs: Dict[str, int] = {}

    def before(name):
        def hook(module, inputs):
            starts[name] = time.perf_counter()
        return hook

    def after(name):
        def hook(module, inputs, out):
            times.setdefault(name, []).append(time.perf_counter() - starts[name])
            macs[name] = _conv_macs(module, out)
        return hook

    handles = []
    for name, module in model.named_modules():
        if next(module.children(), None) is None:
            handles += [module.register_forward_pre_hook(before(name)),
                        module.register_forward_hook(after(name))]
    for i in range(args.warmup + args.iters):
        if i == args.warmup:
            times.clear()
        model.forward_before_sampler(xs)
    for handle in handles:
        handle.remove()
    rows = []
    for name, values in times.items():
        seconds = statistics.median(values)
        rows.append({"layer": name, "ms": round(1e3 * seconds, 2),
                     "gmac_per_s": round(macs[name] / seconds / 1e9, 1) if macs[name] else None})
    return rows


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/Kinetics/X3D_S_ATFR.yaml",
                        help="an ATFR config, relative to the repository")
    parser.add_argument("--size", type=int, default=160, help="crop size S (X3D-S: 160)")
    parser.add_argument("--frames", type=int, default=13, help="frames T (X3D-S: 13)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--static", type=int, default=None, help="static clips (batch // 2)")
    parser.add_argument("--iters", type=int, default=5, help="timed iterations per model")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--measure", default="magnitude", help="ATFR.MEASURE")
    parser.add_argument("--bins", type=int, default=-1, help="ATFR.NUM_BINS_TEST (-1 = T)")
    parser.add_argument("--lengths", type=int, nargs="+", default=None,
                        help="B' of each clip (one per clip of --batch) instead of the measure's")
    parser.add_argument("--batching", default="grouped", choices=sorted(varlen.RUNS),
                        help="ATFR.EVAL_BATCHING of the ATFR model")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-optimize", dest="optimize", action="store_false",
                        help="time the models as built, without optimize_for_inference")
    parser.add_argument("--no-retain-memory", dest="retain_memory", action="store_false",
                        help="time with glibc's default malloc settings")
    parser.add_argument("--layer-times", action="store_true",
                        help="also time each layer before the sampler (a separate pass)")
    args = parser.parse_args()
    args.static = args.batch // 2 if args.static is None else args.static
    return args


def main() -> None:
    args = _parse()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    atfr, baseline = _models(args)
    xs = _batch(args)
    with torch.inference_mode():
        table = CostTable(atfr, [xs[0].shape[1:]], conv_linear_only=True)
        if args.lengths:  # after the table: it runs the sampler on one clip
            fix_sampler_lengths(atfr, args.lengths)
        if args.optimize:
            atfr, baseline = optimize_for_inference(atfr), optimize_for_inference(baseline)
            xs = [x.contiguous(memory_format=torch.channels_last_3d) for x in xs]
        atfr(xs)
        lengths = [int(v) for v in atfr.temporal_lengths[:, 0]]
        with retain_freed_memory(args.retain_memory) as retained:
            seconds = _timings(atfr, baseline, xs, args)
            layers = _layer_times(atfr, xs, args) if args.layer_times else None
    n = len(lengths)
    flops = {
        "whole": table.baseline_gflops() * n / sum(table.gflops((b,)) for b in lengths),
        "after": table.after_sampler_gflops() * n / sum(
            table.after_sampler_gflops((b,)) for b in lengths),
    }
    speed = {"whole": seconds["baseline"] / seconds["atfr"],
             "after": seconds["after_full"] / seconds["after_sampled"]}
    # The stages before the sampler take the same time in both models. Were the sampler free
    # and the layers after it exactly as fast as their FLOPs, ATFR would take this long:
    fixed = seconds["baseline"] - seconds["after_full"]
    ideal_atfr = fixed + seconds["after_full"] / flops["after"]
    ceiling = seconds["baseline"] / ideal_atfr / flops["whole"]
    result = {
        "benchmark": "varlen_speed", "config": args.config, "device": "cpu",
        "batching": args.batching,
        "threads": torch.get_num_threads(), "optimized": args.optimize,
        "retained_freed_memory": retained, "batch": n,
        "static_clips": args.static,
        "frames": args.frames, "size": args.size, "measure": args.measure, "bins": args.bins,
        "t_at_sampler": table.full_lengths[0], "lengths": lengths,
        "gflops_baseline_per_clip": round(table.baseline_gflops(), 4),
        "gflops_atfr_mean": round(sum(table.gflops((b,)) for b in lengths) / n, 4),
        "seconds": {k: round(v, 6) for k, v in seconds.items()},
        "flop_ratio": round(flops["whole"], 4), "time_ratio": round(speed["whole"], 4),
        "quotient": round(speed["whole"] / flops["whole"], 4),
        "after_sampler_flop_ratio": round(flops["after"], 4),
        "after_sampler_time_ratio": round(speed["after"], 4),
        "after_sampler_quotient": round(speed["after"] / flops["after"], 4),
        "fixed_stages_time_share": round(fixed / seconds["baseline"], 4),
        "fixed_stages_flop_share": round(1 - table.after_sampler_gflops()
                                         / table.baseline_gflops(), 4),
        "quotient_ceiling": round(ceiling, 4),
    }
    if layers is not None:
        result["fixed_stage_layers"] = layers
        for row in layers:
            if row["ms"] >= 0.1:  # the folded norms and fused ReLUs left as no-ops are skipped
                rate = f"{row['gmac_per_s']:7.1f} GMAC/s" if row["gmac_per_s"] else ""
                print(f"{row['layer']:45s} {row['ms']:8.2f} ms {rate}")
        print(f"layers before the sampler: {sum(row['ms'] for row in layers):.1f} ms of "
              f"{1e3 * fixed:.1f} ms (the rest: SE pooling, residual adds, calls)")
    print(f"B' per clip (T = {table.full_lengths[0]} at the sampler): {lengths}")
    for part, label in (("whole", "whole model"), ("after", "layers after the sampler")):
        print(f"{label}: (a) FLOP ratio baseline/ATFR {flops[part]:.3f}, (b) wall-clock ratio "
              f"{speed[part]:.3f}, (c) quotient (b)/(a) {speed[part] / flops[part]:.3f}")
    print(f"stem..{atfr.sampler_stage}: {100 * result['fixed_stages_time_share']:.0f}% of the "
          f"baseline's time for {100 * result['fixed_stages_flop_share']:.0f}% of its FLOPs; "
          f"with a free sampler and exact scaling after it the quotient would be {ceiling:.3f}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
