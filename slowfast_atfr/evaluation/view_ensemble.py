"""Multi-view test meter: probabilities per clip, ensemble per video, videos scored vs expected."""

from typing import Any, Dict, List, Optional, Sequence

import torch

from slowfast_atfr.config.choices import ENSEMBLE_METHODS
from slowfast_atfr.evaluation import metrics
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)



class TestMeter:
    """Collect clip probabilities and ensemble the views of each video.

    Clips are stored by their data set index, so a clip seen twice (the distributed
    sampler pads the last batch) counts once. A clip whose `valid` flag is False (a video
    skipped with TEST.SKIP_BAD_VIDEOS) is not scored; a video with no valid clip is
    reported as skipped.

    Args:
        num_clips: total number of clips of the test set (videos x views).
        num_classes: K.
        ensemble_method: "sum" or "max" (DATA.ENSEMBLE_METHOD) over the views.
        num_videos: number of videos expected (default: the videos of the clips seen).
    """

    __test__ = False  # not a pytest class

    def __init__(self, num_clips: int, num_classes: int, ensemble_method: str = "sum",
                 num_videos: Optional[int] = None) -> None:
        if ensemble_method not in ENSEMBLE_METHODS:
            raise ValueError(f"DATA.ENSEMBLE_METHOD={ensemble_method!r} is not valid; "
                             f"expected one of {list(ENSEMBLE_METHODS)}.")
        self.ensemble_method = ensemble_method
        self.num_videos = num_videos
        self.probs = torch.zeros(num_clips, num_classes)
        self.labels = torch.full((num_clips,), -1, dtype=torch.long)
        self.video_ids = torch.full((num_clips,), -1, dtype=torch.long)
        self.seen = torch.zeros(num_clips, dtype=torch.bool)
        self.valid = torch.zeros(num_clips, dtype=torch.bool)
        self.bad_videos: List[str] = []

    def update_stats(self, probs: torch.Tensor, labels: torch.Tensor, clip_ids: torch.Tensor,
                     video_ids: torch.Tensor, valid: torch.Tensor) -> None:
        """Record a batch of clips.

        Args:
            probs: [N, K] class probabilities (`models.build.eval_probabilities`).
            labels: [N] class indices.
            clip_ids: [N] data set indices of the clips.
            video_ids: [N] video index of each clip.
            valid: [N] bool, False for clips of undecodable videos.
        """
        clip_ids = clip_ids.long().cpu()
        if clip_ids.numel() and int(clip_ids.max()) >= self.probs.shape[0]:
            raise ValueError(f"clip index {int(clip_ids.max())} is outside the test set of "
                             f"{self.probs.shape[0]} clips.")
        self.probs[clip_ids] = probs.detach().float().cpu()
        self.labels[clip_ids] = labels.long().cpu()
        self.video_ids[clip_ids] = video_ids.long().cpu()
        self.seen[clip_ids] = True
        self.valid[clip_ids] = valid.bool().cpu()

    def add_bad_videos(self, paths: Sequence[str]) -> None:
        self.bad_videos.extend(p for p in paths if p not in self.bad_videos)

    def video_predictions(self) -> Dict[str, torch.Tensor]:
        """Ensembled predictions of the scored videos: {"probs" [V, K], "labels" [V], "ids" [V]}."""
        scored = self.seen & self.valid
        ids = torch.unique(self.video_ids[scored])
        probs, labels = [], []
        for vid in ids.tolist():
            mask = scored & (self.video_ids == vid)
            views = self.probs[mask]
            probs.append(views.sum(0) if self.ensemble_method == "sum" else views.max(0).values)
            labels.append(self.labels[mask][0])
        num_classes = self.probs.shape[1]
        return {"probs": torch.stack(probs) if probs else torch.zeros(0, num_classes),
                "labels": torch.stack(labels) if labels else torch.zeros(0, dtype=torch.long),
                "ids": ids}

    def finalize_metrics(self, ks: Sequence[int] = (1, 5)) -> Dict[str, Any]:
        """Top-k accuracy over scored videos, plus videos scored / expected / skipped."""
        preds = self.video_predictions()
        expected = self.num_videos
        if expected is None:
            expected = int(torch.unique(self.video_ids[self.seen]).numel())
        stats: Dict[str, Any] = {"split": "test_final",
                                 "videos_scored": int(preds["ids"].numel()),
                                 "videos_expected": expected,
                                 "clips_seen": int(self.seen.sum()),
                                 "clips_expected": int(self.seen.numel()),
                                 "clips_skipped": int((self.seen & ~self.valid).sum()),
                                 "num_bad_videos": len(self.bad_videos),
                                 "bad_videos": list(self.bad_videos)}
        if self.seen.sum() < self.seen.numel():
            logger.warning("Only %d of %d test clips were seen.", stats["clips_seen"],
                           stats["clips_expected"])
        accs = metrics.topk_accuracies(preds["probs"], preds["labels"], ks)
        for k, acc in zip(ks, accs):
            stats[f"top{k}_acc"] = acc
            stats[f"top{k}_err"] = 100.0 - acc
        skipped = stats["videos_expected"] - stats["videos_scored"]
        if skipped:
            logger.warning("%d of %d test videos could not be decoded and were not scored: %s",
                           skipped, stats["videos_expected"], self.bad_videos)
        return stats

    def log_final(self, output_dir: str, ks: Sequence[int] = (1, 5),
                  extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Compute and (on rank 0) log the final metrics, plus `extra`, as a json_stats line."""
        stats = {**self.finalize_metrics(ks), **(extra or {})}
        if du.is_master_proc():
            logger.info("Test: top-1 %.2f%%, top-5 %.2f%% on %d of %d videos.",
                        stats.get("top1_acc", 0.0), stats.get("top5_acc", 0.0),
                        stats["videos_scored"], stats["videos_expected"])
            logging.log_json_stats(stats, output_dir)
        return stats
