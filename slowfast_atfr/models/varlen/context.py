"""The layouts of the tensors in flight after the sampler, per pathway (thread-local).

Inside a context every pathway has a table {temporal size T: ClipLayout}: a layer looks up
the layout of its input by the input's T. Layers that change T add the layout of their
output (hooks.py), so tensors before and after such a layer (a residual branch and its
shortcut) are both known. Outside a context (models without a sampler, the layers before
it) every lookup returns None and the helpers are no-ops.
"""

import threading
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence

import torch

from slowfast_atfr.models.varlen.layout import ClipLayout

_state = threading.local()


class _Context:
    def __init__(self, layouts: Sequence[ClipLayout]):
        self.tables: List[Dict[int, ClipLayout]] = [{layout.size: layout} for layout in layouts]
        self.pathway = 0
        # (module name, reason) of the parts that ran padded inside a packed batch.
        self.padded_parts: List[tuple] = []
        # Per module (by id), the layouts its running hooks replaced (hooks.py).
        self.part_stacks: Dict[int, list] = {}


def current() -> Optional[_Context]:
    return getattr(_state, "ctx", None)


@contextmanager
def layouts_context(layouts: Sequence[ClipLayout]) -> Iterator[_Context]:
    """Make `layouts` (one per pathway) the layouts of the pathways' tensors."""
    previous = current()
    ctx = _state.ctx = _Context(layouts)
    try:
        yield ctx
    finally:
        _state.ctx = previous


@contextmanager
def lengths_context(xs: Sequence[torch.Tensor], lengths: torch.Tensor) -> Iterator[_Context]:
    """Padded tensors `xs` whose valid lengths are `lengths` ([N, P] int64)."""
    if lengths.dim() != 2 or lengths.shape[1] != len(xs):
        raise ValueError(f"lengths must be [N, {len(xs)}]; got {tuple(lengths.shape)}.")
    layouts = [ClipLayout.padded(lengths[:, p], x.shape[2]) for p, x in enumerate(xs)]
    with layouts_context(layouts) as ctx:
        yield ctx


@contextmanager
def pathway_scope(pathway: int) -> Iterator[None]:
    """Run the enclosed layers as part of pathway `pathway` (no-op outside a context)."""
    ctx = current()
    if ctx is None:
        yield
        return
    previous, ctx.pathway = ctx.pathway, pathway
    try:
        yield
    finally:
        ctx.pathway = previous


def active_layout(num_frames: int) -> Optional[ClipLayout]:
    """Layout of the active pathway's tensor with T = `num_frames`, or None outside a context."""
    ctx = current()
    if ctx is None:
        return None
    table = ctx.tables[ctx.pathway]
    if num_frames not in table:
        raise RuntimeError(
            f"No layout known for temporal size {num_frames} in pathway {ctx.pathway} "
            f"(known: {sorted(table)}); a layer changed the temporal size without "
            "varlen.install_hooks seeing it."
        )
    return table[num_frames]


def layout_of(x: torch.Tensor) -> Optional[ClipLayout]:
    """Layout of a 5-D activation x [R, C, T, H, W] of the active pathway, or None."""
    return active_layout(x.shape[2]) if x.dim() == 5 else None


def active_lengths(num_frames: int) -> Optional[torch.Tensor]:
    """Valid lengths [N] of the active pathway's tensor with T = `num_frames`, or None."""
    layout = active_layout(num_frames)
    return None if layout is None else layout.lengths


def add_layout(layout: ClipLayout, pathway: Optional[int] = None) -> None:
    """Record `layout` in the table of `pathway` (default: the active one)."""
    ctx = current()
    if ctx is not None:
        ctx.tables[ctx.pathway if pathway is None else pathway][layout.size] = layout


def set_layout(pathway: int, layout: ClipLayout) -> None:
    """Make `layout` the only layout of `pathway` (e.g. after SlowFast's fusion)."""
    ctx = current()
    if ctx is not None:
        ctx.tables[pathway] = {layout.size: layout}


def peek_layout(num_frames: int) -> Optional[ClipLayout]:
    """The active pathway's layout for `num_frames`, or None if there is none (no error)."""
    ctx = current()
    return None if ctx is None else ctx.tables[ctx.pathway].get(num_frames)


def pop_layout(num_frames: int, previous: Optional[ClipLayout]) -> None:
    """Restore the active pathway's entry for `num_frames` to `previous` (None: remove it)."""
    ctx = current()
    if ctx is None:
        return
    table = ctx.tables[ctx.pathway]
    if previous is None:
        table.pop(num_frames, None)
    else:
        table[num_frames] = previous
