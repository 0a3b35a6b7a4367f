"""The base of every model family: stages in order, the temporal sampler after one of them.

Family builders (x3d.py, resnet.py, slowfast.py, r2plus1d.py) build their layers with
PySlowFast's module names, list their stages in `stage_steps`, and call `attach_atfr`.
Everything about variable lengths after the sampler is delegated to `varlen`.
"""

from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from slowfast_atfr.config.choices import SAMPLER_STAGES
from slowfast_atfr.models import varlen
from slowfast_atfr.models.atfr.samplers import SamplerOutput, build_sampler

Step = Callable[[List[torch.Tensor]], object]


class PassThrough(nn.Module):
    """Sampler slot of a pathway without sampler: keeps every frame."""

    def forward(self, x: torch.Tensor) -> SamplerOutput:
        lengths = torch.full((x.shape[0],), x.shape[2], dtype=torch.int64, device=x.device)
        return SamplerOutput.whole_clip(x, lengths)


class VideoModel(nn.Module):
    """A video network as a sequence of named stages.

    Subclasses implement `stage_steps`: `[(name, fn), ...]` with names from
    ("stem", "res2", "res3", "res4", "res5", "head"); each fn maps list[Tensor] (one
    [N, C, T, H, W] tensor per pathway) to the next list, and the last one to logits
    [N, num_classes]. After `forward`, `temporal_lengths` holds int64 [N, P] lengths right
    after the sampler and `temporal_block_lengths` one int64 [N, blocks] tensor per pathway
    (B' per temporal block, ATFR.BLOCK_LENGTH; one block without blocks); both None without
    a sampler.
    """

    def __init__(self, num_pathways: int):
        super().__init__()
        self.num_pathways = num_pathways
        self.sampler: Optional[nn.ModuleList] = None
        self.sampler_stage: Optional[str] = None
        self.temporal_lengths: Optional[torch.Tensor] = None
        self.temporal_block_lengths: Optional[List[torch.Tensor]] = None
        # ATFR.TRAIN_BATCHING / EVAL_BATCHING: how training / eval run clips of different
        # lengths after the sampler (varlen.run_packed, run_padded, run_grouped).
        self.train_batching = "packed"
        self.eval_batching = "grouped"
        # ATFR.INPUT_BEFORE_RELU: the ReLU of the sampler stage's last block runs after the
        # sampler (`input_before_relu`).
        self.relu_after_sampler = False

    def stage_steps(self) -> List[Tuple[str, Step]]:
        raise NotImplementedError

    def attach_sampler(self, samplers: Sequence[Optional[nn.Module]], stage: str) -> None:
        """Insert one sampler per pathway (None keeps the pathway's frames) after `stage`."""
        if stage not in SAMPLER_STAGES:
            raise ValueError(f"ATFR.STAGE={stage!r}; expected one of {list(SAMPLER_STAGES)}.")
        if len(samplers) != self.num_pathways:
            raise ValueError(f"Got {len(samplers)} samplers for {self.num_pathways} pathways.")
        self.sampler = nn.ModuleList([s if s is not None else PassThrough() for s in samplers])
        self.sampler_stage = stage
        varlen.install_hooks(self)

    def input_before_relu(self) -> None:
        """Let the sampler read the last block of its stage before that block's ReLU (the
        sum of the residual and the shortcut, what the authors' layer sees), and apply the
        ReLU to the sampler's output instead (a temporal max-pool between the block and the
        sampler, as in C2D and I3D, commutes with the ReLU).

        Raises:
            ValueError: for a sampler after the stem, a multi-pathway model, or a stage that
                does not end with a residual block's ReLU (a non-local block after it).
        """
        stage = self.sampler_stage
        if stage == "stem" or self.num_pathways != 1:
            raise ValueError(f"ATFR.INPUT_BEFORE_RELU needs a single-pathway model with the "
                             f"sampler after a residual stage; got ATFR.STAGE {stage!r} with "
                             f"{self.num_pathways} pathway(s).")
        blocks = getattr(self, f"s{SAMPLER_STAGES.index(stage) + 1}")
        last = blocks.num_blocks[0] - 1
        block = getattr(blocks, f"pathway0_res{last}", None)
        if not isinstance(getattr(block, "relu", None), nn.ReLU) or hasattr(
                blocks, f"pathway0_nonlocal{last}"):
            raise ValueError(f"ATFR.INPUT_BEFORE_RELU: the stage before the sampler "
                             f"({stage}) does not end with a residual block's ReLU.")
        block.relu = nn.Identity()
        self.relu_after_sampler = True

    def _split_steps(self) -> Tuple[List[Tuple[str, Step]], List[Tuple[str, Step]]]:
        steps = self.stage_steps()
        if self.sampler is None:
            return [], steps
        names = [name for name, _ in steps]
        cut = names.index(self.sampler_stage) + 1
        return steps[:cut], steps[cut:]

    def forward_before_sampler(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        """Stages up to and including ATFR.STAGE (none without a sampler)."""
        for _, step in self._split_steps()[0]:
            xs = step(xs)
        return xs

    def forward_after_sampler(self, xs: List[torch.Tensor]) -> torch.Tensor:
        """Stages after the sampler (all stages without one), ending with logits."""
        for _, step in self._split_steps()[1]:
            xs = step(xs)
        return xs

    def sample(self, xs: List[torch.Tensor]) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """Run each pathway's sampler -> (padded tensors, lengths int64 [N, P])."""
        outs, lengths, block_lengths = zip(*(sampler(x) for sampler, x in zip(self.sampler, xs)))
        if self.relu_after_sampler:
            outs = [torch.relu(out) for out in outs]
        self.temporal_block_lengths = list(block_lengths)
        return list(outs), torch.stack(lengths, dim=1)

    def _check_inputs(self, xs: List[torch.Tensor]) -> None:
        if not isinstance(xs, (list, tuple)) or len(xs) != self.num_pathways:
            got = len(xs) if isinstance(xs, (list, tuple)) else type(xs).__name__
            raise ValueError(
                f"{type(self).__name__} expects a list of {self.num_pathways} tensors "
                f"[N, C, T, H, W] (one per pathway); got {got}."
            )
        for p, x in enumerate(xs):
            if x.dim() != 5:
                raise ValueError(f"Pathway {p} input must be [N, C, T, H, W]; got shape "
                                 f"{tuple(x.shape)}.")

    def forward(self, xs: List[torch.Tensor]) -> torch.Tensor:
        self._check_inputs(xs)
        xs = list(xs)
        if self.sampler is None:
            self.temporal_lengths = self.temporal_block_lengths = None
            return self.forward_after_sampler(xs)
        xs, lengths = self.sample(self.forward_before_sampler(xs))
        self.temporal_lengths = lengths.detach()
        mode = self.train_batching if self.training else self.eval_batching
        return varlen.RUNS[mode](self.forward_after_sampler, xs, lengths)


def attach_atfr(model: VideoModel, cfg, dims: Sequence[int]) -> None:
    """Give `model` the sampler of the ATFR group when ATFR.ENABLED (the one shared helper).

    Args:
        model: a family's model.
        cfg: the config (reads the ATFR group only).
        dims: per-pathway channels at the output of ATFR.STAGE.
    """
    if not cfg.ATFR.ENABLED:
        return
    samplers = [
        build_sampler(cfg, pathway, dim) if cfg.ATFR.PATHWAYS[pathway] else None
        for pathway, dim in enumerate(dims)
    ]
    model.attach_sampler(samplers, cfg.ATFR.STAGE)
    if cfg.ATFR.INPUT_BEFORE_RELU:
        model.input_before_relu()
    model.train_batching = cfg.ATFR.TRAIN_BATCHING
    model.eval_batching = cfg.ATFR.EVAL_BATCHING
