"""The demo: top-k classes and B' for sliding windows over one video (DEMO.INPUT_VIDEO)."""

import json
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from fvcore.common.config import CfgNode

from slowfast_atfr.datasets import decoder
from slowfast_atfr.datasets import transform as T
from slowfast_atfr.engine.evaluator import class_names
from slowfast_atfr.engine.setup import default_setup
from slowfast_atfr.models import build_model
from slowfast_atfr.utils import checkpoint as cu
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import logging, misc

logger = logging.get_logger(__name__)


def decode_at_target_fps(path: str, target_fps: float, threads: int = 1) -> np.ndarray:
    """Every frame of `path` resampled to `target_fps`: uint8 [F, H, W, 3]."""
    def every_frame(num_frames: int, fps: float) -> np.ndarray:
        return np.arange(0, num_frames, fps / target_fps).astype(np.int64)

    return decoder.decode_video(path, every_frame, threads=threads)


def windows(num_frames: int, span: int, stride: int) -> Iterator[Tuple[int, int]]:
    """(start, end) frame ranges of `span` frames every `stride` frames; a video shorter than
    one window gives one window (its frames are repeated by clamping)."""
    if stride < 1:
        raise ValueError(f"DEMO.WINDOW_STRIDE={stride} must be >= 1.")
    last = max(num_frames - span, 0)
    for start in range(0, last + 1, stride):
        yield start, start + span


def _clip(cfg: CfgNode, frames: np.ndarray, start: int) -> List[torch.Tensor]:
    """The model input of the window at `start`: pathways [1, C, T, S, S] (test transform)."""
    data = cfg.DATA
    index = np.clip(start + np.arange(data.NUM_FRAMES) * data.SAMPLING_RATE, 0,
                    len(frames) - 1)
    x = T.resized_crop(frames[index], data.TEST_CROP_SIZE, data.TEST_CROP_SIZE, 1)
    x = T.normalize(x, data.MEAN, data.STD, data.REVERSE_INPUT_CHANNEL)
    multi = misc.num_pathways(cfg) == 2
    return [p.unsqueeze(0) for p in T.pack_pathway_output(x, multi, cfg.SLOWFAST.ALPHA)]


@torch.no_grad()
def predict_windows(cfg: CfgNode, model: torch.nn.Module, frames: np.ndarray,
                    names: Optional[List[str]]) -> List[Dict[str, Any]]:
    """Top-k classes (softmax scores) and B' of each sliding window."""
    data, demo = cfg.DATA, cfg.DEMO
    span = data.NUM_FRAMES * data.SAMPLING_RATE
    device = du.device_of(cfg)
    model.eval()
    results = []
    for start, end in windows(len(frames), span, demo.WINDOW_STRIDE):
        probs = torch.softmax(model(misc.to_device(_clip(cfg, frames, start), device)), 1)[0]
        k = min(demo.TOP_K, probs.numel())
        scores, labels = probs.topk(k)
        lengths = model.temporal_lengths
        results.append({
            "start_frame": start, "end_frame": min(end, len(frames)),
            "start_sec": start / data.TARGET_FPS,
            "top_k": [{"label": int(i), "name": names[i] if names and i < len(names) else str(i),
                       "score": float(s)} for s, i in zip(scores.tolist(), labels.tolist())],
            "bprime": None if lengths is None else lengths[0].tolist(),
        })
    return results


def run_demo(cfg: CfgNode) -> List[Dict[str, Any]]:
    """Predict sliding windows of DEMO.INPUT_VIDEO; log them and write DEMO.OUTPUT_FILE."""
    default_setup(cfg, "demo")
    path = cfg.DEMO.INPUT_VIDEO
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(f"DEMO.INPUT_VIDEO={path!r} does not exist; set it to a video.")
    model = build_model(cfg)
    cu.load_test_checkpoint(cfg, model)
    model = model.to(du.device_of(cfg))
    frames = decode_at_target_fps(path, cfg.DATA.TARGET_FPS, cfg.DATA.DECODER_THREADS)
    results = predict_windows(cfg, model, frames, class_names(cfg))
    out = cfg.DEMO.OUTPUT_FILE or os.path.join(cfg.OUTPUT_DIR, "demo.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")
    for r in results:
        top = ", ".join(f"{t['name']} {t['score']:.3f}" for t in r["top_k"])
        logger.info("Demo window frames %d-%d: %s; B' %s", r["start_frame"], r["end_frame"],
                    top, r["bprime"])
    logger.info("Demo: %d windows of %s written to %s.", len(results), path, out)
    return results
