"""Per-process start-up: logging, environment and config report, config.yaml, seeds."""

import os

import torch
from fvcore.common.config import CfgNode

from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import env, logging

logger = logging.get_logger(__name__)


def default_setup(cfg: CfgNode, job: str) -> None:
    """Set up one process of `job` ("train", "test", "demo").

    Logs go to stdout and OUTPUT_DIR/stdout.log on rank 0 only; rank 0 also writes
    OUTPUT_DIR/config.yaml. Every rank is seeded with RNG_SEED + rank.
    """
    rank = du.get_rank()
    if rank == 0:
        os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    logging.setup_logging(cfg.OUTPUT_DIR, rank)
    env.seed_all(cfg.RNG_SEED + rank)
    if cfg.NUM_GPUS == 0 and torch.get_num_threads() > 1 and du.get_world_size() > 1:
        # Several CPU processes on one machine: share the cores instead of oversubscribing.
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // du.get_world_size()))
    if rank != 0:
        return
    logger.info("Starting %s with %d process(es).", job, du.get_world_size())
    logger.info("Environment:\n%s", "\n".join(f"  {k}: {v}" for k, v in
                                              env.collect_env_info().items()))
    logger.info("Config:\n%s", cfg.dump())
    with open(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), "w") as f:
        f.write(cfg.dump())
