"""Run engine_run.py (the tiny model's training) in a fresh process, and read what it left."""

import json
import os
import subprocess
import sys

import torch
from ports import free_port

from slowfast_atfr import checkpoint as cu

HERE = os.path.dirname(os.path.abspath(__file__))
RUNNER = os.path.join(HERE, "engine_run.py")
ROOT = os.path.dirname(os.path.dirname(HERE))
# tools/run_net.py as users run it, with the tiny model and data set registered first.
_RUN_NET_WITH_TINY = (f"import runpy, sys; sys.path[:0] = [{HERE!r}, {ROOT!r}]; "
                      "import engine_tiny; runpy.run_path("
                      f"{os.path.join(ROOT, 'tools', 'run_net.py')!r}, run_name='__main__')")


def command(out, *opts):
    return [sys.executable, RUNNER, str(out), f"tcp://localhost:{free_port()}",
            *map(str, opts)]


def torchrun_command(nprocs, *args):
    """`torchrun --nproc_per_node NPROCS tools/run_net.py ARGS` on a free port, with the
    tiny model and data set of engine_tiny.py (run it with `run_env()`)."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nprocs),
            "--master_port", str(free_port()), "--no-python", sys.executable, "-c",
            _RUN_NET_WITH_TINY, *map(str, args)]


def run_env(kill_after=0, signal_name="KILL"):
    return dict(os.environ, ENGINE_RUN_KILL_AFTER=str(kill_after),
                ENGINE_RUN_SIGNAL=signal_name, OMP_NUM_THREADS="1")


def run(out, *opts, kill_after=0, signal_name="KILL", check=True):
    """engine_run.py OUT OPTS...; with `kill_after` N it sends itself `signal_name` after
    its N-th iteration."""
    cmd = command(out, *opts)
    proc = subprocess.run(cmd, env=run_env(kill_after, signal_name), capture_output=True,
                          text=True, timeout=180, start_new_session=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def final_state(out):
    path = cu.get_last_checkpoint(str(out))
    return path, torch.load(path, map_location="cpu", weights_only=True)


def json_stats(out, kind):
    """The json_stats records of `kind` ("train_epoch", ...) in OUT/json_stats.log."""
    with open(os.path.join(str(out), "json_stats.log")) as f:
        records = [json.loads(line) for line in f if line.strip()]
    # The test_final record names itself with "split", as PySlowFast's.
    return [r for r in records if r.get("_type", r.get("split")) == kind]
