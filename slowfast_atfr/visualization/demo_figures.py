"""The demo's pictures, drawn from its per-window results (the JSON lines of `engine.demo`).

- `plot_demo_timeline` (`timeline_figure`): a PNG with the top-1 class of each window as a
  coloured band, over B' (bins the temporal sampler kept) of each window and pathway.
- `caption` and `caption_strip`: one window's top-1 class, score and B' as a picture strip
  [h, W, 3] to put under the frames of an annotated video.

Each window owns the stretch of the time line nearest to its centre (from the midpoint with
the window before to the midpoint with the window after), so overlapping windows split their
overlap and the bands tile the time line. Figures are drawn on a `matplotlib.figure.Figure`
(Agg canvas), never through pyplot (as `plots`).
"""

import os
from collections import Counter
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
# Classes given their own colour and legend entry in the timeline, by time covered; the
# rest are grey ("other").
MAX_LEGEND_CLASSES = 10
_OTHER_COLOUR = (0.75, 0.75, 0.75)


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def top1(result: Mapping[str, Any]) -> Dict[str, Any]:
    """The best of a window's "top_k" entries ({"label", "name", "score"})."""
    return result["top_k"][0]


def window_bounds(results: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Stretch of the time line (s) each window owns: [W + 1] edges, window i owning
    [edges[i], edges[i + 1]): from the first start to the last end, split at the midpoints
    between consecutive window centres."""
    starts = np.array([r["start_sec"] for r in results], dtype=float)
    ends = np.array([r["end_sec"] for r in results], dtype=float)
    centres = (starts + ends) / 2
    return np.concatenate([starts[:1], (centres[1:] + centres[:-1]) / 2, ends[-1:]])


def _class_colours(results: Sequence[Mapping[str, Any]], widths: np.ndarray
                   ) -> Tuple[Dict[int, Any], Dict[int, str]]:
    """Colour and name of the MAX_LEGEND_CLASSES top-1 classes covering the most time."""
    covered: Counter = Counter()
    names: Dict[int, str] = {}
    for r, width in zip(results, widths):
        covered[top1(r)["label"]] += float(width)
        names[top1(r)["label"]] = top1(r)["name"]
    palette = colormaps["tab10"]
    chosen = [label for label, _ in covered.most_common(MAX_LEGEND_CLASSES)]
    return {label: palette(i % 10) for i, label in enumerate(chosen)}, names


def _runs(labels: Sequence[int]) -> List[Tuple[int, int]]:
    """[first, last + 1) index ranges of consecutive equal labels."""
    runs, first = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[first]:
            runs.append((first, i))
            first = i
    return runs


def _draw_labels(ax, results: Sequence[Mapping[str, Any]], edges: np.ndarray) -> None:
    colours, names = _class_colours(results, np.diff(edges))
    labels = [top1(r)["label"] for r in results]
    total = edges[-1] - edges[0] or 1.0
    for first, last in _runs(labels):
        label = labels[first]
        x0, x1 = edges[first], edges[last]
        ax.broken_barh([(x0, x1 - x0)], (0, 1), facecolors=colours.get(label, _OTHER_COLOUR),
                       edgecolors="white", linewidth=0.5)
        if (x1 - x0) / total > 0.08:  # wide enough to hold its name
            ax.text((x0 + x1) / 2, 0.5, names[label], ha="center", va="center", fontsize=8,
                    clip_on=True)
    handles = [ax.bar(0, 0, color=colour, label=names[label]) for label, colour in
               colours.items()]
    if len(names) > len(colours):
        handles.append(ax.bar(0, 0, color=_OTHER_COLOUR, label="other"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
              frameon=False)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("top-1", rotation=0, ha="right", va="center")


def _draw_bprime(ax, results: Sequence[Mapping[str, Any]], edges: np.ndarray) -> None:
    if results[0].get("bprime") is None:
        ax.text(0.5, 0.5, "no temporal sampler (ATFR off): every window keeps all T frames",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
        return
    bprime = np.array([r["bprime"] for r in results], dtype=float)  # [W, P]
    for pathway in range(bprime.shape[1]):
        values = np.append(bprime[:, pathway], bprime[-1, pathway])
        ax.step(edges, values, where="post", label=f"pathway {pathway}")
    ax.set_ylim(0, bprime.max() + 1)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("B' (bins kept)")
    if bprime.shape[1] > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)


def timeline_figure(results: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """The top-1 class of each window as a coloured band, over B' of each window and pathway.

    Args:
        results: the demo's windows in time order, each with "start_sec", "end_sec",
            "top_k" (best first: {"label", "name", "score"}) and "bprime" ([P] kept bins,
            or None without a temporal sampler).
        title: the figure's title (e.g. the video's name).
    Returns:
        A 1000 x 360 px figure: axes[0] the classes (legend: the MAX_LEGEND_CLASSES covering
        the most time, then "other"), axes[1] B' against time (s).
    """
    if not results:
        raise ValueError("No window to plot: the demo gave no result.")
    edges = window_bounds(results)
    fig = _new_figure(10, 3.6)
    labels_ax, bprime_ax = fig.subplots(2, 1, sharex=True, height_ratios=[1, 2])
    _draw_labels(labels_ax, results, edges)
    _draw_bprime(bprime_ax, results, edges)
    bprime_ax.set_xlim(edges[0], edges[-1])
    bprime_ax.set_xlabel("time (s)")
    if title:
        labels_ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.8, bottom=0.14, top=0.9, hspace=0.1)
    return fig


def plot_demo_timeline(results: Sequence[Mapping[str, Any]], path: str, title: str = "") -> str:
    """Write `timeline_figure(results, title)` to the PNG file `path`; returns `path`."""
    fig = timeline_figure(results, title)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def caption(result: Mapping[str, Any]) -> str:
    """One line for a window: its time, top-1 name and score, and B' per pathway."""
    best = top1(result)
    text = (f"{result['start_sec']:.1f}-{result['end_sec']:.1f} s   {best['name']} "
            f"{best['score']:.2f}")
    if result.get("bprime") is not None:
        text += "   B' " + "/".join(str(b) for b in result["bprime"])
    return text


def caption_strip(text: str, width: int, height: int) -> np.ndarray:
    """`text` in white on black, as uint8 RGB [height, width, 3]: a monospace font half the
    height, smaller where the text would not fit the width."""
    fig = _new_figure(width / DPI, height / DPI)
    fig.patch.set_facecolor("black")
    pixels = min(0.5 * height, 0.98 * width / (0.62 * max(len(text), 1)))
    fig.text(0.01, 0.5, text, color="white", va="center", ha="left",
             fontsize=pixels * 72 / DPI, family="monospace")
    canvas = fig.canvas
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[:height, :width, :3]
    return np.ascontiguousarray(image)
