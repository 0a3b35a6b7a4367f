"""Temporal positions, crop-then-resize, relative crops, normalisation and pathway packing."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dataset_helpers import tiny_cfg

from slowfast_atfr.datasets import build_dataset
from slowfast_atfr.datasets import transform as T


def test_clip_positions_test_views_are_uniform_and_cover_the_video():
    common = dict(video_frames=100, fps=30, num_frames=4, sampling_rate=5, target_fps=30,
                  num_clips=3)
    views = [T.clip_positions(clip_idx=i, **common) for i in range(3)]
    assert views[0].tolist() == [0, 6, 12, 19]
    assert views[2][-1] == 99
    assert views[1][0] == 40  # delta 80 / 2
    np.testing.assert_array_equal(np.diff(views[0]), np.diff(views[2]))


def test_clip_positions_random_clip_stays_inside_and_resamples_fps():
    torch.manual_seed(0)
    for _ in range(20):
        pos = T.clip_positions(video_frames=90, fps=60, num_frames=8, sampling_rate=2,
                               target_fps=30, clip_idx=-1, num_clips=1)
        assert pos.min() >= 0 and pos.max() <= 89
        # 8 x 2 frames at 30 fps = 32 frames at 60 fps: stride ~4.4 source frames.
        assert 31 <= pos[-1] - pos[0] <= 32


def test_clip_positions_of_a_short_video_start_at_zero():
    pos = T.clip_positions(video_frames=5, fps=30, num_frames=4, sampling_rate=4, target_fps=30,
                           clip_idx=-1, num_clips=1)
    assert pos[0] == 0 and pos[-1] == 15  # clamped to frame 4 by the decoder


def test_segment_positions_one_frame_per_segment():
    torch.manual_seed(0)
    train = T.segment_positions(video_frames=41, num_frames=4, clip_idx=-1, num_clips=1)
    assert [0 <= p - 10 * k <= 10 for k, p in enumerate(train)] == [True] * 4
    views = [T.segment_positions(video_frames=41, num_frames=4, clip_idx=i, num_clips=2)
             for i in range(2)]
    assert views[0].tolist() == [2, 12, 22, 32]
    assert views[1].tolist() == [8, 18, 28, 38]


def test_resized_crop_matches_resize_then_crop():
    torch.manual_seed(0)
    frames = (torch.rand(3, 60, 90, 3) * 255).to(torch.uint8).numpy()
    full = torch.from_numpy(frames).permute(3, 0, 1, 2).float()
    resized = F.interpolate(full, size=(40, 60), mode="bilinear", align_corners=False)
    out = T.resized_crop(frames, 40, 40, 1)
    assert out.shape == (3, 3, 40, 40)
    ref = resized[..., 10:50]
    # Same field of view; only the bilinear sampling grid differs slightly.
    assert (out - ref).abs().mean() < 0.15 * ref.std()
    assert torch.equal(T.resized_crop(frames, 60, 60, 1), full[..., 15:75])


def test_uniform_crop_positions_along_the_long_side():
    assert T.crop_offset(40, 100, 40, 0) == (0, 0)
    assert T.crop_offset(40, 100, 40, 1) == (0, 30)
    assert T.crop_offset(40, 100, 40, 2) == (0, 60)
    assert T.crop_offset(100, 40, 40, 2) == (60, 0)
    with pytest.raises(ValueError, match="spatial_idx"):
        T.crop_offset(40, 100, 40, 3)


def test_resized_crop_scales_up_frames_smaller_than_the_crop():
    frames = np.zeros((2, 10, 20, 3), np.uint8)
    assert T.resized_crop(frames, 8, 16, -1).shape == (3, 2, 16, 16)


def _coordinates(frames: int, height: int, width: int) -> np.ndarray:
    """uint8 [T, H, W, 3] frames whose pixel (y, x) holds (y, x, 0): a crop shows its box."""
    y, x = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    image = np.stack([y, x, np.zeros_like(y)], axis=-1).astype(np.uint8)
    return np.repeat(image[None], frames, axis=0)


def _box_seen(crop: torch.Tensor):
    """(y, x, h, w) of the box an upscaled crop of `_coordinates` frames shows."""
    ys, xs = crop[0], crop[1]
    y0, x0 = int(ys.min()), int(xs.min())
    return y0, x0, int(ys.max()) - y0 + 1, int(xs.max()) - x0 + 1


def test_relative_crop_shape_and_same_box_in_every_frame():
    torch.manual_seed(0)
    frames = _coordinates(3, 40, 60)
    out = T.random_relative_crop(frames, 24, [0.08, 1.0], [3 / 4, 4 / 3])
    assert out.shape == (3, 3, 24, 24) and out.dtype == torch.float32
    assert torch.equal(out[:, 0], out[:, 2])


def test_relative_crop_box_area_and_ratio_are_in_range():
    height, width, scale, aspect = 40, 60, (0.25, 0.5), (3 / 4, 4 / 3)
    frames = _coordinates(2, height, width)
    fractions, ratios = [], []
    for seed in range(60):
        torch.manual_seed(seed)
        # 64 px is larger than any box side: bilinear upscaling keeps the box's edge pixels.
        y, x, h, w = _box_seen(T.random_relative_crop(frames, 64, scale, aspect))
        torch.manual_seed(seed)
        assert T.relative_crop_box(height, width, scale, aspect) == (y, x, h, w)
        assert 0 <= y and y + h <= height and 0 <= x and x + w <= width
        # Sides are rounded to whole pixels: allow half a pixel on each.
        slack = 0.5 * (h + w) + 0.25
        assert scale[0] * height * width - slack <= h * w <= scale[1] * height * width + slack
        assert (w - 0.5) / (h + 0.5) <= aspect[1] and (w + 0.5) / (h - 0.5) >= aspect[0]
        fractions.append(h * w / (height * width))
        ratios.append(w / h)
    assert min(fractions) < 0.3 and max(fractions) > 0.45
    assert min(ratios) < 0.9 and max(ratios) > 1.1  # log-uniform: both sides of 1


def test_relative_crop_is_deterministic_for_a_seed():
    frames = (np.random.default_rng(0).random((2, 30, 50, 3)) * 255).astype(np.uint8)

    def crop(seed):
        torch.manual_seed(seed)
        return T.random_relative_crop(frames, 16, [0.08, 1.0], [3 / 4, 4 / 3])

    assert torch.equal(crop(5), crop(5)) and not torch.equal(crop(5), crop(6))


@pytest.mark.parametrize("height, width, aspect, box", [
    (40, 40, (2.0, 3.0), (10, 0, 20, 40)),   # square frame, ratio clamped up to 2
    (20, 80, (0.5, 2.0), (0, 20, 20, 40)),   # 4:1 frame, ratio clamped down to 2
    (40, 40, (0.5, 2.0), (0, 0, 40, 40)),    # ratio 1 allowed: the whole frame
])
def test_relative_crop_falls_back_to_a_centred_box(height, width, aspect, box):
    # The whole area at a ratio other than the frame's never fits: 10 tries fail.
    torch.manual_seed(0)
    assert T.relative_crop_box(height, width, (1.0, 1.0), aspect) == box
    frames = _coordinates(1, height, width)
    torch.manual_seed(0)
    assert _box_seen(T.random_relative_crop(frames, 96, (1.0, 1.0), aspect)) == box


def test_training_item_with_relative_jitter(demo_root, monkeypatch):
    cfg = tiny_cfg(demo_root)
    cfg.DATA.TRAIN_JITTER_SCALES_RELATIVE = [0.08, 1.0]
    cfg.DATA.TRAIN_JITTER_ASPECT_RELATIVE = [0.75, 1.3333]

    def no_scale_jitter(*args, **kwargs):
        raise AssertionError("DATA.TRAIN_JITTER_SCALES is not used with the relative crop")

    monkeypatch.setattr(T, "sample_short_side", no_scale_jitter)
    dataset = build_dataset("kinetics", cfg, "train")
    frames, label, index, meta = dataset[2]
    assert [f.shape for f in frames] == [(3, 4, 32, 32)] and meta["valid"]
    assert torch.equal(dataset[2][0][0], frames[0])  # per-item seed: the same crop again
    dataset.set_epoch(1)
    assert not torch.equal(dataset[2][0][0], frames[0])
    assert dataset[(2, 0)][0][0].shape == (3, 4, 16, 16)  # short cycle: round(32 * 0.5)
    calls = []
    real = T.random_relative_crop
    monkeypatch.setattr(T, "random_relative_crop",
                        lambda frames, *args: calls.append(args) or real(frames, *args))
    cfg.DATA.TRAIN_JITTER_ASPECT_RELATIVE = []
    assert build_dataset("kinetics", cfg, "train")[2][0][0].shape == (3, 4, 32, 32)
    assert calls == [(32, [0.08, 1.0], (3 / 4, 4 / 3))]  # PySlowFast fails; we use [3/4, 4/3]
    assert build_dataset("kinetics", cfg, "val")[0][0][0].shape == (3, 4, 32, 32)
    assert len(calls) == 1  # val and test crops are unchanged


def test_short_side_jitter_range_and_inverse_uniform():
    torch.manual_seed(0)
    sizes = [T.sample_short_side(32, 40) for _ in range(200)]
    assert min(sizes) == 32 and max(sizes) == 40
    inv = [T.sample_short_side(32, 64, inverse_uniform=True) for _ in range(400)]
    assert 32 <= min(inv) and max(inv) <= 64
    assert np.mean(inv) < np.mean([T.sample_short_side(32, 64) for _ in range(400)])


def test_normalize_per_channel():
    x = torch.full((3, 2, 4, 4), 255.0)
    out = T.normalize(x, [0.5, 0.0, 1.0], [0.5, 0.25, 1.0])
    assert out[:, 0, 0, 0].tolist() == pytest.approx([1.0, 4.0, 0.0])


def test_normalize_reverse_channels_gives_bgr_after_normalising():
    x = torch.full((3, 2, 4, 4), 255.0)
    out = T.normalize(x, [0.5, 0.0, 1.0], [0.5, 0.25, 1.0], reverse_channels=True)
    assert out[:, 0, 0, 0].tolist() == pytest.approx([0.0, 4.0, 1.0])


def test_pack_pathway_output_slowfast_uses_linspace_indices():
    frames = torch.arange(16.0).view(1, 16, 1, 1).expand(3, 16, 2, 2)
    slow, fast = T.pack_pathway_output(frames, multi_pathway=True, alpha=4)
    assert fast.shape == (3, 16, 2, 2) and slow.shape == (3, 4, 2, 2)
    assert slow[0, :, 0, 0].tolist() == [0.0, 5.0, 10.0, 15.0]
    (single,) = T.pack_pathway_output(frames, multi_pathway=False, alpha=4)
    assert single is frames
    with pytest.raises(ValueError, match="SLOWFAST.ALPHA"):
        T.pack_pathway_output(frames[:, :2], multi_pathway=True, alpha=4)
