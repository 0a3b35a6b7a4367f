"""Cross-key checks of a config; the only place that validates a config."""

import difflib
import math
from typing import Any, Iterable, List

from fvcore.common.config import CfgNode

from slowfast_atfr.utils.distributed import processes_per_machine
from slowfast_atfr.utils.misc import num_pathways

_STAGES = ("stem", "res2", "res3", "res4")
_TRAIN_BATCHING = ("packed", "padded")
_EVAL_BATCHING = ("grouped", "packed", "padded")
_KERNELS = ("linear", "kronecker")
_MEASURES = ("magnitude", "angular", "spherical", "mean_distance")
_SIMILARITY_NETS = ("conv", "mlp_bn")
_LR_POLICIES = ("cosine", "steps_with_relative_lrs", "constant")
# PySlowFast keys that its YAML files may set but that have no effect here: a value other
# than the default is refused, naming the key, instead of being silently ignored.
_UNSUPPORTED = {
    "MODEL.HEAD_ACT": ("softmax", "the test loop always applies softmax"),
    "DATA.MULTI_LABEL": (False, "multi-label data sets are not supported"),
    "MODEL.ACT_CHECKPOINT": (False, "activation checkpointing is not implemented"),
    "RESNET.ZERO_INIT_FINAL_CONV": (False, "it is not implemented (RESNET.ZERO_INIT_FINAL_BN "
                                           "is)"),
    "MULTIGRID.EVAL_FREQ": (3, "evaluation follows TRAIN.EVAL_PERIOD, in multigrid training "
                               "too"),
    "MULTIGRID.LONG_CYCLE_SAMPLING_RATE": (0, "the long cycle sets DATA.SAMPLING_RATE itself"),
}


def closest_keys(name: str, candidates: Iterable[str], n: int = 3) -> List[str]:
    """Return the up to `n` candidates closest to `name`, for error messages."""
    return difflib.get_close_matches(name, sorted(candidates), n=n, cutoff=0.4)


def _choice(key: str, value: Any, allowed: Iterable[Any]) -> None:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{key}={value!r} is not valid; expected one of {list(allowed)}.")


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
    if len(bins) != dims or any(isinstance(b, bool) or not isinstance(b, int) or b < 1
                                for b in bins):
        raise ValueError(
            f"ATFR.MULTI_BINS={bins} needs {dims} positive ints for ATFR.MEASURE={measure!r} "
            f"with ATFR.EMBED_DIM={cfg.ATFR.EMBED_DIM}."
        )


def _check_atfr(cfg: CfgNode) -> None:
    pathways = num_pathways(cfg)
    _choice("ATFR.STAGE", cfg.ATFR.STAGE, _STAGES)
    _choice("ATFR.KERNEL", cfg.ATFR.KERNEL, _KERNELS)
    _choice("ATFR.MEASURE", cfg.ATFR.MEASURE, _MEASURES)
    _choice("ATFR.SIMILARITY_NET", cfg.ATFR.SIMILARITY_NET, _SIMILARITY_NETS)
    _choice("ATFR.TRAIN_BATCHING", cfg.ATFR.TRAIN_BATCHING, _TRAIN_BATCHING)
    _choice("ATFR.EVAL_BATCHING", cfg.ATFR.EVAL_BATCHING, _EVAL_BATCHING)
    if cfg.ATFR.EMBED_DIM < 1:
        raise ValueError(f"ATFR.EMBED_DIM={cfg.ATFR.EMBED_DIM} must be >= 1.")
    _check_multi_bins(cfg)
    for key in ("ATFR.PATHWAYS", "ATFR.NUM_BINS_TRAIN", "ATFR.NUM_BINS_TEST",
                "ATFR.BLOCK_LENGTH"):
        _per_pathway(cfg, key, pathways)
    for key in ("ATFR.NUM_BINS_TRAIN", "ATFR.NUM_BINS_TEST"):
        group, name = key.split(".")
        for value in cfg[group][name]:
            if value == 0 or value < -1:
                raise ValueError(f"{key} has {value}; use a positive B or -1 (= T).")
    for value in cfg.ATFR.BLOCK_LENGTH:
        if value < 0:
            raise ValueError(f"ATFR.BLOCK_LENGTH has {value}; use 0 (whole clip) or K > 0.")
    if cfg.ATFR.ENABLED and not any(cfg.ATFR.PATHWAYS):
        raise ValueError("ATFR.ENABLED is True but ATFR.PATHWAYS selects no pathway.")


def _check_unsupported(cfg: CfgNode) -> None:
    for key, (default, why) in _UNSUPPORTED.items():
        group, name = key.split(".")
        if cfg[group][name] != default:
            raise ValueError(f"{key}={cfg[group][name]!r} is not supported: {why}. Leave it at "
                             f"{default!r}.")


def _check_batches(cfg: CfgNode) -> None:
    procs = processes_per_machine(cfg)
    for key in ("TRAIN.BATCH_SIZE", "TEST.BATCH_SIZE"):
        group, name = key.split(".")
        if cfg[group][name] % procs != 0:
            raise ValueError(
                f"{key}={cfg[group][name]} must be divisible by the number of processes "
                f"per machine ({procs}; NUM_GPUS={cfg.NUM_GPUS}, "
                f"NUM_CPU_PROCESSES={cfg.NUM_CPU_PROCESSES})."
            )


def check_and_infer(cfg: CfgNode) -> CfgNode:
    """Validate `cfg` in place and fill inferred values; see `assert_and_infer_cfg`."""
    if cfg.BN.USE_PRECISE_STATS and cfg.BN.NUM_BATCHES_PRECISE < 0:
        raise ValueError(f"BN.NUM_BATCHES_PRECISE={cfg.BN.NUM_BATCHES_PRECISE} must be >= 0.")
    _check_unsupported(cfg)
    _choice("MODEL.ARCH", cfg.MODEL.ARCH,
            [*cfg.MODEL.SINGLE_PATHWAY_ARCH, *cfg.MODEL.MULTI_PATHWAY_ARCH])
    if cfg.X3D.DIM_C5 < 1:
        raise ValueError(f"X3D.DIM_C5={cfg.X3D.DIM_C5} must be >= 1 (width of the head's lin_5).")
    _choice("SOLVER.LR_POLICY", cfg.SOLVER.LR_POLICY, _LR_POLICIES)
    if cfg.SOLVER.LR_POLICY == "steps_with_relative_lrs" and (
        len(cfg.SOLVER.LRS) != len(cfg.SOLVER.STEPS)
    ):
        raise ValueError(
            f"SOLVER.LRS={cfg.SOLVER.LRS} and SOLVER.STEPS={cfg.SOLVER.STEPS} must have the "
            "same length for LR_POLICY steps_with_relative_lrs."
        )
    _choice("TEST.NUM_SPATIAL_CROPS", cfg.TEST.NUM_SPATIAL_CROPS, (1, 3))
    _choice("DATA.DECODING_BACKEND", cfg.DATA.DECODING_BACKEND, ("pyav",))
    if cfg.DATA.SPLIT not in (1, 2, 3):
        raise ValueError(f"DATA.SPLIT={cfg.DATA.SPLIT} must be 1, 2 or 3.")
    if cfg.NUM_GPUS == 0 and cfg.DIST_BACKEND == "nccl":
        cfg.DIST_BACKEND = "gloo"
    _check_batches(cfg)
    if cfg.MODEL.ARCH == "x3d" and cfg.RESNET.TRANS_FUNC != "x3d_transform":
        raise ValueError(
            f"RESNET.TRANS_FUNC={cfg.RESNET.TRANS_FUNC!r} with MODEL.ARCH 'x3d': X3D blocks "
            "need RESNET.TRANS_FUNC x3d_transform (as in PySlowFast's X3D configs)."
        )
    _check_atfr(cfg)
    if cfg.MULTIGRID.LONG_CYCLE or cfg.MULTIGRID.SHORT_CYCLE:
        cfg.MULTIGRID.DEFAULT_B = cfg.TRAIN.BATCH_SIZE
        cfg.MULTIGRID.DEFAULT_T = cfg.DATA.NUM_FRAMES
        cfg.MULTIGRID.DEFAULT_S = cfg.DATA.TRAIN_CROP_SIZE
    if not math.isfinite(cfg.SOLVER.BASE_LR) or cfg.SOLVER.BASE_LR < 0:
        raise ValueError(f"SOLVER.BASE_LR={cfg.SOLVER.BASE_LR} must be finite and >= 0.")
    return cfg
