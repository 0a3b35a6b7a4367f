"""Forward hooks that keep a model's layers right on variable-length batches.

`install_hooks` gives, once per model:
- modules named `pathway{p}_*` the active pathway p while they run;
- stride-1 temporal convolutions the class VarLenConv3d (conv.py), which on a packed batch
  lets every clip read only its own frames;
- layers that change the temporal size (strided convs and pools, and temporal pools
  generally) the layout of their output; a packed batch runs them padded, as does any module
  that declares `varlen_runs_padded = "<why>"` (non-local attention over a clip's frames):
  unpacked before, packed again after, each such layer recorded with its reason.
Every hook returns at once outside a varlen context.
"""

import re
from typing import Callable, Optional, Tuple

import torch
import torch.nn as nn

from slowfast_atfr.models.varlen import context
from slowfast_atfr.models.varlen.conv import VarLenConv3d
from slowfast_atfr.models.varlen.layout import ClipLayout, pack, resampled_lengths, unpack

Geometry = Tuple[int, int, int, int, bool]  # kernel, stride, padding, dilation, ceil_mode
_PATHWAY_NAME = re.compile(r"^pathway(\d+)_")


def _scope_hooks(pathway: int):
    def enter(module, args):
        ctx = context.current()
        if ctx is not None:
            module._varlen_previous_pathway = ctx.pathway
            ctx.pathway = pathway

    def leave(module, args, output):
        ctx = context.current()
        if ctx is not None:
            ctx.pathway = module._varlen_previous_pathway

    return enter, leave


def temporal_geometry(module: nn.Module) -> Optional[Geometry]:
    """(kernel, stride, padding, dilation, ceil_mode) along T of a conv or pool, else None."""
    if isinstance(module, nn.Conv3d):
        if isinstance(module.padding, str):
            return None
        return (module.kernel_size[0], module.stride[0], module.padding[0],
                module.dilation[0], False)
    if isinstance(module, (nn.MaxPool3d, nn.AvgPool3d)):
        def first(v):
            return v[0] if isinstance(v, (tuple, list)) else v

        dilation = first(getattr(module, "dilation", 1))
        return (first(module.kernel_size), first(module.stride), first(module.padding),
                dilation, module.ceil_mode)
    return None


def _keeps_length(geometry: Geometry) -> bool:
    kernel, stride, padding, dilation, _ = geometry
    return stride == 1 and 2 * padding == dilation * (kernel - 1)


def _padded_reason(module: nn.Module, geometry: Optional[Geometry]) -> Optional[str]:
    """Why `module` cannot run on a packed batch, or None if it can."""
    declared = getattr(module, "varlen_runs_padded", None)
    if declared:
        return declared
    if geometry is None:
        return None
    kernel, stride = geometry[0], geometry[1]
    if isinstance(module, nn.Conv3d):
        if stride > 1:
            return f"temporal stride {stride}"
        return None if _keeps_length(geometry) else f"temporal kernel {kernel} changes T"
    if kernel == 1 and stride == 1:
        return None
    return f"temporal pooling (kernel {kernel}, stride {stride})"


def _padded_part_hooks(name: str, reason: str,
                       new_lengths: Callable[[torch.Tensor], torch.Tensor]):
    """Run the module on padded clips when its input is packed; note its output's layout."""

    def before(module, args):
        ctx = context.current()
        layout = context.layout_of(args[0]) if ctx is not None else None
        if layout is None:
            return None
        stack = ctx.part_stacks.setdefault(id(module), [])
        if not layout.packed:
            stack.append((layout, None, None))
            return None
        size = max(layout.lengths_list())
        previous = context.peek_layout(size)
        context.add_layout(ClipLayout.padded(layout.lengths, size))
        stack.append((layout, size, previous))
        if (name, reason) not in ctx.padded_parts:
            ctx.padded_parts.append((name, reason))
        return (unpack(args[0], layout, size),) + tuple(args[1:])

    def after(module, args, output):
        ctx = context.current()
        if ctx is None or not ctx.part_stacks.get(id(module)):
            return None
        layout, size, previous = ctx.part_stacks[id(module)].pop()
        lengths = new_lengths(layout.lengths)
        if not layout.packed:
            context.add_layout(ClipLayout.padded(lengths.clamp(max=output.shape[2]),
                                                 output.shape[2]))
            return None
        context.pop_layout(size, previous)
        packed = ClipLayout.packing(lengths)
        context.add_layout(packed)
        return pack(output, packed)

    return before, after


def _output_lengths(geometry: Optional[Geometry]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Per-clip output lengths of a layer of this temporal geometry (None: unchanged)."""
    if geometry is None or _keeps_length(geometry):
        return lambda lengths: lengths
    return lambda lengths: resampled_lengths(lengths, *geometry)


def install_hooks(model: nn.Module) -> None:
    """Give `model`'s layers the hooks of the module docstring (call once per model)."""
    for name, child in model.named_modules():
        match = _PATHWAY_NAME.match(name.rsplit(".", 1)[-1])
        if match:
            enter, leave = _scope_hooks(int(match.group(1)))
            child.register_forward_pre_hook(enter)
            child.register_forward_hook(leave)
        geometry = temporal_geometry(child)
        reason = _padded_reason(child, geometry)
        if reason is not None:
            before, after = _padded_part_hooks(name, reason, _output_lengths(geometry))
            child.register_forward_pre_hook(before)
            # Before the scope's leave hook, so a pathway{p}_ pool notes lengths under p.
            child.register_forward_hook(after, prepend=True)
        elif type(child) is nn.Conv3d and geometry is not None and geometry[0] > 1:
            child.__class__ = VarLenConv3d  # same state; reads only its clip when packed
