"""A tiny registered model and synthetic data set for engine tests (CPU, < 1 s per epoch).

`TinyVideoNet`: conv stem -> conv "res2" -> [sampler] -> masked mean -> linear; a real
VideoModel, so ATFR (the SGS sampler after res2), varlen BN and temporal_lengths work.
`Synthetic`: deterministic clips whose class sets a coloured moving square; videos listed in
the environment variable ENGINE_TINY_BAD_VIDEOS (comma separated indices) are "bad".
"""

import os

import torch
import torch.nn as nn

from slowfast_atfr.datasets.build import DATASET_REGISTRY
from slowfast_atfr.models import varlen
from slowfast_atfr.models.build import MODEL_REGISTRY
from slowfast_atfr.models.norm_helper import get_norm
from slowfast_atfr.models.video_model import VideoModel, attach_atfr

NUM_VIDEOS = {"train": 16, "val": 8, "test": 8}


class TinyVideoNet(VideoModel):
    def __init__(self, cfg):
        super().__init__(num_pathways=1)
        width = 8
        norm = get_norm(cfg.BN.NORM_TYPE, num_splits=cfg.BN.NUM_SPLITS)
        self.s1 = nn.Sequential(
            nn.Conv3d(3, width, 3, stride=(1, 2, 2), padding=1, bias=False),
            norm(num_features=width), nn.ReLU())
        self.s2 = nn.Sequential(nn.Conv3d(width, width, 3, padding=1, bias=False),
                                norm(num_features=width), nn.ReLU())
        self.head = nn.Linear(width, cfg.MODEL.NUM_CLASSES)
        # Only with a rate: a dropout draws random numbers, which resume tests must restore.
        rate = cfg.MODEL.DROPOUT_RATE
        self.dropout = nn.Dropout(rate) if rate > 0 else nn.Identity()
        attach_atfr(self, cfg, [width])

    def stage_steps(self):
        return [("stem", lambda xs: [self.s1(xs[0])]),
                ("res2", lambda xs: [self.s2(xs[0])]),
                ("head", lambda xs: self.head(self.dropout(
                    varlen.masked_mean(xs[0]).flatten(1))))]


class Synthetic(torch.utils.data.Dataset):
    def __init__(self, cfg, split):
        self.cfg, self.split = cfg, split
        self.num_videos = NUM_VIDEOS[split]
        self.num_clips_per_video = (cfg.TEST.NUM_ENSEMBLE_VIEWS * cfg.TEST.NUM_SPATIAL_CROPS
                                    if split == "test" else 1)
        self.paths = [f"synthetic/{split}/video_{i:03d}.mp4" for i in range(self.num_videos)]
        self.labels = [i % cfg.MODEL.NUM_CLASSES for i in range(self.num_videos)]
        bad = os.environ.get("ENGINE_TINY_BAD_VIDEOS", "")
        self.bad = {int(i) for i in bad.split(",") if i}

    def __len__(self):
        return self.num_videos * self.num_clips_per_video

    def video_index(self, index):
        return index // self.num_clips_per_video

    def _frames(self, video, view, size):
        data = self.cfg.DATA
        gen = torch.Generator().manual_seed(1000 * video + view)
        x = 0.1 * torch.randn(3, data.NUM_FRAMES, size, size, generator=gen)
        label = self.labels[video]
        side = max(size // 4, 1)
        for t in range(data.NUM_FRAMES):
            pos = (t * (label + 1)) % max(size - side, 1)
            x[label % 3, t, pos:pos + side, pos:pos + side] += 1.0
        return [x]

    def __getitem__(self, index):
        cycle = None
        if isinstance(index, (tuple, list)):
            index, cycle = index
        size = self.cfg.DATA.TEST_CROP_SIZE if self.split == "test" else (
            self.cfg.DATA.TRAIN_CROP_SIZE)
        if cycle is not None and cycle < len(self.cfg.MULTIGRID.SHORT_CYCLE_FACTORS):
            size = int(round(size * self.cfg.MULTIGRID.SHORT_CYCLE_FACTORS[cycle]))
        video = self.video_index(index)
        if self.split == "test":
            if video in self.bad:
                if not self.cfg.TEST.SKIP_BAD_VIDEOS:
                    raise RuntimeError(f"cannot decode {self.paths[video]}")
                zeros = [torch.zeros(3, self.cfg.DATA.NUM_FRAMES, size, size)]
                return zeros, self.labels[video], index, {"bad_videos": [], "valid": False}
            return self._frames(video, index, size), self.labels[video], index, {
                "bad_videos": [], "valid": True}
        bad = []
        while video in self.bad:
            bad.append(self.paths[video])
            video = (video + 1) % self.num_videos
        return self._frames(video, 0, size), self.labels[video], video, {
            "bad_videos": bad, "valid": True}


def register() -> None:
    """Register both (idempotent)."""
    if "TinyVideoNet" not in MODEL_REGISTRY:
        MODEL_REGISTRY.register(TinyVideoNet)
    if "Synthetic" not in DATASET_REGISTRY:
        DATASET_REGISTRY.register(Synthetic)


register()


def tiny_cfg(output_dir, **overrides):
    """A config for the tiny model on the synthetic data: 4 frames, 16 px, 2 epochs, CPU."""
    from slowfast_atfr.config.defaults import assert_and_infer_cfg, get_cfg

    cfg = get_cfg()
    opts = {
        "MODEL.MODEL_NAME": "TinyVideoNet", "MODEL.ARCH": "resnet3d", "MODEL.NUM_CLASSES": 4,
        "MODEL.DROPOUT_RATE": 0.0, "TRAIN.DATASET": "synthetic", "TEST.DATASET": "synthetic",
        "TRAIN.BATCH_SIZE": 4, "TEST.BATCH_SIZE": 4, "TRAIN.EVAL_PERIOD": 1,
        "TRAIN.CHECKPOINT_PERIOD": 1, "TEST.NUM_ENSEMBLE_VIEWS": 2, "TEST.NUM_SPATIAL_CROPS": 1,
        "DATA.NUM_FRAMES": 4, "DATA.TRAIN_CROP_SIZE": 16, "DATA.TEST_CROP_SIZE": 16,
        "DATA.INPUT_CHANNEL_NUM": [3], "SOLVER.BASE_LR": 0.05, "SOLVER.MAX_EPOCH": 2,
        "SOLVER.LR_POLICY": "cosine", "SOLVER.WEIGHT_DECAY": 1e-4, "NUM_GPUS": 0,
        "NUM_CPU_PROCESSES": 1, "DATA_LOADER.NUM_WORKERS": 0, "LOG_PERIOD": 2,
        "OUTPUT_DIR": str(output_dir), "RNG_SEED": 0,
    }
    opts.update(overrides)
    flat = [x for kv in opts.items() for x in kv]
    cfg.merge_from_list(flat)
    return assert_and_infer_cfg(cfg)
