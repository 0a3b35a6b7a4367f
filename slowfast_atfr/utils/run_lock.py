"""One run per OUTPUT_DIR: an advisory lock file naming the run that holds it.

The kernel drops a `flock` when its process dies, even by SIGKILL, so a lock file that is
present but not locked was left by a dead run and is taken over with a warning.
"""

import contextlib
import datetime
import fcntl
import json
import os
import socket
from typing import Iterator

from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)

LOCK_NAME = ".run.lock"


class OutputDirInUseError(RuntimeError):
    """Another live run holds the OUTPUT_DIR lock."""


def _holder(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 4096).decode("utf-8", errors="replace")
    try:
        info = json.loads(text)
        return f"PID {info['pid']} on host {info['host']}, started {info['started']}"
    except (ValueError, KeyError, TypeError):
        return repr(text) if text else ""


def _open_locked(path: str) -> int:
    """Open and lock `path`; retry when a releasing run removed the file meanwhile."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            folder = os.path.dirname(path)
            raise OutputDirInUseError(
                f"OUTPUT_DIR {folder!r} is in use by another run ({holder}; lock {path}). "
                "Wait for it to end or stop it, or set OUTPUT_DIR to another folder."
            ) from None
        try:
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def output_dir_lock(output_dir: str) -> Iterator[None]:
    """Hold OUTPUT_DIR/.run.lock for the duration of a job.

    Raises:
        OutputDirInUseError: a live run holds it (the message names its host and PID).
    """
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, LOCK_NAME)
    fd = _open_locked(path)
    try:
        stale = _holder(fd)
        if stale:
            logger.warning("Taking over the lock %s of a run that is gone (%s).", path, stale)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.datetime.now().isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode("utf-8"), 0)
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        os.close(fd)
