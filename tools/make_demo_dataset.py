#!/usr/bin/env python3
"""Write a built-in data set: the motion demo (Kinetics or SSv2 format, see
slowfast_atfr.datasets.demo) or the Kinetics-like photo miniature (see
slowfast_atfr.datasets.kinetics_like; needs scikit-image)."""

import argparse
import dataclasses
import logging

from slowfast_atfr.datasets.demo import make_demo_dataset, make_demo_ssv2_dataset
from slowfast_atfr.datasets.kinetics_like import make_kinetics_like_dataset
from slowfast_atfr.datasets.photo_clips import Difficulty


def _add_difficulty_args(parser: argparse.ArgumentParser) -> None:
    """One option per Difficulty field, so that the knobs and their defaults stay in one place."""
    group = parser.add_argument_group("kinetics_like difficulty (photo_clips.Difficulty)")
    for field in dataclasses.fields(Difficulty):
        pair = isinstance(field.default, tuple)
        group.add_argument(f"--{field.name.replace('_', '-')}", nargs=2 if pair else None,
                           type=int if isinstance(field.default, int) else float,
                           default=field.default, metavar=("MIN", "MAX") if pair else None,
                           help=field.name.replace("_", " "))


def _difficulty(args: argparse.Namespace) -> Difficulty:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Difficulty)}
    return Difficulty(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--root", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same videos")
    parser.add_argument("--format", choices=("kinetics", "ssv2", "kinetics_like"),
                        default="kinetics", help="list-file layout, or the photo miniature")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="the first N classes: 2 to 8 motion classes (default 8), 2 to 12 "
                             "kinetics_like classes (default 12)")
    parser.add_argument("--videos-per-class", type=int, default=40, help="train videos")
    parser.add_argument("--val-videos-per-class", type=int, default=10, help="val videos")
    parser.add_argument("--test-videos-per-class", type=int, default=10, help="not SSv2")
    parser.add_argument("--frames", type=int, default=48, help="frames per video")
    parser.add_argument("--size", type=int, default=None,
                        help="frame height and width (default 80; kinetics_like 96)")
    parser.add_argument("--fps", type=int, default=30, help="frame rate")
    parser.add_argument("--as-frames", action="store_true", help="SSv2: jpg folders")
    _add_difficulty_args(parser)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    common = dict(videos_per_class=args.videos_per_class,
                  val_videos_per_class=args.val_videos_per_class, frames=args.frames,
                  fps=args.fps)
    common.update({k: v for k, v in (("num_classes", args.num_classes), ("size", args.size))
                   if v is not None})
    if args.format == "kinetics_like":
        make_kinetics_like_dataset(args.root, args.seed,
                                   test_videos_per_class=args.test_videos_per_class,
                                   difficulty=_difficulty(args), **common)
    elif args.format == "kinetics":
        make_demo_dataset(args.root, args.seed, test_videos_per_class=args.test_videos_per_class,
                          **common)
    else:
        make_demo_ssv2_dataset(args.root, args.seed, as_frames=args.as_frames, **common)


if __name__ == "__main__":
    main()
