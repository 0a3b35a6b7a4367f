"""MODEL_REGISTRY and `build_model`."""

import torch

from slowfast_atfr.utils.registry import Registry

MODEL_REGISTRY = Registry("MODEL")
MODEL_REGISTRY.__doc__ = """
Registry of video model families (X3D, SlowFast, ResNet, R2plus1D, ...).

A registered object is called as `obj(cfg)` and returns an `nn.Module` whose forward
takes `list[Tensor]` (one `[N, C, T, H, W]` tensor per pathway) and returns logits
`[N, num_classes]`.
"""


def _detach_inputs(module: torch.nn.Module, inputs: tuple) -> tuple:
    """MODEL.DETACH_FINAL_FC: only the final projection learns (PySlowFast's linear probe)."""
    return tuple(x.detach() for x in inputs)


def _probabilities_in_eval(module: torch.nn.Module, inputs: tuple,
                           output: torch.Tensor) -> torch.Tensor:
    """MODEL.EVAL_OUTPUT probabilities: softmax in eval mode, as PySlowFast's heads apply
    MODEL.HEAD_ACT; training still returns logits for the loss."""
    return output if module.training else torch.softmax(output, dim=1)


def eval_probabilities(cfg, outputs: torch.Tensor) -> torch.Tensor:
    """Class probabilities from what a model of `cfg` returns in eval mode."""
    if cfg.MODEL.EVAL_OUTPUT == "probabilities":
        return outputs.float()
    return torch.softmax(outputs.float(), dim=1)


def build_model(cfg, gpu_id=None) -> torch.nn.Module:
    """Build the model named by `cfg.MODEL.MODEL_NAME`, on the current device.

    It returns logits, in eval mode too, unless MODEL.EVAL_OUTPUT is "probabilities"
    (`eval_probabilities` turns either into probabilities); MODEL.DETACH_FINAL_FC stops the
    gradient at the final projection's input.

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
    if cfg.MODEL.DETACH_FINAL_FC:
        projection = getattr(getattr(model, "head", None), "projection", None)
        if projection is None:
            raise ValueError(f"MODEL.DETACH_FINAL_FC needs a `head.projection` layer; "
                             f"MODEL_REGISTRY[{name!r}] built none.")
        projection.register_forward_pre_hook(_detach_inputs)
    if cfg.MODEL.EVAL_OUTPUT == "probabilities":
        model.register_forward_hook(_probabilities_in_eval)
    if cfg.NUM_GPUS > 0:
        device = torch.cuda.current_device() if gpu_id is None else gpu_id
        model = model.cuda(device=device)
    return model
