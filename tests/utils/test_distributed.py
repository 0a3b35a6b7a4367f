"""Distributed helpers and a 2-process gloo training on CPU."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from ports import free_port

from slowfast_atfr.utils import distributed as du

ENGINE_TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "engine")


def test_single_process_helpers_are_identity():
    x = torch.arange(3.0)
    assert du.get_world_size() == 1 and du.get_rank() == 0 and du.is_master_proc()
    assert du.all_reduce([x])[0] is x and du.all_gather([x])[0] is x
    assert du.all_gather_strings(["a"]) == ["a"]


def _gather_worker(rank, port, out):
    du.init_process_group(local_rank=rank, local_world_size=2, shard_id=0, num_shards=1,
                          init_method=f"tcp://localhost:{port}", backend="gloo")
    x = torch.full((rank + 1, 2), float(rank))  # rank 0: 1 row, rank 1: 2 rows
    flags = torch.tensor([rank == 0] * (rank + 1))
    gathered, gathered_flags = du.all_gather([x, flags])
    mean = du.all_reduce([torch.tensor([float(rank)])])[0]
    names = du.all_gather_strings([f"v{rank}.mp4"] * (rank + 1))
    if rank == 0:
        torch.save({"x": gathered, "flags": gathered_flags, "mean": mean, "names": names}, out)
    du.destroy_process_group()


def test_all_gather_with_different_sizes_per_rank(tmp_path):
    out = str(tmp_path / "gathered.pt")
    mp.spawn(_gather_worker, nprocs=2, args=(free_port(), out))
    result = torch.load(out, weights_only=True)
    torch.testing.assert_close(result["x"], torch.tensor([[0.0, 0.0], [1, 1], [1, 1]]))
    assert result["flags"].tolist() == [True, False, False]
    assert result["mean"].item() == 0.5
    assert result["names"] == ["v0.mp4", "v1.mp4", "v1.mp4"]


def _fp16_allreduce_worker(rank, port, out):
    from slowfast_atfr.config.defaults import get_cfg

    du.init_process_group(local_rank=rank, local_world_size=2, shard_id=0, num_shards=1,
                          init_method=f"tcp://localhost:{port}", backend="gloo")
    grads = {}
    for fp16 in (False, True):
        cfg = get_cfg()
        cfg.NUM_GPUS, cfg.MODEL.FP16_ALLREDUCE = 0, fp16
        torch.manual_seed(0)
        model = du.place_model(cfg, torch.nn.Linear(1, 1, bias=False))
        # d(loss)/d(weight) = 1.0001 on both ranks: float16 cannot hold it (1 + 2^-10 apart).
        (model(torch.ones(1, 1)) * 1.0001).sum().backward()
        grads[fp16] = model.module.weight.grad.item()
    if rank == 0:
        torch.save(grads, out)
    du.destroy_process_group()


def test_fp16_allreduce_compresses_the_gradients(tmp_path):
    out = str(tmp_path / "grads.pt")
    mp.spawn(_fp16_allreduce_worker, nprocs=2, args=(free_port(), out))
    grads = torch.load(out, weights_only=True)
    assert grads[False] == pytest.approx(1.0001, abs=1e-7)
    assert grads[True] == 1.0  # rounded to float16 for the all-reduce


@pytest.mark.slow
def test_two_process_gloo_training_keeps_ranks_identical(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, ENGINE_RUN_DUMP_STATES="1", OMP_NUM_THREADS="1")
    cmd = [sys.executable, os.path.join(ENGINE_TESTS, "engine_run.py"), str(out),
           f"tcp://localhost:{free_port()}", "NUM_CPU_PROCESSES", "2",
           "ATFR.ENABLED", "True", "ATFR.PATHWAYS", "[True]", "BN.USE_PRECISE_STATS", "True",
           "BN.NUM_BATCHES_PRECISE", "2", "TRAIN.CHECKPOINT_ITER_PERIOD", "0"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    states = [torch.load(out / f"rank{r}_state.pt", weights_only=True) for r in (0, 1)]
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        torch.testing.assert_close(states[0][key], states[1][key], rtol=0, atol=0, msg=key)
    assert sorted(os.listdir(out / "checkpoints")) == ["checkpoint_epoch_00001.pyth",
                                                      "checkpoint_epoch_00002.pyth"]
    with open(out / "json_stats.log") as f:
        lines = [json.loads(line) for line in f]
    # Each json_stats line is written once (rank 0 only): 2 train + 2 val epochs, 1 test.
    assert [d.get("_type", d.get("split")) for d in lines] == [
        "train_epoch", "val_epoch", "train_epoch", "val_epoch", "test_final"]
    assert lines[0]["num_samples"] == 16  # 2 ranks x 8 clips per epoch
    assert lines[-1]["videos_scored"] == lines[-1]["videos_expected"] == 8
    assert lines[-1]["clips_seen"] == 16


def test_a_port_in_use_names_init_method():
    with socket.socket() as taken:
        taken.bind(("localhost", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RuntimeError, match=f"--init_method tcp://localhost:{port}: the port "
                                               "is in use"):
            du.init_process_group(local_rank=0, local_world_size=2, shard_id=0, num_shards=1,
                                  init_method=f"tcp://localhost:{port}", backend="gloo")
