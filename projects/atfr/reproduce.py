#!/usr/bin/env python3
"""Reproduce the ATFR paper's claims in miniature on a built-in data set (CPU).

    python projects/atfr/reproduce.py            # everything (about an hour on 2 free cores)
    python projects/atfr/reproduce.py --quick    # baseline vs. ATFR only, 2 epochs (minutes)
    python projects/atfr/reproduce.py --only kernel embed_dim
    python projects/atfr/reproduce.py --finetune-epochs 30   # start from a trained baseline
    python projects/atfr/reproduce.py --dataset kinetics_like --quick --epochs 36 \
        --extra-seeds 1 2                         # the appearance-defined miniature
    python projects/atfr/reproduce.py --quick --epochs 12 --extra-seeds 1 2 --factors

Every run is `tools/run_net.py --cfg configs/Demo/RESNET3D18_ATFR.yaml KEY VALUE ...` in a
subprocess with its own OUTPUT_DIR under --work-dir (a finished run with the same merged
config is reused); its results are read back from OUTPUT_DIR (json_stats.log, atfr_stats_test.json).
The baseline is the same config with ATFR.ENABLED False. Writes summary.json, tables.md and
plots/*.png to --work-dir/results (or --results); only --update-results replaces the measured
results kept in the repository, projects/atfr/results. The motion data set (default) is the
SSv2 end of the paper (classes defined by motion), the Kinetics-like miniature its Kinetics
end (classes defined by what is shown, clips from still shots to fast pans): its results go
to the "kinetics_like" entry of the same summary.json, tables_kinetics_like.md and
plots/kinetics_like/.
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
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
from slowfast_atfr.utils.progress import IterationClock, eta_text  # noqa: E402

# The measured results kept in the repository; written only with --update-results.
REPO_RESULTS = os.path.join(ROOT, "projects", "atfr", "results")

CONFIG = os.path.join(ROOT, "configs", "Demo", "RESNET3D18_ATFR.yaml")
KINETICS_LIKE = "kinetics_like"


@dataclass(frozen=True)
class DataSet:
    """A built-in data set the runs train on, and the groups its B' check compares."""

    config: str
    folder: str  # data folder under --work-dir, before "_test<N>"
    test_videos_per_class: int
    still: str  # the group that should keep the fewest maps ...
    moving: str  # ... and the one that should keep the most
    ordered: Tuple[str, ...] = ()  # groups whose mean B' should rise in this order


DATASETS = {
    "motion": DataSet(CONFIG, "demo_data", 50, "static", "fast_motion"),
    KINETICS_LIKE: DataSet(os.path.join(ROOT, "configs", "Demo",
                                        "KINETICS_LIKE_RESNET3D18_ATFR.yaml"),
                           "kinetics_like_data", 30, "static", "fast",
                           ("static", "slow", "fast")),
}
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
    # Another checkout whose tools/run_net.py runs this (e.g. a worktree of an earlier commit).
    code: Optional[str] = None


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


FACTORS_TITLE = ("Why ATFR trails its baseline from scratch: one factor at a time against the "
                 "reference ATFR run, every seed")


FACTORS = ("input_grad", "before_relu", "measure", "bins_train")


def factor_settings(frames: int, earlier_code: Optional[str],
                    names: Sequence[str] = FACTORS) -> List[Tuple[str, Union[str, Run]]]:
    """The reference ATFR run and one change each of the FACTORS in `names` (--factors); with
    `earlier_code`, the same ATFR run trained by that checkout (e.g. the commit before a
    change of the SGS layer)."""
    half = max(1, frames // 2)
    changes = {
        "input_grad": ("f_s input with gradient (SIMILARITY_INPUT_GRAD True)",
                       Run("factor_input_grad", ["ATFR.SIMILARITY_INPUT_GRAD", "True"])),
        "before_relu": ("SGS input before res2's last ReLU (INPUT_BEFORE_RELU True)",
                        Run("factor_before_relu", ["ATFR.INPUT_BEFORE_RELU", "True"])),
        "measure": ("angular measure, L = 3",
                    Run("measure_angular", ["ATFR.MEASURE", "angular", "ATFR.EMBED_DIM", "3"])),
        "bins_train": (f"B = {half} (T/2) at training, B = T at test",
                       Run(f"factor_bins_train_{half}", ["ATFR.NUM_BINS_TRAIN", f"[{half}]"])),
    }
    settings: List[Tuple[str, Union[str, Run]]] = [
        ("reference: f_s input detached, after res2's ReLU, magnitude, B = T", "atfr")]
    settings += [changes[name] for name in FACTORS if name in names]
    if earlier_code:
        settings.append((f"reference trained by the code of {code_version(earlier_code)[:12]}",
                         Run("factor_earlier_code", code=earlier_code)))
    return settings


def code_version(checkout: str) -> str:
    """The git commit of `checkout` (its absolute path when it is no git checkout)."""
    proc = subprocess.run(["git", "-C", checkout, "rev-parse", "HEAD"], capture_output=True,
                          text=True)
    return proc.stdout.strip() if proc.returncode == 0 else os.path.abspath(checkout)


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
    parser.add_argument("--dataset", default="motion", choices=sorted(DATASETS),
                        help="motion: the motion demo (classes defined by motion, the SSv2 end "
                             "of the paper); kinetics_like: the photo miniature (classes defined "
                             "by what is shown, clips from still shots to fast pans; needs "
                             "scikit-image).")
    parser.add_argument("--factors", nargs="*", default=None, choices=FACTORS,
                        help="Also train the reference ATFR run with one factor changed at a "
                             "time (default: all of them: f_s input gradient, pre-ReLU input, "
                             "angular measure, B = T/2 at training), for the main seed and "
                             "every --extra-seeds.")
    parser.add_argument("--earlier-code", default=None, metavar="CHECKOUT",
                        help="With --factors: also train the reference ATFR run with this "
                             "checkout's tools/run_net.py (e.g. `git worktree add` of the "
                             "commit before a change), same config and data.")
    parser.add_argument("--work-dir", default="/tmp/atfr_reproduce",
                        help="Run folders, checkpoints and the demo data set.")
    parser.add_argument("--results", default=None,
                        help="Where summary.json, tables.md and plots/ go (default: "
                             "--work-dir/results).")
    parser.add_argument("--update-results", action="store_true",
                        help=f"Write them to {os.path.relpath(REPO_RESULTS, ROOT)}/ instead, "
                             "replacing the results kept in the repository.")
    parser.add_argument("--test-videos-per-class", type=int, default=None,
                        help="test split size (default 50 for motion: 50 x 8 classes puts one "
                             "video at 0.25 points, the default demo's 10 at 1.25; 30 for "
                             "kinetics_like: 0.28 points)")
    parser.add_argument("--extra-seeds", type=int, nargs="+", default=[],
                        help="Repeat baseline vs. ATFR with these RNG_SEEDs (in --work-dir/"
                             "seed<S>, same data) and report every seed's checks and their "
                             "mean: at this scale seeds differ by several points.")
    parser.add_argument("--bench-clips", type=int, default=32,
                        help="BENCHMARK.NUM_CLIPS of the clips/s measurement.")
    parser.add_argument("--cfg", default=None,
                        help="ATFR config of the runs (its _BASE_ is copied along); default "
                             "configs/Demo/RESNET3D18_ATFR.yaml, or KINETICS_LIKE_RESNET3D18_"
                             "ATFR.yaml with --dataset kinetics_like.")
    parser.add_argument("opts", nargs=argparse.REMAINDER,
                        help="KEY VALUE overrides for every run.")
    args = parser.parse_args(argv)
    if args.update_results and args.results is not None:
        parser.error("--update-results writes to the repository's results; drop --results.")
    if args.earlier_code and args.factors is None:
        parser.error("--earlier-code adds a row to the --factors table; add --factors.")
    if args.earlier_code and not os.path.isfile(
            os.path.join(args.earlier_code, "tools", "run_net.py")):
        parser.error(f"--earlier-code {args.earlier_code}: no tools/run_net.py there; give the "
                     "root of a checkout (e.g. made with `git worktree add DIR COMMIT`).")
    dataset = DATASETS[args.dataset]
    args.work_dir = os.path.abspath(args.work_dir)
    args.cfg = args.cfg or dataset.config
    if args.test_videos_per_class is None:
        args.test_videos_per_class = dataset.test_videos_per_class
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
    from slowfast_atfr.config.parser import load_config

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
    """The data set of the runs: the default train split, a test split of
    --test-videos-per-class videos per class (for the motion demo, its first 10 are the
    default demo's)."""
    folder = DATASETS[args.dataset].folder
    return os.path.join(args.work_dir, f"{folder}_test{args.test_videos_per_class}")


def ensure_data(args: argparse.Namespace) -> None:
    """Write the data set of the runs unless its lists exist."""
    if args.dataset != KINETICS_LIKE:
        from slowfast_atfr.datasets.demo import ensure_demo_dataset

        ensure_demo_dataset(args.data_dir, test_videos_per_class=args.test_videos_per_class)
    elif not os.path.isfile(os.path.join(args.data_dir, "test.csv")):
        from slowfast_atfr.datasets.kinetics_like import make_kinetics_like_dataset

        make_kinetics_like_dataset(args.data_dir,
                                   test_videos_per_class=args.test_videos_per_class)


def test_videos(folder: str) -> List[str]:
    """The paths of test.csv in `folder`, in list order (the videos' ids)."""
    with open(os.path.join(folder, "test.csv")) as f:
        return [line.split()[0] for line in f if line.strip()]


def motion_levels(folder: str) -> Dict[str, str]:
    """{video path as in the lists: motion level} of a Kinetics-like data set."""
    with open(os.path.join(folder, "motion_levels.json")) as f:
        return json.load(f)


def by_motion_level(run: Dict[str, Any], folder: str) -> Dict[str, Dict[str, Any]]:
    """A run's test results per motion level, from its saved predictions:
    {"top1_by_motion": {level: top-1}} and, for an ATFR run, "mean_bprime_by_motion":
    {level: mean B' per pathway}; {} when the run saved no predictions."""
    import torch

    path = os.path.join(run["output_dir"], PREDICTIONS)
    if not os.path.isfile(path):
        return {}
    preds = torch.load(path, weights_only=True)
    levels, videos = motion_levels(folder), test_videos(folder)
    of_video = [levels[videos[v]] for v in preds["ids"].tolist()]
    correct = (preds["probs"].argmax(1) == preds["labels"]).double()
    result: Dict[str, Dict[str, Any]] = {"top1_by_motion": {}}
    if run.get("atfr") and "bprime" in preds:
        result["mean_bprime_by_motion"] = {}
    for level in sorted(set(of_video)):
        rows = torch.tensor([name == level for name in of_video])
        result["top1_by_motion"][level] = 100.0 * float(correct[rows].mean())
        if "mean_bprime_by_motion" in result:
            result["mean_bprime_by_motion"][level] = preds["bprime"][rows].mean(0).tolist()
    return result


def common_opts(args: argparse.Namespace) -> List[str]:
    """Overrides shared by every run: data location, no demo job, epochs."""
    opts = ["DATA.PATH_TO_DATA_DIR", args.data_dir, "DEMO.ENABLE", "False"]
    if args.epochs is not None:
        opts += ["SOLVER.MAX_EPOCH", str(args.epochs)]
    return opts + list(args.opts or [])


def last_checkpoint(output_dir: str) -> str:
    from slowfast_atfr.checkpoint import get_last_checkpoint

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
    if run.code:
        digest = hashlib.sha256(f"{digest} {code_version(run.code)}".encode()).hexdigest()
    previous = finished_result(out, digest)
    if previous is not None:
        args.clock.total -= 1  # no time spent: not counted in the ETA
        print(f"[reproduce] {run.name}: reusing {out}", flush=True)
        return with_motion_levels(previous, args)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(args.work_dir, exist_ok=True)
    code = run.code or ROOT
    cmd = [sys.executable, os.path.join(code, "tools", "run_net.py"), "--cfg", args.config, *opts]
    print(f"[reproduce] {run.name}: {' '.join(cmd[1:])}", flush=True)
    start = time.time()
    with open(os.path.join(args.work_dir, f"{run.name}.log"), "w") as log:
        proc = subprocess.run(cmd, cwd=code, stdout=log, stderr=subprocess.STDOUT)
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
    return with_motion_levels(result, args)


def with_motion_levels(result: Dict[str, Any], args: argparse.Namespace) -> Dict[str, Any]:
    """`result` plus its `by_motion_level` results on the Kinetics-like miniature."""
    if args.dataset != KINETICS_LIKE:
        return result
    return {**result, **by_motion_level(result, args.data_dir)}


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
    """Fig. A.5 for the first test clip of the static and of the fast-motion class (the
    static and the fast motion level on the Kinetics-like miniature)."""
    from slowfast_atfr.config.defaults import assert_and_infer_cfg
    from slowfast_atfr.config.parser import load_config
    from slowfast_atfr.datasets import build_dataset
    from slowfast_atfr.visualization.sgs_maps import render_sgs_figure

    opts = common_opts(args) + ["TEST.CHECKPOINT_FILE_PATH", last_checkpoint(atfr["output_dir"])]
    cfg = assert_and_infer_cfg(load_config(argparse.Namespace(opts=opts), args.config))
    dataset = build_dataset(cfg.TEST.DATASET, cfg, "test")
    data = DATASETS[args.dataset]
    if args.dataset == KINETICS_LIKE:
        levels = motion_levels(args.data_dir)
        group_of_video = [levels[v] for v in test_videos(args.data_dir)]
    else:
        with open(os.path.join(cfg.DATA.PATH_TO_DATA_DIR, "classes.json")) as f:
            names = {index: name for name, index in json.load(f).items()}
        group_of_video = [names[label] for label in dataset.labels]
    paths = []
    for name in (data.still, data.moving):
        video = group_of_video.index(name)
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


def _mean(values: List[Any]) -> Optional[float]:
    return None if not values or None in values else sum(values) / len(values)


def seed_summary(runs_by_seed: Dict[str, Dict[str, Dict[str, Any]]],
                 dataset: str) -> Dict[str, Any]:
    """Each seed's checks (`targets` of its baseline and ATFR runs) and their mean, with the
    paired interval of the mean top-1 difference (`pooled_top1_gap_interval`)."""
    per_seed = {}
    for seed, runs in runs_by_seed.items():
        checks = targets({"baseline": runs["baseline"], "atfr": runs["atfr"]}, dataset)
        checks.update(baseline_top1=runs["baseline"]["top1"], atfr_top1=runs["atfr"]["top1"])
        if runs["atfr"].get("mean_bprime_by_motion"):
            checks["mean_bprime_by_motion"] = runs["atfr"]["mean_bprime_by_motion"]
        per_seed[seed] = checks
    mean: Dict[str, Any] = {}
    for key in ("top1_gap_points", "gflops_reduction_pct", "static_mean_bprime",
                "fast_motion_mean_bprime"):
        mean[key] = _mean([t[key] for t in per_seed.values()])
    for name in ("baseline", "atfr"):
        mean[f"{name}_top1"] = _mean([runs[name]["top1"] for runs in runs_by_seed.values()])
    mean["top1_gap_ci95"] = pooled_top1_gap_interval(
        [(runs["baseline"], runs["atfr"]) for runs in runs_by_seed.values()])
    gap = mean["top1_gap_points"]
    mean["top1_within_1_point"] = gap is not None and gap >= -1.0
    by_motion = [runs["atfr"].get("mean_bprime_by_motion") for runs in runs_by_seed.values()]
    if all(by_motion):
        mean["mean_bprime_by_motion"] = {
            level: [_mean([b[level][p] for b in by_motion]) for p in range(len(values))]
            for level, values in by_motion[0].items()}
        mean.update(bprime_order_check(mean["mean_bprime_by_motion"], dataset))
    for name in ("baseline", "atfr"):
        top1 = [runs[name].get("top1_by_motion") for runs in runs_by_seed.values()]
        if all(top1):
            mean.setdefault("top1_by_motion", {})[name] = {
                level: _mean([t[level] for t in top1]) for level in top1[0]}
    return {"per_seed": per_seed, "mean": mean}


def _paired_predictions(baseline: Dict[str, Any], atfr: Dict[str, Any]) -> Optional[List[Any]]:
    """[baseline probs, ATFR probs, labels] of the same test videos; None when a run saved
    no predictions."""
    import torch

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
    return [preds[0]["probs"], preds[1]["probs"], preds[0]["labels"]]


def top1_gap_interval(baseline: Dict[str, Any], atfr: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """ATFR's top-1 minus the baseline's with a paired bootstrap 95% interval over the test
    videos (one pair of `pooled_top1_gap_interval`); None when a run saved no predictions."""
    return pooled_top1_gap_interval([(baseline, atfr)])


def pooled_top1_gap_interval(pairs: List[Tuple[Dict[str, Any], Dict[str, Any]]],
                             ) -> Optional[Dict[str, Any]]:
    """The mean over seeds of (ATFR - baseline) top-1, with a paired bootstrap 95% interval
    over the test videos, each video with its result in every seed (`paired_top1_gap` of
    the seeds' predictions stacked). It covers the sampling of the test videos, not what
    another set of seeds would give. None when a run saved no predictions."""
    import torch

    from slowfast_atfr.evaluation.metrics import paired_top1_gap

    loaded = [_paired_predictions(baseline, atfr) for baseline, atfr in pairs]
    if not loaded or any(p is None for p in loaded):
        return None
    base, atfr, labels = zip(*loaded)
    if any(not torch.equal(labels[0], other) for other in labels[1:]):
        raise ValueError("The seeds' runs scored different test videos; they cannot be "
                         "averaged video by video.")
    return paired_top1_gap(torch.stack(base), torch.stack(atfr), labels[0])


def bprime_order_check(by_group: Dict[str, Any], dataset: str) -> Dict[str, Any]:
    """{"bprime_ordered": mean B' rising along the data set's ordered groups} (Kinetics-like:
    static < slow < fast); empty for a data set without such an order."""
    order = DATASETS[dataset].ordered
    if not order:
        return {}
    values = [_first(by_group.get(group)) for group in order]
    rising = None not in values and all(a < b for a, b in zip(values, values[1:]))
    return {"bprime_ordered": rising, "bprime_order": list(order)}


def targets(summary: Dict[str, Any], dataset: str = "motion") -> Dict[str, Any]:
    """The done-when checks: top-1 within 1 point at >= 40% fewer GFLOPs; static < fast B'
    (the motion data set's static and fast_motion classes; the Kinetics-like miniature's
    static and fast motion levels, and static < slow < fast).

    `top1_gap_ci95` says how far the top-1 difference can be trusted on the test split.
    """
    base, atfr = summary["baseline"], summary["atfr"]
    data = DATASETS[dataset]
    groups = atfr.get("mean_bprime_by_motion" if data.ordered else "mean_bprime_by_class")
    groups = {k: _first(v) for k, v in (groups or {}).items()}
    gap = None if None in (atfr["top1"], base["top1"]) else atfr["top1"] - base["top1"]
    saved = 100.0 * (1.0 - atfr["gflops"] / base["gflops"])
    static, fast = groups.get(data.still), groups.get(data.moving)
    return {"top1_gap_points": gap, "top1_within_1_point": gap is not None and gap >= -1.0,
            "top1_gap_ci95": top1_gap_interval(base, atfr),
            "gflops_reduction_pct": saved, "gflops_reduction_at_least_40pct": saved >= 40.0,
            "static_mean_bprime": static, "fast_motion_mean_bprime": fast,
            "static_below_fast_motion": None not in (static, fast) and static < fast,
            **bprime_order_check(groups, dataset)}


def _interval(ci: Optional[Dict[str, Any]]) -> str:
    return f" [{ci['low']:.2f}, {ci['high']:.2f}]" if ci else ""


def factor_tables(entry: Dict[str, Any]) -> List[str]:
    """The --factors table: mean over seeds, paired intervals, each seed's difference."""
    lines = ["", f"## {entry['table']}", "",
             "Top-1 differences in points, mean over the seeds with the paired bootstrap 95% "
             "interval over the test videos (each with its result in every seed); per seed: "
             "the difference to that seed's baseline.",
             "", "| setting | mean top-1 | vs. baseline | vs. reference ATFR | mean GFLOPs/clip "
             "| mean B' | per seed vs. baseline |", "|---|---|---|---|---|---|---|"]
    def gap(ci: Optional[Dict[str, Any]]) -> str:
        return _fmt(ci and ci["gap"]) + _interval(ci)

    for setting, row in entry["settings"].items():
        mean = row["mean"]
        seeds = ", ".join(f"{seed}: {_fmt(r['gap_vs_baseline'] and r['gap_vs_baseline']['gap'])}"
                          for seed, r in row["per_seed"].items())
        lines.append(f"| {setting} | {_fmt(mean['top1'])} | {gap(mean['gap_vs_baseline'])} | "
                     f"{gap(mean['gap_vs_reference'])} | {_fmt(mean['gflops'], '{:.4f}')} | "
                     f"{_fmt(mean['mean_bprime'])} | {seeds} |")
    return lines


def summary_tables(summary: Dict[str, Any]) -> str:
    """Markdown tables of everything the summary holds."""
    data_set = ("Kinetics-like miniature" if summary.get("dataset") == KINETICS_LIKE
                else "motion demo data set")
    lines = [f"## Baseline vs. ATFR (3DResNet-18, {data_set})", "",
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
    moving = DATASETS[summary.get("dataset", "motion")].moving
    lines += ["", f"Top-1 difference (ATFR - baseline): {_fmt(t['top1_gap_points'])} points "
              f"(target >= -1: {t['top1_within_1_point']}); GFLOPs saved: "
              f"{_fmt(t['gflops_reduction_pct'], '{:.1f}')}% (target >= 40: "
              f"{t['gflops_reduction_at_least_40pct']}); mean B' static "
              f"{_fmt(t['static_mean_bprime'])} vs. {moving} "
              f"{_fmt(t['fast_motion_mean_bprime'])} (static lower: "
              f"{t['static_below_fast_motion']})"
              + (f"; B' rising along {' < '.join(t['bprime_order'])}: {t['bprime_ordered']}"
                 if "bprime_order" in t else "") + ".", ""]
    ci = t.get("top1_gap_ci95")
    if ci:
        lines += [f"Paired bootstrap 95% interval of the top-1 difference over the {ci['videos']} "
                  f"test videos: [{ci['low']:.2f}, {ci['high']:.2f}] points (one video = "
                  f"{ci['resolution']:.2f} points).", ""]
    if "seeds" in summary:
        rows = list(summary["seeds"]["per_seed"].items()) + [("mean", summary["seeds"]["mean"])]
        order = rows[0][1].get("bprime_order")
        lines += ["## Every seed (main = the config's RNG_SEED)", "",
                  "| seed | baseline top-1 | ATFR top-1 | top-1 difference [95% interval] "
                  f"| GFLOPs saved | mean B' static / {moving} |"
                  + (f" B' rising {' < '.join(order)} |" if order else ""),
                  "|---|---|---|---|---|---|" + ("---|" if order else "")]
        for seed, c in rows:
            interval = _interval(c.get("top1_gap_ci95"))
            lines.append(f"| {seed} | {_fmt(c.get('baseline_top1'))} | {_fmt(c.get('atfr_top1'))} "
                         f"| {_fmt(c['top1_gap_points'])}{interval} | "
                         f"{_fmt(c['gflops_reduction_pct'], '{:.1f}')}% | "
                         f"{_fmt(c['static_mean_bprime'])} / "
                         f"{_fmt(c['fast_motion_mean_bprime'])} |"
                         + (f" {c.get('bprime_ordered', '-')} |" if order else ""))
        mean_ci = summary["seeds"]["mean"].get("top1_gap_ci95")
        if mean_ci:
            lines += ["", f"The mean's paired bootstrap 95% interval over the {mean_ci['videos']} "
                      f"test videos, each with its result in all {mean_ci['pairs']} seeds: "
                      f"[{mean_ci['low']:.2f}, {mean_ci['high']:.2f}] points."]
        lines.append("")
    lines += ["## Mean B' per class (Table 5), lowest first", "", "| class | mean B' |",
              "|---|---|"]
    by_class = {k: _first(v) for k, v in (summary["atfr"].get("mean_bprime_by_class")
                                          or {}).items()}
    for name, value in sorted(by_class.items(), key=lambda kv: kv[1]):
        lines.append(f"| {name} | {value:.2f} |")
    by_motion = {k: _first(v) for k, v in (summary["atfr"].get("mean_bprime_by_motion")
                                           or {}).items()}
    if by_motion:
        top1 = {name: summary[name].get("top1_by_motion") or {} for name in ("baseline", "atfr")}
        seeds = summary.get("seeds", {}).get("mean", {})
        seeds_bprime = {k: _first(v) for k, v in seeds.get("mean_bprime_by_motion", {}).items()}
        seeds_top1 = seeds.get("top1_by_motion", {})
        lines += ["", "## Per motion level, lowest mean B' first", "",
                  "| motion level | mean B' | baseline top-1 | ATFR top-1 |"
                  + (" seeds' mean: B' | baseline | ATFR |" if seeds_bprime else ""),
                  "|---|---|---|---|" + ("---|---|---|" if seeds_bprime else "")]
        for level, value in sorted(by_motion.items(), key=lambda kv: kv[1]):
            lines.append(f"| {level} | {value:.2f} | {_fmt(top1['baseline'].get(level))} | "
                         f"{_fmt(top1['atfr'].get(level))} |"
                         + (f" {_fmt(seeds_bprime.get(level))} | "
                            f"{_fmt(seeds_top1.get('baseline', {}).get(level))} | "
                            f"{_fmt(seeds_top1.get('atfr', {}).get(level))} |"
                            if seeds_bprime else ""))
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
    if "factors" in summary:
        lines += factor_tables(summary["factors"])
    return "\n".join(lines) + "\n"


def clip_geometry(args: argparse.Namespace) -> Tuple[int, int]:
    """(DATA.NUM_FRAMES, DATA.SAMPLING_RATE) the runs train with."""
    from slowfast_atfr.config.parser import load_config

    cfg = load_config(argparse.Namespace(opts=common_opts(args)), args.config)
    return cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE


def results_paths(args: argparse.Namespace) -> Tuple[str, str]:
    """(tables file, plots folder) of the runs' data set under --results."""
    if args.dataset == KINETICS_LIKE:
        return (os.path.join(args.results, f"tables_{KINETICS_LIKE}.md"),
                os.path.join(args.results, "plots", KINETICS_LIKE))
    return os.path.join(args.results, "tables.md"), os.path.join(args.results, "plots")


def write_outputs(summary: Dict[str, Any], args: argparse.Namespace, start: float) -> None:
    """(Re)write summary.json, the tables and the plots with what has run so far.

    The motion data set's summary is summary.json itself; the Kinetics-like one is its
    "kinetics_like" entry. Each keeps the other's results already in the file.
    """
    from slowfast_atfr.visualization.report import plot_summary

    summary["targets"] = targets(summary, args.dataset)
    summary["elapsed_s"] = time.time() - start
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, "summary.json")
    previous: Dict[str, Any] = {}
    if os.path.isfile(path):
        with open(path) as f:
            previous = json.load(f)
    if args.dataset == KINETICS_LIKE:
        whole = {**previous, KINETICS_LIKE: summary}
    else:
        whole = {**summary, **{k: v for k, v in previous.items() if k == KINETICS_LIKE}}
    with open(path + ".tmp", "w") as f:
        json.dump(whole, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)
    tables, plots_dir = results_paths(args)
    with open(tables, "w") as f:
        f.write(f"Command: `{summary['command']}`\n\n" + summary_tables(summary))
    plot_summary(summary, plots_dir)


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


def _factor_row(run: Dict[str, Any], runs: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    return {"top1": run["top1"], "gflops": run["gflops"],
            "mean_bprime": _first(run.get("mean_bprime")), "output_dir": run["output_dir"],
            "gap_vs_baseline": top1_gap_interval(runs["baseline"], run),
            "gap_vs_reference": top1_gap_interval(runs["atfr"], run)}


def run_factors(args: argparse.Namespace,
                runs_by_seed: Dict[str, Dict[str, Dict[str, Any]]]) -> Dict[str, Any]:
    """--factors: every `factor_settings` run for every seed -> {"table", "settings":
    {setting: {"per_seed": {seed: row}, "mean": row of the means, pooled intervals}}}."""
    entry: Dict[str, Any] = {"table": FACTORS_TITLE, "settings": {}}
    for setting, run in factor_settings(clip_geometry(args)[0], args.earlier_code,
                                        args.factors or FACTORS):
        per_seed = {}
        for seed, runs in runs_by_seed.items():
            if isinstance(run, Run):
                runs[run.name] = execute(
                    run, args if seed == "main" else seed_args(args, int(seed)), runs)
            per_seed[seed] = _factor_row(runs[run if isinstance(run, str) else run.name], runs)
        name = run if isinstance(run, str) else run.name
        pairs = {side: [(runs[side], runs[name]) for runs in runs_by_seed.values()]
                 for side in ("baseline", "atfr")}
        mean = {key: _mean([row[key] for row in per_seed.values()])
                for key in ("top1", "gflops", "mean_bprime")}
        mean["gap_vs_baseline"] = pooled_top1_gap_interval(pairs["baseline"])
        mean["gap_vs_reference"] = pooled_top1_gap_interval(pairs["atfr"])
        entry["settings"][setting] = {"per_seed": per_seed, "mean": mean}
    return entry


def planned_runs(args: argparse.Namespace, finetune: bool, ablations: List[str]) -> int:
    """How many runs `main` will execute (reused ones included), for its ETA."""
    seeds = 1 + len(args.extra_seeds)
    main = len(main_runs(finetune)) * seeds
    factors = 0 if args.factors is None else seeds * sum(
        isinstance(run, Run) for _, run in factor_settings(
            clip_geometry(args)[0], args.earlier_code, args.factors or FACTORS))
    return main + factors + sum(isinstance(run, Run) for name in ablations
                                for _, run, _ in ablation_settings(name, *clip_geometry(args)))


def main() -> None:
    args = parse_args()
    start = time.time()
    ensure_data(args)
    finetune = bool(args.finetune_epochs)
    names = [] if args.quick else [n for n in ABLATIONS if not args.only or n in args.only]
    args.clock = IterationClock(planned_runs(args, finetune, names))
    done = execute_main_runs(args, finetune)
    bench = benchmark(args, done["atfr"])
    summary: Dict[str, Any] = {
        "command": " ".join(["python", os.path.relpath(__file__, ROOT)] + sys.argv[1:]),
        "dataset": args.dataset, "paper": PAPER, "benchmark": bench,
        "ablations_planned": names,
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
    sgs_figures(args, done["atfr"], results_paths(args)[1])
    runs_by_seed = {"main": done}
    if args.extra_seeds:
        for seed in args.extra_seeds:
            runs_by_seed[str(seed)] = execute_main_runs(seed_args(args, seed), finetune)
        summary["seeds"] = seed_summary(runs_by_seed, args.dataset)
        write_outputs(summary, args, start)
    if args.factors is not None:
        summary["factors"] = run_factors(args, runs_by_seed)
        write_outputs(summary, args, start)
    for name in names:
        summary[name] = run_ablation(name, args, done)
        write_outputs(summary, args, start)
    print(summary_tables(summary))
    print(f"[reproduce] summary.json, the tables and the plots are in {args.results}",
          flush=True)
    print(json.dumps({"targets": summary["targets"], "elapsed_s": summary["elapsed_s"]}))


if __name__ == "__main__":
    main()
