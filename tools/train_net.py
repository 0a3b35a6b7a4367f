#!/usr/bin/env python3
"""Train a video model (TRAIN.* keys); resumes with TRAIN.AUTO_RESUME.

    python tools/train_net.py --cfg configs/Demo/RESNET3D18_ATFR.yaml [KEY VALUE ...]

Runs only this job, whatever TRAIN.ENABLE / TEST.ENABLE / DEMO.ENABLE say.
"""

import os
import sys

# Run from a clean checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from slowfast_atfr.config.parser import parse_args  # noqa: E402
from slowfast_atfr.engine.launch import run_net  # noqa: E402


def main() -> None:
    args = parse_args(description=__doc__)
    args.opts = (args.opts or []) + ["TRAIN.ENABLE", "True"]
    run_net(args, jobs=("train",))


if __name__ == "__main__":
    main()
