#!/usr/bin/env python3
"""Write the built-in demo data set (Kinetics or SSv2 format): see slowfast_atfr.datasets.demo."""

import argparse
import logging

from slowfast_atfr.datasets.demo import make_demo_dataset, make_demo_ssv2_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--root", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same videos")
    parser.add_argument("--format", choices=("kinetics", "ssv2"), default="kinetics",
                        help="list-file layout")
    parser.add_argument("--num-classes", type=int, default=8,
                        help="2 to 8 (the motion classes, in order)")
    parser.add_argument("--videos-per-class", type=int, default=40, help="train videos")
    parser.add_argument("--val-videos-per-class", type=int, default=10, help="val videos")
    parser.add_argument("--test-videos-per-class", type=int, default=10, help="Kinetics only")
    parser.add_argument("--frames", type=int, default=48, help="frames per video")
    parser.add_argument("--size", type=int, default=80, help="frame height and width")
    parser.add_argument("--fps", type=int, default=30, help="frame rate")
    parser.add_argument("--as-frames", action="store_true", help="SSv2: jpg folders")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    common = dict(num_classes=args.num_classes, videos_per_class=args.videos_per_class,
                  val_videos_per_class=args.val_videos_per_class, frames=args.frames,
                  size=args.size, fps=args.fps)
    if args.format == "kinetics":
        make_demo_dataset(args.root, args.seed, test_videos_per_class=args.test_videos_per_class,
                          **common)
    else:
        make_demo_ssv2_dataset(args.root, args.seed, as_frames=args.as_frames, **common)


if __name__ == "__main__":
    main()
