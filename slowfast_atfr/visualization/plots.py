"""The paper's figures as PNG files, drawn from plain numbers (no model, no run folder).

- `plot_bprime_histogram`: Fig. 3, clips per number of active bins B' = 1..T of one pathway.
- `plot_bprime_by_class`: Table 5 as a sorted bar chart of the mean B' per class.
- `plot_accuracy_vs_gflops`: Fig. 4, one point per run, baseline and ATFR marked.
- `plot_sgs_maps`: Fig. A.5, input frames, SGS input maps and SGS output bins on one colour
  scale.

Figures are drawn on a `matplotlib.figure.Figure` (Agg canvas), never through pyplot, so
nothing here touches matplotlib's global backend or keeps figures alive.
"""

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from slowfast_atfr.utils.misc import spread_indices

DPI = 100


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def _pathway_key(histograms: Mapping[str, Any], pathway: int) -> str:
    key = f"pathway{pathway}"
    if key not in histograms:
        raise ValueError(f"No B' histogram for pathway {pathway}; the stats hold "
                         f"{sorted(histograms)}.")
    return key


def _sampler_length(stats: Mapping[str, Any], pathway: int) -> Optional[int]:
    """T of `pathway` at the sampler (stats["full_lengths"]), or None when not recorded."""
    full = stats.get("full_lengths")
    if not full:
        return None
    if pathway >= len(full):
        raise ValueError(f"stats['full_lengths'] = {full} has no T for pathway {pathway}.")
    return int(full[pathway])


def plot_bprime_histogram(stats: Mapping[str, Any], path: str, pathway: int = 0,
                          title: str = "") -> str:
    """Fig. 3: number of clips (y) per number of active bins B' (x) of one pathway.

    The x axis shows every B' from 1 to T (T of the pathway at the sampler), empty ones too,
    and the title names the pathway and T. Without T in the stats the axis ends at the
    largest B' seen, and the title says that T is unknown.

    Args:
        stats: an `atfr_stats_<split>.json` dict (keys "bprime_histogram" = {"pathway0":
            {"B'": clips}}, optionally "full_lengths" = [T per pathway], "mean_gflops",
            "baseline_gflops").
        path: PNG file to write.
        pathway: which pathway's histogram.
        title: first title line (default: the mean GFLOPs with and without the sampler).
    Returns:
        `path`.
    """
    hist = stats.get("bprime_histogram")
    if not hist:
        raise ValueError("stats has no 'bprime_histogram' (was ATFR.ENABLED True for the run?).")
    counts = {int(k): int(v) for k, v in hist[_pathway_key(hist, pathway)].items()}
    known = _sampler_length(stats, pathway)
    length = known or max(counts)
    if min(counts) < 1 or max(counts) > length:
        raise ValueError(f"B' values {sorted(counts)} of pathway {pathway} are not all in "
                         f"[1, T = {length}] (T from stats['full_lengths']).")
    xs = np.arange(1, length + 1)
    ys = np.array([counts.get(int(x), 0) for x in xs])
    mean = float((xs * ys).sum() / max(ys.sum(), 1))
    fig = _new_figure(max(6.0, 0.18 * length + 1.5), 4.0)
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(xs, ys, width=0.8, color="#4c72b0")
    ax.axvline(mean, color="#c44e52", linestyle="--", label=f"mean B' = {mean:.2f}")
    ax.set_xlabel("number of active bins B'")
    ax.set_ylabel("number of clips")
    ax.set_xlim(0.5, length + 0.5)
    ax.set_xticks(xs)
    ax.tick_params(axis="x", labelsize=10 if length <= 20 else 7)
    ax.legend()
    if not title and "mean_gflops" in stats and "baseline_gflops" in stats:
        title = (f"{int(ys.sum())} clips: {stats['mean_gflops']:.3g} GFLOPs "
                 f"(baseline {stats['baseline_gflops']:.3g})")
    heading = (f"pathway {pathway}, B' from 1 to T = {length}" if known else
               f"pathway {pathway}, T unknown: B' up to the largest seen")
    ax.set_title(f"{title}\n{heading}" if title else heading)
    fig.tight_layout()
    return _save(fig, path)


def _class_means(by_class: Mapping[str, Any], pathway: int) -> Dict[str, float]:
    means = {}
    for name, value in by_class.items():
        if isinstance(value, (list, tuple)):
            if pathway >= len(value):
                raise ValueError(f"Class {name!r} has B' for {len(value)} pathways; "
                                 f"asked for pathway {pathway}.")
            value = value[pathway]
        means[str(name)] = float(value)
    return means


def plot_bprime_by_class(stats: Mapping[str, Any], path: str, pathway: int = 0,
                         title: str = "mean B' per class", max_classes: int = 30,
                         axis_label: str = "class") -> str:
    """Table 5 as a chart: mean B' of each class, sorted from the lowest to the highest.

    The class axis is labelled with the class names (the keys of the stats). With more than
    `max_classes` classes it shows, as Table 5, the max_classes // 2 lowest and highest.

    Args:
        stats: a dict with "mean_bprime_by_class" = {class: [B' per pathway]} (or a float).
        path: PNG file to write.
        pathway: which pathway's B' (named in the title).
        title: figure title.
        max_classes: most classes shown.
        axis_label: what the keys are (e.g. "motion level" for B' per motion level).
    Returns:
        `path`.
    """
    by_class = stats.get("mean_bprime_by_class")
    if not by_class:
        raise ValueError("stats has no 'mean_bprime_by_class' (was ATFR.ENABLED True?).")
    if max_classes < 2:
        raise ValueError(f"max_classes={max_classes} must be >= 2.")
    ordered = sorted(_class_means(by_class, pathway).items(), key=lambda kv: (kv[1], kv[0]))
    heading = f"{title} (pathway {pathway})"
    half = max_classes // 2
    if len(ordered) > max_classes:
        heading += f"\nthe {half} lowest and {half} highest of {len(ordered)} classes"
        ordered = ordered[:half] + ordered[-half:]
    names = [name for name, _ in ordered]
    values = np.array([value for _, value in ordered])
    fig = _new_figure(6.0, max(2.5, 0.35 * len(names) + 1.2))
    ax = fig.add_subplot(1, 1, 1)
    span = max(float(values.max() - values.min()), 1e-6)
    colors = [(0.3 + 0.6 * (v - values.min()) / span, 0.45, 0.75) for v in values]
    ax.barh(np.arange(len(names)), values, color=colors)
    if len(names) < len(by_class):
        ax.axhline(half - 0.5, color="gray", linestyle=":")
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels(names)
    ax.set_ylabel(axis_label)
    ax.set_xlabel("mean number of active bins B'")
    ax.set_title(heading)
    for y, value in enumerate(values):
        ax.text(value, y, f" {value:.2f}", va="center", fontsize=8)
    ax.set_xlim(0, float(values.max()) * 1.15 + 1e-6)
    fig.tight_layout()
    return _save(fig, path)


def plot_accuracy_vs_gflops(runs: Sequence[Mapping[str, Any]], path: str,
                            title: str = "accuracy vs. GFLOPs") -> str:
    """Fig. 4: top-1 (y) against mean GFLOPs (x), one point per run; the legend sits right
    of the axes, off the data.

    Args:
        runs: dicts with "name", "top1", "gflops", "atfr" (bool) and optionally "family":
            runs of the same family are joined by an arrow from the baseline to ATFR.
            Runs without top1 or gflops are skipped.
        path: PNG file to write.
        title: figure title.
    Returns:
        `path`.
    """
    points = [r for r in runs if r.get("top1") is not None and r.get("gflops") is not None]
    if not points:
        raise ValueError(f"No run has both 'top1' and 'gflops'; got {len(runs)} runs.")
    fig = _new_figure(6.5, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    for atfr, marker, color, label in ((False, "o", "#4c72b0", "baseline"),
                                       (True, "*", "#c44e52", "+ATFR")):
        group = [r for r in points if bool(r.get("atfr")) == atfr]
        if group:
            ax.scatter([r["gflops"] for r in group], [r["top1"] for r in group],
                       marker=marker, s=120 if atfr else 60, color=color, label=label, zorder=3)
    for r in points:
        ax.annotate(str(r.get("name", "")), (r["gflops"], r["top1"]), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
    for base, adaptive in _family_pairs(points):
        ax.annotate("", xy=(adaptive["gflops"], adaptive["top1"]),
                    xytext=(base["gflops"], base["top1"]),
                    arrowprops={"arrowstyle": "->", "color": "gray", "linestyle": "--"})
    ax.set_xlabel("mean GFLOPs per clip")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.margins(0.12)  # room for the run names next to the points
    # Right of the axes, off the data.
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return _save(fig, path)


def _family_pairs(points: Sequence[Mapping[str, Any]]) -> List[tuple]:
    """(baseline, ATFR) run pairs of each family, the first baseline of the family."""
    pairs = []
    families = {r["family"] for r in points if r.get("family")}
    for family in sorted(families):
        members = [r for r in points if r.get("family") == family]
        bases = [r for r in members if not r.get("atfr")]
        if bases:
            pairs.extend((bases[0], r) for r in members if r.get("atfr"))
    return pairs


def _to_image(x: torch.Tensor) -> np.ndarray:
    x = x.detach().float().cpu()
    lo, hi = float(x.min()), float(x.max())
    return ((x - lo) / (hi - lo if hi > lo else 1.0)).numpy()


def plot_sgs_maps(sgs_in: torch.Tensor, sgs_out: torch.Tensor, path: str,
                  frames: Optional[torch.Tensor] = None, num_frames: int = 8,
                  num_channels: int = 4, title: str = "") -> str:
    """Fig. A.5: input frames, SGS input feature maps and the aggregated SGS output bins.

    Rows: the RGB frames (when given), then `num_channels` rows of the SGS input at
    `num_frames` evenly spaced time steps, then `num_channels` rows with every kept bin.
    All map panels, input and output of every channel, share one colour scale (from the
    lowest to the highest value shown), drawn as a colour bar: a colour means the same
    feature value in every panel. The RGB frames are min-max scaled on their own.

    Args:
        sgs_in: SGS input [C, T, H, W] of one clip.
        sgs_out: SGS output [C, B', H, W] of the same clip (kept bins only).
        path: PNG file to write.
        frames: optional input clip [3, T_in, H_in, W_in] (any range; min-max scaled).
        num_frames: time steps of the input shown.
        num_channels: first channels shown.
        title: figure title.
    Returns:
        `path`.
    """
    if sgs_in.dim() != 4 or sgs_out.dim() != 4 or sgs_in.shape[0] != sgs_out.shape[0]:
        raise ValueError(f"Expected sgs_in [C, T, H, W] and sgs_out [C, B', H, W] with the same "
                         f"C; got {tuple(sgs_in.shape)} and {tuple(sgs_out.shape)}.")
    if min(num_channels, num_frames, *sgs_in.shape[:2], sgs_out.shape[1]) < 1:
        raise ValueError(f"Nothing to show: num_channels={num_channels}, num_frames="
                         f"{num_frames}, sgs_in {tuple(sgs_in.shape)}, sgs_out "
                         f"{tuple(sgs_out.shape)}; each must be >= 1.")
    channels = min(num_channels, sgs_in.shape[0])
    in_steps = spread_indices(num_frames, sgs_in.shape[1])
    maps_in = sgs_in[:channels, in_steps].detach().float().cpu().numpy()
    maps_out = sgs_out[:channels].detach().float().cpu().numpy()
    lo = float(min(maps_in.min(), maps_out.min()))
    hi = float(max(maps_in.max(), maps_out.max()))
    norm = Normalize(vmin=lo, vmax=hi if hi > lo else lo + 1.0)
    num_bins = sgs_out.shape[1]
    first_map_row = 1 if frames is not None else 0
    rows = channels * 2 + first_map_row
    cols = max(len(in_steps), num_bins, 1)
    fig = _new_figure(1.1 * cols + 1.8, 1.1 * rows + 0.6)
    grid = fig.add_gridspec(rows, cols + 1, width_ratios=[1.0] * cols + [0.12], wspace=0.05,
                            hspace=0.3)
    if frames is not None:
        clip = _to_image(frames)
        for col, t in enumerate(spread_indices(num_frames, clip.shape[1])):
            _show(fig.add_subplot(grid[0, col]), clip[:, t].transpose(1, 2, 0), None,
                  f"frame {t}" if col else f"input frame {t}")
    for c in range(channels):
        for col, t in enumerate(in_steps):
            image = _show(fig.add_subplot(grid[first_map_row + c, col]), maps_in[c, col], norm,
                          f"in t={t}" if c == 0 else "", f"ch {c}" if col == 0 else "")
        for b in range(num_bins):
            _show(fig.add_subplot(grid[first_map_row + channels + c, b]), maps_out[c, b], norm,
                  f"bin {b + 1}" if c == 0 else "", f"out ch {c}" if b == 0 else "")
    colorbar = fig.colorbar(image, cax=fig.add_subplot(grid[first_map_row:, cols]))
    colorbar.set_label("feature value (all map panels)", fontsize=8)
    fig.suptitle(title or f"SGS: T = {sgs_in.shape[1]} input maps -> B' = {num_bins} bins")
    return _save(fig, path)


def _show(ax: Any, image: np.ndarray, norm: Optional[Normalize], title: str = "",
          ylabel: str = "") -> AxesImage:
    """`image` on `ax` without ticks: RGB [H, W, 3] as it is, a map [H, W] on `norm`."""
    shown = ax.imshow(image, cmap=None if norm is None else "viridis", norm=norm)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=7)
    return shown
