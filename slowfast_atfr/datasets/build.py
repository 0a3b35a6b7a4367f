"""DATASET_REGISTRY and `build_dataset`."""

from fvcore.common.registry import Registry

DATASET_REGISTRY = Registry("DATASET")
DATASET_REGISTRY.__doc__ = """
Registry of data sets (Kinetics, Ssv2, Ucf101, Hmdb51, ...).

A registered class is built as `cls(cfg, split)` with split in {"train", "val", "test"}
and returns a torch Dataset whose items are `(frames, label, index, extra)`: `frames`
is a list of `[C, T, H, W]` tensors, one per pathway.
"""


def build_dataset(dataset_name: str, cfg, split: str):
    """Build the data set registered as `dataset_name.capitalize()` for `split`."""
    name = dataset_name.capitalize()
    if name not in DATASET_REGISTRY:
        raise KeyError(
            f"Data set {dataset_name!r} (TRAIN.DATASET / TEST.DATASET) is not registered; "
            f"choose one of {sorted(k.lower() for k, _ in DATASET_REGISTRY)}."
        )
    return DATASET_REGISTRY.get(name)(cfg, split)
