"""The scripts under benchmarks/ run end to end at toy sizes and end with one JSON line, from
any working directory and without the package installed."""

import glob
import json
import os
import site
import subprocess
import sys

import pytest

from slowfast_atfr.utils import cpu_allocator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPTS = sorted(glob.glob(os.path.join(ROOT, "benchmarks", "*.py"))) + [
    os.path.join(ROOT, "tools", "benchmark_net.py")]


def _uninstalled(args, cwd, timeout=300):
    """Run `python -S args` in `cwd`: the dependencies (torch, av, ...) come from this
    environment's site-packages on PYTHONPATH, but `-S` skips the .pth files, among them the
    editable install of slowfast_atfr, so the package imports only from where the script
    itself puts the checkout on sys.path."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONNOUSERSITE="1",
               PYTHONPATH=os.pathsep.join(site.getsitepackages()))
    return subprocess.run([sys.executable, "-S", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout)


def _last_json(script, *args, cwd):
    done = _uninstalled([os.path.join(ROOT, "benchmarks", script), *args], cwd)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_package_is_not_importable_without_the_checkout_on_the_path(tmp_path):
    done = _uninstalled(["-c", "import slowfast_atfr"], str(tmp_path), timeout=60)
    assert "No module named 'slowfast_atfr'" in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize("script", SCRIPTS, ids=os.path.basename)
def test_script_imports_without_installation_from_any_directory(script, tmp_path):
    done = _uninstalled([script, "--help"], str(tmp_path), timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:")


@pytest.mark.parametrize("mode", [["--layer-times"], ["--no-optimize", "--no-retain-memory"]],
                         ids=["deployed", "as_built"])
def test_varlen_speed_reports_the_three_figures(mode, tmp_path):
    result = _last_json("varlen_speed.py", "--size", "32", "--frames", "4", "--batch", "2",
                        "--iters", "1", "--warmup", "0", "--threads", "1", *mode,
                        cwd=str(tmp_path))
    deployed = mode == ["--layer-times"]
    assert result["optimized"] == deployed
    glibc = cpu_allocator._glibc() is not None
    assert result["retained_freed_memory"] == (glibc and deployed)
    assert len(result["lengths"]) == 2 and all(1 <= b <= 4 for b in result["lengths"])
    assert result["quotient"] == pytest.approx(result["time_ratio"] / result["flop_ratio"],
                                               rel=1e-3)
    assert result["flop_ratio"] >= 1.0
    seconds = result["seconds"]
    fixed = seconds["baseline"] - seconds["after_full"]
    ideal = fixed + seconds["after_full"] / result["after_sampler_flop_ratio"]
    assert result["quotient_ceiling"] == pytest.approx(
        seconds["baseline"] / ideal / result["flop_ratio"], rel=1e-2)
    assert 0 < result["fixed_stages_flop_share"] < 1
    layers = {row["layer"]: row for row in result.get("fixed_stage_layers", [])}
    if deployed:  # X3D's stem conv and res2's first expansion, each timed with its GMAC/s
        for name in ("s1.pathway0_stem.conv_xy", "s2.pathway0_res0.branch2.a"):
            assert layers[name]["ms"] > 0 and layers[name]["gmac_per_s"] > 0
        assert not any(name.startswith(("s3.", "sampler", "head")) for name in layers)
    else:
        assert not layers


def test_sgs_overhead_compares_the_layer_with_the_real_backbone(tmp_path):
    result = _last_json("sgs_overhead.py", "--batch", "1", "--frames", "4", "--size", "32",
                        "--iters", "1", "--warmup", "0", "--sgs-repeats", "1", "--threads", "1",
                        cwd=str(tmp_path))
    assert result["sgs_input"] == [1, 24, 4, 8, 8]
    assert result["backbone"].startswith("X3D-S res3..res5")
    assert result["ratio"] == pytest.approx(
        result["sgs_fwd_bwd_median_ms"] / result["backbone_fwd_bwd_median_ms"], abs=1e-3)


def test_decode_throughput_times_the_dataset_against_bare_pyav(tmp_path):
    result = _last_json("decode_throughput.py", "--source", "demo", "--clips", "3",
                        cwd=str(tmp_path))
    assert result["clips"] == 3 and result["frames_per_clip"] == 16
    assert result["dataset_clips_per_s"] > 0 and result["bare_pyav_clips_per_s"] > 0
    assert result["ratio"] == pytest.approx(
        result["dataset_clips_per_s"] / result["bare_pyav_clips_per_s"], rel=0.02)


def test_train_speed_times_the_trainers_step_and_measures_memory_in_fresh_processes(tmp_path):
    result = _last_json("train_speed.py", "--models", "demo", "--size", "32", "--iters", "1",
                        "--warmup", "0", "--threads", "1", cwd=str(tmp_path))
    demo = result["models"]["demo"]
    assert result["primary_model"] == "demo" and result["batching"] == "packed"
    assert demo["lengths"] == [3, 4, 4, 5, 5, 6, 7, 8] and demo["t_at_sampler"] == 16
    assert demo["flop_ratio"] > 1.5  # sum(B') = 42 of 128 frames after the sampler
    assert result["train_quotient"] == pytest.approx(demo["time_ratio"] / demo["flop_ratio"])
    peaks = demo["peak_mib"]
    assert peaks["baseline"] > 0 and peaks["atfr"] > 0
    assert result["train_mem_ratio"] == pytest.approx(peaks["atfr"] / peaks["baseline"])
    assert 0 < demo["quotient_ceiling"] and 0 < demo["mem_ratio_ceiling"] < 1
    assert set(demo["timings"]) == {"baseline", "atfr", "fixed"}
