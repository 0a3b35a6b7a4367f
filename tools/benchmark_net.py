#!/usr/bin/env python3
"""Benchmark a model and its non-ATFR twin on the same clips, in one run.

    python tools/benchmark_net.py --cfg configs/Demo/RESNET3D18_ATFR.yaml [KEY VALUE ...]

Mean GFLOPs per clip (exact, over BENCHMARK.NUM_CLIPS test clips), parameters, inference
clips/s, training s/iteration and peak memory; NUM_GPUS 0 runs on the CPU. The two models
are timed alternately in 5 rounds: median and min-max of each timing and of each speed-up.
Writes OUTPUT_DIR/benchmark.json and benchmark.md (its first line is the headline); the
last line printed is one JSON object ("headline" among its keys).
The ATFR model gets the weights a test run would load (TEST.CHECKPOINT_FILE_PATH, else
OUTPUT_DIR's newest checkpoint, else TRAIN.CHECKPOINT_FILE_PATH); both files name them.
Without sampler weights in any of them the headline starts with "UNTRAINED SAMPLER": its B'
and so the GFLOPs and speed-ups are not representative of a trained model.
"""

import json
import os
import sys

# Run from a clean checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from slowfast_atfr.config.defaults import assert_and_infer_cfg  # noqa: E402
from slowfast_atfr.config.parser import load_config, parse_args  # noqa: E402
from slowfast_atfr.engine.benchmark import run_benchmark  # noqa: E402


def main() -> None:
    args = parse_args(description=__doc__)
    for path in args.cfg_files:
        result = run_benchmark(assert_and_infer_cfg(load_config(args, path)))
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
