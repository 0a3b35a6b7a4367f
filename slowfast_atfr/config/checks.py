"""Checks of a config; the only place that validates a config.

`DOMAINS` gives every key that holds numbers (and a few others) the values it may take, and
`RULES` the conditions between keys. `check_and_infer` checks all of them at once, so that a
config with several wrong values is reported in one error, before anything runs.
"""

import difflib
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Tuple

from fvcore.common.config import CfgNode

from slowfast_atfr.config import choices, pyslowfast
from slowfast_atfr.config.domains import (
    COUNT,
    DROP_RATE,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    SHRINK_FACTOR,
    Domain,
    Free,
    Int,
    ListOf,
    OneOf,
    Only,
    Real,
    Text,
)
from slowfast_atfr.utils.distributed import processes_per_machine
from slowfast_atfr.utils.misc import num_pathways


def closest_keys(name: str, candidates: Iterable[str], n: int = 3) -> List[str]:
    """Return the up to `n` candidates closest to `name`, for error messages."""
    return difflib.get_close_matches(name, sorted(candidates), n=n, cutoff=0.4)


_NOT_READ = Free("not read; accepted for PySlowFast's YAML files")


def _per_stage(item: Domain) -> ListOf:
    """res2..res5, each a list with one entry per pathway."""
    return ListOf(ListOf(item, length=(1, None)), length=(4, 4))


# The clips per video that TEST.NUM_ENSEMBLE_VIEWS -1 tests with, one test each (PySlowFast).
ENSEMBLE_VIEWS_SWEEP = (1, 3, 5, 7, 10)

# The domain of every config key that holds numbers, plus the string choices and the
# PySlowFast keys without effect. tests/config/test_domains.py fails when a numeric key of
# defaults.py has no entry here: a new key declares its domain (or Free, with the reason).
DOMAINS: Dict[str, Domain] = {
    "BN.NUM_BATCHES_PRECISE": COUNT,
    "BN.WEIGHT_DECAY": NON_NEGATIVE,
    "BN.NUM_SPLITS": POSITIVE_INT,
    "BN.NORM_TYPE": OneOf(choices.NORM_TYPES),
    "BN.NUM_SYNC_DEVICES": _NOT_READ,
    "TRAIN.BATCH_SIZE": POSITIVE_INT,
    "TRAIN.EVAL_PERIOD": COUNT,
    "TRAIN.CHECKPOINT_PERIOD": COUNT,
    "TRAIN.CHECKPOINT_ITER_PERIOD": COUNT,
    "TRAIN.CHECKPOINT_ITER_KEEP": COUNT,
    "TRAIN.KILL_LOSS_EXPLOSION_FACTOR": NON_NEGATIVE,
    "TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN": ListOf(Text()),
    "TEST.BATCH_SIZE": POSITIVE_INT,
    "TEST.NUM_ENSEMBLE_VIEWS": Int(low=1, sentinel=(-1, "PySlowFast's sweep: test with "
                                                       f"{list(ENSEMBLE_VIEWS_SWEEP)} clips")),
    "TEST.NUM_TEMPORAL_CLIPS": ListOf(POSITIVE_INT),
    "TEST.NUM_SPATIAL_CROPS": OneOf((1, 3)),
    "RESNET.NUM_GROUPS": POSITIVE_INT,
    "RESNET.WIDTH_PER_GROUP": POSITIVE_INT,
    "RESNET.DEPTH": OneOf((18, 50, 101)),  # the depths of models/resnet.py's stage table
    "RESNET.NUM_BLOCK_TEMP_KERNEL": _per_stage(COUNT),
    "RESNET.SPATIAL_STRIDES": _per_stage(POSITIVE_INT),
    "RESNET.SPATIAL_DILATIONS": _per_stage(POSITIVE_INT),
    "RESNET.ZERO_INIT_FINAL_CONV": Only(False, "it is not implemented (RESNET.ZERO_INIT_FINAL_BN "
                                               "is)"),
    "X3D.WIDTH_FACTOR": POSITIVE,
    "X3D.DEPTH_FACTOR": POSITIVE,
    "X3D.BOTTLENECK_FACTOR": POSITIVE,
    "X3D.DIM_C5": POSITIVE_INT,
    "X3D.DIM_C1": POSITIVE_INT,
    "NONLOCAL.LOCATION": _per_stage(ListOf(COUNT)),
    "NONLOCAL.GROUP": _per_stage(POSITIVE_INT),
    "NONLOCAL.POOL": _per_stage(ListOf(POSITIVE_INT, length=(3, 3))),
    "MODEL.NUM_CLASSES": POSITIVE_INT,
    "MODEL.DROPOUT_RATE": DROP_RATE,
    "MODEL.DROPCONNECT_RATE": DROP_RATE,
    "MODEL.FC_INIT_STD": POSITIVE,
    "MODEL.HEAD_ACT": Only("softmax", "sigmoid heads are for multi-label data sets "
                                      "(Charades), which are not supported"),
    "MODEL.ACT_CHECKPOINT": Only(False, "activation checkpointing is not implemented"),
    "MODEL.EVAL_OUTPUT": OneOf(choices.EVAL_OUTPUTS),
    "SLOWFAST.BETA_INV": POSITIVE_INT,
    "SLOWFAST.ALPHA": POSITIVE_INT,
    "SLOWFAST.FUSION_CONV_CHANNEL_RATIO": POSITIVE_INT,
    "SLOWFAST.FUSION_KERNEL_SZ": POSITIVE_INT,
    "ATFR.STAGE": OneOf(choices.SAMPLER_STAGES),
    "ATFR.NUM_BINS_TRAIN": ListOf(Int(low=1, sentinel=(-1, "= T, or the block length"))),
    "ATFR.NUM_BINS_TEST": ListOf(Int(low=1, sentinel=(-1, "= ATFR.NUM_BINS_TRAIN"))),
    "ATFR.BLOCK_LENGTH": ListOf(COUNT),
    "ATFR.EMBED_DIM": POSITIVE_INT,
    "ATFR.KERNEL": OneOf(choices.SGS_KERNELS),
    "ATFR.MEASURE": OneOf(choices.SIMILARITY_MEASURES),
    "ATFR.MULTI_BINS": ListOf(POSITIVE_INT),
    "ATFR.SIMILARITY_NET": OneOf(choices.SIMILARITY_NETS),
    "ATFR.TRAIN_BATCHING": OneOf(choices.TRAIN_BATCHINGS),
    "ATFR.EVAL_BATCHING": OneOf(choices.EVAL_BATCHINGS),
    "DATA.SPLIT": OneOf((1, 2, 3)),
    "DATA.NUM_FRAMES": POSITIVE_INT,
    "DATA.SAMPLING_RATE": POSITIVE_INT,
    "DATA.TARGET_FPS": POSITIVE,
    "DATA.MEAN": ListOf(Real(), length=(3, 3)),  # one per RGB channel
    "DATA.STD": ListOf(POSITIVE, length=(3, 3)),
    "DATA.INPUT_CHANNEL_NUM": ListOf(POSITIVE_INT, length=(1, None)),
    "DATA.TRAIN_JITTER_SCALES": ListOf(POSITIVE_INT, length=(2, 2), ascending=True),
    "DATA.TRAIN_JITTER_SCALES_RELATIVE": ListOf(Real(0, 1, "(]"), length=(0, 2),
                                                ascending=True),
    "DATA.TRAIN_JITTER_ASPECT_RELATIVE": ListOf(POSITIVE, length=(0, 2), ascending=True),
    "DATA.TRAIN_CROP_SIZE": POSITIVE_INT,
    "DATA.TEST_CROP_SIZE": POSITIVE_INT,
    "DATA.ENSEMBLE_METHOD": OneOf(choices.ENSEMBLE_METHODS),
    "DATA.DECODING_BACKEND": OneOf(("pyav", "torchvision")),
    "DATA.DECODING_SHORT_SIZE": POSITIVE_INT,
    "DATA.DECODER_THREADS": COUNT,
    "DATA.MAX_DECODE_RETRIES": COUNT,
    "DATA.MULTI_LABEL": Only(False, "multi-label data sets are not supported"),
    "SOLVER.BASE_LR": NON_NEGATIVE,
    "SOLVER.LR_POLICY": OneOf(choices.LR_POLICIES),
    "SOLVER.OPTIMIZING_METHOD": OneOf(choices.OPTIMIZING_METHODS),
    "SOLVER.COSINE_END_LR": NON_NEGATIVE,
    "SOLVER.GAMMA": SHRINK_FACTOR,
    "SOLVER.STEP_SIZE": _NOT_READ,
    "SOLVER.STEPS": ListOf(COUNT, ascending=True),
    "SOLVER.LRS": ListOf(NON_NEGATIVE),
    "SOLVER.MAX_EPOCH": POSITIVE_INT,
    "SOLVER.MOMENTUM": Real(0, 1, "[)"),
    "SOLVER.DAMPENING": Real(0, 1),
    "SOLVER.WEIGHT_DECAY": NON_NEGATIVE,
    "SOLVER.WARMUP_FACTOR": _NOT_READ,
    "SOLVER.WARMUP_EPOCHS": NON_NEGATIVE,
    "SOLVER.WARMUP_START_LR": NON_NEGATIVE,
    "SOLVER.CLIP_GRAD_L2NORM": NON_NEGATIVE,
    "SOLVER.CLIP_GRAD_VAL": NON_NEGATIVE,
    "SOLVER.BETAS": ListOf(Real(0, 1, "[)"), length=(2, 2)),
    "NUM_GPUS": COUNT,
    "NUM_CPU_PROCESSES": POSITIVE_INT,
    "NUM_SHARDS": POSITIVE_INT,
    "SHARD_ID": COUNT,
    "RNG_SEED": Int(0, 2**32 - 1),  # numpy's seed range
    "LOG_PERIOD": POSITIVE_INT,
    "BENCHMARK.NUM_CLIPS": POSITIVE_INT,
    "BENCHMARK.BATCH_SIZE": POSITIVE_INT,
    "BENCHMARK.WARMUP_ITERS": COUNT,
    "DATA_LOADER.NUM_WORKERS": COUNT,
    "MULTIGRID.EPOCH_FACTOR": POSITIVE,
    "MULTIGRID.SHORT_CYCLE_FACTORS": ListOf(SHRINK_FACTOR, length=(1, None)),
    "MULTIGRID.LONG_CYCLE_FACTORS": ListOf(ListOf(SHRINK_FACTOR, length=(2, 2)),
                                           length=(1, None)),
    "MULTIGRID.BN_BASE_SIZE": POSITIVE_INT,
    "MULTIGRID.EVAL_FREQ": Only(3, "evaluation follows TRAIN.EVAL_PERIOD, in multigrid "
                                   "training too"),
    "MULTIGRID.LONG_CYCLE_SAMPLING_RATE": Only(0, "the long cycle sets DATA.SAMPLING_RATE "
                                                  "itself"),
    # Inferred by check_and_infer when multigrid is on (0 = not inferred).
    "MULTIGRID.DEFAULT_B": COUNT,
    "MULTIGRID.DEFAULT_T": COUNT,
    "MULTIGRID.DEFAULT_S": COUNT,
    "DEMO.TOP_K": POSITIVE_INT,
    "DEMO.WINDOW_STRIDE": POSITIVE_INT,
}


def _get(cfg: CfgNode, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


# ---------------------------------------------------------------------------- #
# Rules between keys
# ---------------------------------------------------------------------------- #
Rule = Callable[[CfgNode], Iterator[str]]
# (the keys a rule reads, the rule): a rule yields one error line per violation; it runs only
# when all its keys are inside their DOMAINS, so it may rely on their types and ranges.
RULES: List[Tuple[Tuple[str, ...], Rule]] = []


def _rule(*keys: str) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        RULES.append((keys, rule))
        return rule

    return register


@_rule("MODEL.ARCH", "MODEL.SINGLE_PATHWAY_ARCH", "MODEL.MULTI_PATHWAY_ARCH")
def _arch_is_listed(cfg: CfgNode) -> Iterator[str]:
    allowed = [*cfg.MODEL.SINGLE_PATHWAY_ARCH, *cfg.MODEL.MULTI_PATHWAY_ARCH]
    if cfg.MODEL.ARCH in pyslowfast.ARCHS:
        yield f"MODEL.ARCH {cfg.MODEL.ARCH}: {pyslowfast.ARCHS[cfg.MODEL.ARCH]}."
    elif cfg.MODEL.ARCH not in allowed:
        yield f"MODEL.ARCH={cfg.MODEL.ARCH!r} is not valid; expected one of {allowed}."


@_rule("MODEL.MODEL_NAME")
def _model_is_not_pyslowfast_only(cfg: CfgNode) -> Iterator[str]:
    name = cfg.MODEL.MODEL_NAME
    if name in pyslowfast.MODEL_NAMES:
        yield f"MODEL.MODEL_NAME {name}: {pyslowfast.MODEL_NAMES[name]}."


@_rule("TRAIN.BATCH_SIZE", "TEST.BATCH_SIZE", "NUM_GPUS", "NUM_CPU_PROCESSES")
def _batches_split_over_processes(cfg: CfgNode) -> Iterator[str]:
    procs = processes_per_machine(cfg)
    for key in ("TRAIN.BATCH_SIZE", "TEST.BATCH_SIZE"):
        if _get(cfg, key) % procs != 0:
            yield (f"{key}={_get(cfg, key)} must be divisible by the number of processes per "
                   f"machine ({procs}; NUM_GPUS={cfg.NUM_GPUS}, "
                   f"NUM_CPU_PROCESSES={cfg.NUM_CPU_PROCESSES}).")


@_rule("BN.NORM_TYPE", "BN.NUM_SPLITS", "TRAIN.BATCH_SIZE", "NUM_GPUS", "NUM_CPU_PROCESSES")
def _sub_batches_split_evenly(cfg: CfgNode) -> Iterator[str]:
    clips = cfg.TRAIN.BATCH_SIZE // processes_per_machine(cfg)
    if cfg.BN.NORM_TYPE == "sub_batchnorm" and clips % cfg.BN.NUM_SPLITS != 0:
        yield (f"BN.NUM_SPLITS={cfg.BN.NUM_SPLITS} must divide the {clips} clips of each "
               f"process's training batch (TRAIN.BATCH_SIZE={cfg.TRAIN.BATCH_SIZE} per machine) "
               "for BN.NORM_TYPE 'sub_batchnorm'; choose a divisor.")


@_rule("SHARD_ID", "NUM_SHARDS")
def _shard_exists(cfg: CfgNode) -> Iterator[str]:
    if cfg.SHARD_ID >= cfg.NUM_SHARDS:
        yield (f"SHARD_ID={cfg.SHARD_ID} must be < NUM_SHARDS={cfg.NUM_SHARDS} (machines are "
               "numbered from 0).")


@_rule("DATA.NUM_FRAMES", "SLOWFAST.ALPHA")
def _slow_pathway_has_frames(cfg: CfgNode) -> Iterator[str]:
    frames, alpha = cfg.DATA.NUM_FRAMES, cfg.SLOWFAST.ALPHA
    if num_pathways(cfg) == 2 and frames < alpha:
        yield (f"DATA.NUM_FRAMES={frames} leaves the slow pathway no frame (it gets "
               f"NUM_FRAMES // SLOWFAST.ALPHA, with SLOWFAST.ALPHA={alpha}); use "
               f"DATA.NUM_FRAMES >= {alpha} or a smaller SLOWFAST.ALPHA.")


@_rule("SOLVER.LR_POLICY", "SOLVER.STEPS", "SOLVER.LRS")
def _steps_have_lrs(cfg: CfgNode) -> Iterator[str]:
    steps, lrs = list(cfg.SOLVER.STEPS), list(cfg.SOLVER.LRS)
    # As in PySlowFast, LRS may be longer than STEPS (its recipes list 6 lrs for 3 or 4
    # steps); the lrs past the last step are never used.
    if cfg.SOLVER.LR_POLICY == "steps_with_relative_lrs" and (not steps or
                                                              len(lrs) < len(steps)):
        yield (f"SOLVER.LRS={lrs} and SOLVER.STEPS={steps} must be non-empty, with at least one "
               "relative lr per step, for LR_POLICY steps_with_relative_lrs.")


@_rule("SOLVER.LR_POLICY", "SOLVER.COSINE_END_LR", "SOLVER.BASE_LR")
def _cosine_goes_down(cfg: CfgNode) -> Iterator[str]:
    solver = cfg.SOLVER
    if solver.LR_POLICY == "cosine" and solver.COSINE_END_LR > solver.BASE_LR:
        yield (f"SOLVER.COSINE_END_LR={solver.COSINE_END_LR} must be <= SOLVER.BASE_LR="
               f"{solver.BASE_LR} for LR_POLICY cosine (it decays from BASE_LR to it).")


@_rule("DATA.TRAIN_JITTER_SCALES_RELATIVE", "DATA.TRAIN_JITTER_ASPECT_RELATIVE")
def _relative_jitter_is_a_range(cfg: CfgNode) -> Iterator[str]:
    scales = list(cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE)
    aspects = list(cfg.DATA.TRAIN_JITTER_ASPECT_RELATIVE)
    for key, values in (("DATA.TRAIN_JITTER_SCALES_RELATIVE", scales),
                        ("DATA.TRAIN_JITTER_ASPECT_RELATIVE", aspects)):
        if len(values) == 1:
            yield f"{key}={values} must be a range [min, max] (two values) or empty."
    if aspects and not scales:
        yield (f"DATA.TRAIN_JITTER_ASPECT_RELATIVE={aspects} needs "
               "DATA.TRAIN_JITTER_SCALES_RELATIVE (the crop's relative area range), e.g. "
               "[0.08, 1.0]; or leave it empty.")


@_rule("TEST.NUM_ENSEMBLE_VIEWS", "TEST.NUM_TEMPORAL_CLIPS")
def _one_view_sweep(cfg: CfgNode) -> Iterator[str]:
    clips = list(cfg.TEST.NUM_TEMPORAL_CLIPS)
    if cfg.TEST.NUM_ENSEMBLE_VIEWS == -1 and clips:
        yield (f"TEST.NUM_ENSEMBLE_VIEWS=-1 (a test per number of clips in "
               f"{list(ENSEMBLE_VIEWS_SWEEP)}) and TEST.NUM_TEMPORAL_CLIPS={clips} both choose "
               "the clips per video; set only one.")


@_rule("SOLVER.WARMUP_EPOCHS", "SOLVER.MAX_EPOCH")
def _warmup_ends_before_training(cfg: CfgNode) -> Iterator[str]:
    if cfg.SOLVER.WARMUP_EPOCHS > cfg.SOLVER.MAX_EPOCH:
        yield (f"SOLVER.WARMUP_EPOCHS={cfg.SOLVER.WARMUP_EPOCHS} must be <= "
               f"SOLVER.MAX_EPOCH={cfg.SOLVER.MAX_EPOCH}: training would end inside the warm-up "
               "and never follow SOLVER.LR_POLICY.")


@_rule("SOLVER.OPTIMIZING_METHOD", "SOLVER.NESTEROV", "SOLVER.MOMENTUM", "SOLVER.DAMPENING")
def _nesterov_has_momentum(cfg: CfgNode) -> Iterator[str]:
    solver = cfg.SOLVER
    if solver.OPTIMIZING_METHOD == "sgd" and solver.NESTEROV and (
        solver.MOMENTUM <= 0 or solver.DAMPENING != 0
    ):
        yield (f"SOLVER.NESTEROV=True needs SOLVER.MOMENTUM > 0 and SOLVER.DAMPENING 0 (as "
               f"torch.optim.SGD); got MOMENTUM={solver.MOMENTUM}, DAMPENING={solver.DAMPENING}."
               " Set SOLVER.NESTEROV False or change them.")


@_rule("MODEL.FROZEN_BN", "BN.USE_PRECISE_STATS")
def _frozen_bn_keeps_its_statistics(cfg: CfgNode) -> Iterator[str]:
    if cfg.MODEL.FROZEN_BN and cfg.BN.USE_PRECISE_STATS:
        yield ("MODEL.FROZEN_BN=True keeps the BatchNorm statistics fixed, but "
               "BN.USE_PRECISE_STATS=True recomputes them after every epoch; set "
               "BN.USE_PRECISE_STATS False.")


@_rule("DATA.PATH_LABEL_SEPARATOR")
def _separator_is_one_character(cfg: CfgNode) -> Iterator[str]:
    separator = cfg.DATA.PATH_LABEL_SEPARATOR
    if not isinstance(separator, str) or len(separator) > 1:
        yield (f"DATA.PATH_LABEL_SEPARATOR={separator!r} must be one character, or '' for "
               "any blank or a comma (paths holding it go in double quotes).")


# Extensions of TEST.SAVE_RESULTS_PATH: .pkl a pickle, the others a torch.save
# (engine/evaluator.py `results_format`).
RESULTS_EXTENSIONS = (".pkl", ".pt", ".pyth")


@_rule("TEST.SAVE_RESULTS_PATH")
def _results_file_has_a_known_extension(cfg: CfgNode) -> Iterator[str]:
    path = cfg.TEST.SAVE_RESULTS_PATH
    if path and os.path.splitext(path)[1].lower() not in RESULTS_EXTENSIONS:
        yield (f"TEST.SAVE_RESULTS_PATH={path!r} must end in one of {list(RESULTS_EXTENSIONS)}: "
               ".pkl for PySlowFast's numpy pickle, .pyth or .pt for a torch.save.")


@_rule("OUTPUT_DIR")
def _output_dir_is_a_folder(cfg: CfgNode) -> Iterator[str]:
    if not isinstance(cfg.OUTPUT_DIR, str) or not cfg.OUTPUT_DIR.strip():
        yield (f"OUTPUT_DIR={cfg.OUTPUT_DIR!r} must name a folder (it would write logs and "
               "checkpoints into the working directory); leave it unset for "
               "output/<config folder>/<name>.")


def domain_problems(cfg: CfgNode) -> List[str]:
    """One error line for each value of `cfg` outside its DOMAINS entry, then for each broken
    rule of RULES whose keys are all inside their domains."""
    problems, outside = [], set()
    for key, domain in DOMAINS.items():
        line = domain.problem(key, _get(cfg, key))
        if line is not None:
            problems.append(line)
            outside.add(key)
    for keys, rule in RULES:
        if outside.isdisjoint(keys):
            problems.extend(rule(cfg))
    return problems


# ---------------------------------------------------------------------------- #
# Per-pathway lists and inferred values
# ---------------------------------------------------------------------------- #
def _per_pathway(cfg: CfgNode, key: str, count: int) -> None:
    group, name = key.split(".")
    values = list(cfg[group][name])
    if len(values) < count:
        raise ValueError(
            f"{key}={values} needs one value per pathway ({count} pathways for "
            f"MODEL.ARCH={cfg.MODEL.ARCH!r})."
        )
    # Extra values (two-pathway defaults on a one-pathway model) are cut; a cut value that
    # differs from the kept ones was meant for a pathway that does not exist.
    if any(v not in values[:count] for v in values[count:]):
        raise ValueError(
            f"{key}={values} has more values than MODEL.ARCH={cfg.MODEL.ARCH!r} has pathways "
            f"({count}), and the extra ones differ; give {count} value(s)."
        )
    cfg[group][name] = values[:count]


# Binned dimensions of each multi-dimensional measure: ATFR.EMBED_DIM plus this offset
# (angular: the L-1 angles; spherical: radius and angles).
_MULTI_DIM_OFFSET = {"angular": -1, "spherical": 0}


def _check_multi_bins(cfg: CfgNode) -> None:
    bins = list(cfg.ATFR.MULTI_BINS)
    if not bins:
        return
    measure = cfg.ATFR.MEASURE
    if measure not in _MULTI_DIM_OFFSET:
        raise ValueError(
            f"ATFR.MULTI_BINS={bins} only applies to ATFR.MEASURE 'angular' or 'spherical'; "
            f"got ATFR.MEASURE={measure!r} (leave ATFR.MULTI_BINS empty)."
        )
    dims = cfg.ATFR.EMBED_DIM + _MULTI_DIM_OFFSET[measure]
    if len(bins) != dims:
        raise ValueError(
            f"ATFR.MULTI_BINS={bins} needs {dims} positive ints for ATFR.MEASURE={measure!r} "
            f"with ATFR.EMBED_DIM={cfg.ATFR.EMBED_DIM}."
        )


def _check_atfr(cfg: CfgNode) -> None:
    _check_multi_bins(cfg)
    for key in ("ATFR.PATHWAYS", "ATFR.NUM_BINS_TRAIN", "ATFR.NUM_BINS_TEST",
                "ATFR.BLOCK_LENGTH"):
        _per_pathway(cfg, key, num_pathways(cfg))
    if cfg.ATFR.ENABLED and not any(cfg.ATFR.PATHWAYS):
        raise ValueError("ATFR.ENABLED is True but ATFR.PATHWAYS selects no pathway.")


def check_and_infer(cfg: CfgNode) -> CfgNode:
    """Validate `cfg` in place and fill inferred values; see `assert_and_infer_cfg`."""
    problems = domain_problems(cfg)
    if len(problems) == 1:
        raise ValueError(problems[0])
    if problems:
        raise ValueError(f"{len(problems)} config values are invalid; fix them all:\n  "
                         + "\n  ".join(problems))
    _check_atfr(cfg)
    if cfg.MODEL.ARCH == "x3d" and cfg.RESNET.TRANS_FUNC != "x3d_transform":
        raise ValueError(
            f"RESNET.TRANS_FUNC={cfg.RESNET.TRANS_FUNC!r} with MODEL.ARCH 'x3d': X3D blocks "
            "need RESNET.TRANS_FUNC x3d_transform (as in PySlowFast's X3D configs)."
        )
    if cfg.NUM_GPUS == 0 and cfg.DIST_BACKEND == "nccl":
        cfg.DIST_BACKEND = "gloo"
    if cfg.TEST.NUM_ENSEMBLE_VIEWS == -1:
        cfg.TEST.NUM_TEMPORAL_CLIPS = list(ENSEMBLE_VIEWS_SWEEP)
        cfg.TEST.NUM_ENSEMBLE_VIEWS = ENSEMBLE_VIEWS_SWEEP[-1]
    if cfg.SOLVER.BASE_LR_SCALE_NUM_SHARDS:
        for key in ("BASE_LR", "WARMUP_START_LR", "COSINE_END_LR"):
            cfg.SOLVER[key] *= cfg.NUM_SHARDS
        cfg.SOLVER.BASE_LR_SCALE_NUM_SHARDS = False  # scaled once, also when checked again
    if cfg.MULTIGRID.LONG_CYCLE or cfg.MULTIGRID.SHORT_CYCLE:
        cfg.MULTIGRID.DEFAULT_B = cfg.TRAIN.BATCH_SIZE
        cfg.MULTIGRID.DEFAULT_T = cfg.DATA.NUM_FRAMES
        cfg.MULTIGRID.DEFAULT_S = cfg.DATA.TRAIN_CROP_SIZE
    return cfg
