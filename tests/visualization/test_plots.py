"""Each figure renders to a PNG of the expected size with real content."""

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


def test_bprime_histogram_errors(tmp_path):
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
    # 8 columns, 1 + 4 + 4 rows -> (1.1 * 8 + 1.2) x (1.1 * 9 + 0.6) inches at 100 dpi.
    _check_png(path, width=1000, height=1050, min_ink=0.2)


def test_sgs_maps_more_bins_than_shown_frames_and_few_channels(tmp_path):
    path = plots.plot_sgs_maps(torch.randn(2, 12, 4, 4), torch.randn(2, 10, 4, 4),
                               str(tmp_path / "b.png"))
    # 10 columns, 2 + 2 rows.
    _check_png(path, width=1220, height=500, min_ink=0.2)


def test_sgs_maps_shape_errors(tmp_path):
    with pytest.raises(ValueError, match="same"):
        plots.plot_sgs_maps(torch.randn(4, 8, 4, 4), torch.randn(3, 2, 4, 4),
                            str(tmp_path / "x.png"))
