"""B' and per-clip GFLOPs statistics of an adaptive (ATFR) model over a data set.

GFLOPs of an adaptive model are the mean of per-clip GFLOPs (paper Sec. 5.1), not the
cost of one random clip; the B' histogram is Fig. 3 and the mean B' per class Table 5.
With temporal blocks (App. A) the mean B' of each block shows where clips keep their maps
(e.g. extra maps at the clip borders).
"""

import json
import os
from collections import Counter
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from slowfast_atfr.utils import logging
from slowfast_atfr.utils.progress import track

logger = logging.get_logger(__name__)


class ATFRStatsMeter:
    """Per-clip B' (temporal length after the sampler, per pathway) stored by clip index.

    Args:
        num_clips: clips of the data set (a clip seen twice is counted once).
        num_pathways: P.
    """

    def __init__(self, num_clips: int, num_pathways: int) -> None:
        self.lengths = torch.full((num_clips, num_pathways), -1, dtype=torch.long)
        self.labels = torch.full((num_clips,), -1, dtype=torch.long)
        # Per pathway [num_clips, blocks], once model.temporal_block_lengths is passed.
        self.block_lengths: Optional[List[torch.Tensor]] = None

    def update(self, clip_ids: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor,
               valid: Optional[torch.Tensor] = None,
               block_lengths: Optional[Sequence[torch.Tensor]] = None) -> None:
        """Record `lengths` [N, P] (model.temporal_lengths) of clips `clip_ids` [N].

        Clips with `valid` False (skipped bad videos) are not recorded. `block_lengths`
        (model.temporal_block_lengths: per pathway [N, blocks]) adds the per-block B'.
        """
        keep = torch.ones_like(clip_ids, dtype=torch.bool) if valid is None else valid.bool()
        keep = keep.cpu()
        ids = clip_ids.long().cpu()[keep]
        self.lengths[ids] = lengths.long().cpu()[keep]
        self.labels[ids] = labels.long().cpu()[keep]
        if block_lengths is None:
            return
        if self.block_lengths is None:
            self.block_lengths = [torch.full((len(self.labels), b.shape[1]), -1, dtype=torch.long)
                                  for b in block_lengths]
        for store, blocks in zip(self.block_lengths, block_lengths):
            store[ids] = blocks.long().cpu()[keep]

    def _recorded(self) -> torch.Tensor:
        return (self.lengths >= 0).all(dim=1)

    def length_counts(self) -> Counter:
        """How many clips have each per-pathway length tuple."""
        return Counter(tuple(row) for row in self.lengths[self._recorded()].tolist())

    def mean_by_video(self, video_ids: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Mean B' [len(ids), P] over the recorded views of each video in `ids` (NaN for a
        video with none), given the video of every clip `video_ids` [num_clips]; saved with
        the test predictions so that B' can be grouped by anything known per video."""
        recorded = self._recorded()
        videos, lengths = video_ids.long()[recorded], self.lengths[recorded].double()
        row = torch.full((int(video_ids.max()) + 1 if video_ids.numel() else 0,), -1,
                         dtype=torch.long)
        row[ids.long()] = torch.arange(len(ids))
        rows = row[videos]
        keep = rows >= 0
        sums = torch.zeros(len(ids), lengths.shape[1], dtype=torch.float64)
        sums.index_add_(0, rows[keep], lengths[keep])
        counts = torch.zeros(len(ids), dtype=torch.float64).index_add_(
            0, rows[keep], torch.ones(int(keep.sum()), dtype=torch.float64))
        return (sums / counts.unsqueeze(1)).float()

    def summary(self, gflops_of: Callable[[Tuple[int, ...]], float], baseline_gflops: float,
                class_names: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """Mean GFLOPs, baseline GFLOPs, B' histogram per pathway and mean B' per class.

        Args:
            gflops_of: GFLOPs of one clip given its per-pathway lengths (a CostTable).
            baseline_gflops: the same model's GFLOPs without the sampler (lengths = T).
            class_names: optional names for the per-class table (default: the indices).
        """
        counts = self.length_counts()
        num_clips = sum(counts.values())
        # One count per distinct length tuple (the cost table memoizes), not per clip.
        total = sum(n * gflops_of(lengths) for lengths, n in
                    track(counts.items(), len(counts), "GFLOPs per distinct B'"))
        recorded = self._recorded()
        lengths, labels = self.lengths[recorded], self.labels[recorded]
        blocks = [b[recorded].float() for b in self.block_lengths or []]
        by_class, blocks_by_class = {}, {}
        for label in torch.unique(labels).tolist():
            name = str(class_names[label] if class_names and label < len(class_names) else label)
            of_class = labels == label
            by_class[name] = lengths[of_class].float().mean(0).tolist()
            blocks_by_class[name] = _per_pathway([b[of_class] for b in blocks])
        stats = {"mean_gflops": total / num_clips if num_clips else float("nan"),
                 "baseline_gflops": baseline_gflops,
                 "mean_bprime": lengths.float().mean(0).tolist() if num_clips else [],
                 "bprime_histogram": bprime_histogram(lengths), "mean_bprime_by_class": by_class,
                 "num_clips": num_clips}
        if blocks:
            stats["mean_bprime_by_block"] = _per_pathway(blocks)
            stats["mean_bprime_by_block_and_class"] = blocks_by_class
        return stats


def bprime_histogram(lengths: torch.Tensor) -> Dict[str, Dict[str, int]]:
    """Fig. 3's counts: {"pathway<p>": {"<B'>": clips}} from int lengths [N, P], B' ascending."""
    histogram = {}
    for p in range(lengths.shape[1]):
        values, freq = torch.unique(lengths[:, p], return_counts=True)
        histogram[f"pathway{p}"] = {str(v): c for v, c in zip(values.tolist(), freq.tolist())}
    return histogram


def _per_pathway(blocks: Sequence[torch.Tensor]) -> Dict[str, List[float]]:
    """{"pathway<p>": mean B' of each block} of per-pathway [clips, blocks] tensors."""
    return {f"pathway{p}": b.mean(0).tolist() for p, b in enumerate(blocks) if len(b)}


def log_and_write(stats: Dict[str, Any], output_dir: str, split: str) -> str:
    """Log the ATFR summary and write it to OUTPUT_DIR/atfr_stats_<split>.json."""
    logger.info("ATFR (%s, %d clips): mean GFLOPs %.4f with the sampler, %.4f without "
                "(%.1f%% saved); mean B' %s", split, stats["num_clips"], stats["mean_gflops"],
                stats["baseline_gflops"],
                100.0 * (1.0 - stats["mean_gflops"] / max(stats["baseline_gflops"], 1e-12)),
                [round(v, 3) for v in stats["mean_bprime"]])
    for pathway, means in stats.get("mean_bprime_by_block", {}).items():
        logger.info("Mean B' per temporal block %s: %s", pathway, [round(v, 3) for v in means])
    for pathway, hist in stats["bprime_histogram"].items():
        logger.info("B' histogram %s: %s", pathway,
                    ", ".join(f"B'={k}: {v}" for k, v in sorted(hist.items(),
                                                                key=lambda kv: int(kv[0]))))
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, f"atfr_stats_{split}.json")
    with open(path, "w") as f:
        json.dump(stats, f, indent=2, sort_keys=True)
    return path
