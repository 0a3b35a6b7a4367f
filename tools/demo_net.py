#!/usr/bin/env python3
"""Predict sliding windows of DEMO.INPUT_VIDEO: top-k classes and B' per window.

    python tools/demo_net.py --cfg configs/Demo/RESNET3D18_ATFR.yaml \
        DEMO.INPUT_VIDEO my_video.mp4 TEST.CHECKPOINT_FILE_PATH model.pyth [KEY VALUE ...]

Writes one JSON line per window to DEMO.OUTPUT_FILE (default OUTPUT_DIR/demo.json) and a
timeline of the top-1 class and B' next to it (demo.png). The video is decoded as a stream,
so its length does not change the memory needed. Runs only this job, whatever
TRAIN.ENABLE / TEST.ENABLE / DEMO.ENABLE say.
"""

import os
import sys

# Run from a clean checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from slowfast_atfr.config.parser import parse_args  # noqa: E402
from slowfast_atfr.engine.launch import run_net  # noqa: E402


def main() -> None:
    args = parse_args(description=__doc__)
    args.opts = (args.opts or []) + ["DEMO.ENABLE", "True"]
    run_net(args, jobs=("demo",))


if __name__ == "__main__":
    main()
