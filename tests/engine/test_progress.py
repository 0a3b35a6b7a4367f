"""Progress you can see: ETAs in the logs of training, validation and test, and bars with rate
and ETA on a terminal."""

import fcntl
import json
import logging
import os
import pty
import re
import struct
import subprocess
import termios

from engine_tiny import tiny_cfg
from subprocess_runs import command, run_env

from slowfast_atfr.datasets.loader import construct_loader
from slowfast_atfr.engine.evaluator import perform_test
from slowfast_atfr.engine.trainer import Trainer
from slowfast_atfr.utils.progress import IterationClock, eta_text

ETA = re.compile(r"\d+:\d\d:\d\d\Z")


def _records(caplog, kind):
    lines = [r.getMessage().split("json_stats: ", 1)[1] for r in caplog.records
             if r.getMessage().startswith("json_stats: ")]
    return [json.loads(line) for line in lines if f'"_type": "{kind}"' in line]


def test_train_val_and_test_log_their_eta(tmp_path, caplog):
    cfg = tiny_cfg(tmp_path, **{"LOG_PERIOD": 1, "SOLVER.MAX_EPOCH": 2})
    with caplog.at_level(logging.INFO, logger="slowfast_atfr"):
        trainer = Trainer(cfg)
        trainer.train()
        perform_test(cfg, trainer.model, construct_loader(cfg, "test"))
    train, val, test = (_records(caplog, k) for k in ("train_iter", "val_iter", "test_iter"))
    assert len(train) == 8 and len(val) == 4 and len(test) == 4  # 2 x 4, 2 x 2, 16 clips / 4
    assert all(ETA.match(r["eta"]) for r in train + val + test)
    assert train[-1]["eta"] == val[-1]["eta"] == test[-1]["eta"] == "0:00:00"


def test_eta_of_a_loop():
    clock = IterationClock(4)
    assert eta_text(clock.eta_seconds()) == "unknown"
    clock.start -= 30.0  # as if the first iteration took 30 s
    clock.tick()
    assert 89.9 < clock.eta_seconds() < 90.2 and eta_text(clock.eta_seconds()) == "0:01:30"


def test_a_terminal_shows_bars_with_rate_and_eta(tmp_path):
    """On a real pseudo-terminal, training, validation and test draw tqdm bars."""
    leader, follower = pty.openpty()
    # A terminal of 120 x 40 (a fresh pseudo-terminal has no size: bars would be 0 wide).
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(command(tmp_path, "SOLVER.MAX_EPOCH", "1"), env=run_env(),
                            stdout=subprocess.DEVNULL, stderr=follower)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert proc.wait(timeout=120) == 0, screen.decode(errors="replace")
    text = screen.decode(errors="replace")
    for desc in ("Epoch 1/1", "Validation", "Test"):
        assert re.search(re.escape(desc) + r":.*\|.*it/s\]", text), (desc, text[-2000:])
