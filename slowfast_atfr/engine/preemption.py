"""Stop a training run cleanly on SIGTERM (a scheduler's preemption) or SIGINT (Ctrl-C).

The handler only records the signal; the train loop checks it after each iteration, agrees
on it across ranks, saves a checkpoint at that iteration and raises `TrainingInterrupted`.
Repeats are ignored: a scheduler or a terminal often signals every process of a job, and the
launcher forwards the signals it gets to its ranks too. SIGKILL still ends a run at once.
"""

import contextlib
import os
import signal
import threading
from typing import Callable, Dict, Iterator, Optional, Sequence

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving its state; rerunning resumes it."""

    def __init__(self, signum: int, checkpoint: Optional[str]):
        super().__init__(f"training stopped by {signal.Signals(signum).name}; "
                         f"checkpoint: {checkpoint}")
        self.signum = signum
        self.checkpoint = checkpoint

    @property
    def exit_code(self) -> int:
        """The shell's code for death by this signal: the job did not finish."""
        return 128 + self.signum


class StopSignals:
    """Context manager: while inside, SIGTERM and SIGINT set `received` instead of killing.

    Outside the main thread (signals cannot be caught there) it records nothing.
    """

    def __init__(self) -> None:
        self.received = 0
        self._handlers = contextlib.ExitStack()

    def _handle(self, signum: int, _frame) -> None:
        self.received = self.received or signum

    def __enter__(self) -> "StopSignals":
        self.received = 0
        self._handlers.enter_context(handling(STOP_SIGNALS, self._handle))
        return self

    def __exit__(self, *exc) -> None:
        self._handlers.close()


@contextlib.contextmanager
def handling(signums: Sequence[int], handler: Callable) -> Iterator[None]:
    """Install `handler` for `signums` (main thread only), restoring the old ones after."""
    previous: Dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def forwarding_to(pids: Callable[[], Sequence[int]]) -> contextlib.AbstractContextManager:
    """While inside, SIGTERM and SIGINT are passed on to the processes `pids()` names."""

    def forward(signum: int, _frame) -> None:
        for pid in pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    return handling(STOP_SIGNALS, forward)
