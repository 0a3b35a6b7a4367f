"""The demo's pictures: the timeline PNG and the caption strips of the annotated video."""

from collections import Counter

import numpy as np
import pytest
from matplotlib.image import imread

from slowfast_atfr.visualization.demo_figures import (
    MAX_LEGEND_CLASSES,
    caption,
    caption_strip,
    plot_demo_timeline,
    timeline_figure,
    window_bounds,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def window(start, end, label, score=0.5, bprime=(3,), fps=30, names=None):
    name = (names or {}).get(label, f"class {label}")
    return {"start_frame": start, "end_frame": end, "start_sec": start / fps,
            "end_sec": end / fps, "top_k": [{"label": label, "name": name, "score": score},
                                            {"label": label + 1, "name": "x", "score": 0.1}],
            "bprime": None if bprime is None else list(bprime)}


def test_window_bounds_split_overlaps_at_the_centres():
    results = [window(0, 60, 0), window(30, 90, 1), window(60, 120, 2)]
    np.testing.assert_allclose(window_bounds(results), [0, 1.5, 2.5, 4])
    gaps = [window(0, 30, 0), window(90, 120, 1)]  # stride above the span
    np.testing.assert_allclose(window_bounds(gaps), [0, 2, 4])


@pytest.mark.parametrize("bprime", [(3,), (2, 7), None])
def test_timeline_is_a_png(tmp_path, bprime):
    results = [window(16 * i, 16 * i + 32, i // 3 % 4, bprime=None if bprime is None else
                      [b + i % 2 for b in bprime]) for i in range(12)]
    path = plot_demo_timeline(results, str(tmp_path / "sub" / "demo.png"), title="clip.mp4")
    data = open(path, "rb").read()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5000
    image = imread(path)
    assert image.shape[:2] == (360, 1000) and image[..., :3].std() > 0.05  # not blank


def test_timeline_of_a_long_video_keeps_its_legend_short(tmp_path):
    """An hour of windows over 40 classes: the legend shows the most frequent ones only."""
    rng = np.random.default_rng(0)
    labels = np.repeat(rng.integers(0, 40, 400), 8)  # runs of 8 windows
    results = [window(32 * i, 32 * i + 64, int(c), bprime=[int(rng.integers(1, 9))])
               for i, c in enumerate(labels)]
    fig = timeline_figure(results)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert len(legend) == MAX_LEGEND_CLASSES + 1 and legend[-1] == "other"
    covered = Counter(int(c) for c in labels)
    assert set(legend[:-1]) <= {f"class {c}" for c, n in covered.items()
                                if n >= sorted(covered.values())[-MAX_LEGEND_CLASSES]}


def test_timeline_refuses_no_window(tmp_path):
    with pytest.raises(ValueError, match="No window"):
        timeline_figure([])
    with pytest.raises(ValueError, match="No window"):
        plot_demo_timeline([], str(tmp_path / "empty.png"))


def test_caption_names_time_class_score_and_bprime():
    text = caption(window(30, 62, 2, score=0.876, bprime=(5, 8), names={2: "riding a bike"}))
    assert text == "1.0-2.1 s   riding a bike 0.88   B' 5/8"
    assert "B'" not in caption(window(0, 32, 0, bprime=None))


def test_caption_strip_is_white_text_on_black():
    strip = caption_strip("1.0-2.1 s   riding a bike 0.88   B' 5/8", 320, 24)
    assert strip.shape == (24, 320, 3) and strip.dtype == np.uint8
    assert strip.min() == 0 and strip.max() > 200
    # A long text is shrunk to fit: its last character still leaves ink near the right end.
    narrow = caption_strip("x" * 80, 160, 24)
    assert narrow[:, 100:].max() > 100
