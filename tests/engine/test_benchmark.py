"""The benchmark's parts measure what they claim; the CLI runs end to end on the demo data."""

import json
import os
import subprocess
import sys

import pytest
import torch
from tiny_x3d import tiny_x3d_cfg

from slowfast_atfr.engine import benchmark
from slowfast_atfr.models import build_model
from slowfast_atfr.models.cost import clip_gflops

CPU = torch.device("cpu")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _clips(n, still=()):
    """n random clips [3, 8, 32, 32]; the indices in `still` repeat one frame 8 times."""
    clips = []
    for i in range(n):
        x = torch.randn(3, 1 if i in still else 8, 32, 32).expand(3, 8, 32, 32).contiguous()
        clips.append(([x], i % 2))
    return clips


def test_make_batches():
    torch.manual_seed(0)
    batches = benchmark.make_batches(_clips(5), 2, CPU)
    assert [b[0][0].shape[0] for b in batches] == [2, 2, 1]
    assert batches[0][0][0].shape == (2, 3, 8, 32, 32)
    assert batches[1][1].tolist() == [0, 1]
    with pytest.raises(ValueError, match="BENCHMARK.BATCH_SIZE=0"):
        benchmark.make_batches(_clips(1), 0, CPU)


def test_peak_memory_cpu_sees_a_large_temporary():
    big = benchmark.peak_memory_mib(lambda: torch.ones(64 * 2**18).sum(), CPU)  # 64 MiB
    small = benchmark.peak_memory_mib(lambda: torch.ones(16).sum(), CPU)
    assert big >= 48.0 and small < 16.0
    assert benchmark.memory_method(CPU) in ("linux_vmhwm", "ru_maxrss_growth")


def test_measure_gflops_is_the_exact_per_clip_mean():
    torch.manual_seed(0)
    model = build_model(tiny_x3d_cfg())
    clips = _clips(3, still=(1,))
    result = benchmark.measure_gflops(model, benchmark.make_batches(clips, 2, CPU))
    brute = [clip_gflops(model, [c[0][0].unsqueeze(0)], conv_linear_only=True) for c in clips]
    assert result["gflops"] == pytest.approx(sum(brute) / len(brute), rel=1e-9)
    assert result["gflops_min"] == pytest.approx(min(brute), rel=1e-9)
    assert sum(result["bprime_histogram"]["pathway0"].values()) == 3
    assert result["full_lengths"] == [8]  # T at the sampler: X3D keeps the 8 input frames
    assert result["gflops"] < result["full_length_gflops"]
    base = benchmark.measure_gflops(build_model(tiny_x3d_cfg(atfr=False)),
                                    benchmark.make_batches(clips[:1], 1, CPU))
    assert base["gflops"] == base["gflops_max"] == base["full_length_gflops"]
    assert "mean_bprime" not in base


def test_time_alternately_alternates_and_reports_median_and_spread():
    calls = []
    timings = benchmark.time_alternately(
        {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
        rounds=3, warmup=1, device=CPU)
    assert calls == ["a", "b"] * 4  # one warm-up round, then three timed ones, alternating
    assert [len(timings[k].seconds) for k in "ab"] == [3, 3]
    timing = benchmark.Timing([1.0, 2.0, 4.0])
    assert timing.median == 2.0 and timing.spread == pytest.approx(1.5)
    assert timing.summary()["runs"] == 3 and timing.summary()["seconds"] == [1.0, 2.0, 4.0]
    with pytest.raises(ValueError, match="rounds=0"):
        benchmark.time_alternately({"a": lambda: None}, rounds=0, warmup=0, device=CPU)


def test_training_pass_runs_the_trainers_step_and_inference_runs_in_eval():
    torch.manual_seed(0)
    cfg = tiny_x3d_cfg()
    model = build_model(cfg)
    batches = benchmark.make_batches(_clips(2), 2, CPU)
    benchmark.inference_pass(model, batches)()
    assert not model.training
    before = [p.detach().clone() for p in model.parameters()]
    benchmark.training_pass(benchmark.train_step_fn(model, cfg), batches)()
    assert model.training
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_fixed_length_measure_makes_sgs_keep_the_given_lengths_and_trains_f_s():
    torch.manual_seed(0)
    cfg = tiny_x3d_cfg()
    model = build_model(cfg).train()
    assert benchmark.fix_sampler_lengths(model, [1, 4]) == 1
    model([torch.randn(2, 3, 8, 32, 32)]).sum().backward()
    assert model.temporal_lengths[:, 0].tolist() == [1, 4]
    assert all(p.grad is not None for p in model.sampler.parameters())  # f_s in the graph
    with pytest.raises(ValueError, match=r"lengths \[1, 4\] need 3 values"):
        model([torch.randn(3, 3, 8, 32, 32)])


def _timed(per_round_s, clips=4):
    """Metrics of one model timed in rounds, as benchmark_pair records them (one batch)."""
    timing = benchmark.Timing(per_round_s)
    return {"infer_clips_per_s": clips / timing.median,
            "infer_clips_per_s_range": [clips / max(per_round_s), clips / min(per_round_s)],
            "infer_timing": timing.summary(), "train_iter_s": timing.median,
            "train_iter_s_range": [min(per_round_s), max(per_round_s)],
            "train_timing": timing.summary()}


def _result(base, atfr, trained, checkpoint=None):
    result = {"device": "cpu", "torch_threads": 2, "num_clips": 4, "rounds": 3,
              "input_shapes": [[3, 8, 32, 32]], "batch_size": 2, "memory_method": "linux_vmhwm",
              "baseline": base, "optimized_for_inference": True, "atfr": atfr,
              "retained_freed_memory": True, "ratios": benchmark.ratios(base, atfr),
              "checkpoint": checkpoint, "sampler_trained": trained}
    result["headline"] = benchmark.headline(result)
    return result


def test_ratios_and_markdown_report_medians_with_the_spread_of_the_rounds():
    base = {"params": 100, "gflops": 2.0, "gflops_min": 2.0, "gflops_max": 2.0,
            "infer_peak_mem_mib": 50.0, "train_peak_mem_mib": 200.0,
            **_timed([0.4, 0.5, 0.6])}
    atfr = {**base, "params": 110, "gflops": 1.0, "gflops_min": 0.5, "train_peak_mem_mib": 150.0,
            "mean_bprime": [3.25], "full_lengths": [8], **_timed([0.4, 0.25, 0.2])}
    r = benchmark.ratios(base, atfr)
    assert r["gflops_reduction_pct"] == pytest.approx(50.0)
    assert r["infer_speedup"] == pytest.approx(2.0) and r["train_speedup"] == pytest.approx(2.0)
    # Rounds pair up (both ran in the same round): 0.4/0.4, 0.5/0.25, 0.6/0.2.
    assert r["infer_speedup_range"] == pytest.approx([1.0, 3.0])
    assert r["train_speedup_range"] == pytest.approx([1.0, 3.0])
    assert r["train_mem_ratio"] == pytest.approx(0.75) and r["extra_params"] == 10
    text = benchmark.to_markdown(_result(base, atfr, trained=True, checkpoint="ckpt.pyth"))
    headline = text.splitlines()[0]
    assert headline.startswith("**+ATFR vs. baseline, median of 3 alternating rounds")
    assert "inference 2.00x the clips/s (1.00-3.00x)" in headline
    assert "training 2.00x the iterations/s (1.00-3.00x)" in headline
    assert "50.0% fewer mean GFLOPs per clip (mean B' [3.25] of T = [8])" in headline
    assert "UNTRAINED" not in text
    assert "| mean GFLOPs per clip | 2 | 1 | 0.500 |" in text
    assert "| inference clips/s | 8.00 (6.67-10.00) | 16.00 (10.00-20.00) | 2.000 |" in text
    assert "| training s/iteration | 0.500 (0.400-0.600) | 0.250 (0.200-0.400) |" in text
    assert "median (min-max) of 3 alternating rounds. ATFR weights: ckpt.pyth." in text
    assert "| mean B' per pathway | T = [8] | [3.25] | |" in text
    assert "inference optimized" in text and "freed memory retained" in text


def test_the_headline_says_when_the_sampler_is_untrained():
    base = {"params": 100, "gflops": 2.0, "gflops_min": 2.0, "gflops_max": 2.0,
            "infer_peak_mem_mib": 50.0, "train_peak_mem_mib": 200.0, **_timed([0.5])}
    atfr = {**base, "gflops": 0.6, "mean_bprime": [1.0], "full_lengths": [16],
            **_timed([0.2])}
    for checkpoint, weights in ((None, "random (no checkpoint found)"),
                                ("base.pyth", "base.pyth (no sampler weights in it")):
        text = benchmark.to_markdown(_result(base, atfr, trained=False, checkpoint=checkpoint))
        assert text.startswith("**UNTRAINED SAMPLER: no checkpoint with sampler weights")
        assert "B' comes from random weights and is not representative" in text.splitlines()[0]
        assert f"ATFR weights: {weights}" in text


def test_the_atfr_model_gets_the_weights_a_test_run_would_use(tmp_path):
    from slowfast_atfr import checkpoint as cu

    cfg = tiny_x3d_cfg()
    cfg.OUTPUT_DIR = str(tmp_path / "atfr")
    assert benchmark.build_variants(cfg)[1:] == (None, False)  # nothing to load: random
    torch.manual_seed(cfg.RNG_SEED + 1)
    trained = build_model(cfg)
    path = cu.save_checkpoint(cfg.OUTPUT_DIR, trained, None, 0, cfg)
    variants, checkpoint, sampler_trained = benchmark.build_variants(cfg)  # as a test run
    assert checkpoint == path and sampler_trained
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(variants["atfr"][1].state_dict()[key], value, msg=key)


def test_a_baseline_checkpoint_leaves_the_sampler_untrained(tmp_path):
    from slowfast_atfr import checkpoint as cu

    base_cfg = tiny_x3d_cfg(atfr=False)
    path = cu.save_checkpoint(str(tmp_path), build_model(base_cfg), None, 0, base_cfg)
    cfg = tiny_x3d_cfg()
    cfg.OUTPUT_DIR, cfg.TRAIN.CHECKPOINT_FILE_PATH = str(tmp_path / "atfr"), path
    assert benchmark.build_variants(cfg)[1:] == (path, False)


def test_cuda_request_without_cuda_is_an_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is present")
    cfg = tiny_x3d_cfg()
    cfg.NUM_GPUS = 1
    with pytest.raises(ValueError, match="NUM_GPUS=1"):
        benchmark.benchmark_pair(cfg)


@pytest.mark.slow
def test_cli_end_to_end(tmp_path):
    from slowfast_atfr.datasets.demo import make_demo_dataset

    data = tmp_path / "demo"
    make_demo_dataset(str(data), num_classes=2, videos_per_class=0, val_videos_per_class=0,
                      test_videos_per_class=2, frames=16, size=32)
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(tiny_x3d_cfg().dump())
    out = tmp_path / "out"
    cmd = [sys.executable, os.path.join(ROOT, "tools", "benchmark_net.py"), "--cfg",
           str(cfg_file), "OUTPUT_DIR", str(out), "DATA.PATH_TO_DATA_DIR", str(data),
           "DATA.NUM_FRAMES", "8", "DATA.SAMPLING_RATE", "1", "DATA.TEST_CROP_SIZE", "32",
           "TEST.NUM_ENSEMBLE_VIEWS", "1", "TEST.NUM_SPATIAL_CROPS", "1",
           "BENCHMARK.NUM_CLIPS", "4", "BENCHMARK.BATCH_SIZE", "2", "BENCHMARK.WARMUP_ITERS", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["num_clips"] == 4 and result["device"] == "cpu"
    for name in ("baseline", "atfr"):
        for key in ("params", "gflops", "infer_clips_per_s", "train_iter_s",
                    "infer_peak_mem_mib", "train_peak_mem_mib"):
            assert result[name][key] >= 0, (name, key)
    assert result["atfr"]["gflops"] <= result["baseline"]["gflops"]
    assert result["ratios"]["extra_params"] > 0
    assert result["rounds"] == benchmark.ROUNDS and not result["sampler_trained"]
    assert result["headline"].startswith("UNTRAINED SAMPLER")
    for name in ("baseline", "atfr"):
        low, high = result[name]["infer_clips_per_s_range"]
        assert low <= result[name]["infer_clips_per_s"] <= high
        assert len(result[name]["infer_timing"]["seconds"]) == benchmark.ROUNDS
    assert json.loads((out / "benchmark.json").read_text())["num_clips"] == 4
    assert (out / "benchmark.md").read_text().startswith("**UNTRAINED SAMPLER")
