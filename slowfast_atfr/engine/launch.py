"""Run a job in NUM_GPUS (or NUM_CPU_PROCESSES) processes per machine, or under torchrun."""

import argparse
import atexit
import contextlib
import logging
import os
import signal
import sys
from typing import Callable, Sequence

import torch
import torch.multiprocessing as mp
from fvcore.common.config import CfgNode

from slowfast_atfr.config.defaults import assert_and_infer_cfg
from slowfast_atfr.config.parser import load_config
from slowfast_atfr.engine.demo import run_demo
from slowfast_atfr.engine.evaluator import test
from slowfast_atfr.engine.preemption import TrainingInterrupted, forwarding_to
from slowfast_atfr.engine.trainer import train
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils.run_lock import output_dir_lock

Job = Callable[[CfgNode], object]


def _worker(local_rank: int, func: Job, init_method: str, cfg: CfgNode) -> None:
    if cfg.NUM_GPUS > 0:
        torch.cuda.set_device(local_rank)
    du.init_process_group(
        local_rank=local_rank, local_world_size=du.processes_per_machine(cfg),
        shard_id=cfg.SHARD_ID, num_shards=cfg.NUM_SHARDS, init_method=init_method,
        backend=cfg.DIST_BACKEND,
    )
    exit_code = 0
    try:
        func(cfg)
        du.synchronize()
    except TrainingInterrupted as err:
        exit_code = err.exit_code  # the parent turns it back into TrainingInterrupted
    finally:
        du.destroy_process_group()
    # A spawned rank that ran to the end leaves without running C++ static destructors: in
    # about 1 of 7 two-process CPU runs one of them aborted there ("terminate called without
    # an active exception", SIGABRT) after all its work was done and written.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)


def launch_job(cfg: CfgNode, init_method: str, func: Job) -> None:
    """Run `func(cfg)` in every process of the job.

    Under torchrun (RANK, WORLD_SIZE and LOCAL_RANK set) this process is one rank: the first
    job joins torchrun's process group through env://, later jobs of this process reuse it
    (see `_join_torchrun_group`). Otherwise one process per GPU (or per CPU process) is
    spawned on this machine and joins `init_method` as shard SHARD_ID of NUM_SHARDS; a
    single process runs `func` directly without a process group. The job holds the
    OUTPUT_DIR lock (rank 0's machine), and the spawning process passes SIGTERM and SIGINT
    on to its ranks.

    Raises:
        ValueError: the config's processes differ from torchrun's, or NUM_GPUS from the
            machine's devices.
        OutputDirInUseError: another live run uses OUTPUT_DIR.
        TrainingInterrupted: a signal stopped training after a checkpoint.
    """
    torchrun = du.launched_by_torchrun()
    if torchrun:
        du.check_torchrun_world(cfg)
    du.check_devices(cfg)
    first_machine = int(os.environ["RANK"]) == 0 if torchrun else cfg.SHARD_ID == 0
    lock = output_dir_lock(cfg.OUTPUT_DIR) if first_machine else contextlib.nullcontext()
    with lock:
        _launch(cfg, init_method, func)


def _join_torchrun_group(cfg: CfgNode) -> None:
    """Join torchrun's process group on the first job; later jobs reuse it.

    The group lives as long as the process and is left at its exit (also when a job
    raises). A group initialised again after being destroyed gets the first one's name and
    so meets its connection keys, still in torchrun's store: train then test in one command
    hung in the test's first collective in 16 of 30 two-process CPU runs.
    """
    if cfg.NUM_GPUS > 0:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    if torch.distributed.is_initialized():
        backend = torch.distributed.get_backend()
        if backend != cfg.DIST_BACKEND:
            raise ValueError(
                f"DIST_BACKEND={cfg.DIST_BACKEND} but an earlier job of this torchrun "
                f"command joined a {backend} process group; give every config the same "
                "DIST_BACKEND, or run them in separate torchrun commands."
            )
        return
    torch.distributed.init_process_group(backend=cfg.DIST_BACKEND, init_method="env://",
                                         timeout=du.PROCESS_GROUP_TIMEOUT)
    atexit.register(du.destroy_process_group)


def _launch(cfg: CfgNode, init_method: str, func: Job) -> None:
    if du.launched_by_torchrun():
        _join_torchrun_group(cfg)
        func(cfg)
        du.synchronize()  # no rank starts the next job while another finishes this one
        return
    nprocs = du.processes_per_machine(cfg)
    if nprocs * cfg.NUM_SHARDS == 1:
        func(cfg)
        return
    context = mp.start_processes(_worker, nprocs=nprocs, args=(func, init_method, cfg),
                                 daemon=False, join=False, start_method="spawn")
    with forwarding_to(lambda: [p.pid for p in context.processes if p.is_alive()]):
        try:
            while not context.join():
                pass
        except mp.ProcessExitedException as err:
            signum = err.exit_code - 128
            if signum in (signal.SIGTERM, signal.SIGINT):
                raise TrainingInterrupted(signum, None) from None
            raise


def run_net(args: argparse.Namespace, jobs: Sequence[str] = ("train", "test", "demo")) -> None:
    """For each `--cfg` file: train if TRAIN.ENABLE, test if TEST.ENABLE, demo if DEMO.ENABLE.

    Each job gets its own copy of the config (multigrid rewrites the training one).
    The demo runs in this process only. Training stopped by SIGTERM or SIGINT (after its
    checkpoint and log line) exits with the shell's code for that signal (143, 130), so a
    scheduler sees the job unfinished; rerunning resumes it.
    """
    for path in args.cfg_files:
        cfg = assert_and_infer_cfg(load_config(args, path))
        if "train" in jobs and cfg.TRAIN.ENABLE:
            try:
                launch_job(cfg.clone(), args.init_method, train)
            except TrainingInterrupted as err:
                raise SystemExit(err.exit_code) from None
        if "test" in jobs and cfg.TEST.ENABLE:
            launch_job(cfg.clone(), args.init_method, test)
        if "demo" in jobs and cfg.DEMO.ENABLE:
            run_demo(cfg.clone())
