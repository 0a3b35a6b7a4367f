"""SIGTERM / SIGINT stop training with a checkpoint; the resumed run equals an uninterrupted one.

Real processes and real signals, on real video files (PyAV-decoded demo clips with random
clip starts, scales, crops and flips), with dropout and a loader worker: every random stream
that shapes a batch or a step must come back on resume.
"""

import os
import signal
import subprocess

import pytest
import torch
from subprocess_runs import command, final_state, json_stats, run, run_env

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.datasets.demo import make_demo_dataset


@pytest.fixture(scope="module")
def video_root(tmp_path_factory):
    """16 train / 4 val real videos of the 4 tiny-model classes: 4 iterations per epoch."""
    root = str(tmp_path_factory.mktemp("videos"))
    make_demo_dataset(root, seed=0, num_classes=4, videos_per_class=4, val_videos_per_class=1,
                      test_videos_per_class=1, frames=16, size=40)
    return root


def video_opts(root, *extra):
    return ["TRAIN.DATASET", "kinetics", "DATA.PATH_TO_DATA_DIR", root, "TEST.ENABLE", "False",
            "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_JITTER_SCALES", "[18, 28]",
            "DATA.RANDOM_FLIP", "True", "MODEL.DROPOUT_RATE", "0.5",
            "DATA_LOADER.NUM_WORKERS", "1", "TRAIN.EVAL_PERIOD", "1", "LOG_PERIOD", "1", *extra]


def assert_same_training(full, cut):
    path_a, a = final_state(full)
    path_b, b = final_state(cut)
    assert os.path.basename(path_a) == os.path.basename(path_b) == "checkpoint_epoch_00002.pyth"
    for key, value in a["model_state"].items():
        torch.testing.assert_close(b["model_state"][key], value, rtol=0, atol=0, msg=key)
    # The resumed epoch's statistics count the whole epoch, as the uninterrupted one's.
    ignored = ("time_diff", "dt_data", "dt_net", "gpu_mem")
    last_a, last_b = (json_stats(out, "train_epoch")[-1] for out in (full, cut))
    assert {k: v for k, v in last_a.items() if k not in ignored} == {
        k: v for k, v in last_b.items() if k not in ignored}
    assert last_b["num_samples"] == 16


@pytest.mark.slow
@pytest.mark.parametrize("name", ["TERM", "INT"])
def test_signal_mid_epoch_saves_and_resume_equals_uninterrupted_run(tmp_path, video_root, name):
    opts = video_opts(video_root)
    run(tmp_path / "full", *opts)
    # Signalled after iteration 2 of epoch 2 (in its hooks): iteration 3 sees it, then the
    # run saves and exits.
    stopped = run(tmp_path / "cut", *opts, kill_after=6, signal_name=name, check=False)
    signum = getattr(signal, "SIG" + name)
    assert stopped.returncode == 128 + signum, stopped.stderr
    assert (f"SIG{name} received: stopped at iteration 3/4 of epoch 2 and saved"
            in stopped.stdout)
    saved = cu.get_last_checkpoint(str(tmp_path / "cut"))
    assert os.path.basename(saved) == "checkpoint_epoch_00001_iter_00000003.pyth"
    resumed = run(tmp_path / "cut", *opts)
    assert "at epoch 2, iteration 3" in resumed.stdout
    assert_same_training(tmp_path / "full", tmp_path / "cut")


@pytest.mark.slow
def test_sigterm_to_the_launcher_of_two_ranks_stops_both_at_one_iteration(tmp_path, video_root):
    """Sent from outside at whatever iteration the run has reached: the launcher passes it
    to both ranks, which agree on where to stop; resuming gives the uninterrupted weights."""
    opts = video_opts(video_root, "NUM_CPU_PROCESSES", "2")
    run(tmp_path / "full", *opts)
    proc = subprocess.Popen(command(tmp_path / "cut", *opts), env=run_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if '"_type": "train_iter"' in line:
            proc.send_signal(signal.SIGTERM)
            break
    lines.extend(proc.stdout)
    assert proc.wait(timeout=180) == 128 + signal.SIGTERM, "".join(lines)
    assert any("SIGTERM received: stopped at" in line for line in lines), "".join(lines)
    resumed = run(tmp_path / "cut", *opts)
    assert "Resumed from" in resumed.stdout
    assert_same_training(tmp_path / "full", tmp_path / "cut")
