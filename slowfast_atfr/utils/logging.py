"""Logging set-up: only rank 0 writes; metrics go out as one `json_stats:` line."""

import logging
import os
import sys
from typing import Any, Dict, Optional

import simplejson

_FORMAT = "[%(asctime)s][%(levelname)s] %(name)s:%(lineno)d: %(message)s"
_ROOT = "slowfast_atfr"
JSON_STATS_FILE = "json_stats.log"


def get_logger(name: str) -> logging.Logger:
    """Return the logger of module `name` (a child of the package logger)."""
    return logging.getLogger(name)


def setup_logging(output_dir: Optional[str] = None, rank: int = 0) -> None:
    """Send the package's INFO logs to stdout (and OUTPUT_DIR/stdout.log) on rank 0 only.

    Other ranks log errors only, so a multi-process run prints each line once.
    """
    root = logging.getLogger(_ROOT)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.propagate = False
    if rank != 0:
        root.setLevel(logging.ERROR)
        root.addHandler(logging.StreamHandler(sys.stderr))
        return
    root.setLevel(logging.INFO)
    formatter = logging.Formatter(_FORMAT, datefmt="%m/%d %H:%M:%S")
    stream = logging.StreamHandler(sys.stdout)
    stream.setFormatter(formatter)
    root.addHandler(stream)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        file_handler = logging.FileHandler(os.path.join(output_dir, "stdout.log"))
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.6g}")
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v) for v in value]
    return value


def log_json_stats(stats: Dict[str, Any], output_dir: Optional[str] = None) -> str:
    """Log `stats` as one `json_stats: {...}` line and append it to OUTPUT_DIR/json_stats.log.

    Callers log on rank 0 only (the meters check it). Returns the JSON text.
    """
    text = simplejson.dumps(_round(stats), sort_keys=True, ignore_nan=True)
    get_logger(__name__).info("json_stats: %s", text)
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, JSON_STATS_FILE), "a") as f:
            f.write(text + "\n")
    return text
