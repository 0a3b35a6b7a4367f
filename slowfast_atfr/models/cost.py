"""GFLOPs of video models, per clip: adaptive (ATFR) models cost what each clip needs.

Convention: fvcore's, one multiply-add = one FLOP, batch 1. Two operator sets:

* ``conv_linear_only=True``: convolutions, linear layers and matrix products only. This is
  the convention of the published tables (X3D, SlowFast, ATFR papers; BENCHMARKS.md compares),
  so it is the figure the meters should report: ATFR and baseline GFLOPs then compare
  directly with the paper's.
* ``conv_linear_only=False`` (fvcore's default handle set): also counts normalisation layers
  as fvcore does (batch norm in eval: 2 per element with affine parameters, 1 without);
  about 3.5% more on X3D.

Counting runs the model eagerly under torch's dispatch-level counter
(`torch.utils.flop_counter.FlopCounterMode`, 2 FLOPs per multiply-add, halved here) instead
of fvcore's jit trace: a trace turns tensor sizes into tensors, which breaks the Python
shape arithmetic of data-dependent layers such as SGS. Counts equal fvcore's
`FlopCountAnalysis` exactly on the models fvcore can trace (tests/models/test_cost.py checks
X3D and SlowFast with non-local blocks).

The cost of an ATFR model depends on the clip only through the per-pathway lengths B'
after the sampler, so `CostTable` counts the layers after the sampler once per distinct
length tuple (on the "meta" device: shapes only, no arithmetic) and gives every clip its
exact cost without running the whole model again.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["CostTable", "clip_gflops", "count_flops", "params_count"]

aten = torch.ops.aten
Lengths = Tuple[int, ...]


def _batch_norm(affine_index: int, training_index: Optional[int]) -> Callable[..., int]:
    """fvcore's batch-norm count (x2, undone by the final halving) for an aten BN overload."""

    def formula(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        numel = _numel(args[0])
        affine = args[affine_index] is not None
        training = bool(args[training_index]) if training_index is not None else False
        per_element = (5 if affine else 4) if training else (2 if affine else 1)
        return 2 * numel * per_element

    return formula


def _affine_norm(affine_index: int) -> Callable[..., int]:
    """fvcore's layer/group-norm count (x2): 5 per element with affine parameters, else 4."""

    def formula(*args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return 2 * _numel(args[0]) * (5 if args[affine_index] is not None else 4)

    return formula


def _numel(shape: Sequence[int]) -> int:
    total = 1
    for size in shape:
        total *= int(size)
    return total


# Normalisation layers of fvcore's default handle set, as the aten overloads they dispatch to.
_NORM_FORMULAS: Dict[Any, Callable[..., int]] = {
    aten.native_batch_norm: _batch_norm(1, 5),
    aten._native_batch_norm_legit: _batch_norm(1, 5),
    aten._native_batch_norm_legit_no_training: _batch_norm(1, None),
    aten.cudnn_batch_norm: _batch_norm(1, 5),
    aten.native_layer_norm: _affine_norm(2),
    aten.native_group_norm: _affine_norm(1),
}


class _Call(nn.Module):
    """Expose one method of a model as `forward`."""

    def __init__(self, model: nn.Module, method: str):
        super().__init__()
        self.model = model
        self.method = method

    def forward(self, xs: List[torch.Tensor]) -> Any:
        return getattr(self.model, self.method)(xs)


def _counted(run: Callable[[], Any], conv_linear_only: bool) -> Tuple[int, Any]:
    """(FLOPs with one multiply-add = 1, output) of `run()`."""
    counter = FlopCounterMode(display=False,
                              custom_mapping={} if conv_linear_only else _NORM_FORMULAS)
    with counter:
        out = run()
    total = counter.get_total_flops()
    assert total % 2 == 0, f"torch counts 2 FLOPs per multiply-add; got an odd total {total}"
    return total // 2, out


def count_flops(module: nn.Module, inputs: Sequence[torch.Tensor], *,
                conv_linear_only: bool = False) -> int:
    """FLOPs (one multiply-add = 1) of `module(list(inputs))`, as an exact int.

    The module runs once on these very tensors, so data-dependent shapes (the lengths chosen
    by a sampler) are those of this input. Call it in eval mode under no_grad.

    Args:
        module: takes one list of tensors.
        inputs: one `[N, C, T, H, W]` tensor per pathway.
        conv_linear_only: count convolutions, linear layers and matrix products only.
    """
    return _counted(lambda: module(list(inputs)), conv_linear_only)[0]


class _EvalNoGrad:
    """Put a model in eval mode without gradients; restore its mode afterwards."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.was_training = model.training
        self.no_grad = torch.no_grad()

    def __enter__(self) -> nn.Module:
        self.model.eval()
        self.no_grad.__enter__()
        return self.model

    def __exit__(self, *exc) -> None:
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)


def _check_clip(inputs: Sequence[torch.Tensor]) -> None:
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise TypeError(f"inputs must be a list of [1, C, T, H, W] tensors; got {type(inputs)}.")
    for p, x in enumerate(inputs):
        if x.dim() != 5 or x.shape[0] != 1:
            raise ValueError(
                f"GFLOPs are counted per clip: pathway {p} must be [1, C, T, H, W]; got "
                f"shape {tuple(x.shape)}."
            )


def clip_gflops(model: nn.Module, inputs: Sequence[torch.Tensor], *,
                conv_linear_only: bool = False) -> float:
    """GFLOPs of one clip, as the model really runs on it (sampler included), in eval mode.

    Args:
        model: a video model taking `list[Tensor]`.
        inputs: one `[1, C, T, H, W]` tensor per pathway (batch 1: one clip).
        conv_linear_only: count only convolutions, linear layers and matrix products (the
            published tables' convention); else fvcore's default set (with batch norm).

    Returns:
        GFLOPs (1e9 multiply-adds) of this clip.
    """
    _check_clip(inputs)
    with _EvalNoGrad(model):
        return count_flops(model, inputs, conv_linear_only=conv_linear_only) / 1e9


def params_count(model: nn.Module) -> int:
    """Number of parameters of `model` (all of them, trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def _clip_shapes(input_shapes: Sequence[Sequence[int]]) -> List[Tuple[int, ...]]:
    """Per-pathway `[1, C, T, H, W]` from `[C, T, H, W]` or `[1, C, T, H, W]`."""
    shapes = []
    for p, shape in enumerate(input_shapes):
        shape = tuple(int(s) for s in shape)
        if len(shape) == 4:
            shape = (1,) + shape
        if len(shape) != 5 or shape[0] != 1:
            raise ValueError(
                f"input_shapes[{p}]={shape} must be [C, T, H, W] or [1, C, T, H, W] (one clip)."
            )
        shapes.append(shape)
    if not shapes:
        raise ValueError("input_shapes is empty; give one [C, T, H, W] shape per pathway.")
    return shapes


class CostTable:
    """Exact per-clip GFLOPs of a (possibly adaptive) model from its per-pathway lengths.

    cost(clip) = cost(forward_before_sampler)                         (fixed)
               + cost(sampler at the input shape: similarity networks)  (fixed)
               + cost(forward_after_sampler on [1, C_p, l_p, H_p, W_p] per pathway p)

    This equals a count of the whole model on that clip (`clip_gflops`), because in eval
    mode the layers after the sampler run on each clip trimmed to its lengths
    (`varlen.run_grouped`). The layers before and after the sampler are counted on the
    "meta" device (shapes only, no arithmetic, no memory), the last term once per distinct
    length tuple `(l_0, ..., l_{P-1})` (memoized); only the sampler, whose shapes depend on
    the data, runs once for real at construction. A model without a sampler is counted on
    the meta device alone (every length = T).

    Args:
        model: a `VideoModel` (uses `forward_before_sampler`, `sampler`, `sample`,
            `forward_after_sampler`).
        input_shapes: one `[C, T, H, W]` (or `[1, C, T, H, W]`) shape per pathway.
        conv_linear_only: see `clip_gflops`; the meters should pass True so that their
            GFLOPs follow the published tables' convention.
    """

    def __init__(self, model: nn.Module, input_shapes: Sequence[Sequence[int]], *,
                 conv_linear_only: bool = False):
        self.model = model
        self.conv_linear_only = conv_linear_only
        self.input_shapes = _clip_shapes(input_shapes)
        self._after: Dict[Lengths, int] = {}
        param = next(model.parameters(), None)
        self._device = param.device if param is not None else torch.device("cpu")
        self._dtype = param.dtype if param is not None else torch.float32
        # The model's parameters and buffers as shape-only tensors, under `_Call`'s prefix.
        self._meta_state = {
            f"model.{name}": torch.empty_like(t, device="meta")
            for name, t in list(model.named_parameters()) + list(model.named_buffers())
        }
        self._before, feats = self._meta_count("forward_before_sampler", self.input_shapes)
        self._sampler = self._sampler_flops() if _has_sampler(model) else 0
        # Per pathway (C, H, W) and the full temporal size T at the sampler's input.
        self._feature_shapes = [(f.shape[1], f.shape[3], f.shape[4]) for f in feats]
        self.full_lengths: Lengths = tuple(int(f.shape[2]) for f in feats)

    def _meta_count(self, method: str, shapes: Sequence[Sequence[int]]) -> Tuple[int, Any]:
        """(FLOPs, meta output) of `model.<method>` on inputs of `shapes`, in eval mode."""
        xs = [torch.empty(s, device="meta", dtype=self._dtype) for s in shapes]
        call = _Call(self.model, method)
        with _EvalNoGrad(self.model):
            return _counted(lambda: functional_call(call, self._meta_state, (xs,)),
                            self.conv_linear_only)

    def _sampler_flops(self) -> int:
        """The sampler's cost: its shapes depend on the data, so it runs for real once."""
        xs = [torch.zeros(s, device=self._device, dtype=self._dtype) for s in self.input_shapes]
        with _EvalNoGrad(self.model):
            feats = self.model.forward_before_sampler(xs)
            return count_flops(_Call(self.model, "sample"), feats,
                               conv_linear_only=self.conv_linear_only)

    def _after_flops(self, lengths: Lengths) -> int:
        if lengths not in self._after:
            shapes = [(1, c, length, h, w)
                      for (c, h, w), length in zip(self._feature_shapes, lengths)]
            self._after[lengths] = self._meta_count("forward_after_sampler", shapes)[0]
        return self._after[lengths]

    def _check_lengths(self, lengths: Optional[Sequence[int]]) -> Lengths:
        if lengths is None:
            return self.full_lengths
        lengths = tuple(int(v) for v in lengths)
        ok = len(lengths) == len(self.full_lengths) and all(
            1 <= v <= t for v, t in zip(lengths, self.full_lengths))
        if not ok:
            raise ValueError(
                f"lengths={lengths} must give one length in [1, T] per pathway, with T = "
                f"{self.full_lengths} at the sampler's input."
            )
        return lengths

    def flops(self, lengths: Optional[Sequence[int]] = None) -> int:
        """Exact FLOPs (int) of a clip whose pathways have `lengths` after the sampler.

        `lengths=None` means the full lengths, sampler still run (for a model without a
        sampler: its only cost).
        """
        lengths = self._check_lengths(lengths)
        return self._before + self._sampler + self._after_flops(lengths)

    def gflops(self, lengths: Optional[Sequence[int]] = None) -> float:
        """GFLOPs of one clip with per-pathway `lengths` (e.g. `temporal_lengths[i].tolist()`)."""
        return self.flops(lengths) / 1e9

    def baseline_gflops(self) -> float:
        """GFLOPs of the same network without the sampler: every pathway at full T."""
        return (self._before + self._after_flops(self.full_lengths)) / 1e9

    def after_sampler_gflops(self, lengths: Optional[Sequence[int]] = None) -> float:
        """GFLOPs of the layers after the sampler alone, at per-pathway `lengths`."""
        return self._after_flops(self._check_lengths(lengths)) / 1e9

    def sampler_gflops(self) -> float:
        """GFLOPs of the sampler itself (its similarity networks), per clip."""
        return self._sampler / 1e9


def _has_sampler(model: nn.Module) -> bool:
    return model.sampler is not None and len(model.sampler) > 0
