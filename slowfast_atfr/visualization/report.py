"""All figures of a set of runs, or of a reproduce summary, in one folder (tools/plot_results)."""

import json
import os
from typing import Any, Dict, List, Mapping, Sequence, Union

from slowfast_atfr.utils import logging
from slowfast_atfr.visualization import plots
from slowfast_atfr.visualization.run_outputs import load_run

logger = logging.get_logger(__name__)


def _num_pathways(by_class: Mapping[str, Any]) -> int:
    """Pathways of a {class: [B' per pathway] or float} table."""
    first = next(iter(by_class.values()))
    return len(first) if isinstance(first, (list, tuple)) else 1


def _png(out_dir: str, name: str, figure: str, pathway: int) -> str:
    """`<out_dir>/<name>_<figure>.png`, with `_pathway<p>` before .png for pathway p > 0."""
    return os.path.join(out_dir, f"{name}_{figure}{f'_pathway{pathway}' if pathway else ''}.png")


def plot_run(run: Mapping[str, Any], out_dir: str) -> List[str]:
    """Fig. 3 and Table 5 of one run, per pathway (nothing for a run without B' statistics).

    Args:
        run: a `load_run` dict (or a summary entry) with "name", "bprime_histogram",
            "mean_bprime_by_class" and optionally "full_lengths" (T per pathway at the
            sampler: the histograms' axis ends there), "gflops", "baseline_gflops" and
            "mean_bprime_by_motion" ({motion level: B'}, the Kinetics-like miniature).
        out_dir: folder of the PNGs `<name>_bprime_histogram.png`, `<name>_bprime_by_class.png`
            (pathway 0) and `..._pathway<p>.png` (pathway p > 0).
    """
    paths = []
    name = str(run.get("name", "run"))
    stats = {"mean_gflops": run.get("gflops"), "baseline_gflops": run.get("baseline_gflops"),
             "bprime_histogram": run.get("bprime_histogram"),
             "mean_bprime_by_class": run.get("mean_bprime_by_class"),
             "full_lengths": run.get("full_lengths")}
    stats = {k: v for k, v in stats.items() if v is not None}
    if stats.get("bprime_histogram"):
        for pathway in range(len(stats["bprime_histogram"])):
            paths.append(plots.plot_bprime_histogram(
                stats, _png(out_dir, name, "bprime_histogram", pathway), pathway))
    if stats.get("mean_bprime_by_class"):
        for pathway in range(_num_pathways(stats["mean_bprime_by_class"])):
            paths.append(plots.plot_bprime_by_class(
                stats, _png(out_dir, name, "bprime_by_class", pathway), pathway,
                title=f"{name}: mean B' per class"))
    by_motion = run.get("mean_bprime_by_motion")
    if by_motion:
        for pathway in range(_num_pathways(by_motion)):
            paths.append(plots.plot_bprime_by_class(
                {"mean_bprime_by_class": by_motion},
                _png(out_dir, name, "bprime_by_motion", pathway), pathway,
                title=f"{name}: mean B' per motion level", axis_label="motion level"))
    return paths


def plot_runs(run_dirs: Sequence[str], out_dir: str, split: str = "test") -> List[str]:
    """Figures of every run folder, plus accuracy vs. GFLOPs across them (Fig. 4).

    A baseline run has no ATFR statistics, so no GFLOPs here: it is left out of Fig. 4
    unless its folder also holds a `benchmark.json` (tools/benchmark_net.py).
    """
    runs = [_with_benchmark_gflops(load_run(d, split=split), d) for d in run_dirs]
    paths = [p for run in runs for p in plot_run(run, out_dir)]
    paths += _accuracy_vs_gflops(runs, out_dir)
    return paths


def _with_benchmark_gflops(run: Dict[str, Any], run_dir: str) -> Dict[str, Any]:
    path = os.path.join(run_dir, "benchmark.json")
    if run.get("gflops") is None and os.path.isfile(path):
        with open(path) as f:
            run["gflops"] = json.load(f)["atfr" if run.get("atfr") else "baseline"]["gflops"]
    return run


def _accuracy_vs_gflops(runs: Sequence[Mapping[str, Any]], out_dir: str) -> List[str]:
    usable = [r for r in runs if r.get("top1") is not None and r.get("gflops") is not None]
    if not usable:
        logger.warning("No run has both top-1 and GFLOPs: no accuracy vs. GFLOPs plot.")
        return []
    return [plots.plot_accuracy_vs_gflops(usable, os.path.join(out_dir, "accuracy_vs_gflops.png"))]


def summary_runs(summary: Mapping[str, Any]) -> List[Dict[str, Any]]:
    """Every run of a `projects/atfr/reproduce.py` summary as a flat list of run dicts.

    The summary holds "baseline" and "atfr" run dicts and one entry per ablation,
    {"runs": {setting: run dict}, ...}; each run dict has at least "top1", "gflops", "atfr".
    A run that several ablations share (same "output_dir") is listed once.
    """
    runs, seen = [], set()
    for key in ("baseline", "atfr"):
        if isinstance(summary.get(key), Mapping):
            runs.append({**summary[key], "name": key, "family": "main"})
            seen.add(summary[key].get("output_dir", key))
    for ablation, entry in summary.items():
        if isinstance(entry, Mapping) and isinstance(entry.get("runs"), Mapping):
            for setting, run in entry["runs"].items():
                folder = run.get("output_dir", f"{ablation}={setting}")
                if folder not in seen:
                    seen.add(folder)
                    runs.append({**run, "name": f"{ablation}={setting}"})
    return runs


def plot_summary(summary: Union[str, Mapping[str, Any]], out_dir: str) -> List[str]:
    """Fig. 3 and Table 5 of the summary's ATFR run, and Fig. 4 over all of its runs.

    Args:
        summary: a reproduce summary, or the path of its summary.json.
        out_dir: folder of the PNGs.
    """
    if isinstance(summary, str):
        if not os.path.isfile(summary):
            raise FileNotFoundError(f"No summary at {summary}.")
        with open(summary) as f:
            summary = json.load(f)
    runs = summary_runs(summary)
    atfr = [r for r in runs if r["name"] == "atfr"]
    paths = plot_run(atfr[0], out_dir) if atfr else []
    return paths + _accuracy_vs_gflops(runs, out_dir)
