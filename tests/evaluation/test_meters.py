"""Meters: top-k, epoch json_stats, multi-view test aggregation, ATFR statistics."""

import json
import os

import pytest
import torch

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.evaluation import metrics
from slowfast_atfr.evaluation.atfr_meter import ATFRStatsMeter, log_and_write
from slowfast_atfr.evaluation.meters import EpochMeter
from slowfast_atfr.evaluation.view_ensemble import TestMeter


def test_topk_correct_and_errors():
    preds = torch.tensor([[0.1, 0.7, 0.2], [0.5, 0.1, 0.4], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 0])
    assert metrics.topks_correct(preds, labels, (1, 2, 5)) == [1, 2, 3]
    assert metrics.topk_errors(preds, labels, (1, 2)) == pytest.approx([200 / 3, 100 / 3])


def test_epoch_meter_writes_json_stats(tmp_path):
    cfg = get_cfg()
    cfg.OUTPUT_DIR, cfg.LOG_PERIOD, cfg.SOLVER.MAX_EPOCH = str(tmp_path), 2, 3
    meter = EpochMeter("train", 4, cfg)
    for i, (err, loss) in enumerate([(50.0, 2.0), (25.0, 1.0), (0.0, 0.5), (25.0, 0.5)]):
        meter.iter_tic()
        meter.data_toc()
        meter.update_stats(err, 0.0, loss, 0.1, mb_size=4, mean_bprime=[3.0 + i])
        meter.iter_toc()
        meter.log_iter_stats(0, i)
    stats = meter.log_epoch_stats(0)
    assert stats["top1_err"] == pytest.approx(25.0) and stats["loss"] == pytest.approx(1.0)
    assert stats["mean_bprime"] == [pytest.approx(4.5)] and stats["num_samples"] == 16
    with open(os.path.join(str(tmp_path), "json_stats.log")) as f:
        line = json.loads(f.read().splitlines()[-1])
    assert line["_type"] == "train_epoch" and line["epoch"] == "1/3"


def logits_for(classes, num_classes=3, scale=5.0):
    return torch.nn.functional.one_hot(torch.tensor(classes), num_classes).float() * scale


@pytest.mark.parametrize("method", ["sum", "max"])
def test_test_meter_ensembles_views_per_video(method):
    # 2 videos x 3 views; video 0 (label 0): views vote 0, 0, 1; video 1 (label 2): 2, 2, 2.
    meter = TestMeter(6, 3, method, num_videos=2)
    clip_ids = torch.arange(6)
    video_ids = clip_ids // 3
    logits = logits_for([0, 0, 1, 2, 2, 2])
    logits[2, 1] = 9.0  # a very confident wrong view
    probs = torch.softmax(logits, 1)
    meter.update_stats(probs[:4], torch.tensor([0, 0, 0, 2]), clip_ids[:4], video_ids[:4],
                       torch.ones(4, dtype=torch.bool))
    meter.update_stats(probs[4:], torch.tensor([2, 2]), clip_ids[4:], video_ids[4:],
                       torch.ones(2, dtype=torch.bool))
    preds = meter.video_predictions()
    if method == "sum":
        expected = torch.stack([probs[:3].sum(0), probs[3:].sum(0)])
    else:
        expected = torch.stack([probs[:3].max(0).values, probs[3:].max(0).values])
    torch.testing.assert_close(preds["probs"], expected)
    stats = meter.finalize_metrics()
    top1 = 100.0 if method == "sum" else 50.0  # max: video 0's single wrong view wins
    assert stats["top1_acc"] == pytest.approx(top1)
    assert stats["videos_scored"] == stats["videos_expected"] == 2


def test_test_meter_reports_skipped_videos_and_counts_duplicates_once():
    meter = TestMeter(6, 3, "sum", num_videos=3)
    clip_ids = torch.tensor([0, 1, 2, 3, 4, 5, 5])  # clip 5 twice (padded sampler)
    logits = logits_for([0, 0, 1, 1, 2, 2, 2])
    labels = torch.tensor([0, 0, 1, 1, 0, 0, 0])
    valid = torch.tensor([True, True, True, True, False, False, False])
    meter.update_stats(torch.softmax(logits, 1), labels, clip_ids, clip_ids // 2, valid)
    meter.add_bad_videos(["videos/broken.mp4", "videos/broken.mp4"])
    stats = meter.finalize_metrics()
    assert stats["videos_scored"] == 2 and stats["videos_expected"] == 3
    assert stats["clips_seen"] == 6 and stats["clips_skipped"] == 2
    assert stats["top1_acc"] == pytest.approx(100.0)
    assert stats["bad_videos"] == ["videos/broken.mp4"]


def test_test_meter_rejects_bad_ensemble_and_index():
    with pytest.raises(ValueError, match="DATA.ENSEMBLE_METHOD"):
        TestMeter(2, 2, "mean")
    meter = TestMeter(2, 2)
    with pytest.raises(ValueError, match="clip index 5"):
        meter.update_stats(torch.full((1, 2), 0.5), torch.zeros(1), torch.tensor([5]),
                           torch.tensor([0]), torch.ones(1, dtype=torch.bool))


def test_atfr_meter_mean_gflops_histogram_and_per_class(tmp_path):
    meter = ATFRStatsMeter(num_clips=5, num_pathways=2)
    lengths = torch.tensor([[4, 8], [2, 8], [4, 6], [1, 1], [4, 8]])
    labels = torch.tensor([0, 0, 1, 1, 1])
    valid = torch.tensor([True, True, True, False, True])
    meter.update(torch.arange(5), lengths, labels, valid)
    meter.update(torch.tensor([4]), lengths[4:], labels[4:])  # seen again: counted once
    cost = {(4, 8): 1.0, (2, 8): 0.5, (4, 6): 0.75}
    calls = []

    def gflops_of(key):
        calls.append(key)
        return cost[key]

    summary = meter.summary(gflops_of, baseline_gflops=1.25, class_names=["a", "b"])
    assert summary["num_clips"] == 4
    assert summary["mean_gflops"] == pytest.approx((1.0 + 0.5 + 0.75 + 1.0) / 4)
    assert sorted(calls) == sorted(cost)  # one cost look-up per distinct length tuple
    assert summary["bprime_histogram"] == {"pathway0": {"2": 1, "4": 3},
                                           "pathway1": {"6": 1, "8": 3}}
    assert summary["mean_bprime_by_class"] == {"a": [3.0, 8.0], "b": [4.0, 7.0]}
    path = log_and_write(summary, str(tmp_path), "test")
    assert os.path.basename(path) == "atfr_stats_test.json"
    with open(path) as f:
        written = json.load(f)
    for key in ("mean_gflops", "baseline_gflops", "bprime_histogram", "mean_bprime_by_class",
                "num_clips"):
        assert written[key] == summary[key]
    assert "mean_bprime_by_block" not in summary  # no per-block lengths were passed


def test_atfr_meter_mean_bprime_per_block_and_class():
    # Pathway 0 in two blocks, pathway 1 in one; clip 2 is a skipped (invalid) video.
    meter = ATFRStatsMeter(num_clips=4, num_pathways=2)
    blocks = [torch.tensor([[2, 1], [1, 1], [2, 2], [1, 2]]), torch.tensor([[8], [6], [1], [4]])]
    lengths = torch.stack([blocks[0].sum(1), blocks[1][:, 0]], dim=1)
    labels = torch.tensor([0, 0, 1, 1])
    valid = torch.tensor([True, True, False, True])
    meter.update(torch.arange(4), lengths, labels, valid, blocks)
    summary = meter.summary(lambda key: 1.0, baseline_gflops=2.0, class_names=["a", "b"])
    assert summary["mean_bprime_by_block"] == {"pathway0": pytest.approx([4 / 3, 4 / 3]),
                                               "pathway1": pytest.approx([6.0])}
    assert summary["mean_bprime_by_block_and_class"] == {
        "a": {"pathway0": [1.5, 1.0], "pathway1": [7.0]},
        "b": {"pathway0": [1.0, 2.0], "pathway1": [4.0]},
    }


def test_atfr_meter_mean_bprime_per_video_over_its_recorded_views():
    meter = ATFRStatsMeter(num_clips=6, num_pathways=2)
    # Video v has clips 2v, 2v+1; clip 4 (video 2) is never recorded (a skipped view).
    meter.update(torch.tensor([0, 1, 2, 3, 5]),
                 torch.tensor([[2, 1], [4, 3], [8, 8], [7, 6], [3, 2]]), torch.zeros(5))
    video_of_clip = torch.tensor([0, 0, 1, 1, 2, 2])
    by_video = meter.mean_by_video(video_of_clip, torch.tensor([2, 0, 1]))
    assert by_video.tolist() == [[3.0, 2.0], [3.0, 2.0], [7.5, 7.0]]
    # A video without a recorded view has no B' (NaN), not a made-up one.
    meter = ATFRStatsMeter(num_clips=2, num_pathways=1)
    meter.update(torch.tensor([0]), torch.tensor([[5]]), torch.zeros(1))
    result = meter.mean_by_video(torch.tensor([0, 1]), torch.tensor([0, 1]))
    assert result[0, 0] == 5.0 and torch.isnan(result[1, 0])
