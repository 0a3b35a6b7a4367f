"""Each figure renders to a PNG of the expected size with real content, and shows what a reader
of the paper expects (read from the matplotlib Figure that was saved)."""

import numpy as np
import pytest
import torch
from matplotlib.image import imread

from slowfast_atfr.visualization import plots


def _check_png(path, width=None, height=None, min_ink=0.01):
    image = imread(str(path))
    assert image.ndim == 3 and image.shape[2] in (3, 4), image.shape
    if width is not None:
        assert image.shape[1] == width
    if height is not None:
        assert image.shape[0] == height
    rgb = image[..., :3]
    ink = (rgb < 0.95).any(axis=2).mean()
    assert ink > min_ink, f"only {ink:.4f} of the pixels are not white"
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 10
    return image


@pytest.fixture
def drawn(monkeypatch):
    """The Figure objects the plot functions save, in order (each PNG is still written)."""
    figures = []
    save = plots._save

    def recording(fig, path):
        figures.append(fig)
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", recording)
    return figures


def _stats():
    return {
        "mean_gflops": 1.2,
        "baseline_gflops": 2.5,
        "bprime_histogram": {"pathway0": {"2": 5, "3": 9, "5": 2, "8": 1}},
        "mean_bprime_by_class": {"static": [2.1], "fast_motion": [7.5], "zoom": [4.0],
                                 "flicker": [3.2]},
        "num_clips": 17,
    }


def test_bprime_histogram_png(tmp_path):
    path = plots.plot_bprime_histogram(_stats(), str(tmp_path / "fig3.png"))
    _check_png(path, width=600, height=400)


def test_bprime_histogram_fills_missing_lengths_with_zero_bars(tmp_path):
    stats = {"bprime_histogram": {"pathway0": {"1": 3, "4": 2}}}
    path = plots.plot_bprime_histogram(stats, str(tmp_path / "h.png"), title="t")
    _check_png(path, width=600, height=400)


def test_bprime_histogram_shows_every_bprime_from_1_to_t_and_names_the_pathway(tmp_path, drawn):
    stats = {"bprime_histogram": {"pathway0": {"2": 3, "4": 1}, "pathway1": {"3": 2, "9": 5}},
             "full_lengths": [4, 16]}
    for pathway, length, counts in ((0, 4, {2: 3, 4: 1}), (1, 16, {3: 2, 9: 5})):
        plots.plot_bprime_histogram(stats, str(tmp_path / f"h{pathway}.png"), pathway, "run")
        ax = drawn[-1].axes[0]
        assert list(ax.get_xticks()) == list(range(1, length + 1))
        assert ax.get_xlim() == (0.5, length + 0.5)
        bars = {round(p.get_x() + p.get_width() / 2): p.get_height() for p in ax.patches}
        assert bars == {b: counts.get(b, 0) for b in range(1, length + 1)}  # empty bins too
        assert ax.get_title().startswith("run\n")
        assert f"pathway {pathway}, B' from 1 to T = {length}" in ax.get_title()


def test_bprime_histogram_without_t_starts_at_1_and_says_t_is_unknown(tmp_path, drawn):
    plots.plot_bprime_histogram({"bprime_histogram": {"pathway0": {"3": 2, "5": 1}}},
                                str(tmp_path / "h.png"))
    ax = drawn[-1].axes[0]
    assert list(ax.get_xticks()) == [1, 2, 3, 4, 5]
    assert ax.get_title() == "pathway 0, T unknown: B' up to the largest seen"


def test_bprime_histogram_errors(tmp_path):
    with pytest.raises(ValueError, match=r"not all in \[1, T = 4\]"):
        plots.plot_bprime_histogram({"bprime_histogram": {"pathway0": {"5": 1}},
                                     "full_lengths": [4]}, str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match="bprime_histogram"):
        plots.plot_bprime_histogram({}, str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match="pathway 1"):
        plots.plot_bprime_histogram(_stats(), str(tmp_path / "x.png"), pathway=1)


def test_bprime_by_class_png_and_order(tmp_path):
    path = plots.plot_bprime_by_class(_stats(), str(tmp_path / "table5.png"))
    # 4 classes -> max(2.5, 0.35 * 4 + 1.2) = 2.6 inches at 100 dpi.
    _check_png(path, width=600, height=260)
    means = plots._class_means(_stats()["mean_bprime_by_class"], 0)
    assert min(means, key=means.get) == "static" and max(means, key=means.get) == "fast_motion"


def test_bprime_by_class_accepts_scalars_and_checks_pathway(tmp_path):
    stats = {"mean_bprime_by_class": {"a": 1.0, "b": 3.0, "c": 2.0}}
    _check_png(plots.plot_bprime_by_class(stats, str(tmp_path / "s.png")), width=600)
    with pytest.raises(ValueError, match="pathway 2"):
        plots.plot_bprime_by_class(_stats(), str(tmp_path / "x.png"), pathway=2)


def test_bprime_by_class_labels_the_class_axis_with_names_and_names_the_pathway(tmp_path,
                                                                              drawn):
    stats = {"mean_bprime_by_class": {"zoom": [2.0, 9.0], "static": [1.0, 4.0],
                                      "flicker": [3.0, 6.0]}}
    plots.plot_bprime_by_class(stats, str(tmp_path / "c.png"), pathway=1, title="run")
    ax = drawn[-1].axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["static", "flicker", "zoom"]
    assert ax.get_ylabel() == "class" and ax.get_title() == "run (pathway 1)"


def test_bprime_by_class_shows_the_lowest_and_highest_of_many_classes(tmp_path, drawn):
    stats = {"mean_bprime_by_class": {f"class_{i:02d}": [float(i)] for i in range(40)}}
    plots.plot_bprime_by_class(stats, str(tmp_path / "c.png"), max_classes=10)
    ax = drawn[-1].axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    assert names == [f"class_{i:02d}" for i in (*range(5), *range(35, 40))]
    assert ax.get_title().endswith("\nthe 5 lowest and 5 highest of 40 classes")


def test_accuracy_vs_gflops_png(tmp_path):
    runs = [
        {"name": "R18", "top1": 70.0, "gflops": 2.5, "atfr": False, "family": "r18"},
        {"name": "R18+ATFR", "top1": 69.5, "gflops": 1.3, "atfr": True, "family": "r18"},
        {"name": "X3D", "top1": 60.0, "gflops": 0.5, "atfr": False},
        {"name": "no-gflops", "top1": 50.0, "gflops": None, "atfr": False},
    ]
    assert len(plots._family_pairs(runs[:3])) == 1
    _check_png(plots.plot_accuracy_vs_gflops(runs, str(tmp_path / "sub" / "fig4.png")),
               width=650, height=450)


def test_accuracy_vs_gflops_puts_the_legend_off_the_data(tmp_path, drawn):
    runs = [{"name": "R18", "top1": 70.0, "gflops": 2.5, "atfr": False},
            {"name": "R18+ATFR", "top1": 69.5, "gflops": 1.3, "atfr": True}]
    plots.plot_accuracy_vs_gflops(runs, str(tmp_path / "fig4.png"))
    fig = drawn[-1]
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())
    assert fig.bbox.x0 <= legend.x0 and legend.x1 <= fig.bbox.x1  # and inside the figure
    assert fig.bbox.y0 <= legend.y0 and legend.y1 <= fig.bbox.y1


def test_accuracy_vs_gflops_needs_a_point(tmp_path):
    with pytest.raises(ValueError, match="top1"):
        plots.plot_accuracy_vs_gflops([{"name": "a", "top1": None, "gflops": 1.0}],
                                      str(tmp_path / "x.png"))


def test_sgs_maps_png(tmp_path):
    torch.manual_seed(0)
    sgs_in = torch.randn(6, 16, 8, 8)
    sgs_out = torch.randn(6, 3, 8, 8)
    frames = torch.rand(3, 16, 32, 32)
    path = plots.plot_sgs_maps(sgs_in, sgs_out, str(tmp_path / "a5.png"), frames=frames)
    # 8 columns, 1 + 4 + 4 rows -> (1.1 * 8 + 1.8) x (1.1 * 9 + 0.6) inches at 100 dpi.
    _check_png(path, width=1060, height=1050, min_ink=0.2)


def test_sgs_maps_more_bins_than_shown_frames_and_few_channels(tmp_path):
    path = plots.plot_sgs_maps(torch.randn(2, 12, 4, 4), torch.randn(2, 10, 4, 4),
                               str(tmp_path / "b.png"))
    # 10 columns, 2 + 2 rows.
    _check_png(path, width=1280, height=500, min_ink=0.2)


def test_sgs_maps_share_one_colour_scale_with_a_colour_bar(tmp_path, drawn):
    torch.manual_seed(0)
    scale = torch.tensor([1.0, 10.0, 100.0]).view(3, 1, 1, 1)  # channels of unlike magnitude
    sgs_in, sgs_out = torch.randn(3, 8, 4, 4) * scale, torch.randn(3, 2, 4, 4) * scale
    plots.plot_sgs_maps(sgs_in, sgs_out, str(tmp_path / "a5.png"), frames=torch.rand(3, 8, 8, 8),
                        num_channels=3)
    images = [im for ax in drawn[-1].axes for im in ax.get_images()]
    maps = [im for im in images if im.get_array().ndim == 2]
    assert len(maps) == 3 * 8 + 3 * 2 and len(images) == len(maps) + 8  # + the RGB frames
    lo, hi = min(sgs_in.min(), sgs_out.min()).item(), max(sgs_in.max(), sgs_out.max()).item()
    assert all(im.get_clim() == pytest.approx((lo, hi)) for im in maps)
    shown = sorted(im.get_array().sum() for im in maps)  # the values themselves, not rescaled
    expected = sorted([m.sum().item() for m in sgs_in.flatten(0, 1)]
                      + [m.sum().item() for m in sgs_out.flatten(0, 1)])
    assert shown == pytest.approx(expected, rel=1e-4, abs=1e-3)
    bars = [im.colorbar for im in maps if im.colorbar is not None]
    assert len(bars) == 1 and bars[0].norm.vmin == pytest.approx(lo)
    assert bars[0].norm.vmax == pytest.approx(hi)


def test_sgs_maps_shape_errors(tmp_path):
    with pytest.raises(ValueError, match="same"):
        plots.plot_sgs_maps(torch.randn(4, 8, 4, 4), torch.randn(3, 2, 4, 4),
                            str(tmp_path / "x.png"))
