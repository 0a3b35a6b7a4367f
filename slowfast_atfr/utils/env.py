"""Environment report and seeding, done once per process at start."""

import importlib
import os
import platform
import random
import sys
from typing import Dict

import numpy as np
import torch

_PACKAGES = ("torch", "numpy", "fvcore", "iopath", "av", "simplejson", "yaml")


def collect_env_info() -> Dict[str, str]:
    """Versions of Python, the key packages, and the devices, for the start-up log."""
    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": str(os.cpu_count()), "torch_threads": str(torch.get_num_threads())}
    for name in _PACKAGES:
        try:
            info[name] = getattr(importlib.import_module(name), "__version__", "unknown")
        except ImportError:
            info[name] = "not installed"
    info["cuda"] = str(torch.version.cuda) if torch.cuda.is_available() else "not available"
    if torch.cuda.is_available():
        info["gpus"] = ", ".join(
            torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
        )
    return info


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) with `seed`."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def rng_state() -> dict:
    """The state of every global RNG (python, numpy, torch CPU and CUDA), as plain data and
    tensors, so a checkpoint holding it loads with weights_only."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` returned."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
