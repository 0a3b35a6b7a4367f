"""DATASET_REGISTRY and `build_dataset`."""

import functools

from slowfast_atfr.utils import logging
from slowfast_atfr.utils.registry import Registry

logger = logging.get_logger(__name__)

DATASET_REGISTRY = Registry("DATASET")
DATASET_REGISTRY.__doc__ = """
Registry of data sets (Kinetics, Ssv2, Ucf101, Hmdb51, ...).

A registered class is built as `cls(cfg, split)` with split in {"train", "val", "test"}
and returns a torch Dataset whose items are `(frames, label, index, extra)`: `frames`
is a list of `[C, T, H, W]` tensors, one per pathway.
"""


@functools.lru_cache(maxsize=None)
def _warn_torchvision_backend() -> None:
    """Say once per process (not per loader or video) that PySlowFast's default backend, which
    its configs name, runs with PyAV here."""
    logger.warning(
        "DATA.DECODING_BACKEND torchvision: decoding with PyAV (slowfast_atfr has no torchvision "
        "backend); same frames up to the decoders' rounding. DATA.DECODING_SHORT_SIZE is not "
        "applied: PyAV decodes full frames and the transforms resize them. Set "
        "DATA.DECODING_BACKEND pyav to silence this.")


def build_dataset(dataset_name: str, cfg, split: str):
    """Build the data set registered as `dataset_name.capitalize()` for `split`."""
    name = dataset_name.capitalize()
    if name not in DATASET_REGISTRY:
        raise KeyError(
            f"Data set {dataset_name!r} (TRAIN.DATASET / TEST.DATASET) is not registered; "
            f"choose one of {sorted(k.lower() for k, _ in DATASET_REGISTRY)}."
        )
    if cfg.DATA.DECODING_BACKEND == "torchvision":
        _warn_torchvision_backend()
    return DATASET_REGISTRY.get(name)(cfg, split)
