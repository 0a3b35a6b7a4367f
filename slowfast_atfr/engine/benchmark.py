"""Cost of a model with and without ATFR, measured in one run (the paper's App. B).

The configured model ("atfr": ATFR.ENABLED True) and its twin ("baseline": the same config
with ATFR.ENABLED False) are measured side by side on the same real clips of the test split:

- mean GFLOPs per clip: exact per clip via `CostTable` (fvcore, one multiply-add = one FLOP,
  convolutions/linear layers only, as the published tables), over BENCHMARK.NUM_CLIPS clips;
- parameters;
- inference clips/s: eval, no grad, batch BENCHMARK.BATCH_SIZE, after
  BENCHMARK.WARMUP_ITERS batches; the two models are timed alternately (`time_alternately`,
  the timing core the scripts in benchmarks/ share), so that load from other processes hits
  both alike, in `ROUNDS` rounds: every figure is the median, with the min-max over the
  rounds next to it, and each speed-up has the min-max of its per-round ratios; with
  BENCHMARK.OPTIMIZE_FOR_INFERENCE both are first rewritten by `optimize_for_inference`
  (BatchNorm folded, channels-last kernels on CPU), as a deployment would;
- training iteration time: the trainer's own step (`engine.train_step.TrainStep`: autocast
  under TRAIN.MIXED_PRECISION, loss, scaled backward, clipping, the configured optimizer)
  on the same batches, timed the same way;
- on CPU with BENCHMARK.RETAIN_FREED_MEMORY, both timings run inside
  `cpu_allocator.retain_freed_memory` (glibc reuses freed activations instead of mapping
  and page-faulting them in again every batch, as jemalloc or tcmalloc would);
- peak memory of one inference batch and one training iteration, on top of what was alive
  before it (weights, inputs): on CUDA `torch.cuda.max_memory_allocated`; on CPU the
  process's peak resident set (Linux VmHWM, reset through /proc/self/clear_refs after
  `malloc_trim`), which is approximate (the allocator's own caching counts too); where
  VmHWM cannot be reset, the `ru_maxrss` growth, a lower bound.

The ATFR model gets the weights a test run would load (TEST.CHECKPOINT_FILE_PATH, else
OUTPUT_DIR's newest checkpoint, else TRAIN.CHECKPOINT_FILE_PATH). B', and so the GFLOPs and
speed of ATFR, depend on them: when none of these holds sampler weights (no checkpoint, or a
baseline's), the headline says that the sampler is untrained and its B' unrepresentative.
The baseline's cost does not depend on its weights.
"""

import gc
import json
import math
import os
import resource
import statistics
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from fvcore.common.config import CfgNode

from slowfast_atfr.checkpoint import load_test_checkpoint
from slowfast_atfr.checkpoint.load import SAMPLER_PREFIX
from slowfast_atfr.datasets import build_dataset
from slowfast_atfr.engine.train_step import TrainStep
from slowfast_atfr.evaluation.atfr_meter import bprime_histogram
from slowfast_atfr.models import build_model
from slowfast_atfr.models.atfr.sgs import SGS
from slowfast_atfr.models.cost import CostTable, params_count
from slowfast_atfr.models.inference_rewrite import optimize_for_inference
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import logging, misc
from slowfast_atfr.utils.cpu_allocator import retain_freed_memory, return_freed_memory

logger = logging.get_logger(__name__)

Batch = Tuple[List[torch.Tensor], torch.Tensor]
VARIANTS = (("baseline", False), ("atfr", True))
# Timed rounds per model. Odd: the ratio of two medians then lies within the per-round ratios.
ROUNDS = 5


def load_clips(cfg: CfgNode, num_clips: int) -> List[Tuple[List[torch.Tensor], int]]:
    """Up to `num_clips` decoded test clips, spread over the test split (so over classes).

    Returns:
        [(frames: one [C, T, H, W] tensor per pathway, label)]; clips of videos that could
        not be decoded (meta["valid"] False) are left out.
    """
    dataset = build_dataset(cfg.TEST.DATASET, cfg, "test")
    clips = []
    for index in misc.spread_indices(num_clips, len(dataset)):
        frames, label, _, meta = dataset[index]
        if meta.get("valid", True):
            clips.append((frames, int(label)))
    if not clips:
        raise ValueError(f"No decodable clip in the test split of {cfg.DATA.PATH_TO_DATA_DIR!r}.")
    return clips


def make_batches(clips: Sequence[Tuple[List[torch.Tensor], int]], batch_size: int,
                 device: torch.device) -> List[Batch]:
    """Consecutive batches of `batch_size` clips: ([N, C, T, H, W] per pathway, labels [N])."""
    if batch_size < 1:
        raise ValueError(f"BENCHMARK.BATCH_SIZE={batch_size} must be >= 1.")
    batches = []
    for start in range(0, len(clips), batch_size):
        chunk = clips[start:start + batch_size]
        inputs = [torch.stack([c[0][p] for c in chunk]).to(device)
                  for p in range(len(chunk[0][0]))]
        batches.append((inputs, torch.tensor([c[1] for c in chunk], device=device)))
    return batches


def _cycle(batches: Sequence[Batch], count: int) -> List[Batch]:
    return [batches[i % len(batches)] for i in range(count)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def _reset_cpu_peak() -> bool:
    """Return freed heap to the OS and reset VmHWM; False where that is not possible."""
    gc.collect()
    if not return_freed_memory():
        return False
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def memory_method(device: torch.device) -> str:
    """How `peak_memory_mib` measures on `device` (recorded in the results)."""
    if device.type == "cuda":
        return "cuda_max_memory_allocated"
    return "linux_vmhwm" if _reset_cpu_peak() else "ru_maxrss_growth"


def peak_memory_mib(fn: Callable[[], Any], device: torch.device) -> float:
    """Peak memory (MiB) that `fn()` needs on top of what is alive before it."""
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = torch.cuda.memory_allocated(device)
        fn()
        _sync(device)
        return (torch.cuda.max_memory_allocated(device) - start) / 2**20
    if _reset_cpu_peak():
        start = _proc_status_kib("VmRSS")
        fn()
        return max(0, _proc_status_kib("VmHWM") - start) / 1024
    start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn()
    return max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - start) / 1024


def measure_gflops(model: torch.nn.Module, batches: Sequence[Batch]) -> Dict[str, Any]:
    """Exact GFLOPs of every clip (eval) and, with a sampler, its B' per pathway (mean and
    histogram) and T per pathway at the sampler ("full_lengths")."""
    shapes = [tuple(x.shape[1:]) for x in batches[0][0]]
    table = CostTable(model, shapes, conv_linear_only=True)
    per_clip: List[float] = []
    lengths: List[List[int]] = []
    model.eval()
    with torch.no_grad():
        for inputs, _ in batches:
            model(inputs)
            rows = model.temporal_lengths
            if rows is None:
                per_clip.extend([table.gflops()] * inputs[0].shape[0])
                continue
            for row in rows.tolist():
                lengths.append(row)
                per_clip.append(table.gflops(row))
    result: Dict[str, Any] = {
        "gflops": sum(per_clip) / len(per_clip), "gflops_min": min(per_clip),
        "gflops_max": max(per_clip), "full_length_gflops": table.baseline_gflops(),
    }
    if lengths:
        per_pathway = list(zip(*lengths))
        result["full_lengths"] = list(table.full_lengths)
        result["mean_bprime"] = [sum(v) / len(v) for v in per_pathway]
        result["bprime_histogram"] = bprime_histogram(torch.tensor(lengths))
    return result


class Timing:
    """Seconds of repeated runs of one thing: median and spread."""
    def __init__(self, seconds: Sequence[float]) -> None:
        if not seconds:
            raise ValueError("Timing needs at least one measured run.")
        self.seconds = list(seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def spread(self) -> float:
        """(max - min) / median of the runs."""
        return (max(self.seconds) - min(self.seconds)) / self.median

    def summary(self) -> Dict[str, Any]:
        return {"median_s": self.median, "min_s": min(self.seconds),
                "max_s": max(self.seconds), "spread": self.spread, "runs": len(self.seconds),
                "seconds": self.seconds}


def time_alternately(runs: Dict[str, Callable[[], Any]], *, rounds: int, warmup: int,
                     device: torch.device) -> Dict[str, Timing]:
    """Time every run once per round, alternating between them, after `warmup` rounds.

    The timing core of `tools/benchmark_net.py` and `benchmarks/`: alternating makes load
    from other processes hit every side alike, and several rounds give a median and a spread.
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(f"rounds={rounds} must be >= 1 and warmup={warmup} >= 0.")
    seconds: Dict[str, List[float]] = {name: [] for name in runs}
    for round_index in range(warmup + rounds):
        for name, run in runs.items():
            _sync(device)
            start = time.perf_counter()
            run()
            _sync(device)
            if round_index >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return {name: Timing(values) for name, values in seconds.items()}


class FixedLengthMeasure:
    """Similarity values that make an SGS layer keep exactly lengths[i] maps of clip i.

    Clip i's T frames get lengths[i] evenly spaced levels in frame order, so they fall into
    lengths[i] distinct bins of B = T. The layer's own f_s output z stays in the graph with
    weight 0, so f_s, the binning and the merge run (and backpropagate) as in training. For
    benchmarks whose B' must not depend on untrained weights.
    """
    def __init__(self, lengths: Sequence[int]) -> None:
        self.lengths = list(lengths)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        n, t = z.shape[0], z.shape[1]
        if n != len(self.lengths) or not all(1 <= v <= t for v in self.lengths):
            raise ValueError(f"lengths {self.lengths} need {n} values in [1, {t}] (a batch of "
                             f"{n} clips with T = {t} at the sampler).")
        steps = torch.arange(t, device=z.device)
        levels = torch.stack([1 + torch.div(steps * length, t, rounding_mode="floor")
                              for length in self.lengths])
        return levels.to(z.dtype) + 0.0 * z.sum(dim=-1)


def fix_sampler_lengths(model: torch.nn.Module, lengths: Sequence[int]) -> int:
    """Give every SGS sampler of `model` a FixedLengthMeasure; returns how many it changed."""
    samplers = [s for s in (du.unwrap_model(model).sampler or []) if isinstance(s, SGS)]
    for sampler in samplers:
        sampler.measure = FixedLengthMeasure(lengths)
    return len(samplers)


def inference_pass(model: torch.nn.Module, batches: Sequence[Batch]) -> Callable[[], None]:
    """One eval forward over every batch, without gradients."""
    def run() -> None:
        model.eval()
        with torch.no_grad():
            for inputs, _ in batches:
                model(inputs)

    return run


def train_step_fn(model: torch.nn.Module, cfg: CfgNode) -> Callable[[Batch], None]:
    """One training iteration as the trainer runs it (engine.train_step.TrainStep: forward
    under TRAIN.MIXED_PRECISION's autocast, loss, scaled backward, SOLVER.CLIP_GRAD_*,
    optimizer step), as a function of a batch."""
    step = TrainStep.from_cfg(cfg, model)

    def run(batch: Batch) -> None:
        model.train()
        step(*batch)

    return run


def training_pass(step: Callable[[Batch], None], batches: Sequence[Batch]) -> Callable[[], None]:
    """One training iteration per batch."""
    def run() -> None:
        for batch in batches:
            step(batch)

    return run


def _sampler_state(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if k.startswith(SAMPLER_PREFIX)}


def build_variants(cfg: CfgNode) -> Tuple[Dict[str, Tuple[CfgNode, torch.nn.Module]],
                                          Optional[str], bool]:
    """({"baseline": (cfg, model) with ATFR.ENABLED False, "atfr": (cfg, model) with True},
    the checkpoint the ATFR model was loaded from or None, whether it set the sampler).

    The ATFR model gets the weights a test run would use (TEST.CHECKPOINT_FILE_PATH, else
    OUTPUT_DIR's newest checkpoint, else TRAIN.CHECKPOINT_FILE_PATH): its B', and so its
    cost, depends on them. The sampler counts as trained when a checkpoint was loaded and
    changed its weights (a sampler without weights: when a checkpoint was loaded); a
    baseline's checkpoint leaves it at its initialisation. The baseline's cost does not
    depend on its weights.
    """
    variants, checkpoint, trained = {}, None, False
    for name, enabled in VARIANTS:
        variant = cfg.clone()
        variant.defrost()
        variant.ATFR.ENABLED = enabled
        torch.manual_seed(cfg.RNG_SEED)
        model = build_model(variant)
        if enabled:
            fresh = _sampler_state(model)
            checkpoint = load_test_checkpoint(cfg, model)
            loaded = _sampler_state(model)
            trained = checkpoint is not None and (
                not fresh or any(not torch.equal(v, loaded[k]) for k, v in fresh.items()))
        variants[name] = (variant, model)
    return variants, checkpoint, trained


def _inference_model(model: torch.nn.Module, optimize: bool,
                     device: torch.device) -> torch.nn.Module:
    """The eval-mode model that inference is timed on."""
    if not optimize:
        return model.eval()
    return optimize_for_inference(model, channels_last=device.type == "cpu")


def _warm_then_time(make_pass: Callable, runners: Dict[str, Any], batches: Sequence[Batch],
                    bench: CfgNode, device: torch.device) -> Tuple[Dict[str, Timing], bool]:
    """Warm each runner up on BENCHMARK.WARMUP_ITERS batches (first-call allocations,
    optimizer state), then time `make_pass(runner, batches)` of all alternately.

    Returns:
        ({name: Timing}, whether freed memory was retained).
    """
    with retain_freed_memory(bench.RETAIN_FREED_MEMORY and device.type == "cpu") as retained:
        for runner in runners.values():
            make_pass(runner, _cycle(batches, bench.WARMUP_ITERS))()
        timings = time_alternately({name: make_pass(runner, batches)
                                    for name, runner in runners.items()},
                                   rounds=ROUNDS, warmup=0, device=device)
    return timings, retained


def _time_inference(models: Dict[str, torch.nn.Module], batches: Sequence[Batch],
                    bench: CfgNode, device: torch.device,
                    results: Dict[str, Dict[str, Any]]) -> bool:
    """Time both models' inference alternately into `results`; True if memory was retained."""
    clips = sum(b[1].shape[0] for b in batches)
    timings, retained = _warm_then_time(inference_pass, models, batches, bench, device)
    for name, timing in timings.items():
        results[name]["infer_clips_per_s"] = clips / timing.median
        results[name]["infer_clips_per_s_range"] = [clips / max(timing.seconds),
                                                    clips / min(timing.seconds)]
        results[name]["infer_timing"] = timing.summary()
        with torch.no_grad():
            results[name]["infer_peak_mem_mib"] = peak_memory_mib(
                lambda m=models[name]: m(batches[0][0]), device)
    return retained


def _time_training(steps: Dict[str, Callable[[Batch], None]], batches: Sequence[Batch],
                   bench: CfgNode, device: torch.device,
                   results: Dict[str, Dict[str, Any]]) -> None:
    """Time both models' training iterations alternately into `results`."""
    timings, _ = _warm_then_time(training_pass, steps, batches, bench, device)
    for name, timing in timings.items():
        results[name]["train_iter_s"] = timing.median / len(batches)
        results[name]["train_iter_s_range"] = [min(timing.seconds) / len(batches),
                                               max(timing.seconds) / len(batches)]
        results[name]["train_timing"] = timing.summary()
        results[name]["train_peak_mem_mib"] = peak_memory_mib(
            lambda s=steps[name]: s(batches[0]), device)


def benchmark_pair(cfg: CfgNode) -> Dict[str, Any]:
    """Measure the configured model with and without ATFR on the same clips, in one run.

    Returns:
        {"headline", "sampler_trained", "checkpoint", "rounds", "device", "memory_method",
         "num_clips", "batch_size", "input_shapes", "baseline": {...}, "atfr": {...},
         "ratios": {...}}; each model's dict has params, gflops (mean per clip),
         gflops_min/max, full_length_gflops, infer_clips_per_s and train_iter_s (medians
         over ROUNDS rounds) with their *_range (min, max) and *_timing (every round),
         infer_peak_mem_mib, train_peak_mem_mib and, for ATFR, mean_bprime,
         bprime_histogram and full_lengths (T per pathway at the sampler).
    """
    device = du.device_of(cfg)
    bench = cfg.BENCHMARK
    if bench.NUM_CLIPS < 1 or bench.WARMUP_ITERS < 0:
        raise ValueError(f"BENCHMARK.NUM_CLIPS={bench.NUM_CLIPS} must be >= 1 and "
                         f"BENCHMARK.WARMUP_ITERS={bench.WARMUP_ITERS} >= 0.")
    batches = make_batches(load_clips(cfg, bench.NUM_CLIPS), bench.BATCH_SIZE, device)
    variants, checkpoint, trained = build_variants(cfg)
    results = {}
    for name, (_, model) in variants.items():
        logger.info("Counting per-clip GFLOPs of %s.", name)
        results[name] = {"params": params_count(model), **measure_gflops(model, batches)}
    retained = _time_inference(
        {name: _inference_model(model, bench.OPTIMIZE_FOR_INFERENCE, device)
         for name, (_, model) in variants.items()}, batches, bench, device, results)
    _time_training({name: train_step_fn(model, variant)
                    for name, (variant, model) in variants.items()},
                   batches, bench, device, results)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "torch_threads": torch.get_num_threads(),
        "memory_method": memory_method(device),
        "num_clips": sum(b[1].shape[0] for b in batches),
        "batch_size": bench.BATCH_SIZE,
        "rounds": ROUNDS,
        "optimized_for_inference": bench.OPTIMIZE_FOR_INFERENCE,
        "retained_freed_memory": retained,
        "input_shapes": [list(x.shape[1:]) for x in batches[0][0]],
        "checkpoint": checkpoint,
        "sampler_trained": trained,
        **results,
        "ratios": ratios(results["baseline"], results["atfr"]),
    }
    result["headline"] = headline(result)
    return result


def _round_ratios(baseline: Dict[str, Any], atfr: Dict[str, Any], timing: str) -> List[float]:
    """Baseline seconds / ATFR seconds of each round of `timing` (both ran the same work in
    the same round, alternately)."""
    return [b / a for b, a in zip(baseline[timing]["seconds"], atfr[timing]["seconds"])]


def ratios(baseline: Dict[str, Any], atfr: Dict[str, Any]) -> Dict[str, Any]:
    """ATFR relative to the baseline: GFLOPs saved (%), speed-ups (ratio of the medians, and
    the min-max of the per-round ratios) and memory ratios."""
    def div(a: float, b: float) -> float:
        return a / b if b else math.nan

    infer, train = (_round_ratios(baseline, atfr, k) for k in ("infer_timing", "train_timing"))
    return {
        "gflops_reduction_pct": 100.0 * (1.0 - div(atfr["gflops"], baseline["gflops"])),
        "infer_speedup": div(atfr["infer_clips_per_s"], baseline["infer_clips_per_s"]),
        "infer_speedup_range": [min(infer), max(infer)],
        "train_speedup": div(baseline["train_iter_s"], atfr["train_iter_s"]),
        "train_speedup_range": [min(train), max(train)],
        "infer_mem_ratio": div(atfr["infer_peak_mem_mib"], baseline["infer_peak_mem_mib"]),
        "train_mem_ratio": div(atfr["train_peak_mem_mib"], baseline["train_peak_mem_mib"]),
        "extra_params": atfr["params"] - baseline["params"],
    }


def headline(result: Dict[str, Any]) -> str:
    """One line: the speed-ups with their spread and the GFLOPs saved, and, first, a warning
    when the sampler is untrained (then B', GFLOPs and speed-ups say nothing about ATFR)."""
    r, atfr = result["ratios"], result["atfr"]
    bprime = ""
    if "mean_bprime" in atfr:
        bprime = (f" (mean B' {[round(v, 2) for v in atfr['mean_bprime']]} of T = "
                  f"{atfr['full_lengths']})")
    text = (f"+ATFR vs. baseline, median of {result['rounds']} alternating rounds (min-max of "
            f"the per-round ratios): inference {r['infer_speedup']:.2f}x the clips/s "
            f"({r['infer_speedup_range'][0]:.2f}-{r['infer_speedup_range'][1]:.2f}x), "
            f"training {r['train_speedup']:.2f}x the iterations/s "
            f"({r['train_speedup_range'][0]:.2f}-{r['train_speedup_range'][1]:.2f}x); "
            f"{r['gflops_reduction_pct']:.1f}% fewer mean GFLOPs per clip{bprime}.")
    if result["sampler_trained"]:
        return text
    return ("UNTRAINED SAMPLER: no checkpoint with sampler weights was found "
            "(TEST.CHECKPOINT_FILE_PATH, OUTPUT_DIR, TRAIN.CHECKPOINT_FILE_PATH), so B' comes "
            "from random weights and is not representative of a trained model, nor are the "
            "GFLOPs and speed-ups. " + text)


# (label, key, format, key of the (min, max) over the timed rounds or None).
_ROWS = (
    ("parameters", "params", "{:,}", None),
    ("mean GFLOPs per clip", "gflops", "{:.4g}", None),
    ("GFLOPs min / max", None, None, None),
    ("inference clips/s", "infer_clips_per_s", "{:.2f}", "infer_clips_per_s_range"),
    ("training s/iteration", "train_iter_s", "{:.3f}", "train_iter_s_range"),
    ("peak memory, inference batch (MiB)", "infer_peak_mem_mib", "{:.1f}", None),
    ("peak memory, training iteration (MiB)", "train_peak_mem_mib", "{:.1f}", None),
)


def _cell(metrics: Dict[str, Any], key: str, fmt: str, range_key: Optional[str]) -> str:
    text = fmt.format(metrics[key])
    if range_key is None:
        return text
    low, high = metrics[range_key]
    return f"{text} ({fmt.format(low)}-{fmt.format(high)})"


def to_markdown(result: Dict[str, Any]) -> str:
    """The headline, then a markdown table: baseline, +ATFR and their ratio per metric."""
    weights = result["checkpoint"] or "random (no checkpoint found)"
    if result["checkpoint"] and not result["sampler_trained"]:
        weights += " (no sampler weights in it: the sampler is random)"
    lines = [f"**{result['headline']}**", "",
             f"Device: {result['device']} ({result['torch_threads']} threads); "
             f"{result['num_clips']} test clips of shape {result['input_shapes']}, batch "
             f"{result['batch_size']}; memory: {result['memory_method']}; inference "
             f"{'optimized' if result['optimized_for_inference'] else 'as built'}; freed "
             f"memory {'retained' if result['retained_freed_memory'] else 'returned'} "
             f"while timing; timings: median (min-max) of {result['rounds']} alternating "
             f"rounds. ATFR weights: {weights}.", "",
             "| metric | baseline | +ATFR | ATFR / baseline |", "|---|---|---|---|"]
    base, atfr = result["baseline"], result["atfr"]
    for label, key, fmt, range_key in _ROWS:
        if key is None:
            cells = [f"{m['gflops_min']:.4g} / {m['gflops_max']:.4g}" for m in (base, atfr)]
            lines.append(f"| {label} | {cells[0]} | {cells[1]} | |")
            continue
        ratio = atfr[key] / base[key] if base[key] else math.nan
        lines.append(f"| {label} | {_cell(base, key, fmt, range_key)} | "
                     f"{_cell(atfr, key, fmt, range_key)} | {ratio:.3f} |")
    if "mean_bprime" in atfr:
        lines.append(f"| mean B' per pathway | T = {atfr['full_lengths']} | "
                     f"{[round(v, 2) for v in atfr['mean_bprime']]} | |")
    return "\n".join(lines) + "\n"


def write_results(result: Dict[str, Any], output_dir: str) -> Tuple[str, str]:
    """Write OUTPUT_DIR/benchmark.json and OUTPUT_DIR/benchmark.md; return both paths."""
    os.makedirs(output_dir, exist_ok=True)
    json_path = os.path.join(output_dir, "benchmark.json")
    md_path = os.path.join(output_dir, "benchmark.md")
    with open(json_path, "w") as f:
        json.dump(result, f, indent=2, sort_keys=True)
    with open(md_path, "w") as f:
        f.write(to_markdown(result))
    logger.info("Benchmark written to %s and %s:\n%s", json_path, md_path, to_markdown(result))
    return json_path, md_path


def run_benchmark(cfg: CfgNode) -> Dict[str, Any]:
    """`tools/benchmark_net.py`: set up logging, benchmark, write OUTPUT_DIR/benchmark.*."""
    logging.setup_logging(cfg.OUTPUT_DIR)
    result = benchmark_pair(cfg)
    write_results(result, cfg.OUTPUT_DIR)
    if not result["sampler_trained"]:
        logger.warning("%s", result["headline"])
    return result
