"""tools/run_net.py with the demo config, scaled down: train, test and demo in one command."""

import json
import os
import subprocess
import sys

import pytest

from slowfast_atfr.datasets.demo import make_demo_dataset

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_run_net_demo_config_end_to_end(tmp_path):
    data = tmp_path / "demo_data"
    make_demo_dataset(str(data), num_classes=2, videos_per_class=4, val_videos_per_class=1,
                      test_videos_per_class=2, frames=16, size=32, codec="mpeg4")
    out = tmp_path / "out"
    video = data / "videos" / "test" / "static" / "static_000.mp4"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "run_net.py"),
           "--cfg", os.path.join(ROOT, "configs", "Demo", "RESNET3D18_ATFR.yaml"),
           "DATA.PATH_TO_DATA_DIR", str(data), "OUTPUT_DIR", str(out), "MODEL.NUM_CLASSES", "2",
           "SOLVER.MAX_EPOCH", "1", "TRAIN.BATCH_SIZE", "4", "TEST.BATCH_SIZE", "4",
           "RESNET.WIDTH_PER_GROUP", "2", "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2",
           "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32",
           "DATA_LOADER.NUM_WORKERS", "0", "DEMO.INPUT_VIDEO", str(video),
           "DEMO.WINDOW_STRIDE", "4"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout
    assert "Test: top-1" in log and "top-5" in log
    assert "mean GFLOPs" in log and "without" in log and "B' histogram pathway0" in log
    with open(out / "atfr_stats_test.json") as f:
        stats = json.load(f)
    assert stats["num_clips"] == 4 * 2  # 4 test videos x 2 views
    assert stats["mean_gflops"] > 0 and stats["baseline_gflops"] > 0
    assert sum(stats["bprime_histogram"]["pathway0"].values()) == 8
    assert set(stats["mean_bprime_by_class"]) <= {"static", "slow_drift"}
    assert os.path.isfile(out / "config.yaml")
    assert os.listdir(out / "checkpoints") == ["checkpoint_epoch_00001.pyth"]
    with open(out / "demo.json") as f:
        windows = [json.loads(line) for line in f]
    # 16 frames, windows of 4 x 2 = 8 frames every 4: starts 0, 4, 8.
    assert [w["start_frame"] for w in windows] == [0, 4, 8]
    assert all(w["top_k"][0]["name"] in ("static", "slow_drift") for w in windows)
    assert all(len(w["bprime"]) == 1 for w in windows)
