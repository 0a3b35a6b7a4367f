"""Test loop: multi-view accuracy, skipped bad videos, ATFR GFLOPs/B' file, saved results."""

import json
import os

import pytest
import torch
from engine_tiny import tiny_cfg

from slowfast_atfr.engine.evaluator import class_names
from slowfast_atfr.engine.evaluator import test as run_test
from slowfast_atfr.utils.flops import CostTable
from slowfast_atfr.visualization.run_outputs import final_test_stats, read_json_stats


def _final_record(output_dir):
    """The test_final json_stats record of a run folder (it carries the GFLOPs too)."""
    return final_test_stats(read_json_stats(os.path.join(str(output_dir), "json_stats.log")))


def test_skipped_bad_videos_are_reported_not_scored(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGINE_TINY_BAD_VIDEOS", "2,6")
    cfg = tiny_cfg(tmp_path, **{"TEST.SKIP_BAD_VIDEOS": True,
                                "TEST.SAVE_RESULTS_PATH": "preds.pt"})
    stats = run_test(cfg)
    assert stats["videos_expected"] == 8 and stats["videos_scored"] == 6
    assert stats["clips_skipped"] == 4 and stats["clips_seen"] == 16
    assert stats["bad_videos"] == ["synthetic/test/video_002.mp4",
                                   "synthetic/test/video_006.mp4"]
    assert "gflops" in stats  # a model without sampler: one cost per clip
    assert _final_record(tmp_path)["gflops"] == pytest.approx(stats["gflops"])
    preds = torch.load(tmp_path / "preds.pt", weights_only=True)
    assert preds["ids"].tolist() == [0, 1, 3, 4, 5, 7]
    assert torch.allclose(preds["probs"].sum(1), torch.full((6,), 2.0))  # 2 views summed


def test_atfr_stats_are_per_clip_and_written(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"ATFR.ENABLED": True, "ATFR.PATHWAYS": [True],
                                "TEST.NUM_ENSEMBLE_VIEWS": 3})
    stats = run_test(cfg)
    with open(os.path.join(str(tmp_path), "atfr_stats_test.json")) as f:
        written = json.load(f)
    assert written["num_clips"] == 8 * 3
    hist = written["bprime_histogram"]["pathway0"]
    assert sum(hist.values()) == 24 and all(1 <= int(b) <= 4 for b in hist)
    assert set(written["mean_bprime_by_class"]) <= {"0", "1", "2", "3"}
    # No temporal blocks: one block, whose mean B' is the clips' mean B'.
    assert written["mean_bprime_by_block"]["pathway0"] == pytest.approx(written["mean_bprime"])
    assert stats["mean_gflops"] == pytest.approx(written["mean_gflops"])
    # The mean equals the histogram-weighted cost of the length table.
    from slowfast_atfr.models import build_model

    model = build_model(cfg)
    table = CostTable(model, [[3, 4, 16, 16]], conv_linear_only=True)
    expected = sum(n * table.gflops([int(b)]) for b, n in hist.items()) / 24
    assert written["mean_gflops"] == pytest.approx(expected)
    assert written["baseline_gflops"] == pytest.approx(table.baseline_gflops())
    final = _final_record(tmp_path)
    assert final["mean_gflops"] == pytest.approx(written["mean_gflops"])
    assert final["baseline_gflops"] == pytest.approx(written["baseline_gflops"])


def test_optimized_test_run_gives_the_same_results(tmp_path):
    overrides = {"ATFR.ENABLED": True, "ATFR.PATHWAYS": [True], "TEST.SAVE_RESULTS_PATH": "p.pt"}
    runs = {}
    for optimize in (False, True):
        out = tmp_path / str(optimize)
        torch.manual_seed(0)
        cfg = tiny_cfg(out, **overrides, **{"TEST.OPTIMIZE_FOR_INFERENCE": optimize})
        runs[optimize] = (run_test(cfg), torch.load(out / "p.pt", weights_only=True))
    (plain, plain_preds), (fast, fast_preds) = runs[False], runs[True]
    assert fast["top1_acc"] == plain["top1_acc"]
    assert fast["mean_gflops"] == pytest.approx(plain["mean_gflops"])
    assert fast["bprime_histogram"] == plain["bprime_histogram"]
    assert torch.allclose(fast_preds["probs"], plain_preds["probs"], atol=1e-4)
    assert "TEST.OPTIMIZE_FOR_INFERENCE" in (tmp_path / "True" / "stdout.log").read_text()


def test_class_names_from_label_file_or_demo_classes(tmp_path):
    cfg = tiny_cfg(tmp_path)
    cfg.DATA.PATH_TO_DATA_DIR = str(tmp_path)
    assert class_names(cfg) is None
    (tmp_path / "classes.json").write_text(json.dumps({"b": 1, "a": 0}))
    assert class_names(cfg) == ["a", "b"]
    names = tmp_path / "names.txt"
    names.write_text("x\ny\n")
    cfg.DEMO.LABEL_FILE_PATH = str(names)
    assert class_names(cfg) == ["x", "y"]
    cfg.DEMO.LABEL_FILE_PATH = str(tmp_path / "missing.json")
    with pytest.raises(FileNotFoundError, match="DEMO.LABEL_FILE_PATH"):
        class_names(cfg)


def test_class_name_files_are_validated_naming_the_file(tmp_path):
    cfg = tiny_cfg(tmp_path)  # 4 classes
    labels = tmp_path / "labels.json"
    cfg.DEMO.LABEL_FILE_PATH = str(labels)
    labels.write_bytes(b"\xef\xbb\xbf" + json.dumps({"push": "1", "hold": "0"}).encode())
    assert class_names(cfg) == ["hold", "push"]  # SSv2-style string indices, a BOM
    for bad in ({"a": 0, "b": 4}, {"a": 0, "b": 0}, {"a": "x"}):
        labels.write_text(json.dumps(bad))
        with pytest.raises(ValueError, match=f"{labels}: class .* not an integer in \\[0, 3\\]"):
            class_names(cfg)
    names = tmp_path / "names.txt"
    names.write_text("a\nb\nc\nd\ne\n")
    cfg.DEMO.LABEL_FILE_PATH = str(names)
    with pytest.raises(ValueError, match=f"{names} names 5 classes but MODEL.NUM_CLASSES=4"):
        class_names(cfg)
