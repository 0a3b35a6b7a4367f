#!/usr/bin/env python3
"""Train, then test, then run the demo of a video model, as the config enables them.

    python tools/run_net.py --cfg configs/Demo/RESNET3D18_ATFR.yaml [KEY VALUE ...]

Several machines: add --init_method tcp://HOST:PORT --num_shards N --shard_id I.
Under torchrun the ranks are taken from RANK / WORLD_SIZE / LOCAL_RANK.
"""

import os
import sys

# Run from a clean checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from slowfast_atfr.config.parser import parse_args  # noqa: E402
from slowfast_atfr.engine.launch import run_net  # noqa: E402


def main() -> None:
    run_net(parse_args(description=__doc__))


if __name__ == "__main__":
    main()
