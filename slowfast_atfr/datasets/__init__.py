"""Video data sets; importing this package registers every data set."""

from slowfast_atfr.datasets.build import DATASET_REGISTRY, build_dataset  # noqa: F401
from slowfast_atfr.datasets.kinetics import Kinetics  # noqa: F401
from slowfast_atfr.datasets.ssv2 import Ssv2  # noqa: F401
from slowfast_atfr.datasets.ucf_hmdb import Hmdb51, Ucf101  # noqa: F401
