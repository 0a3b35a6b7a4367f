"""Fig. A.5 from a real model: what the SGS layer gets and what it gives back for one clip."""

from typing import List, Tuple

import torch
from fvcore.common.config import CfgNode

from slowfast_atfr.checkpoint import load_test_checkpoint
from slowfast_atfr.datasets import build_dataset
from slowfast_atfr.models import build_model
from slowfast_atfr.visualization.plots import plot_sgs_maps


def capture_sgs_maps(model: torch.nn.Module, inputs: List[torch.Tensor],
                     pathway: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Run `model` (eval, no grad) on one clip and return its SGS input and kept output.

    A forward hook on `model.sampler[pathway]` reads the sampler's input and output, so
    the model code is untouched.

    Args:
        model: a VideoModel with ATFR enabled.
        inputs: one [1, C, T, H, W] tensor per pathway.
        pathway: which pathway's sampler.
    Returns:
        (sgs_in [C, T, H, W], sgs_out [C, B', H, W]) with B' the clip's kept bins.
    """
    samplers = getattr(model, "sampler", None)
    if samplers is None or pathway >= len(samplers):
        raise ValueError(f"The model has no sampler for pathway {pathway}; build it with "
                         "ATFR.ENABLED True (and ATFR.PATHWAYS set for that pathway).")
    if inputs[0].shape[0] != 1:
        raise ValueError(f"Pass one clip (batch 1); got batch {inputs[0].shape[0]}.")
    captured = {}

    def hook(module: torch.nn.Module, args: tuple, output: tuple) -> None:
        out, lengths, _ = output
        captured["in"] = args[0][0].detach().cpu()
        captured["out"] = out[0, :, : int(lengths[0])].detach().cpu()

    handle = samplers[pathway].register_forward_hook(hook)
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(inputs)
    finally:
        handle.remove()
        model.train(was_training)
    return captured["in"], captured["out"]


def render_sgs_figure(cfg: CfgNode, path: str, clip_index: int = 0, pathway: int = 0) -> str:
    """Fig. A.5 for clip `clip_index` of the test split with the run's trained weights.

    Builds the model of `cfg` on CPU, loads TEST.CHECKPOINT_FILE_PATH or the last
    checkpoint of OUTPUT_DIR (random weights when there is none), reads the clip through
    the test data set, and writes the PNG.

    Args:
        cfg: a config with ATFR.ENABLED True.
        path: PNG file to write.
        clip_index: index into the test data set.
        pathway: which pathway's sampler to show.
    Returns:
        `path`.
    """
    if not cfg.ATFR.ENABLED:
        raise ValueError("Fig. A.5 needs ATFR.ENABLED True; got False.")
    cfg = cfg.clone()
    cfg.NUM_GPUS = 0
    model = build_model(cfg)
    load_test_checkpoint(cfg, model)
    dataset = build_dataset(cfg.TEST.DATASET, cfg, "test")
    if not 0 <= clip_index < len(dataset):
        raise ValueError(f"clip_index={clip_index} is outside the test set of {len(dataset)} "
                         "clips.")
    frames, label, _, _ = dataset[clip_index]
    sgs_in, sgs_out = capture_sgs_maps(model, [f.unsqueeze(0) for f in frames], pathway)
    title = (f"clip {clip_index} (label {label}): T = {sgs_in.shape[1]} maps -> "
             f"B' = {sgs_out.shape[1]} bins")
    return plot_sgs_maps(sgs_in, sgs_out, path, frames=frames[pathway], title=title)
