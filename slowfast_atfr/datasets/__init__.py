"""Video data sets; importing this package registers every data set."""

from slowfast_atfr.datasets.build import DATASET_REGISTRY, build_dataset  # noqa: F401
