"""Does training cost follow the clips' lengths? Baseline vs ATFR training steps, one run.

For each model the ATFR config and its twin without ATFR (same weights for the shared layers)
run the trainer's own training step (`engine.train_step.TrainStep`: forward under
TRAIN.MIXED_PRECISION's autocast, loss, scaled backward, the config's gradient clipping and
optimizer) on the same batch, timed alternately (`engine.benchmark.time_alternately`). It prints

(a) flop_ratio: forward GFLOPs of the baseline's batch / ATFR's, ATFR's the sum over clips of
    `CostTable.gflops(B')` (conv + linear, the papers' count);
(b) time_ratio: median step time of the baseline / of ATFR;
(c) quotient = (b) / (a), 1 when the saved FLOPs are saved time (target >= 0.85 for the demo
    model at 80 px), and quotient_ceiling: (c) if the sampler were free and the layers after
    it took exactly their FLOP share of the time; the stages before it (and the optimizer
    step) cost both models the same;
(d) peak training memory of each model: each in a fresh process, one step after a warm-up
    step (optimizer state allocated); CPU: the resident-set high-water mark above what was
    resident before the step (Linux VmHWM), CUDA: max_memory_allocated; mem_ratio = ATFR /
    baseline (target <= 0.65), and mem_ratio_ceiling = (fixed + (baseline - fixed) *
    sum(B') / (N T)) / baseline, the fixed part being the stages before the sampler.

B' is set, not learned: an untrained sampler's B' says nothing about a trained one's. The
SGS layer runs as in training (f_s, binning, merging, their backward), but its similarity
values are a fixed pattern that gives clip i exactly B'_i bins
(`engine.benchmark.FixedLengthMeasure`; f_s's output stays in the graph with weight 0).
Default mixes, batch 8: the demo 3DResNet-18 at 80 px, T = 16 at the sampler,
B' = 3 4 4 5 5 6 7 8 (mean 5.25; an 8-epoch demo checkpoint kept 5.3 on average, 2 to 10 per
clip); X3D-S at 112 px, T = 13, B' = 3 4 5 6 6 7 7 8 (mean 5.75, i.e. the paper's 43% fewer
GFLOPs for X3D-S). Last line: one JSON object with train_quotient and train_mem_ratio (of the
first model measured) and every figure per model.

    python benchmarks/train_speed.py [--models demo x3d_s] [--iters 6] [--warmup 2]
        [--threads 0] [--amp] [--batching packed|padded] [--device cpu|cuda] [--no-memory]
"""

import argparse
import json
import os
import subprocess
import sys
from typing import Any, Dict, List

# Run from a clean checkout without installing the package.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from slowfast_atfr.config.defaults import assert_and_infer_cfg  # noqa: E402
from slowfast_atfr.config.parser import load_config, parse_args  # noqa: E402
from slowfast_atfr.engine.benchmark import (  # noqa: E402
    fix_sampler_lengths,
    peak_memory_mib,
    time_alternately,
)
from slowfast_atfr.engine.train_step import TrainStep  # noqa: E402
from slowfast_atfr.models import build_model  # noqa: E402
from slowfast_atfr.models.cost import CostTable  # noqa: E402
from slowfast_atfr.utils.cpu_allocator import retain_freed_memory  # noqa: E402

MODELS: Dict[str, Dict[str, Any]] = {
    "demo": {"name": "3DResNet-18 (demo)", "config": "configs/Demo/RESNET3D18_ATFR.yaml",
             "size": 80, "frames": 16, "lengths": [3, 4, 4, 5, 5, 6, 7, 8]},
    "x3d_s": {"name": "X3D-S", "config": "configs/Kinetics/X3D_S_ATFR.yaml",
              "size": 112, "frames": 13, "lengths": [3, 4, 5, 6, 6, 7, 7, 8]},
}
PARTS = ("baseline", "atfr", "fixed")


def _cfg(spec: Dict[str, Any], args: argparse.Namespace, atfr: bool):
    opts = ["NUM_GPUS", "1" if args.device == "cuda" else "0",
            "DATA.NUM_FRAMES", str(spec["frames"]), "DATA.TRAIN_CROP_SIZE", str(spec["size"]),
            "DATA.TEST_CROP_SIZE", str(spec["size"]),
            "TRAIN.BATCH_SIZE", str(len(spec["lengths"])),
            "TRAIN.MIXED_PRECISION", str(args.amp), "ATFR.ENABLED", str(atfr),
            "ATFR.TRAIN_BATCHING", args.batching]
    return assert_and_infer_cfg(load_config(parse_args(
        ["--cfg", os.path.join(ROOT, spec["config"]), *opts])))


def _setup(spec: Dict[str, Any], args: argparse.Namespace,
           count_flops: bool = True) -> Dict[str, Any]:
    """Both models (shared weights), their TrainSteps, one batch, the runs and (with
    `count_flops`) the ATFR model's per-length cost table."""
    device = torch.device(args.device)
    cfgs = {"atfr": _cfg(spec, args, True), "baseline": _cfg(spec, args, False)}
    torch.manual_seed(0)
    models = {name: build_model(cfg).to(device) for name, cfg in cfgs.items()}
    shared = {k: v for k, v in models["atfr"].state_dict().items() if not k.startswith("sampler.")}
    models["baseline"].load_state_dict(shared, strict=True)
    n, size = len(spec["lengths"]), spec["size"]
    shape = (3, spec["frames"], size, size)
    # Counted with the real measure: the sampler's own cost does not depend on B'.
    table = CostTable(models["atfr"], [shape], conv_linear_only=True) if count_flops else None
    fix_sampler_lengths(models["atfr"], spec["lengths"])
    gen = torch.Generator().manual_seed(0)
    xs = [torch.rand(n, *shape, generator=gen).to(device)]
    labels = (torch.arange(n) % cfgs["atfr"].MODEL.NUM_CLASSES).to(device)
    steps = {name: TrainStep.from_cfg(cfgs[name], model) for name, model in models.items()}

    def train(name: str):
        def run() -> None:
            models[name].train()
            steps[name](xs, labels)
        return run

    def fixed() -> None:
        """What both models do alike: the stages before the sampler, forward and backward,
        and the optimizer step."""
        atfr = models["atfr"].train()
        with steps["atfr"].autocast():
            feats = atfr.forward_before_sampler(xs)
        sum(f.float().sum() for f in feats).backward()
        steps["baseline"].optimizer.step()

    return {"device": device, "models": models, "xs": xs, "table": table,
            "runs": {"baseline": train("baseline"), "atfr": train("atfr"), "fixed": fixed}}


def _child_memory(args: argparse.Namespace) -> None:
    """--child-memory MODEL PART: peak memory of one run of PART in this fresh process."""
    model, part = args.child_memory
    setup = _setup(MODELS[model], args, count_flops=False)
    run = setup["runs"][part]
    run()  # warm-up: optimizer state, gradients, first-call allocations
    print(json.dumps({"peak_mib": peak_memory_mib(run, setup["device"])}))


def _memory(model: str, args: argparse.Namespace) -> Dict[str, float]:
    """Peak MiB of each part, each measured in a fresh process."""
    peaks = {}
    for part in PARTS:
        cmd = [sys.executable, os.path.abspath(__file__), "--child-memory", model, part,
               "--device", args.device, "--batching", args.batching,
               "--threads", str(args.threads)] + (["--amp"] if args.amp else []) + (
                   ["--size", str(args.size)] if args.size is not None else [])
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"memory measurement of {model}/{part} failed:\n"
                               f"{done.stderr[-3000:]}")
        peaks[part] = json.loads(done.stdout.strip().splitlines()[-1])["peak_mib"]
    return peaks


def measure(model: str, args: argparse.Namespace) -> Dict[str, Any]:
    spec = MODELS[model]
    setup = _setup(spec, args)
    device, atfr = setup["device"], setup["models"]["atfr"]
    lengths, table = spec["lengths"], setup["table"]
    n = len(lengths)
    flops_atfr = sum(table.gflops((b,)) for b in lengths)
    flop_ratio = table.baseline_gflops() * n / flops_atfr
    after_ratio = table.after_sampler_gflops() * n / sum(
        table.after_sampler_gflops((b,)) for b in lengths)
    retain = args.retain_memory and device.type == "cpu"
    with retain_freed_memory(retain) as retained:
        timings = time_alternately(setup["runs"], rounds=args.iters, warmup=args.warmup,
                                   device=device)
    atfr(setup["xs"])  # B' as set by the measure, checked
    got = atfr.temporal_lengths[:, 0].tolist()
    if got != lengths:
        raise RuntimeError(f"the sampler kept {got} maps, not --lengths {lengths}")
    base_s, atfr_s, fixed_s = (timings[p].median for p in PARTS)
    time_ratio = base_s / atfr_s
    ideal = fixed_s + (base_s - fixed_s) / after_ratio
    result: Dict[str, Any] = {
        "model": spec["name"], "config": spec["config"], "size": spec["size"],
        "frames": spec["frames"], "batch": n, "lengths": lengths,
        "t_at_sampler": table.full_lengths[0], "mean_bprime": sum(lengths) / n,
        "gflops_per_clip": {"baseline": table.baseline_gflops(), "atfr": flops_atfr / n},
        "timings": {p: timings[p].summary() for p in PARTS},
        "retained_freed_memory": retained,
        "flop_ratio": flop_ratio, "time_ratio": time_ratio,
        "quotient": time_ratio / flop_ratio,
        "after_sampler_flop_ratio": after_ratio,
        "fixed_time_share": fixed_s / base_s,
        "quotient_ceiling": base_s / ideal / flop_ratio,
    }
    if args.memory:
        peaks = _memory(model, args)
        frames = sum(lengths) / (n * table.full_lengths[0])
        result.update({
            "peak_mib": peaks, "mem_ratio": peaks["atfr"] / peaks["baseline"],
            "mem_ratio_ceiling": (peaks["fixed"] + (peaks["baseline"] - peaks["fixed"])
                                  * frames) / peaks["baseline"],
        })
    return result


def _print(result: Dict[str, Any]) -> None:
    t = result["timings"]
    print(f"{result['model']} ({result['size']} px, batch {result['batch']}, B' "
          f"{result['lengths']} of {result['t_at_sampler']}): step "
          f"{t['baseline']['median_s']:.3f} s baseline / {t['atfr']['median_s']:.3f} s ATFR "
          f"(spread {t['baseline']['spread']:.2f} / {t['atfr']['spread']:.2f}); FLOP ratio "
          f"{result['flop_ratio']:.3f}, time ratio {result['time_ratio']:.3f}, quotient "
          f"{result['quotient']:.3f} (ceiling {result['quotient_ceiling']:.3f})")
    if "peak_mib" in result:
        p = result["peak_mib"]
        print(f"  peak training memory: {p['baseline']:.0f} MiB baseline / {p['atfr']:.0f} MiB "
              f"ATFR = {result['mem_ratio']:.3f} (ceiling {result['mem_ratio_ceiling']:.3f}; "
              f"stages before the sampler {p['fixed']:.0f} MiB)")


def _parse(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["demo", "x3d_s"], choices=list(MODELS))
    parser.add_argument("--iters", type=int, default=6, help="timed rounds per model")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    parser.add_argument("--amp", action="store_true", help="TRAIN.MIXED_PRECISION True")
    parser.add_argument("--batching", default="packed", choices=["packed", "padded"],
                        help="ATFR.TRAIN_BATCHING")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--size", type=int, default=None, help="override every model's crop")
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="skip the peak-memory processes")
    parser.add_argument("--no-retain-memory", dest="retain_memory", action="store_false",
                        help="time with glibc's default malloc settings")
    parser.add_argument("--child-memory", nargs=2, metavar=("MODEL", "PART"),
                        help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: List[str]) -> None:
    args = _parse(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.size is not None:
        for spec in MODELS.values():
            spec["size"] = args.size
    if args.child_memory:
        _child_memory(args)
        return
    results = {}
    for model in args.models:
        results[model] = measure(model, args)
        _print(results[model])
    first = results[args.models[0]]
    print(json.dumps({
        "benchmark": "train_speed", "device": args.device, "threads": torch.get_num_threads(),
        "amp": args.amp, "batching": args.batching, "primary_model": args.models[0],
        "train_quotient": first["quotient"], "train_mem_ratio": first.get("mem_ratio"),
        "models": results,
    }))


if __name__ == "__main__":
    main(sys.argv[1:])
