#!/usr/bin/env python3
"""Draw the paper's figures (Fig. 3, Table 5, Fig. 4, Fig. A.5) from run outputs, as PNGs.

    python tools/plot_results.py runs OUTPUT_DIR [OUTPUT_DIR ...] --out plots/
    python tools/plot_results.py summary projects/atfr/results/summary.json --out plots/
    python tools/plot_results.py sgs --cfg configs/Demo/RESNET3D18_ATFR.yaml --clip 0 \
        --out plots/sgs_maps.png OUTPUT_DIR runs/atfr [KEY VALUE ...]
"""

import argparse
import os
import sys

# Run from a clean checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from slowfast_atfr.config.defaults import assert_and_infer_cfg  # noqa: E402
from slowfast_atfr.config.parser import load_config  # noqa: E402
from slowfast_atfr.visualization.report import plot_runs, plot_summary  # noqa: E402
from slowfast_atfr.visualization.sgs_maps import render_sgs_figure  # noqa: E402


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    runs = sub.add_parser("runs", help="B' plots of each run folder, accuracy vs. GFLOPs.")
    runs.add_argument("run_dirs", nargs="+")
    runs.add_argument("--split", default="test", help="atfr_stats_<split>.json to read.")
    runs.add_argument("--out", required=True, help="Folder of the PNGs.")
    summary = sub.add_parser("summary", help="Figures of a projects/atfr summary.json.")
    summary.add_argument("summary")
    summary.add_argument("--out", required=True, help="Folder of the PNGs.")
    sgs = sub.add_parser("sgs", help="SGS input/output maps of one test clip (Fig. A.5).")
    sgs.add_argument("--cfg", dest="cfg_files", nargs=1, required=True)
    sgs.add_argument("--clip", type=int, default=0, help="Index into the test data set.")
    sgs.add_argument("--pathway", type=int, default=0)
    sgs.add_argument("--out", required=True, help="PNG file to write.")
    sgs.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides.")
    return parser.parse_args()


def main() -> None:
    args = parse()
    if args.command == "runs":
        paths = plot_runs(args.run_dirs, args.out, args.split)
    elif args.command == "summary":
        paths = plot_summary(args.summary, args.out)
    else:
        cfg = assert_and_infer_cfg(load_config(args))
        paths = [render_sgs_figure(cfg, args.out, args.clip, args.pathway)]
    print("\n".join(paths))


if __name__ == "__main__":
    main()
