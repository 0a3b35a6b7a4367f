"""The demo: top-k classes and B' for sliding windows over one video (DEMO.INPUT_VIDEO).

The video is read as a stream (`datasets.stream`): each frame a window takes is cropped as
it comes (short side to DATA.TEST_CROP_SIZE, centre crop, as the test views) and kept only
until the last window taking it is predicted, so memory does not grow with the length of
the video. A window is DATA.NUM_FRAMES frames DATA.SAMPLING_RATE apart at DATA.TARGET_FPS,
one starting every DEMO.WINDOW_STRIDE frames.

Outputs, each window as soon as it is predicted:
- DEMO.OUTPUT_FILE ("" = OUTPUT_DIR/demo.json): one JSON object per line and window,
  {"start_frame", "end_frame", "start_sec", "end_sec", "top_k": [{"label", "name",
  "score"}] (softmax, best first), "bprime": [B' per pathway] or null without ATFR}.
- the same path with the extension .png: the top-1 class over B' of every window.
- on request, an mp4 of the video with each window's top-1 class, score and B' under it.
"""

import json
import os
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from fvcore.common.config import CfgNode

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.datasets import transform as T
from slowfast_atfr.datasets.stream import (
    FrameStream,
    VideoWriter,
    frame_to_rgb,
    num_windows,
    sliding_windows,
)
from slowfast_atfr.engine.evaluator import class_names
from slowfast_atfr.engine.setup import default_setup
from slowfast_atfr.models import build_model
from slowfast_atfr.models.build import eval_probabilities
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import logging, misc
from slowfast_atfr.utils.progress import track
from slowfast_atfr.visualization.demo_figures import (
    caption,
    caption_strip,
    plot_demo_timeline,
    window_bounds,
)

logger = logging.get_logger(__name__)

# Short side (px) of the annotated video's frames (never enlarged).
ANNOTATED_SHORT_SIDE = 360


def output_paths(cfg: CfgNode) -> Dict[str, str]:
    """{"json": DEMO.OUTPUT_FILE or OUTPUT_DIR/demo.json, "png": the same with .png}."""
    out = cfg.DEMO.OUTPUT_FILE or os.path.join(cfg.OUTPUT_DIR, "demo.json")
    return {"json": out, "png": os.path.splitext(out)[0] + ".png"}


def crop_frame(cfg: CfgNode, path: str) -> Callable[[Any], torch.Tensor]:
    """frame -> float [C, 1, S, S] in [0, 255]: short side to S = DATA.TEST_CROP_SIZE, then
    the centre S x S crop (the test transform, one frame at a time)."""
    size = cfg.DATA.TEST_CROP_SIZE
    return lambda frame: T.resized_crop(frame_to_rgb(path, frame)[None], size, size, 1)


def model_input(cfg: CfgNode, crops: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """The model input of one window from its cropped frames [C, 1, S, S] x T: pathways
    [1, C, T', S, S] (normalised, split into pathways)."""
    data = cfg.DATA
    x = T.normalize(torch.cat(list(crops), dim=1), data.MEAN, data.STD,
                    data.REVERSE_INPUT_CHANNEL)
    multi = misc.num_pathways(cfg) == 2
    return [p.unsqueeze(0) for p in T.pack_pathway_output(x, multi, cfg.SLOWFAST.ALPHA)]


def _result(cfg: CfgNode, start: int, end: int, probs: torch.Tensor,
            lengths: Optional[torch.Tensor], names: Optional[List[str]]) -> Dict[str, Any]:
    scores, labels = probs.topk(min(cfg.DEMO.TOP_K, probs.numel()))
    fps = cfg.DATA.TARGET_FPS
    return {
        "start_frame": start, "end_frame": end, "start_sec": start / fps, "end_sec": end / fps,
        "top_k": [{"label": int(i), "name": names[i] if names and i < len(names) else str(i),
                   "score": float(s)} for s, i in zip(scores.tolist(), labels.tolist())],
        "bprime": None if lengths is None else lengths[0].tolist(),
    }


@torch.no_grad()
def predict_windows(cfg: CfgNode, model: torch.nn.Module, stream: FrameStream,
                    names: Optional[List[str]]) -> Iterator[Dict[str, Any]]:
    """Top-k classes (softmax scores) and B' of each sliding window of `stream`, in order."""
    data = cfg.DATA
    device = du.device_of(cfg)
    model.eval()
    windows = sliding_windows(stream, crop_frame(cfg, stream.path),
                              num_frames=data.NUM_FRAMES, sampling_rate=data.SAMPLING_RATE,
                              stride=cfg.DEMO.WINDOW_STRIDE)
    total = None if stream.num_frames is None else num_windows(
        stream.num_frames, data.NUM_FRAMES * data.SAMPLING_RATE, cfg.DEMO.WINDOW_STRIDE)
    for window in track(windows, total, "Demo", unit="window"):
        outputs = model(misc.to_device(model_input(cfg, window.items), device))
        probs = eval_probabilities(cfg, outputs)[0].cpu()
        lengths = model.temporal_lengths
        yield _result(cfg, window.start, window.end, probs,
                      None if lengths is None else lengths.cpu(), names)


def write_annotated_video(stream: FrameStream, results: Sequence[Dict[str, Any]], path: str,
                          short_side: int = ANNOTATED_SHORT_SIDE) -> int:
    """Re-read `stream` and write it to `path` (mp4) at its target rate, frames scaled to
    `short_side` with a caption strip under them: the top-1 class, score and B' of the
    window owning each frame (`demo_figures.window_bounds`). Holds one frame and one strip.

    Returns:
        The number of frames written.
    """
    edges = window_bounds(results)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    shown, strip, source, image, count = -1, None, None, None, 0
    with VideoWriter(path, stream.target_fps) as writer:
        for j, frame in stream:
            index = int(np.clip(np.searchsorted(edges, j / stream.target_fps, "right") - 1,
                                0, len(results) - 1))
            if frame is not source:  # a repeated frame (rate raised) is converted once
                source, image = frame, frame_to_rgb(stream.path, frame, short_side)
            if index != shown or strip is None or strip.shape[1] != image.shape[1]:
                height = max(16, int(round(image.shape[0] * 0.12 / 2)) * 2)
                shown, strip = index, caption_strip(caption(results[index]), image.shape[1],
                                                    height)
            writer.write(np.concatenate([image, strip]))
            count += 1
    return count


def run_demo(cfg: CfgNode) -> List[Dict[str, Any]]:
    """Predict the sliding windows of DEMO.INPUT_VIDEO; write the JSON lines, the timeline
    PNG (`output_paths`) and, when DEMO.OUTPUT_VIDEO is set, the annotated mp4 there."""
    default_setup(cfg, "demo")
    path = cfg.DEMO.INPUT_VIDEO
    if not path or not os.path.isfile(path):
        raise FileNotFoundError(f"DEMO.INPUT_VIDEO={path!r} does not exist; set it to a video.")
    model = build_model(cfg)
    cu.load_test_checkpoint(cfg, model)
    model = model.to(du.device_of(cfg))
    stream = FrameStream(path, cfg.DATA.TARGET_FPS, cfg.DATA.DECODER_THREADS)
    out = output_paths(cfg)
    os.makedirs(os.path.dirname(os.path.abspath(out["json"])), exist_ok=True)
    results = []
    with open(out["json"], "w") as f:
        for r in predict_windows(cfg, model, stream, class_names(cfg)):
            f.write(json.dumps(r) + "\n")
            f.flush()
            results.append(r)
            top = ", ".join(f"{t['name']} {t['score']:.3f}" for t in r["top_k"])
            logger.info("Demo window frames %d-%d: %s; B' %s", r["start_frame"],
                        r["end_frame"], top, r["bprime"])
    title = f"{os.path.basename(path)}: {cfg.MODEL.MODEL_NAME}" + (
        " + ATFR" if cfg.ATFR.ENABLED else "")
    plot_demo_timeline(results, out["png"], title=title)
    logger.info("Demo: %d windows of %s written to %s and %s.", len(results), path,
                out["json"], out["png"])
    annotated_video = cfg.DEMO.OUTPUT_VIDEO
    if annotated_video:
        frames = write_annotated_video(stream, results, annotated_video)
        logger.info("Demo: annotated video of %d frames written to %s.", frames,
                    annotated_video)
    return results
