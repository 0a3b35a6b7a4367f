"""MODEL_REGISTRY and `build_model`."""

import torch
from fvcore.common.registry import Registry

MODEL_REGISTRY = Registry("MODEL")
MODEL_REGISTRY.__doc__ = """
Registry of video model families (X3D, SlowFast, ResNet, R2plus1D, ...).

A registered object is called as `obj(cfg)` and returns an `nn.Module` whose forward
takes `list[Tensor]` (one `[N, C, T, H, W]` tensor per pathway) and returns logits
`[N, num_classes]`.
"""


def build_model(cfg, gpu_id=None) -> torch.nn.Module:
    """Build the model named by `cfg.MODEL.MODEL_NAME`, on the current device.

    Device placement and DDP are `slowfast_atfr.utils.distributed`'s job; here the model
    only goes to `cuda` when `cfg.NUM_GPUS > 0`.
    """
    name = cfg.MODEL.MODEL_NAME
    if name not in MODEL_REGISTRY:
        raise KeyError(
            f"MODEL.MODEL_NAME={name!r} is not registered; "
            f"choose one of {sorted(k for k, _ in MODEL_REGISTRY)}."
        )
    model = MODEL_REGISTRY.get(name)(cfg)
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"MODEL_REGISTRY[{name!r}] returned {type(model)}, not an nn.Module.")
    if cfg.NUM_GPUS > 0:
        device = torch.cuda.current_device() if gpu_id is None else gpu_id
        model = model.cuda(device=device)
    return model
