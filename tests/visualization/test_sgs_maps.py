"""Fig. A.5 from a tiny real model: the hook sees the sampler's real input and output."""

import numpy as np
import pytest
import torch
from matplotlib.image import imread
from tiny_x3d import tiny_x3d_cfg

from slowfast_atfr.models import build_model
from slowfast_atfr.visualization.sgs_maps import capture_sgs_maps, render_sgs_figure


def _tiny_cfg(atfr=True, data_dir=""):
    cfg = tiny_x3d_cfg(atfr)
    cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE = 8, 1
    cfg.DATA.TEST_CROP_SIZE = cfg.DATA.TRAIN_CROP_SIZE = 32
    cfg.DATA.PATH_TO_DATA_DIR = data_dir
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = 1, 1
    return cfg


def test_capture_matches_the_models_lengths():
    torch.manual_seed(0)
    model = build_model(_tiny_cfg())
    model.train()
    clip = [torch.randn(1, 3, 8, 32, 32)]
    sgs_in, sgs_out = capture_sgs_maps(model, clip)
    assert model.training, "the model's mode is restored"
    assert sgs_in.dim() == 4 and sgs_in.shape[1] == 8
    assert sgs_out.shape[0] == sgs_in.shape[0] and sgs_out.shape[2:] == sgs_in.shape[2:]
    assert 1 <= sgs_out.shape[1] <= 8
    assert sgs_out.shape[1] == int(model.temporal_lengths[0, 0])
    # Every kept bin holds real content (empty bins are dropped).
    assert sgs_out.abs().amax(dim=(0, 2, 3)).gt(0).all()
    # A static clip (identical frames) collapses far below T.
    still = [torch.randn(1, 3, 1, 32, 32).expand(1, 3, 8, 32, 32).contiguous()]
    _, still_out = capture_sgs_maps(model, still)
    assert still_out.shape[1] <= 3


def test_capture_errors():
    model = build_model(_tiny_cfg(atfr=False))
    with pytest.raises(ValueError, match="ATFR.ENABLED"):
        capture_sgs_maps(model, [torch.randn(1, 3, 8, 32, 32)])
    with pytest.raises(ValueError, match="batch 1"):
        capture_sgs_maps(build_model(_tiny_cfg()), [torch.randn(2, 3, 8, 32, 32)])


@pytest.mark.slow
def test_render_sgs_figure_from_the_demo_data(tmp_path):
    from slowfast_atfr.datasets.demo import make_demo_dataset

    data = tmp_path / "demo"
    make_demo_dataset(str(data), num_classes=2, videos_per_class=0, val_videos_per_class=0,
                      test_videos_per_class=1, frames=16, size=32)
    cfg = _tiny_cfg(data_dir=str(data))
    cfg.OUTPUT_DIR = str(tmp_path / "run")
    path = render_sgs_figure(cfg, str(tmp_path / "a5.png"), clip_index=1)
    image = imread(path)[..., :3]
    assert image.shape[0] > 500 and image.shape[1] >= 1000
    assert (image < 0.95).any(axis=2).mean() > 0.2
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 50
    with pytest.raises(ValueError, match="clip_index=5"):
        render_sgs_figure(cfg, str(tmp_path / "x.png"), clip_index=5)
