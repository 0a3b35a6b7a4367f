"""The multi-view test loop: per-video accuracy, videos scored, ATFR GFLOPs and B'."""

import json
import os
import pickle
from typing import Any, Dict, List, Optional

import torch
from fvcore.common.config import CfgNode

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.config.checks import RESULTS_EXTENSIONS
from slowfast_atfr.datasets import loader as data_loader
from slowfast_atfr.datasets.lists import check_class_count, read_text
from slowfast_atfr.engine.setup import default_setup
from slowfast_atfr.evaluation import atfr_meter
from slowfast_atfr.evaluation.atfr_meter import ATFRStatsMeter
from slowfast_atfr.evaluation.meters import build_tensorboard_writer
from slowfast_atfr.evaluation.view_ensemble import TestMeter
from slowfast_atfr.models import build_model
from slowfast_atfr.models.build import eval_probabilities
from slowfast_atfr.models.cost import CostTable
from slowfast_atfr.models.inference_rewrite import optimize_for_inference
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import logging, misc
from slowfast_atfr.utils.progress import IterationClock, eta_text, track

logger = logging.get_logger(__name__)


# Class names shipped with the package, by (data set, number of classes).
_SHIPPED_CLASS_NAMES = {("kinetics", 400): "kinetics400_classes.txt"}


def class_names(cfg: CfgNode) -> Optional[List[str]]:
    """Class names from DEMO.LABEL_FILE_PATH, else DATA.PATH_TO_DATA_DIR/classes.json, else
    the shipped Kinetics-400 names for a 400-class Kinetics model.

    A json file maps name -> index (PySlowFast's demo format; SSv2 writes the indices as
    strings) or lists the names; a text file has one name per line. None when there is no
    such file. Indices outside [0, MODEL.NUM_CLASSES) or given twice are refused.
    """
    path = cfg.DEMO.LABEL_FILE_PATH
    if not path:
        path = os.path.join(cfg.DATA.PATH_TO_DATA_DIR, "classes.json")
        shipped = _SHIPPED_CLASS_NAMES.get((cfg.TRAIN.DATASET, cfg.MODEL.NUM_CLASSES))
        if not os.path.isfile(path) and shipped:
            path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", shipped)
        if not os.path.isfile(path):
            return None
    elif not os.path.isfile(path):
        raise FileNotFoundError(f"DEMO.LABEL_FILE_PATH={path!r} does not exist.")
    text = read_text(path)
    if not path.endswith(".json"):
        names = [line.strip() for line in text.splitlines() if line.strip()]
    else:
        data = json.loads(text)
        names = _names_by_index(path, data, cfg.MODEL.NUM_CLASSES) if isinstance(
            data, dict) else [str(name) for name in data]
    check_class_count(path, len(names), cfg.MODEL.NUM_CLASSES)
    return names


def _names_by_index(path: str, data: Dict[str, Any], num_classes: int) -> List[str]:
    by_index: Dict[int, str] = {}
    for name, index in data.items():
        try:
            position = int(index)
        except (TypeError, ValueError):
            position = -1
        if not 0 <= position < num_classes or position in by_index:
            raise ValueError(
                f"{path}: class {name!r} has index {index!r}, which is not an integer in "
                f"[0, {num_classes - 1}] (MODEL.NUM_CLASSES={num_classes}) used once; fix the "
                "file or MODEL.NUM_CLASSES."
            )
        by_index[position] = name
    return [by_index.get(i, "") for i in range(max(by_index, default=-1) + 1)]


@torch.no_grad()
def perform_test(cfg: CfgNode, model: torch.nn.Module,
                 loader: torch.utils.data.DataLoader) -> Dict[str, Any]:
    """Run every view of the test set; returns the final stats (also in json_stats)."""
    dataset = loader.dataset
    device = du.device_of(cfg)
    inner = du.unwrap_model(model)
    meter = TestMeter(len(dataset), cfg.MODEL.NUM_CLASSES, cfg.DATA.ENSEMBLE_METHOD,
                      num_videos=dataset.num_videos)
    stats_meter, shapes = None, None
    model.eval()
    clock = IterationClock(len(loader))
    for i, (inputs, labels, index, meta) in enumerate(track(loader, len(loader), "Test")):
        shapes = shapes or [list(x.shape[1:]) for x in inputs]
        probs = eval_probabilities(cfg, model(misc.to_device(inputs, device)))
        valid = meta["valid"]
        _check_finite_scores(probs, valid, index, dataset)
        video_ids = torch.tensor([dataset.video_index(int(i)) for i in index])
        gathered = du.all_gather([probs, labels.to(device), index.to(device),
                                  video_ids.to(device), valid.to(device)])
        meter.update_stats(*[g.cpu() for g in gathered])
        meter.add_bad_videos(du.all_gather_strings(misc.bad_videos_of(meta)))
        lengths = inner.temporal_lengths
        if lengths is not None:
            if stats_meter is None:
                stats_meter = ATFRStatsMeter(len(dataset), lengths.shape[1])
            blocks = inner.temporal_block_lengths
            g_lengths, g_index, g_labels, g_valid, *g_blocks = du.all_gather(
                [lengths.to(device), index.to(device), labels.to(device), valid.to(device),
                 *(b.to(device) for b in blocks)])
            stats_meter.update(g_index.cpu(), g_lengths.cpu(), g_labels.cpu(), g_valid.cpu(),
                               [b.cpu() for b in g_blocks])
        clock.tick()
        if (i + 1) % cfg.LOG_PERIOD == 0 and du.is_master_proc():
            logging.log_json_stats({"_type": "test_iter", "iter": f"{i + 1}/{len(loader)}",
                                    "eta": eta_text(clock.eta_seconds()),
                                    "time_diff": clock.last_seconds})
    skipped = torch.unique(meter.video_ids[meter.seen & ~meter.valid]).tolist()
    paths = getattr(dataset, "paths", None)
    if paths is not None:
        meter.add_bad_videos([paths[v] for v in skipped])
    cost = {}
    if du.is_master_proc() and shapes is not None:
        cost = _cost_stats(cfg, inner, shapes, stats_meter)
    # The per-clip GFLOPs go into the test_final record too, so a run folder says its cost.
    extra = {k: cost[k] for k in ("gflops", "mean_gflops", "baseline_gflops") if k in cost}
    extra.update(num_temporal_clips=cfg.TEST.NUM_ENSEMBLE_VIEWS,
                 num_spatial_crops=cfg.TEST.NUM_SPATIAL_CROPS)
    stats = meter.log_final(cfg.OUTPUT_DIR, extra=extra)
    stats.update(cost)
    _save_results(cfg, meter, stats_meter)
    return stats


def _check_finite_scores(scores: torch.Tensor, valid: torch.Tensor, index: torch.Tensor,
                         dataset) -> None:
    """Refuse to score NaN or infinite outputs: an accuracy from them would be made up."""
    finite = torch.isfinite(scores).all(dim=1).cpu() | ~valid
    if bool(finite.all()):
        return
    clips = index[~finite].tolist()
    paths = getattr(dataset, "paths", None)
    videos = sorted({paths[dataset.video_index(i)] for i in clips}) if paths else clips
    raise RuntimeError(
        f"The model gave NaN or infinite scores for {len(clips)} test clips (videos "
        f"{videos[:5]}): its weights or its input are broken, so no accuracy is reported. "
        "Check the checkpoint tested (TEST.CHECKPOINT_FILE_PATH) and those videos."
    )


def _cost_stats(cfg: CfgNode, model: torch.nn.Module, shapes: List[List[int]],
                stats_meter: Optional[ATFRStatsMeter]) -> Dict[str, Any]:
    """Mean GFLOPs (and B' statistics) of the test clips, from the per-length cost table;
    written for ATFR models, with T per pathway at the sampler ("full_lengths")."""
    table = CostTable(model, shapes, conv_linear_only=True)
    baseline = table.baseline_gflops()
    if stats_meter is None:
        logger.info("GFLOPs per clip (no temporal sampler): %.4f", baseline)
        return {"gflops": baseline}
    summary = stats_meter.summary(table.gflops, baseline, class_names(cfg))
    summary["full_lengths"] = list(table.full_lengths)
    atfr_meter.log_and_write(summary, cfg.OUTPUT_DIR, "test")
    return {k: summary[k] for k in ("mean_gflops", "baseline_gflops", "bprime_histogram",
                                    "mean_bprime", "mean_bprime_by_block", "num_clips")
            if k in summary}


def results_format(path: str) -> str:
    """The format ("pickle" or "torch") that TEST.SAVE_RESULTS_PATH=`path` asks for.

    Raises:
        ValueError: naming the key, `path` and the allowed extensions, for any other one.
    """
    extension = os.path.splitext(path)[1].lower()
    if extension not in RESULTS_EXTENSIONS:
        raise ValueError(
            f"TEST.SAVE_RESULTS_PATH={path!r} has the extension {extension or '(none)'!r}; "
            f"expected one of {sorted(RESULTS_EXTENSIONS)}: .pkl for PySlowFast's pickle of "
            "[probabilities, labels], .pyth or .pt for a torch.save of the predictions."
        )
    return "pickle" if extension == ".pkl" else "torch"


def _save_results(cfg: CfgNode, meter: TestMeter,
                  stats_meter: Optional[ATFRStatsMeter] = None) -> None:
    """Save the video predictions to OUTPUT_DIR/TEST.SAVE_RESULTS_PATH (rank 0).

    The extension chooses the format (`results_format`; any other extension raises
    ValueError before anything is written):
    - `.pkl`: PySlowFast's `pickle.dump([probs, labels])`, here of numpy arrays, so that a
      plain `pickle.load` reads it without torch. probs [V, K] float32, labels [V] int64;
      row v is video v of the test list (V videos). With DATA.ENSEMBLE_METHOD "sum" a row is
      the softmax averaged over the video's views (the sum divided by the number of views
      scored: rows sum to 1); with "max" it is the per-class maximum over the views, kept as
      it is (each entry a probability, rows need not sum to 1). A video with no scored view
      (a bad video skipped with TEST.SKIP_BAD_VIDEOS) has NaN probabilities and label -1.
    - `.pyth` / `.pt`: `torch.save` of `TestMeter.video_predictions()`: {"probs" [V', K]
      (summed or max over the views, as ensembled), "labels" [V'], "ids" [V']} of the V'
      scored videos, plus "bprime" [V', P] (mean B' over the video's views) for an ATFR
      model.
    """
    if not cfg.TEST.SAVE_RESULTS_PATH:
        return
    kind = results_format(cfg.TEST.SAVE_RESULTS_PATH)
    if not du.is_master_proc():
        return
    path = os.path.join(cfg.OUTPUT_DIR, cfg.TEST.SAVE_RESULTS_PATH)
    preds = meter.video_predictions()
    if kind == "torch":
        if stats_meter is not None:
            preds["bprime"] = stats_meter.mean_by_video(meter.video_ids, preds["ids"])
        torch.save(preds, path)
    else:
        with open(path, "wb") as f:
            pickle.dump(_view_averaged(meter, preds), f)
    logger.info("Saved the video predictions to %s.", path)


def _view_averaged(meter: TestMeter, preds: Dict[str, torch.Tensor]) -> List[Any]:
    """[probs [V, K], labels [V]] as numpy arrays, row v = video v (see `_save_results`)."""
    scored = meter.seen & meter.valid
    ids = preds["ids"]
    num_videos = meter.num_videos
    if num_videos is None:
        num_videos = int(meter.video_ids[meter.seen].max()) + 1 if bool(meter.seen.any()) else 0
    probs = torch.full((num_videos, meter.probs.shape[1]), float("nan"))
    labels = torch.full((num_videos,), -1, dtype=torch.long)
    rows = preds["probs"]
    if meter.ensemble_method == "sum":
        views = torch.bincount(meter.video_ids[scored], minlength=num_videos)[ids]
        rows = rows / views.unsqueeze(1).to(rows.dtype)
    probs[ids], labels[ids] = rows, preds["labels"]
    return [probs.numpy().astype("float32"), labels.numpy().astype("int64")]


def _write_tensorboard(cfg: CfgNode, stats: Dict[str, Any]) -> None:
    """The final test's accuracy, GFLOPs and B' histograms (TENSORBOARD.ENABLE, rank 0), at
    the step of the last training epoch."""
    writer = build_tensorboard_writer(cfg)
    if writer is None:
        return
    keys = ("top1_acc", "top5_acc", "mean_gflops", "baseline_gflops", "gflops")
    writer.add_scalars({f"test/{k}": stats[k] for k in keys if k in stats},
                       cfg.SOLVER.MAX_EPOCH)
    for pathway, counts in stats.get("bprime_histogram", {}).items():
        writer.add_count_histogram(f"test/bprime/{pathway}", counts, cfg.SOLVER.MAX_EPOCH)
    writer.close()


def per_view_count_path(path: str, clips: int) -> str:
    """TEST.SAVE_RESULTS_PATH of the test with `clips` clips per video when
    TEST.NUM_TEMPORAL_CLIPS runs several: preds.pkl -> preds_10clips.pkl."""
    stem, extension = os.path.splitext(path)
    return f"{stem}_{clips}clips{extension}"


def test(cfg: CfgNode) -> Dict[str, Any]:
    """Entry of one test process (see `slowfast_atfr.engine.launch.launch_job`).

    One test with TEST.NUM_ENSEMBLE_VIEWS clips per video, or, as PySlowFast, one per entry of
    TEST.NUM_TEMPORAL_CLIPS (NUM_ENSEMBLE_VIEWS -1 sets it to 1, 3, 5, 7, 10), each with its
    own test_final record and results file. Returns the stats of the last test.
    """
    default_setup(cfg, "test")
    model = build_model(cfg)
    cu.load_test_checkpoint(cfg, model)
    if cfg.TEST.OPTIMIZE_FOR_INFERENCE:
        on_cpu = cfg.NUM_GPUS == 0
        model = optimize_for_inference(model, channels_last=on_cpu)
        logger.info("TEST.OPTIMIZE_FOR_INFERENCE: testing a copy with BatchNorm folded%s.",
                    ", channels-last" if on_cpu else "")
    model = du.place_model(cfg, model)
    clip_counts = list(cfg.TEST.NUM_TEMPORAL_CLIPS) or [cfg.TEST.NUM_ENSEMBLE_VIEWS]
    finals = []
    for clips in clip_counts:
        view_cfg = cfg.clone()
        view_cfg.TEST.NUM_ENSEMBLE_VIEWS = clips
        if len(clip_counts) > 1 and cfg.TEST.SAVE_RESULTS_PATH:
            view_cfg.TEST.SAVE_RESULTS_PATH = per_view_count_path(cfg.TEST.SAVE_RESULTS_PATH,
                                                                  clips)
        stats = _test_views(view_cfg, model)
        finals.append((clips, stats["top1_acc"], stats["top5_acc"]))
    if len(finals) > 1 and du.is_master_proc():
        logger.info("Top-1 / top-5 by clips per video (x %d crops): %s.",
                    cfg.TEST.NUM_SPATIAL_CROPS,
                    ", ".join(f"{n}: {a:.2f} / {b:.2f}" for n, a, b in finals))
    return stats


def _test_views(cfg: CfgNode, model: torch.nn.Module) -> Dict[str, Any]:
    """One multi-view test of the placed `model` with cfg.TEST's views."""
    loader = data_loader.construct_loader(cfg, "test")
    logger.info("Testing %d clips (%d videos x %d views).", len(loader.dataset),
                loader.dataset.num_videos, loader.dataset.num_clips_per_video)
    stats = perform_test(cfg, model, loader)
    _write_tensorboard(cfg, stats)
    if du.is_master_proc():
        cost = (f"mean GFLOPs {stats['mean_gflops']:.4f} with ATFR, "
                f"{stats['baseline_gflops']:.4f} without" if "mean_gflops" in stats
                else f"GFLOPs {stats['gflops']:.4f}")
        logger.info("Final result: top-1 %.2f%%, top-5 %.2f%% (%d of %d videos); %s.",
                    stats["top1_acc"], stats["top5_acc"], stats["videos_scored"],
                    stats["videos_expected"], cost)
    return stats
