"""Process groups, collective helpers, model placement (device, SyncBN, DDP)."""

import datetime
import json
import os
from typing import Any, List, Sequence

import torch
import torch.distributed as dist
from fvcore.common.config import CfgNode
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)

_TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
# How long a collective waits for the other ranks (a slow rank's evaluation, checkpoint).
PROCESS_GROUP_TIMEOUT = datetime.timedelta(minutes=30)


def launched_by_torchrun() -> bool:
    """True when torchrun (env:// rendezvous) started this process."""
    return all(v in os.environ for v in _TORCHRUN_VARS)


def check_torchrun_world(cfg: CfgNode) -> None:
    """Raise, naming the keys and torchrun's flags, when the config's processes differ from
    torchrun's: the loaders divide TRAIN.BATCH_SIZE and TEST.BATCH_SIZE by the processes
    per machine of the config, so a mismatch would silently change the batch."""
    procs = processes_per_machine(cfg)
    key = "NUM_GPUS" if cfg.NUM_GPUS > 0 else "NUM_CPU_PROCESSES"
    local = int(os.environ.get("LOCAL_WORLD_SIZE", procs))  # torchrun sets it
    if local != procs:
        raise ValueError(
            f"torchrun starts {local} process(es) per machine (--nproc_per_node {local}) but "
            f"the config asks for {procs} ({key}={cfg[key]}); set {key} {local} to match "
            f"--nproc_per_node {local}, or pass --nproc_per_node {procs}."
        )
    world = int(os.environ["WORLD_SIZE"])
    if procs * cfg.NUM_SHARDS != world:
        fix = (f"pass --num_shards {world // procs} to match --nnodes {world // procs}"
               if world % procs == 0 else f"give every machine --nproc_per_node {procs}")
        raise ValueError(
            f"torchrun starts {world} process(es) in all but the config asks for "
            f"{procs * cfg.NUM_SHARDS} ({key}={cfg[key]} per machine x NUM_SHARDS="
            f"{cfg.NUM_SHARDS} machines); {fix}."
        )


def init_process_group(
    *, local_rank: int, local_world_size: int, shard_id: int, num_shards: int,
    init_method: str, backend: str,
) -> None:
    """Join the process group of `num_shards` machines with `local_world_size` ranks each."""
    world_size = local_world_size * num_shards
    rank = shard_id * local_world_size + local_rank
    try:
        dist.init_process_group(
            backend=backend, init_method=init_method, world_size=world_size, rank=rank,
            timeout=PROCESS_GROUP_TIMEOUT,
        )
    except RuntimeError as err:  # DistNetworkError is one
        if "EADDRINUSE" not in str(err) and "address already in use" not in str(err).lower():
            raise
        raise RuntimeError(
            f"--init_method {init_method}: the port is in use (another run on this machine?); "
            "pass a free one, e.g. --init_method tcp://localhost:29533."
        ) from err


def get_world_size() -> int:
    """Number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def get_rank() -> int:
    """Global rank of this process (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_master_proc() -> bool:
    """True on global rank 0: the only rank that logs and writes files."""
    return get_rank() == 0


def synchronize() -> None:
    """Barrier over all processes (no-op for one process)."""
    if get_world_size() > 1:
        dist.barrier()


def all_reduce(tensors: Sequence[torch.Tensor], average: bool = True) -> List[torch.Tensor]:
    """Sum (or average) each tensor over all processes, in place; returns the tensors."""
    if get_world_size() == 1:
        return list(tensors)
    for tensor in tensors:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        if average:
            tensor.div_(get_world_size())
    return list(tensors)


def _gather_per_rank(tensor: torch.Tensor) -> List[torch.Tensor]:
    """Gather `tensor` from every rank (dim 0 may differ per rank); one tensor per rank."""
    if tensor.dtype == torch.bool:
        return [p.bool() for p in _gather_per_rank(tensor.to(torch.uint8))]
    size = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = [torch.zeros_like(size) for _ in range(get_world_size())]
    dist.all_gather(sizes, size)
    max_size = int(max(s.item() for s in sizes))
    padded = tensor.new_zeros((max_size,) + tuple(tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    parts = [torch.zeros_like(padded) for _ in range(get_world_size())]
    dist.all_gather(parts, padded)
    return [p[: int(s.item())] for p, s in zip(parts, sizes)]


def all_gather(tensors: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """Concatenate each tensor over processes along dim 0 (rank order); sizes may differ."""
    if get_world_size() == 1:
        return list(tensors)
    return [torch.cat(_gather_per_rank(t), dim=0) for t in tensors]


def all_gather_strings(items: Sequence[str]) -> List[str]:
    """Gather lists of strings (e.g. bad video paths) from all processes, in rank order."""
    if get_world_size() == 1:
        return list(items)
    device = torch.device("cuda", torch.cuda.current_device()) if (
        dist.get_backend() == "nccl") else torch.device("cpu")
    data = torch.tensor(list(json.dumps(list(items)).encode("utf-8")), dtype=torch.uint8,
                        device=device)
    parts = _gather_per_rank(data)
    return [s for part in parts for s in json.loads(bytes(part.cpu().tolist()).decode("utf-8"))]


def all_gather_objects(obj: Any) -> List[Any]:
    """Gather one picklable object (our own processes' state, never a file's) per rank."""
    if get_world_size() == 1:
        return [obj]
    gathered: List[Any] = [None] * get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (or `model` itself)."""
    return model.module if isinstance(model, torch.nn.parallel.DistributedDataParallel) else model


def processes_per_machine(cfg: CfgNode) -> int:
    """Processes on each machine: NUM_GPUS, or NUM_CPU_PROCESSES when NUM_GPUS is 0."""
    return cfg.NUM_GPUS if cfg.NUM_GPUS > 0 else max(1, cfg.NUM_CPU_PROCESSES)


def check_devices(cfg: CfgNode) -> None:
    """Raise, naming NUM_GPUS, when it asks for more CUDA devices than this machine has."""
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if cfg.NUM_GPUS > available:
        raise ValueError(
            f"NUM_GPUS={cfg.NUM_GPUS} but this machine has {available} CUDA device(s)"
            f"{'' if torch.backends.cuda.is_built() else ' (this torch is built without CUDA)'}"
            "; set NUM_GPUS 0 to run on the CPU (NUM_CPU_PROCESSES sets its processes)."
        )


def device_of(cfg: CfgNode) -> torch.device:
    """The device this process computes on: its CUDA device when NUM_GPUS > 0, else CPU."""
    check_devices(cfg)
    if cfg.NUM_GPUS > 0:
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def place_model(cfg: CfgNode, model: torch.nn.Module) -> torch.nn.Module:
    """Move `model` to this process's device and wrap it in DDP when several processes run.

    BN.NORM_TYPE sync_batchnorm is built by the models themselves (their SyncBatchNorm3d
    counts valid frames only), so no conversion happens here. DDP looks for unused
    parameters only where some get no gradient: with the Kronecker SGS kernel, whose bin
    indicator passes none to the similarity network, and with MODEL.DETACH_FINAL_FC (only
    the final projection learns). MODEL.FP16_ALLREDUCE sends the gradients as float16.
    """
    model = model.to(device_of(cfg))
    if get_world_size() == 1:
        return model
    device_ids = [torch.cuda.current_device()] if cfg.NUM_GPUS > 0 else None
    unused = cfg.MODEL.DETACH_FINAL_FC or (cfg.ATFR.ENABLED and cfg.ATFR.KERNEL == "kronecker")
    model = torch.nn.parallel.DistributedDataParallel(
        model, device_ids=device_ids, output_device=device_ids[0] if device_ids else None,
        find_unused_parameters=bool(unused),
    )
    if cfg.MODEL.FP16_ALLREDUCE:
        model.register_comm_hook(state=None, hook=default_hooks.fp16_compress_hook)
    return model


def destroy_process_group() -> None:
    """Leave the process group, if any."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
