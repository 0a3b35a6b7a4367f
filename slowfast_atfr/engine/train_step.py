"""One training iteration as the trainer runs it: the same code times it in the benchmarks.

`TrainStep` holds the model, optimizer, grad scaler and loss of a run and does forward
(under autocast when TRAIN.MIXED_PRECISION), loss, backward (scaled), gradient clipping
(SOLVER.CLIP_GRAD_*) and the optimizer step. `Trainer.run_step` adds metrics, the finite-loss
check and the meters between `forward` and `update`; `engine.benchmark` and
`benchmarks/train_speed.py` call it whole.
"""

from contextlib import nullcontext
from typing import Callable, List, Optional, Tuple

import torch
from fvcore.common.config import CfgNode

from slowfast_atfr.models.losses import get_loss_func
from slowfast_atfr.solver.optimizer import construct_optimizer
from slowfast_atfr.utils import distributed as du


class TrainStep:
    """forward, loss, backward, clipping and optimizer step of one iteration.

    Args:
        cfg: the run's config (TRAIN.MIXED_PRECISION, SOLVER.CLIP_GRAD_*).
        model: the (possibly DDP-wrapped) model, in train mode when called.
        optimizer: its optimizer.
        scaler: a torch.amp.GradScaler (disabled unless CUDA mixed precision).
        loss_fn: maps (logits float32 [N, K], labels [N]) to the loss.
    """

    def __init__(self, cfg: CfgNode, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler, loss_fn: Callable) -> None:
        self.cfg = cfg
        self.model, self.optimizer, self.scaler, self.loss_fn = model, optimizer, scaler, loss_fn
        self.device = du.device_of(cfg)

    @classmethod
    def from_cfg(cls, cfg: CfgNode, model: torch.nn.Module) -> "TrainStep":
        """The step a training run of `cfg` would build for `model` (SOLVER.*, MODEL.LOSS_FUNC)."""
        device = du.device_of(cfg)
        use_scaler = cfg.TRAIN.MIXED_PRECISION and device.type == "cuda"
        return cls(cfg, model, construct_optimizer(model, cfg),
                   torch.amp.GradScaler(device.type, enabled=use_scaler),
                   get_loss_func(cfg.MODEL.LOSS_FUNC))

    def autocast(self):
        """fp16 autocast on CUDA, bf16 on CPU, when TRAIN.MIXED_PRECISION."""
        if not self.cfg.TRAIN.MIXED_PRECISION:
            return nullcontext()
        dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        return torch.autocast(self.device.type, dtype=dtype)

    def forward(self, inputs: List[torch.Tensor],
                labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """(logits [N, K], loss) of a batch already on the device."""
        with self.autocast():
            logits = self.model(inputs)
        return logits, self.loss_fn(logits.float(), labels)

    def update(self, loss: torch.Tensor) -> None:
        """Backward (scaled), clipping and the optimizer step for `loss`."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.clip_gradients()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def __call__(self, inputs: List[torch.Tensor],
                 labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        logits, loss = self.forward(inputs, labels)
        self.update(loss)
        return logits, loss

    def clip_gradients(self) -> None:
        solver = self.cfg.SOLVER
        if solver.CLIP_GRAD_L2NORM <= 0 and solver.CLIP_GRAD_VAL <= 0:
            return
        self.scaler.unscale_(self.optimizer)
        params = [p for p in self.model.parameters() if p.grad is not None]
        if solver.CLIP_GRAD_VAL > 0:
            torch.nn.utils.clip_grad_value_(params, solver.CLIP_GRAD_VAL)
        if solver.CLIP_GRAD_L2NORM > 0:
            for group in self.clip_groups(params):
                torch.nn.utils.clip_grad_norm_(group, solver.CLIP_GRAD_L2NORM)

    def clip_groups(self, params: List[torch.Tensor]) -> List[List[torch.Tensor]]:
        """The parameter groups whose norms are clipped apart: all, or sampler and the rest."""
        sampler: Optional[torch.nn.Module] = du.unwrap_model(self.model).sampler
        if sampler is None or not self.cfg.SOLVER.CLIP_GRAD_SAMPLER_SEPARATELY:
            return [params]
        in_sampler = {id(p) for p in sampler.parameters()}
        groups = ([p for p in params if id(p) not in in_sampler],
                  [p for p in params if id(p) in in_sampler])
        return [group for group in groups if group]
