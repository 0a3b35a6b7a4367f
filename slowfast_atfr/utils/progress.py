"""Progress of long loops: a bar on a terminal, an `eta` in the logs; rank 0 only.

The bar (tqdm) shows only when stderr is a terminal, so logs and CI output stay clean; the
loops' `json_stats` lines carry the same ETA for log files.
"""

import datetime
import logging
import math
import sys
import time
from typing import Iterable, Iterator, Optional, TypeVar

from slowfast_atfr.utils import distributed as du

T = TypeVar("T")
_PACKAGE_LOGGER = "slowfast_atfr"


def eta_text(seconds: float) -> str:
    """`h:mm:ss`, as PySlowFast writes its `eta`."""
    if not math.isfinite(seconds):
        return "unknown"
    return str(datetime.timedelta(seconds=int(max(seconds, 0))))


def shows_bar() -> bool:
    return du.is_master_proc() and sys.stderr.isatty()


def track(iterable: Iterable[T], total: Optional[int], desc: str, unit: str = "it") -> Iterator[T]:
    """`iterable`, with a progress bar (rate and ETA) on a terminal; the package's log lines
    are printed above the bar while it shows."""
    if not shows_bar():
        yield from iterable
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(loggers=[logging.getLogger(_PACKAGE_LOGGER)]):
        yield from tqdm(iterable, total=total, desc=desc, unit=unit, dynamic_ncols=True,
                        leave=False)


class IterationClock:
    """Time per iteration of a loop of `total` iterations, and the time left."""

    def __init__(self, total: int) -> None:
        self.total, self.done = total, 0
        self.start = self.last = time.perf_counter()
        self.last_seconds = float("nan")

    def tick(self) -> None:
        now = time.perf_counter()
        self.done, self.last_seconds, self.last = self.done + 1, now - self.last, now

    def eta_seconds(self) -> float:
        """From the mean time per iteration so far (NaN before the first)."""
        if not self.done:
            return float("nan")
        return (self.last - self.start) / self.done * (self.total - self.done)
