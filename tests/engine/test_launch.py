"""launch_job: a single process runs in place (torchrun: test_torchrun.py)."""

import pytest
import torch
import torch.distributed as dist
from engine_tiny import tiny_cfg

from slowfast_atfr.engine.launch import launch_job
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils.distributed import processes_per_machine


def test_single_process_runs_without_a_process_group(tmp_path):
    seen = []
    launch_job(tiny_cfg(tmp_path), "tcp://localhost:1", lambda cfg: seen.append(
        (dist.is_initialized(), du.get_world_size())))
    assert seen == [(False, 1)]


def test_processes_per_machine(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"NUM_CPU_PROCESSES": 2})
    assert processes_per_machine(cfg) == 2
    cfg.NUM_GPUS = 4
    assert processes_per_machine(cfg) == 4


def test_gpus_asked_for_but_not_there_is_a_clear_error(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    cfg = tiny_cfg(tmp_path)
    cfg.NUM_GPUS = 1
    with pytest.raises(ValueError, match="NUM_GPUS=1 but this machine has 0 CUDA device.*"
                                         "set NUM_GPUS 0"):
        launch_job(cfg, "tcp://localhost:1", lambda cfg: None)
