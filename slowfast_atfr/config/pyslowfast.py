"""PySlowFast's config keys and model names of features that slowfast_atfr does not have.

A PySlowFast YAML file (or the full config dump inside an upstream checkpoint) may set keys
of features we lack: MViT, AVA detection, self-supervised training, visualisations. Such a
key is accepted at PySlowFast's default value, which leaves its feature off, and dropped; any
other value is refused with the feature's name, so that a run never ignores what its config
asks for. The defaults are PySlowFast's (slowfast/config/defaults.py), in
`pyslowfast_only_keys.json` beside this file.
"""

import functools
import json
import os
from typing import Any, Dict, Mapping, Optional

_DEFAULTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                              "pyslowfast_only_keys.json")

_SSL = "self-supervised training (its augmentations and crops)"
_IMAGENET = "ImageNet data sets"
_MVIT_JITTER = "the temporal and motion-shift jitter of PySlowFast's MViT recipes"

# The feature behind each PySlowFast-only key: the longest entry that is the key, or that the
# key extends with "." or "_".
_FEATURES: Dict[str, str] = {
    "MVIT": "MViT models",
    "MASK": "masked pre-training (MaskFeat, MAE)",
    "VIS_MASK": "the mask visualisation of masked pre-training",
    "CONTRASTIVE": "contrastive self-supervised training (MoCo, BYOL, SimCLR, SwAV)",
    "TASK": _SSL,
    "AUG": "RandAugment and random erasing (PySlowFast's MViT recipes)",
    "MIXUP": "mixup and cutmix",
    "DETECTION": "AVA action detection",
    "AVA": "AVA action detection",
    "TENSORBOARD": "PySlowFast's TensorBoard visualisations (confusion matrix, histograms, "
                   "model and wrong-prediction views; TENSORBOARD.ENABLE and LOG_DIR work "
                   "here)",
    "DEMO": "PySlowFast's webcam and AVA-detection demo (the demo here reads "
            "DEMO.INPUT_VIDEO and writes DEMO.OUTPUT_FILE and DEMO.OUTPUT_VIDEO)",
    "BENCHMARK": "PySlowFast's data-loader benchmark (tools/benchmark_net.py here times "
                 "models with BENCHMARK.NUM_CLIPS, BATCH_SIZE and WARMUP_ITERS)",
    "SOLVER.LARS_ON": "the LARS optimizer of PySlowFast's self-supervised recipes",
    "SOLVER.LAYER_DECAY": "layer-wise learning-rate decay of transformer models",
    "TRAIN.CHECKPOINT_IN_INIT": "initialising MViT position embeddings from image models",
    "DATA.TRAIN_PCA": "PCA colour jitter (ImageNet and self-supervised augmentation)",
    "DATA.SSL": _SSL,
    "DATA.COLOR_RND_GRAYSCALE": _SSL,
    "DATA.TIME_DIFF_PROB": _SSL,
    "DATA.TRAIN_CROP_NUM": _SSL,
    "DATA.PATH_TO_PRELOAD_IMDB": _IMAGENET,
    "DATA.IN22K": _IMAGENET,
    "DATA.IN22k": _IMAGENET,
    "DATA.IN_VAL_CROP_RATIO": _IMAGENET,
    "DATA.USE_OFFSET_SAMPLING": _MVIT_JITTER,
    "DATA.TRAIN_JITTER_MOTION_SHIFT": _MVIT_JITTER,
    "DATA.TRAIN_JITTER_FPS": _MVIT_JITTER,
    "DATA.LOADER_CHUNK": "chunked reading of very large list files",
    "DATA.SKIP_ROWS": "chunked reading of very large list files",
    "DATA.DUMMY_LOAD": "dummy data for data-loader benchmarks",
}

_PTV = ("pytorchvideo models are not supported; MODEL.MODEL_NAME {name} builds the same "
        "architecture with PySlowFast's parameter names (pytorchvideo checkpoints do not load "
        "into it)")

# MODEL.MODEL_NAME values of PySlowFast that are not built here, and why.
MODEL_NAMES: Dict[str, str] = {
    "MViT": "MViT models are not supported",
    "MaskMViT": "masked pre-training of MViT models is not supported",
    "ContrastiveModel": "contrastive self-supervised training is not supported",
    "PTVResNet": _PTV.format(name="ResNet"),
    "PTVSlowFast": _PTV.format(name="SlowFast"),
    "PTVX3D": _PTV.format(name="X3D"),
    "PTVR2plus1D": _PTV.format(name="R2plus1D"),
    "PTVCSN": "pytorchvideo models are not supported (CSN has no builder here)",
    "PTVMViT": "pytorchvideo models are not supported, nor are MViT models",
}

# MODEL.ARCH values of PySlowFast that are not built here, and why.
ARCHS: Dict[str, str] = {
    "mvit": "MViT models are not supported",
    "maskmvit": "masked pre-training of MViT models is not supported",
}


@functools.lru_cache(maxsize=1)
def pyslowfast_only_defaults() -> Dict[str, Any]:
    """{dotted key: PySlowFast's default} of every PySlowFast key this config tree lacks."""
    with open(_DEFAULTS_FILE, "r") as f:
        return json.load(f)


def feature_of(key: str) -> str:
    """The PySlowFast feature a PySlowFast-only key belongs to."""
    prefixes = [p for p in _FEATURES if key == p or key.startswith((p + ".", p + "_"))]
    if not prefixes:
        raise KeyError(f"{key!r} has no PySlowFast feature in config/pyslowfast.py.")
    return _FEATURES[max(prefixes, key=len)]


def is_pyslowfast_only(key: str) -> bool:
    """True for a PySlowFast key (or group, e.g. "MVIT") that this config tree lacks."""
    defaults = pyslowfast_only_defaults()
    return key in defaults or any(k.startswith(key + ".") for k in defaults)


def _same(value: Any, default: Any) -> bool:
    """Equal up to YAML's list-for-tuple."""
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return len(value) == len(default) and all(_same(a, b) for a, b in zip(value, default))
    return type(value) is type(default) and value == default or (
        isinstance(value, (int, float)) and isinstance(default, (int, float))
        and not isinstance(value, bool) and not isinstance(default, bool) and value == default
    )


def refusal(key: str, value: Any, source: str) -> Optional[str]:
    """None when `key`=`value` (a PySlowFast-only key) is PySlowFast's default; else the
    error line, naming the feature."""
    default = pyslowfast_only_defaults()[key]
    if _same(value, default):
        return None
    return (f"{key}={value!r} in {source}: not supported by slowfast_atfr, which does not have "
            f"{feature_of(key)}. This PySlowFast key is accepted only at its default, "
            f"{default!r}, which leaves the feature off; remove the key.")


def drop_pyslowfast_only(values: Mapping[str, Any], source: str,
                         prefix: str = "") -> Dict[str, Any]:
    """`values` (a YAML file's nested mapping) without its PySlowFast-only keys.

    Raises:
        ValueError: naming every PySlowFast-only key set to another value than PySlowFast's
            default, with its feature.
    """
    model = values.get("MODEL") if not prefix else None
    if isinstance(model, Mapping):
        for key, table in (("MODEL_NAME", MODEL_NAMES), ("ARCH", ARCHS)):
            if model.get(key) in table:
                raise ValueError(f"MODEL.{key} {model[key]} in {source}: {table[model[key]]}.")
    problems: list = []
    kept = _drop(values, source, prefix, problems)
    if problems:
        raise ValueError(problems[0] if len(problems) == 1 else
                         f"{len(problems)} PySlowFast keys ask for features that slowfast_atfr "
                         "does not have:\n  " + "\n  ".join(problems))
    return kept


def _drop(values: Mapping[str, Any], source: str, prefix: str, problems: list) -> Dict[str, Any]:
    defaults = pyslowfast_only_defaults()
    kept: Dict[str, Any] = {}
    for name, value in values.items():
        key = prefix + str(name)
        if key in defaults:
            line = refusal(key, value, source)
            if line:
                problems.append(line)
        elif isinstance(value, Mapping):
            inner = _drop(value, source, key + ".", problems)
            if inner or not is_pyslowfast_only(key):
                kept[name] = inner
        else:
            kept[name] = value
    return kept
