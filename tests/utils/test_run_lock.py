"""One run per OUTPUT_DIR: a live run's folder is refused, a dead run's lock taken over."""

import logging
import os
import signal
import socket
import subprocess
import sys

import pytest

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.engine.launch import launch_job
from slowfast_atfr.utils.run_lock import LOCK_NAME, OutputDirInUseError, output_dir_lock

HOLDER = """
import sys, time
from slowfast_atfr.utils.run_lock import output_dir_lock
with output_dir_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """A real process holding tmp_path/run's lock; yields (folder, process)."""
    folder = str(tmp_path / "run")
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, folder], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "locked"
    yield folder, proc
    proc.kill()
    proc.wait()


def test_a_folder_held_by_a_live_run_is_refused_naming_it(holder):
    folder, proc = holder
    with pytest.raises(OutputDirInUseError) as err:
        with output_dir_lock(folder):
            pass
    message = str(err.value)
    assert folder in message and f"PID {proc.pid} on host {socket.gethostname()}" in message
    assert "set OUTPUT_DIR to another folder" in message


def test_launch_job_refuses_before_running_anything(holder):
    folder, _ = holder
    cfg = get_cfg()
    cfg.OUTPUT_DIR, cfg.NUM_GPUS = folder, 0
    ran = []
    with pytest.raises(OutputDirInUseError):
        launch_job(cfg, "tcp://localhost:9", ran.append)
    assert ran == []


def test_a_dead_runs_lock_is_taken_over_with_a_warning(holder, caplog):
    folder, proc = holder
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait()
    assert os.path.exists(os.path.join(folder, LOCK_NAME))
    with caplog.at_level(logging.WARNING), output_dir_lock(folder):
        pass
    assert f"a run that is gone (PID {proc.pid} on host" in caplog.text
    assert not os.path.exists(os.path.join(folder, LOCK_NAME)), "released at the end"


def test_a_released_lock_is_taken_quietly(tmp_path, caplog):
    folder = str(tmp_path / "run")
    for _ in range(2):
        with caplog.at_level(logging.WARNING), output_dir_lock(folder):
            pass
    assert "gone" not in caplog.text
