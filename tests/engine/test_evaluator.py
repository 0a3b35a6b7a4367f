"""Test loop: multi-view accuracy, skipped bad videos, ATFR GFLOPs/B' file, saved results."""

import json
import os

import pytest
import torch
from engine_tiny import tiny_cfg

from slowfast_atfr.engine.evaluator import class_names
from slowfast_atfr.engine.evaluator import test as run_test
from slowfast_atfr.models.cost import CostTable
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
                                "TEST.NUM_ENSEMBLE_VIEWS": 3,
                                "TEST.SAVE_RESULTS_PATH": "preds.pyth"})
    stats = run_test(cfg)
    with open(os.path.join(str(tmp_path), "atfr_stats_test.json")) as f:
        written = json.load(f)
    assert written["num_clips"] == 8 * 3
    hist = written["bprime_histogram"]["pathway0"]
    assert sum(hist.values()) == 24 and all(1 <= int(b) <= 4 for b in hist)
    assert written["full_lengths"] == [4]  # T at the sampler: the histogram's range is 1..4
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
    # The saved predictions carry each video's B' averaged over its 3 views: every video has
    # 3 views, so their mean is the clips' mean B'.
    preds = torch.load(tmp_path / "preds.pyth", weights_only=True)
    assert preds["bprime"].shape == (8, 1)
    assert ((preds["bprime"] >= 1) & (preds["bprime"] <= 4)).all()
    assert preds["bprime"].mean().item() == pytest.approx(written["mean_bprime"][0])


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


_LOAD_WITHOUT_TORCH = """
import pickle, sys
sys.modules["torch"] = None  # importing torch now fails: the file must not need it
with open(sys.argv[1], "rb") as f:
    probs, labels = pickle.load(f)
print(type(probs).__name__, probs.dtype, probs.shape, labels.dtype, labels.tolist())
print([None if row != row else round(float(row), 5) for row in probs.sum(1)])
"""


def test_pkl_results_are_view_averaged_numpy_that_pickle_loads_without_torch(tmp_path,
                                                                            monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("ENGINE_TINY_BAD_VIDEOS", "2,6")
    saved = {}
    for name in ("preds.pt", "preds.pkl"):
        out = tmp_path / name.split(".")[1]
        run_test(tiny_cfg(out, **{"TEST.SKIP_BAD_VIDEOS": True, "TEST.SAVE_RESULTS_PATH": name}))
        saved[name] = out / name
    proc = subprocess.run([sys.executable, "-c", _LOAD_WITHOUT_TORCH, str(saved["preds.pkl"])],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    kind, rows = proc.stdout.splitlines()
    summed = torch.load(saved["preds.pt"], weights_only=True)
    labels = [-1] * 8  # 8 videos; the skipped 2 and 6 keep label -1 and NaN rows
    for i, video in enumerate(summed["ids"].tolist()):
        labels[video] = int(summed["labels"][i])
    assert kind == f"ndarray float32 (8, 4) int64 {labels}"
    assert rows == str([None if v in (2, 6) else 1.0 for v in range(8)])
    import pickle

    with open(saved["preds.pkl"], "rb") as f:
        probs, _ = pickle.load(f)
    # The views' mean: the torch file's sum over the 2 views, halved.
    ids = summed["ids"].numpy()
    assert torch.allclose(torch.from_numpy(probs[ids]), summed["probs"] / 2, atol=1e-6)


def _meter_of_two_videos(ensemble_method):
    """Video 0: views [0.2, 0.8] and [0.6, 0.4]; video 1: one view [0.1, 0.9] seen of two."""
    from slowfast_atfr.evaluation.view_ensemble import TestMeter

    meter = TestMeter(4, 2, ensemble_method, num_videos=2)
    probs = torch.tensor([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    meter.update_stats(probs, torch.tensor([1, 1, 0]), torch.tensor([0, 1, 2]),
                       torch.tensor([0, 0, 1]), torch.tensor([True, True, True]))
    return meter


@pytest.mark.parametrize("method, expected", [
    ("sum", [[0.4, 0.6], [0.1, 0.9]]),  # each video's mean over its own views
    ("max", [[0.6, 0.8], [0.1, 0.9]]),  # the maximum over views, not divided
])
def test_pkl_results_average_each_video_over_its_views_or_keep_the_max(tmp_path, method,
                                                                       expected):
    import pickle

    from slowfast_atfr.config.defaults import get_cfg
    from slowfast_atfr.engine.evaluator import _save_results

    cfg = get_cfg()
    cfg.OUTPUT_DIR, cfg.TEST.SAVE_RESULTS_PATH = str(tmp_path), "r.pkl"
    _save_results(cfg, _meter_of_two_videos(method))
    with open(tmp_path / "r.pkl", "rb") as f:
        probs, labels = pickle.load(f)
    assert probs.dtype.name == "float32" and labels.tolist() == [1, 0]
    assert torch.allclose(torch.from_numpy(probs), torch.tensor(expected), atol=1e-6)


@pytest.mark.parametrize("name", ["preds.json", "preds", "preds.pkl.txt"])
def test_an_unknown_results_extension_is_refused_naming_key_and_choices(tmp_path, name):
    from slowfast_atfr.config.defaults import get_cfg
    from slowfast_atfr.engine.evaluator import _save_results

    cfg = get_cfg()
    cfg.OUTPUT_DIR, cfg.TEST.SAVE_RESULTS_PATH = str(tmp_path), name
    with pytest.raises(ValueError, match=rf"TEST.SAVE_RESULTS_PATH='{name}'.*'\.pkl', "
                                         r"'\.pt', '\.pyth'"):
        _save_results(cfg, _meter_of_two_videos("sum"))
    assert os.listdir(tmp_path) == []


def test_a_kinetics_400_model_gets_the_shipped_class_names(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"TRAIN.DATASET": "kinetics", "MODEL.NUM_CLASSES": 400})
    cfg.DATA.PATH_TO_DATA_DIR = str(tmp_path)  # no classes.json there
    names = class_names(cfg)
    assert len(names) == len(set(names)) == 400
    assert names[0] == "abseiling" and names[267] == "riding a bike" and names[-1] == "zumba"
    cfg.MODEL.NUM_CLASSES = 600  # no Kinetics-600 list is shipped
    assert class_names(cfg) is None
