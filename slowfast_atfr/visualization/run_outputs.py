"""Read what a train/test run left in its OUTPUT_DIR, for plots and result tables.

A run folder holds `json_stats.log` (one JSON object per line; `stdout.log` has the same
objects after `json_stats: `), `atfr_stats_<split>.json` (mean GFLOPs, B' histogram, mean
B' per class) when ATFR was on, and `config.yaml`.
"""

import json
import os
from typing import Any, Dict, List, Optional

import yaml

from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)

_MARKER = "json_stats: "
_TEST_TAGS = ("test_final",)


def read_json_stats(path: str) -> List[Dict[str, Any]]:
    """All json_stats objects of a log, in order.

    Args:
        path: `json_stats.log` (one object per line) or a text log whose lines contain
            `json_stats: {...}` (stdout.log). Lines that do not parse are skipped.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No json_stats log at {path}.")
    records = []
    with open(path) as f:
        for line in f:
            text = line.split(_MARKER, 1)[1] if _MARKER in line else line
            text = text.strip()
            if not text.startswith("{"):
                continue
            try:
                records.append(json.loads(text))
            except json.JSONDecodeError:
                logger.warning("Skipping a json_stats line of %s that does not parse.", path)
    return records


def _tag(record: Dict[str, Any]) -> str:
    return str(record.get("_type", record.get("split", "")))


def final_test_stats(records: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The last test_final record, or else the last val epoch record (None when neither)."""
    for tags in (_TEST_TAGS, ("val_epoch",)):
        found = [r for r in records if _tag(r) in tags]
        if found:
            return found[-1]
    return None


def read_atfr_stats(output_dir: str, split: str = "test") -> Optional[Dict[str, Any]]:
    """`OUTPUT_DIR/atfr_stats_<split>.json`, or None when the run wrote none."""
    path = os.path.join(output_dir, f"atfr_stats_{split}.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _atfr_enabled(output_dir: str) -> Optional[bool]:
    path = os.path.join(output_dir, "config.yaml")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    return bool(cfg.get("ATFR", {}).get("ENABLED", False))


def load_run(output_dir: str, name: str = "", split: str = "test") -> Dict[str, Any]:
    """One run's headline numbers: the point it adds to Fig. 4 and a row of a table.

    Args:
        output_dir: the run's OUTPUT_DIR.
        name: label of the run (default: the folder name).
        split: which `atfr_stats_<split>.json` gives the GFLOPs and B'.
    Returns:
        {"name", "atfr", "top1", "top5", "gflops", "baseline_gflops", "mean_bprime",
        "mean_bprime_by_class", "bprime_histogram", "full_lengths" (T per pathway at the
        sampler)}; a value is None when the run did not
        produce it. "gflops" is the ATFR stats' mean, else the "gflops" key of the final test
        record (the evaluator writes both there).
    """
    if not os.path.isdir(output_dir):
        raise FileNotFoundError(f"Run folder not found: {output_dir}")
    log = os.path.join(output_dir, logging.JSON_STATS_FILE)
    final = final_test_stats(read_json_stats(log)) if os.path.isfile(log) else None
    stats = read_atfr_stats(output_dir, split)
    if final is None and stats is None:
        raise FileNotFoundError(
            f"{output_dir} holds no run results: neither {logging.JSON_STATS_FILE} with a "
            f"final test record nor atfr_stats_{split}.json (is it a run's OUTPUT_DIR?)."
        )
    enabled = _atfr_enabled(output_dir)
    if enabled is None:
        enabled = stats is not None
    stats = stats or {}
    return {
        "name": name or os.path.basename(os.path.normpath(output_dir)),
        "atfr": enabled,
        "top1": None if final is None else final.get("top1_acc"),
        "top5": None if final is None else final.get("top5_acc"),
        "gflops": stats.get("mean_gflops", (final or {}).get("gflops")),
        "baseline_gflops": stats.get("baseline_gflops", (final or {}).get("baseline_gflops")),
        "mean_bprime": stats.get("mean_bprime"),
        "mean_bprime_by_class": stats.get("mean_bprime_by_class"),
        "bprime_histogram": stats.get("bprime_histogram"),
        "full_lengths": stats.get("full_lengths"),
    }
