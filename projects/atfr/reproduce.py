#!/usr/bin/env python3
"""Reproduce the ATFR paper's claims in miniature on the built-in motion data set (CPU).

    python projects/atfr/reproduce.py            # everything (about an hour on 2 free cores)
    python projects/atfr/reproduce.py --quick    # baseline vs. ATFR only, 2 epochs (minutes)
    python projects/atfr/reproduce.py --only kernel embed_dim
    python projects/atfr/reproduce.py --finetune-epochs 30   # start from a trained baseline

Every run is `tools/run_net.py --cfg configs/Demo/RESNET3D18_ATFR.yaml KEY VALUE ...` in a
subprocess with its own OUTPUT_DIR under --work-dir (a finished run with the same merged
config is reused); its results are read back from OUTPUT_DIR (json_stats.log, atfr_stats_test.json).
The baseline is the same config with ATFR.ENABLED False. Writes summary.json, tables.md and
plots/*.png to --work-dir/results (or --results); only --update-results replaces the measured
results kept in the repository, projects/atfr/results.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from slowfast_atfr.utils.progress import IterationClock, eta_text  # noqa: E402

# The measured results kept in the repository; written only with --update-results.
REPO_RESULTS = os.path.join(ROOT, "projects", "atfr", "results")

CONFIG = os.path.join(ROOT, "configs", "Demo", "RESNET3D18_ATFR.yaml")
# The run configs are copied here first, so that an edit of configs/ during a long run does
# not change the later runs.
CONFIG_COPY = "configs"
MARKER = "reproduce_run.json"
# Every run saves its per-video test predictions here (TEST.SAVE_RESULTS_PATH), so that
# baseline and ATFR can be compared video by video.
PREDICTIONS = "video_predictions.pyth"

# The paper's numbers (Mini-Kinetics, 3DResNet-18+ATFR unless noted): [top-1 %, GFLOPs].
# Keys are relative settings (B = T/4 of the paper's T = 32 is B = 8), so that a row of our
# tables faces the analogous row of the paper's.
PAPER = {
    "measure": {"magnitude": [69.6, None], "angular": [68.5, None],
                "spherical": [68.7, None]},
    "kernel": {"linear": [69.6, None], "kronecker": [68.9, None]},
    "embed_dim": {"1": [67.3, None], "4": [68.4, None], "8": [69.6, None], "16": [64.7, None]},
    "bins_train": {"T/4": [64.7, 4.2], "T/2": [64.7, 5.5], "T": [69.6, 14.0]},
    "bins_test": {"T/4": [61.4, 5.0], "T/2": [64.4, 8.0], "T": [69.6, 14.0]},
    "placement": {"none": [77.9, 1.9], "stem": [77.8, 0.9], "res2": [78.0, 1.1],
                  "res3": [78.0, 1.3]},
    "frames": {"atfr T x r/2": [67.3, 14.0], "atfr T x r": [69.6, 14.0],
               "atfr 2T x r/2": [72.1, 21.1]},
}
# Ablations in the order they run (cheap test-only ones first), with their paper table.
ABLATIONS = {
    "bins_test": "Table A.4: number of bins B at test only (trained with B = T)",
    "frames": "Table 4: frames x stride changed at inference (trained with T x r)",
    "measure": "Table 1: similarity measure (angular and spherical with L = 3, the paper's "
               "4x8 and 2x4x4 bins)",
    "kernel": "Table 2: sampling kernel",
    "embed_dim": "Table 3: dimension L of the similarity space",
    "placement": "Table 6: stage after which SGS runs (paper: X3D-S on Mini-Kinetics)",
    "bins_train": "Table A.3: number of bins B, at training and test",
}


@dataclass
class Run:
    """One tools/run_net.py call: train+test, or test only with the weights of another run."""

    name: str
    overrides: List[str] = field(default_factory=list)
    weights_of: Optional[str] = None


# (setting label, run or the name of a main run to reuse, key into PAPER[ablation])
Setting = Tuple[str, Union[str, Run], str]


# With --finetune-epochs, every other training starts from this run's last checkpoint; the
# "baseline" is then this baseline trained on for as many epochs as the ATFR models, the fair
# comparison for them.
INITIAL_BASELINE = "baseline_initial"


def main_runs(finetune: bool) -> List[Run]:
    off = ["ATFR.ENABLED", "False"]
    initial = [Run(INITIAL_BASELINE, off)] if finetune else []
    return initial + [Run("baseline", off), Run("atfr")]


def _bins_settings(name: str, frames: int) -> List[Setting]:
    settings = []
    for b, rel in ((max(1, frames // 4), "T/4"), (max(1, frames // 2), "T/2"), (frames, "T")):
        if b == frames:
            run: Union[str, Run] = "atfr"
        elif name == "bins_train":
            run = Run(f"bins_train_{b}", ["ATFR.NUM_BINS_TRAIN", f"[{b}]",
                                          "ATFR.NUM_BINS_TEST", f"[{b}]"])
        else:
            run = Run(f"bins_test_{b}", ["ATFR.NUM_BINS_TEST", f"[{b}]"], weights_of="atfr")
        settings.append((f"B={b} ({rel})", run, rel))
    return settings


def _frames_settings(frames: int, rate: int) -> List[Setting]:
    half = max(1, rate // 2)
    grid = ((frames, half, "T x r/2"), (frames, rate, "T x r"), (2 * frames, half, "2T x r/2"))
    settings: List[Setting] = []
    for model in ("baseline", "atfr"):
        off = ["ATFR.ENABLED", "False"] if model == "baseline" else []
        for t, r, rel in grid:
            run: Union[str, Run] = model if (t, r) == (frames, rate) else Run(
                f"frames_{model}_{t}x{r}",
                off + ["DATA.NUM_FRAMES", str(t), "DATA.SAMPLING_RATE", str(r)], model)
            settings.append((f"{model} {t}x{r} ({rel})", run, f"{model} {rel}"))
    return settings


def ablation_settings(name: str, frames: int, rate: int) -> List[Setting]:
    """The settings of one ablation for clips of `frames` frames at stride `rate`."""
    if name in ("bins_train", "bins_test"):
        return _bins_settings(name, frames)
    if name == "frames":
        return _frames_settings(frames, rate)
    if name == "measure":
        return [("magnitude", "atfr", "magnitude")] + [
            (measure, Run(f"measure_{measure}", ["ATFR.MEASURE", measure, "ATFR.EMBED_DIM", "3"]),
             measure) for measure in ("angular", "spherical")]
    if name == "kernel":
        return [("linear", "atfr", "linear"),
                ("kronecker", Run("kernel_kronecker", ["ATFR.KERNEL", "kronecker"]), "kronecker")]
    if name == "embed_dim":
        return [(f"L={dim}", "atfr" if dim == 8 else Run(
            f"embed_dim_{dim}", ["ATFR.EMBED_DIM", str(dim)]), str(dim)) for dim in (1, 4, 8, 16)]
    return [("none", "baseline", "none"),
            ("stem", Run("placement_stem", ["ATFR.STAGE", "stem"]), "stem"),
            ("res2", "atfr", "res2"),
            ("res3", Run("placement_res3", ["ATFR.STAGE", "res3"]), "res3")]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """The arguments (default: sys.argv[1:]); copies the config into --work-dir."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="Baseline vs. ATFR only, --epochs (default 2) epochs.")
    parser.add_argument("--only", nargs="+", default=[], choices=sorted(ABLATIONS),
                        help="Run only these ablations (plus baseline and ATFR).")
    parser.add_argument("--epochs", type=int, default=None,
                        help="SOLVER.MAX_EPOCH of every training (default: the config's; "
                             "2 with --quick).")
    parser.add_argument("--finetune-epochs", type=int, default=None,
                        help="Train a baseline first (baseline_initial), then start every "
                             "other training from its last checkpoint for this many epochs: "
                             "the ATFR models (the paper's recipe for SSv2/UCF/HMDB) and, as "
                             "their fair comparison, the baseline itself. Default: all from "
                             "scratch.")
    parser.add_argument("--work-dir", default="/tmp/atfr_reproduce",
                        help="Run folders, checkpoints and the demo data set.")
    parser.add_argument("--results", default=None,
                        help="Where summary.json, tables.md and plots/ go (default: "
                             "--work-dir/results).")
    parser.add_argument("--update-results", action="store_true",
                        help=f"Write them to {os.path.relpath(REPO_RESULTS, ROOT)}/ instead, "
                             "replacing the results kept in the repository.")
    parser.add_argument("--test-videos-per-class", type=int, default=50,
                        help="test split size: 50 x 8 classes puts one video at 0.25 points "
                             "(the default demo's 10 at 1.25)")
    parser.add_argument("--extra-seeds", type=int, nargs="+", default=[],
                        help="Repeat baseline vs. ATFR with these RNG_SEEDs (in --work-dir/"
                             "seed<S>, same data) and report every seed's checks and their "
                             "mean: at this scale seeds differ by several points.")
    parser.add_argument("--bench-clips", type=int, default=32,
                        help="BENCHMARK.NUM_CLIPS of the clips/s measurement.")
    parser.add_argument("--cfg", default=CONFIG,
                        help="ATFR config of the runs (its _BASE_ is copied along).")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="KEY VALUE overrides for every run.")
    args = parser.parse_args(argv)
    if args.update_results and args.results is not None:
        parser.error("--update-results writes to the repository's results; drop --results.")
    if args.results is None:
        args.results = (REPO_RESULTS if args.update_results
                        else os.path.join(args.work_dir, "results"))
    args.config = snapshot_config(args.cfg, os.path.join(args.work_dir, CONFIG_COPY))
    args.data_dir = data_dir(args)
    if args.epochs is None and args.quick:
        args.epochs = 2
    return args


def snapshot_config(path: str, folder: str) -> str:
    """Copy `path` and its chain of _BASE_ files (same folder) into `folder`; return the copy.

    An existing copy is kept, so a resumed run uses the configs its first runs used.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Config file not found: {path}")
    os.makedirs(folder, exist_ok=True)
    source_dir, name = os.path.dirname(path), os.path.basename(path)
    while name:
        source = os.path.join(source_dir, name)
        target = os.path.join(folder, name)
        if not os.path.isfile(target):
            shutil.copy(source, target)
        with open(target) as f:
            bases = [line.split(":", 1)[1].strip() for line in f if line.startswith("_BASE_:")]
        name = os.path.basename(bases[0]) if bases else ""
    return os.path.join(folder, os.path.basename(path))


def run_digest(config: str, opts: List[str]) -> str:
    """sha256 of the config a run really uses: `config` merged with `opts`.

    With ATFR disabled the ATFR group is reset to its defaults before hashing, since it has no
    effect then: a baseline trained under one ATFR config is reused under another (for
    example the block-4 recipe after the default one) instead of being trained again.
    """
    from slowfast_atfr.config.defaults import get_cfg
    from slowfast_atfr.utils.parser import load_config

    cfg = load_config(argparse.Namespace(opts=opts), config)
    if not cfg.ATFR.ENABLED:
        cfg.ATFR = get_cfg().ATFR
    return hashlib.sha256(cfg.dump().encode()).hexdigest()


def finished_result(out: str, digest: str) -> Optional[Dict[str, Any]]:
    """The result recorded in `out` by a finished job with the same `run_digest`, else None."""
    marker = os.path.join(out, MARKER)
    if not os.path.isfile(marker):
        return None
    with open(marker) as f:
        previous = json.load(f)
    return previous["result"] if previous.get("config") == digest else None


def record_result(out: str, digest: str, opts: List[str], result: Dict[str, Any]) -> None:
    """Mark `out` finished: its overrides (for the reader), digest and result."""
    with open(os.path.join(out, MARKER), "w") as f:
        json.dump({"opts": opts, "config": digest, "result": result}, f, indent=1)


def data_dir(args: argparse.Namespace) -> str:
    """The demo data set of the runs: the default train split, a test split of
    --test-videos-per-class videos per class (its first 10 are the default demo's)."""
    return os.path.join(args.work_dir, f"demo_data_test{args.test_videos_per_class}")


def common_opts(args: argparse.Namespace) -> List[str]:
    """Overrides shared by every run: data location, no demo job, epochs."""
    opts = ["DATA.PATH_TO_DATA_DIR", args.data_dir, "DEMO.ENABLE", "False"]
    if args.epochs is not None:
        opts += ["SOLVER.MAX_EPOCH", str(args.epochs)]
    return opts + list(args.opts or [])


def last_checkpoint(output_dir: str) -> str:
    from slowfast_atfr.utils.checkpoint import get_last_checkpoint

    path = get_last_checkpoint(output_dir)
    if path is None:
        raise FileNotFoundError(f"No checkpoint in {output_dir}; did its training fail?")
    return path


def starts_from_baseline(run: Run, args: argparse.Namespace) -> bool:
    """With --finetune-epochs: every training but the initial baseline's."""
    return bool(args.finetune_epochs) and not run.weights_of and run.name != INITIAL_BASELINE


def run_opts(run: Run, args: argparse.Namespace, done: Dict[str, Dict[str, Any]]) -> List[str]:
    opts = common_opts(args) + list(run.overrides)
    if starts_from_baseline(run, args):
        opts += ["TRAIN.CHECKPOINT_FILE_PATH",
                 last_checkpoint(done[INITIAL_BASELINE]["output_dir"]),
                 "TRAIN.CHECKPOINT_EPOCH_RESET", "True",
                 "SOLVER.MAX_EPOCH", str(args.finetune_epochs)]
    if run.weights_of:
        opts += ["TRAIN.ENABLE", "False", "TEST.ENABLE", "True",
                 "TEST.CHECKPOINT_FILE_PATH", last_checkpoint(done[run.weights_of]["output_dir"])]
    return opts + ["TEST.SAVE_RESULTS_PATH", PREDICTIONS,
                   "OUTPUT_DIR", os.path.join(args.work_dir, run.name)]


def execute(run: Run, args: argparse.Namespace,
            done: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """Train and/or test one run (or reuse it when finished with the same `run_digest`)."""
    from slowfast_atfr.visualization.run_outputs import load_run

    opts = run_opts(run, args, done)
    out = opts[-1]
    digest = run_digest(args.config, opts)
    previous = finished_result(out, digest)
    if previous is not None:
        args.clock.total -= 1  # no time spent: not counted in the ETA
        print(f"[reproduce] {run.name}: reusing {out}", flush=True)
        return previous
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(args.work_dir, exist_ok=True)
    cmd = [sys.executable, os.path.join(ROOT, "tools", "run_net.py"), "--cfg", args.config, *opts]
    print(f"[reproduce] {run.name}: {' '.join(cmd[1:])}", flush=True)
    start = time.time()
    with open(os.path.join(args.work_dir, f"{run.name}.log"), "w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"Run {run.name} failed (exit {proc.returncode}); see "
                           f"{os.path.join(args.work_dir, run.name + '.log')}.")
    result = {**load_run(out, run.name), "output_dir": out, "wall_s": time.time() - start,
              "trained": not run.weights_of, "overrides": list(run.overrides)}
    args.clock.tick()
    print(f"[reproduce] {run.name}: top-1 {result['top1']}, GFLOPs {result['gflops']}, "
          f"{result['wall_s']:.0f} s; {args.clock.done} of {args.clock.total} runs trained "
          f"or tested, ETA {eta_text(args.clock.eta_seconds())}", flush=True)
    record_result(out, digest, opts, result)
    return result


def benchmark(args: argparse.Namespace, atfr: Dict[str, Any]) -> Dict[str, Any]:
    """tools/benchmark_net.py on the trained ATFR model and its twin: clips/s, memory."""
    out = os.path.join(args.work_dir, "benchmark")
    opts = [*common_opts(args), "TEST.CHECKPOINT_FILE_PATH", last_checkpoint(atfr["output_dir"]),
            "BENCHMARK.NUM_CLIPS", str(args.bench_clips), "OUTPUT_DIR", out]
    digest = run_digest(args.config, opts)
    previous = finished_result(out, digest)
    if previous is not None:
        print(f"[reproduce] benchmark: reusing {out}", flush=True)
        return previous
    cmd = [sys.executable, os.path.join(ROOT, "tools", "benchmark_net.py"), "--cfg", args.config,
           *opts]
    print(f"[reproduce] benchmark: {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Benchmark failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    record_result(out, digest, opts, result)
    return result


def sgs_figures(args: argparse.Namespace, atfr: Dict[str, Any], plots_dir: str) -> List[str]:
    """Fig. A.5 for the first test clip of the static and of the fast-motion class."""
    from slowfast_atfr.config.defaults import assert_and_infer_cfg
    from slowfast_atfr.datasets import build_dataset
    from slowfast_atfr.utils.parser import load_config
    from slowfast_atfr.visualization.sgs_maps import render_sgs_figure

    opts = common_opts(args) + ["TEST.CHECKPOINT_FILE_PATH", last_checkpoint(atfr["output_dir"])]
    cfg = assert_and_infer_cfg(load_config(argparse.Namespace(opts=opts), args.config))
    dataset = build_dataset(cfg.TEST.DATASET, cfg, "test")
    with open(os.path.join(cfg.DATA.PATH_TO_DATA_DIR, "classes.json")) as f:
        labels = json.load(f)
    paths = []
    for name in ("static", "fast_motion"):
        video = dataset.labels.index(labels[name])
        path = os.path.join(plots_dir, f"sgs_maps_{name}.png")
        paths.append(render_sgs_figure(cfg, path, video * dataset.num_clips_per_video))
    return paths


def _fmt(value: Any, spec: str = "{:.2f}") -> str:
    return "-" if value is None else spec.format(value)


def _first(value: Any) -> Optional[float]:
    """A B' value of pathway 0 (the stats hold one per pathway)."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def seed_args(args: argparse.Namespace, seed: int) -> argparse.Namespace:
    """The arguments of the repeat with RNG_SEED `seed`: own run folders, same data set."""
    return argparse.Namespace(**{**vars(args), "work_dir": os.path.join(args.work_dir,
                                                                          f"seed{seed}"),
                                 "opts": list(args.opts or []) + ["RNG_SEED", str(seed)]})


def seed_summary(runs_by_seed: Dict[str, Dict[str, Dict[str, Any]]]) -> Dict[str, Any]:
    """Each seed's checks (`targets` of its baseline and ATFR runs) and their mean."""
    per_seed = {seed: targets({"baseline": runs["baseline"], "atfr": runs["atfr"]})
                for seed, runs in runs_by_seed.items()}
    mean = {}
    for key in ("top1_gap_points", "gflops_reduction_pct", "static_mean_bprime",
                "fast_motion_mean_bprime"):
        values = [t[key] for t in per_seed.values()]
        mean[key] = None if None in values else sum(values) / len(values)
    return {"per_seed": per_seed, "mean": mean}


def top1_gap_interval(baseline: Dict[str, Any], atfr: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """ATFR's top-1 minus the baseline's with a paired bootstrap 95% interval over the test
    videos; None when a run saved no predictions."""
    import torch

    from slowfast_atfr.utils.metrics import paired_top1_gap

    preds = []
    for run in (baseline, atfr):
        path = os.path.join(run["output_dir"], PREDICTIONS)
        if not os.path.isfile(path):
            return None
        preds.append(torch.load(path, weights_only=True))
    if not (torch.equal(preds[0]["ids"], preds[1]["ids"])
            and torch.equal(preds[0]["labels"], preds[1]["labels"])):
        raise ValueError(f"{baseline['output_dir']} and {atfr['output_dir']} scored different "
                         "test videos; they cannot be compared video by video.")
    return paired_top1_gap(preds[0]["probs"], preds[1]["probs"], preds[0]["labels"])


def targets(summary: Dict[str, Any]) -> Dict[str, Any]:
    """The done-when checks: top-1 within 1 point at >= 40% fewer GFLOPs; static < fast B'.

    `top1_gap_ci95` says how far the top-1 difference can be trusted on the test split.
    """
    base, atfr = summary["baseline"], summary["atfr"]
    by_class = {k: _first(v) for k, v in (atfr.get("mean_bprime_by_class") or {}).items()}
    gap = None if None in (atfr["top1"], base["top1"]) else atfr["top1"] - base["top1"]
    saved = 100.0 * (1.0 - atfr["gflops"] / base["gflops"])
    static, fast = by_class.get("static"), by_class.get("fast_motion")
    return {"top1_gap_points": gap, "top1_within_1_point": gap is not None and gap >= -1.0,
            "top1_gap_ci95": top1_gap_interval(base, atfr),
            "gflops_reduction_pct": saved, "gflops_reduction_at_least_40pct": saved >= 40.0,
            "static_mean_bprime": static, "fast_motion_mean_bprime": fast,
            "static_below_fast_motion": None not in (static, fast) and static < fast}


def summary_tables(summary: Dict[str, Any]) -> str:
    """Markdown tables of everything the summary holds."""
    lines = ["## Baseline vs. ATFR (3DResNet-18, demo data set)", "",
             f"ATFR models trained {summary['atfr_init']}.", "",
             "| model | top-1 | top-5 | mean GFLOPs/clip | mean B' | clips/s | train s/iter "
             "| params | run wall s |", "|---|---|---|---|---|---|---|---|---|"]
    for name in ("baseline", "atfr"):
        r = summary[name]
        lines.append(f"| {name} | {_fmt(r['top1'])} | {_fmt(r['top5'])} | "
                     f"{_fmt(r['gflops'], '{:.4f}')} | {_fmt(_first(r.get('mean_bprime')))} | "
                     f"{_fmt(r['clips_per_s'], '{:.1f}')} | {_fmt(r['train_iter_s'], '{:.3f}')} "
                     f"| {r['params']:,} | {_fmt(r['wall_s'], '{:.0f}')} |")
    t = summary["targets"]
    lines += ["", f"Top-1 difference (ATFR - baseline): {_fmt(t['top1_gap_points'])} points "
              f"(target >= -1: {t['top1_within_1_point']}); GFLOPs saved: "
              f"{_fmt(t['gflops_reduction_pct'], '{:.1f}')}% (target >= 40: "
              f"{t['gflops_reduction_at_least_40pct']}); mean B' static "
              f"{_fmt(t['static_mean_bprime'])} vs. fast_motion "
              f"{_fmt(t['fast_motion_mean_bprime'])} (static lower: "
              f"{t['static_below_fast_motion']}).", ""]
    ci = t.get("top1_gap_ci95")
    if ci:
        lines += [f"Paired bootstrap 95% interval of the top-1 difference over the {ci['videos']} "
                  f"test videos: [{ci['low']:.2f}, {ci['high']:.2f}] points (one video = "
                  f"{ci['resolution']:.2f} points).", ""]
    if "seeds" in summary:
        lines += ["## Every seed (main = the config's RNG_SEED)", "",
                  "| seed | top-1 difference [95% interval] | GFLOPs saved | mean B' static / "
                  "fast_motion |", "|---|---|---|---|"]
        rows = list(summary["seeds"]["per_seed"].items()) + [("mean", summary["seeds"]["mean"])]
        for seed, c in rows:
            seed_ci = c.get("top1_gap_ci95")
            interval = f" [{seed_ci['low']:.2f}, {seed_ci['high']:.2f}]" if seed_ci else ""
            lines.append(f"| {seed} | {_fmt(c['top1_gap_points'])}{interval} | "
                         f"{_fmt(c['gflops_reduction_pct'], '{:.1f}')}% | "
                         f"{_fmt(c['static_mean_bprime'])} / "
                         f"{_fmt(c['fast_motion_mean_bprime'])} |")
        lines.append("")
    lines += ["## Mean B' per class (Table 5), lowest first", "", "| class | mean B' |",
              "|---|---|"]
    by_class = {k: _first(v) for k, v in (summary.get("mean_bprime_by_class") or {}).items()}
    for name, value in sorted(by_class.items(), key=lambda kv: kv[1]):
        lines.append(f"| {name} | {value:.2f} |")
    for ablation, title in ABLATIONS.items():
        if ablation not in summary:
            continue
        paper = PAPER[ablation]
        lines += ["", f"## {title}", "", "| setting | top-1 | mean GFLOPs/clip | mean B' | "
                  "paper top-1 | paper GFLOPs |", "|---|---|---|---|---|---|"]
        for setting, r in summary[ablation]["runs"].items():
            ref = paper.get(summary[ablation]["paper_key"][setting], [None, None])
            lines.append(f"| {setting} | {_fmt(r['top1'])} | {_fmt(r['gflops'], '{:.4f}')} | "
                         f"{_fmt(_first(r.get('mean_bprime')))} | {_fmt(ref[0], '{:.1f}')} | "
                         f"{_fmt(ref[1], '{:.1f}')} |")
    return "\n".join(lines) + "\n"


def clip_geometry(args: argparse.Namespace) -> Tuple[int, int]:
    """(DATA.NUM_FRAMES, DATA.SAMPLING_RATE) the runs train with."""
    from slowfast_atfr.utils.parser import load_config

    cfg = load_config(argparse.Namespace(opts=common_opts(args)), args.config)
    return cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE


def write_outputs(summary: Dict[str, Any], args: argparse.Namespace, start: float) -> None:
    """(Re)write summary.json, tables.md and the plots with what has run so far."""
    from slowfast_atfr.visualization.report import plot_summary

    summary["targets"] = targets(summary)
    summary["elapsed_s"] = time.time() - start
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, "summary.json")
    with open(path, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    with open(os.path.join(args.results, "tables.md"), "w") as f:
        f.write(f"Command: `{summary['command']}`\n\n" + summary_tables(summary))
    plot_summary(path, os.path.join(args.results, "plots"))


def execute_main_runs(args: argparse.Namespace, finetune: bool) -> Dict[str, Dict[str, Any]]:
    """Train and test (or reuse) the main runs: [baseline_initial,] baseline, atfr."""
    done: Dict[str, Dict[str, Any]] = {}
    for run in main_runs(finetune):
        done[run.name] = execute(run, args, done)
    return done


def run_ablation(name: str, args: argparse.Namespace,
                 done: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """Every setting of one ablation -> {"table", "runs": {setting: run}, "paper_key"}."""
    entry: Dict[str, Any] = {"table": ABLATIONS[name], "runs": {}, "paper_key": {}}
    for setting, run, paper_key in ablation_settings(name, *clip_geometry(args)):
        if isinstance(run, Run):
            done[run.name] = execute(run, args, done)
        entry["runs"][setting] = done[run if isinstance(run, str) else run.name]
        entry["paper_key"][setting] = paper_key
    return entry


def planned_runs(args: argparse.Namespace, finetune: bool, ablations: List[str]) -> int:
    """How many runs `main` will execute (reused ones included), for its ETA."""
    main = len(main_runs(finetune)) * (1 + len(args.extra_seeds))
    return main + sum(isinstance(run, Run) for name in ablations
                      for _, run, _ in ablation_settings(name, *clip_geometry(args)))


def main() -> None:
    args = parse_args()
    from slowfast_atfr.datasets.demo import ensure_demo_dataset

    start = time.time()
    ensure_demo_dataset(args.data_dir, test_videos_per_class=args.test_videos_per_class)
    finetune = bool(args.finetune_epochs)
    names = [] if args.quick else [n for n in ABLATIONS if not args.only or n in args.only]
    args.clock = IterationClock(planned_runs(args, finetune, names))
    done = execute_main_runs(args, finetune)
    bench = benchmark(args, done["atfr"])
    summary: Dict[str, Any] = {
        "command": " ".join(["python", os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
        "paper": PAPER, "benchmark": bench, "ablations_planned": names,
        "mean_bprime_by_class": done["atfr"]["mean_bprime_by_class"],
        "atfr_init": (f"from {INITIAL_BASELINE}'s last checkpoint for {args.finetune_epochs} "
                      f"epochs, like the baseline they are compared with"
                      if finetune else "from scratch"),
    }
    if finetune:
        summary[INITIAL_BASELINE] = done[INITIAL_BASELINE]
    for name in ("baseline", "atfr"):
        summary[name] = {**done[name], "clips_per_s": bench[name]["infer_clips_per_s"],
                         "train_iter_s": bench[name]["train_iter_s"],
                         "params": bench[name]["params"]}
    write_outputs(summary, args, start)
    sgs_figures(args, done["atfr"], os.path.join(args.results, "plots"))
    if args.extra_seeds:
        runs_by_seed = {"main": done}
        for seed in args.extra_seeds:
            runs_by_seed[str(seed)] = execute_main_runs(seed_args(args, seed), finetune)
        summary["seeds"] = seed_summary(runs_by_seed)
        write_outputs(summary, args, start)
    for name in names:
        summary[name] = run_ablation(name, args, done)
        write_outputs(summary, args, start)
    print(summary_tables(summary))
    print(f"[reproduce] summary.json, tables.md and plots/ are in {args.results}", flush=True)
    print(json.dumps({"targets": summary["targets"], "elapsed_s": summary["elapsed_s"]}))


if __name__ == "__main__":
    main()
