"""The shared video data set: index -> (video, view), decode, sample, transform, pack pathways.

Subclasses only read their list format (`_load_entries`) and may change the temporal sampling
(`_positions`). Bad videos never crash training silently and never go unnoticed: in train/val
they are logged, counted, reported in meta["bad_videos"] and replaced by random others; in
test they raise, or with TEST.SKIP_BAD_VIDEOS give zero frames with meta["valid"] False.
"""

import logging
import os
from typing import Any, Dict, List, Tuple, Union

import numpy as np
import torch
from fvcore.common.config import CfgNode

from slowfast_atfr.datasets import decoder
from slowfast_atfr.datasets import transform as T
from slowfast_atfr.datasets.lists import PathOrigins
from slowfast_atfr.utils import misc

logger = logging.getLogger(__name__)

_SPLITS = ("train", "val", "test")

Item = Tuple[List[torch.Tensor], int, int, Dict[str, Any]]
# Aspect range of DATA.TRAIN_JITTER_SCALES_RELATIVE's crop when DATA.TRAIN_JITTER_ASPECT_RELATIVE
# is empty (PySlowFast fails there): the Inception crop's usual range.
DEFAULT_ASPECT_RELATIVE = (3 / 4, 4 / 3)


class VideoDataset(torch.utils.data.Dataset):
    """Base of every registered video data set; built as `cls(cfg, split)`.

    Items are `(frames, label, index, meta)`: frames is a list of [C, T, H, W] float tensors,
    one per pathway; in test mode `index` is a clip index (see `video_index`). An index may be
    a pair `(index, short_cycle_idx)` from `ShortCycleBatchSampler`; the crop is then scaled by
    MULTIGRID.SHORT_CYCLE_FACTORS[short_cycle_idx] (index 2 = full size).
    """

    def __init__(self, cfg: CfgNode, split: str):
        if split not in _SPLITS:
            raise ValueError(f"split={split!r} is not valid; expected one of {list(_SPLITS)}.")
        self.cfg = cfg
        self.split = split
        # Where list-file readers found each video, for the message of a missing one.
        self.origins = PathOrigins()
        entries = self._load_entries()
        if not entries:
            raise ValueError(
                f"{type(self).__name__} {split} split in {cfg.DATA.PATH_TO_DATA_DIR!r} has no "
                "video."
            )
        self.paths = [p for p, _ in entries]
        self.labels = [lbl for _, lbl in entries]
        self.num_spatial_crops = cfg.TEST.NUM_SPATIAL_CROPS if split == "test" else 1
        self.num_clips_per_video = (
            cfg.TEST.NUM_ENSEMBLE_VIEWS * cfg.TEST.NUM_SPATIAL_CROPS if split == "test" else 1
        )
        # Bad videos met by this process (loader workers each keep their own count).
        self.num_bad_videos = 0
        self.epoch = 0
        logger.info("%s %s: %d videos from %s.", type(self).__name__, split, len(self.paths),
                    cfg.DATA.PATH_TO_DATA_DIR)

    def set_epoch(self, epoch: int) -> None:
        """Seed the random choices of each train/val item from (RNG_SEED, epoch, index)."""
        self.epoch = epoch

    def _load_entries(self) -> List[Tuple[str, int]]:
        """Return the (video path, 0-based label) pairs of `self.split`."""
        raise NotImplementedError

    @property
    def num_videos(self) -> int:
        return len(self.paths)

    def __len__(self) -> int:
        return self.num_videos * self.num_clips_per_video

    def video_index(self, index: int) -> int:
        """Video of dataset index `index` (test mode has `num_clips_per_video` per video)."""
        return index // self.num_clips_per_video

    def view_indices(self, index: int) -> Tuple[int, int]:
        """(temporal view, spatial crop) of a test-mode dataset index."""
        clip = index % self.num_clips_per_video
        return clip // self.num_spatial_crops, clip % self.num_spatial_crops

    # ----------------------------------------------------------------- sampling
    def _positions(self, video_frames: int, fps: float, clip_idx: int, num_clips: int):
        """Frame positions of one clip; Kinetics-style NUM_FRAMES x SAMPLING_RATE clips."""
        data = self.cfg.DATA
        return T.clip_positions(
            video_frames=video_frames,
            fps=fps,
            num_frames=data.NUM_FRAMES,
            sampling_rate=data.SAMPLING_RATE,
            target_fps=data.TARGET_FPS,
            clip_idx=clip_idx,
            num_clips=num_clips,
        )

    def _decode(self, video: int, clip_idx: int) -> np.ndarray:
        """uint8 frames [T, H, W, 3] of one clip; raises `decoder.DecodeError`."""
        num_clips = self.cfg.TEST.NUM_ENSEMBLE_VIEWS

        def sample_fn(n: int, fps: float) -> np.ndarray:
            return self._positions(n, fps, clip_idx, num_clips)

        path = self.paths[video]
        threads = self.cfg.DATA.DECODER_THREADS
        if self.cfg.DATA_LOADER.ENABLE_MULTI_THREAD_DECODE and threads == 1:
            threads = 0
        try:
            if self.cfg.DATA.USE_FRAMES:
                return decoder.decode_image_folder(path, sample_fn, self.cfg.DATA.TARGET_FPS)
            return decoder.decode_video(path, sample_fn, threads=threads)
        except decoder.DecodeError:
            if not self.origins or os.path.exists(path):
                raise
            # Name the list line and the folders tried rather than the joined path alone.
            raise decoder.DecodeError(path, self.origins.missing_reason(video, path)) from None

    # ----------------------------------------------------------------- spatial
    def _crop_and_scales(self, short_cycle_idx: Union[int, None]) -> Tuple[int, int, int]:
        """(crop size, min short side, max short side) of a training clip."""
        data = self.cfg.DATA
        crop = data.TRAIN_CROP_SIZE
        low, high = data.TRAIN_JITTER_SCALES
        factors = self.cfg.MULTIGRID.SHORT_CYCLE_FACTORS
        if short_cycle_idx is None or short_cycle_idx >= len(factors):
            return crop, low, high
        factor = factors[short_cycle_idx]
        small = int(round(crop * factor))
        return small, int(round(low * small / crop)), int(round(high * small / crop))

    def _spatial(self, frames: np.ndarray, spatial_idx: int, short_cycle_idx) -> List[torch.Tensor]:
        """Scale, crop, flip, normalise and pack uint8 [T, H, W, 3] frames into pathways.

        Training crops jitter the short side in DATA.TRAIN_JITTER_SCALES and crop at random,
        or with DATA.TRAIN_JITTER_SCALES_RELATIVE take a random box of relative area and
        aspect resized to the crop size (PySlowFast's Inception-style crop).
        """
        data = self.cfg.DATA
        if self.split == "train":
            crop, low, high = self._crop_and_scales(short_cycle_idx)
            if data.TRAIN_JITTER_SCALES_RELATIVE:
                aspect = data.TRAIN_JITTER_ASPECT_RELATIVE or DEFAULT_ASPECT_RELATIVE
                x = T.random_relative_crop(frames, crop, data.TRAIN_JITTER_SCALES_RELATIVE,
                                           aspect)
            else:
                short = T.sample_short_side(low, high, data.INV_UNIFORM_SAMPLE)
                x = T.resized_crop(frames, short, crop, -1)
            if data.RANDOM_FLIP:
                x = T.random_horizontal_flip(x)
        elif self.split == "val":
            x = T.resized_crop(frames, data.TEST_CROP_SIZE, data.TRAIN_CROP_SIZE, 1)
        else:
            x = T.resized_crop(frames, data.TEST_CROP_SIZE, data.TEST_CROP_SIZE, spatial_idx)
        return self._pack(T.normalize(x, data.MEAN, data.STD, data.REVERSE_INPUT_CHANNEL))

    def _pack(self, frames: torch.Tensor) -> List[torch.Tensor]:
        multi = misc.num_pathways(self.cfg) == 2
        return T.pack_pathway_output(frames, multi, self.cfg.SLOWFAST.ALPHA)

    # ----------------------------------------------------------------- items
    def __getitem__(self, index: Union[int, Tuple[int, int]]) -> Item:
        short_cycle_idx = None
        if isinstance(index, (tuple, list)):
            index, short_cycle_idx = index
        index = int(index)
        if self.split == "test":
            return self._test_item(index)
        return self._train_item(index, short_cycle_idx)

    def _report_bad(self, error: decoder.DecodeError, action: str) -> None:
        self.num_bad_videos += 1
        logger.warning("Bad video %s (%s); %s.", error.path, error.reason, action)

    def _train_item(self, index: int, short_cycle_idx) -> Item:
        # Crops, flips, clip starts and replacement videos depend on the item alone, not on
        # which worker loads it or what it loaded before: a resumed epoch sees the same clips.
        seed = np.random.SeedSequence([self.cfg.RNG_SEED, _SPLITS.index(self.split),
                                       self.epoch, index]).generate_state(1)[0]
        with torch.random.fork_rng(devices=[]):
            # The CPU generator only: torch.manual_seed would also queue CUDA seeding.
            torch.default_generator.manual_seed(int(seed))
            return self._random_train_item(index, short_cycle_idx)

    def _random_train_item(self, index: int, short_cycle_idx) -> Item:
        bad: List[str] = []
        video = index
        for _ in range(self.cfg.DATA.MAX_DECODE_RETRIES + 1):
            try:
                frames = self._decode(video, clip_idx=-1)
            except decoder.DecodeError as e:
                self._report_bad(e, "replacing it by a random video")
                bad.append(self.paths[video])
                video = self._another_video(video)
                continue
            pathways = self._spatial(frames, 1, short_cycle_idx)
            return pathways, self.labels[video], video, {"bad_videos": bad, "valid": True}
        raise RuntimeError(
            f"{len(bad)} videos in a row could not be decoded (DATA.MAX_DECODE_RETRIES="
            f"{self.cfg.DATA.MAX_DECODE_RETRIES}): {bad}"
        )

    def _another_video(self, video: int) -> int:
        """A random video other than `video` (one that failed), when there is another."""
        if self.num_videos == 1:
            return video
        other = int(torch.randint(0, self.num_videos - 1, ()))
        return other + int(other >= video)

    def _test_item(self, index: int) -> Item:
        video = self.video_index(index)
        temporal_idx, spatial_idx = self.view_indices(index)
        if self.num_spatial_crops == 1:
            spatial_idx = 1
        try:
            frames = self._decode(video, clip_idx=temporal_idx)
        except decoder.DecodeError as e:
            if not self.cfg.TEST.SKIP_BAD_VIDEOS:
                raise decoder.DecodeError(e.path, f"{e.reason} (set TEST.SKIP_BAD_VIDEOS True "
                                                  "to test without it)") from e
            self._report_bad(e, "skipping it (TEST.SKIP_BAD_VIDEOS)")
            return self._zeros(), self.labels[video], index, {"bad_videos": [], "valid": False}
        pathways = self._spatial(frames, spatial_idx, None)
        return pathways, self.labels[video], index, {"bad_videos": [], "valid": True}

    def _zeros(self) -> List[torch.Tensor]:
        size = self.cfg.DATA.TEST_CROP_SIZE
        return self._pack(torch.zeros(3, self.cfg.DATA.NUM_FRAMES, size, size))
