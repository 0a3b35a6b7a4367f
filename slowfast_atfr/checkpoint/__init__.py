"""Checkpoints: PySlowFast's `.pyth` files and Caffe2 `.pkl` files, by path or URL.

`from slowfast_atfr import checkpoint as cu` gives what upstream's
`slowfast.utils.checkpoint` gives: `io` names and writes a run's files, `load` reads any
file into a model without running code from it (`safe_pickle`, `convert`, `model_zoo`), and
`resume` is the one order in which a run finds its weights.
"""

from slowfast_atfr.checkpoint.io import (
    NonFiniteWeightsError,
    get_checkpoint_dir,
    get_last_checkpoint,
    get_path_to_checkpoint,
    has_checkpoint,
    load_newest_readable,
    prune_mid_epoch_checkpoints,
    remove_stale_temp_files,
    save_checkpoint,
)
from slowfast_atfr.checkpoint.load import (
    CHECKSUM_KEY,
    FROM_LAST_FOR_TEST,
    FROM_RESUME,
    FROM_TEST,
    FROM_TRAIN,
    FROM_TRAIN_FOR_TEST,
    SAMPLER_PREFIX,
    NonFiniteCheckpointError,
    UnreadableCheckpointError,
    content_digest,
    convert_names,
    load_checkpoint,
    load_optimizer_state,
    load_state,
    non_finite_keys,
    read_checkpoint,
)
from slowfast_atfr.checkpoint.resume import (
    TrainStart,
    load_run_checkpoint,
    load_test_checkpoint,
    load_train_checkpoint,
    load_train_state,
)

__all__ = [
    "CHECKSUM_KEY", "FROM_LAST_FOR_TEST", "FROM_RESUME", "FROM_TEST", "FROM_TRAIN",
    "FROM_TRAIN_FOR_TEST", "SAMPLER_PREFIX", "NonFiniteCheckpointError", "NonFiniteWeightsError",
    "TrainStart", "UnreadableCheckpointError", "content_digest", "convert_names",
    "get_checkpoint_dir", "get_last_checkpoint", "get_path_to_checkpoint", "has_checkpoint",
    "load_checkpoint", "load_newest_readable", "load_optimizer_state", "load_run_checkpoint",
    "load_state", "load_test_checkpoint", "load_train_checkpoint", "load_train_state",
    "non_finite_keys", "prune_mid_epoch_checkpoints", "read_checkpoint",
    "remove_stale_temp_files", "save_checkpoint",
]
