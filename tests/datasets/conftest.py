"""Fixtures of the data tests."""

import pytest
from dataset_helpers import NUM_DEMO_CLASSES

from slowfast_atfr.datasets.demo import make_demo_dataset


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> str:
    """A tiny Kinetics-format demo data set (3 classes; 2/1/1 videos per class; 16 x 40 px)."""
    root = str(tmp_path_factory.mktemp("demo"))
    make_demo_dataset(root, seed=0, num_classes=NUM_DEMO_CLASSES, videos_per_class=2,
                      val_videos_per_class=1, test_videos_per_class=1, frames=16, size=40)
    return root
