"""Every config's runs go to their own folder under output/, never into the checkout's root."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from slowfast_atfr.config.parser import load_config, merge_file, parse_args

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_CONFIG_ROOT = os.path.join(ROOT, "configs")
_CONFIGS = sorted(os.path.relpath(path, _CONFIG_ROOT) for path in glob.glob(
    os.path.join(_CONFIG_ROOT, "**", "*.yaml"), recursive=True))


def _output_dir(config: str) -> str:
    path = os.path.join(_CONFIG_ROOT, config)
    return load_config(parse_args(["--cfg", path]), path).OUTPUT_DIR


def _sets_output_dir(config: str) -> bool:
    """Whether the YAML or a file of its _BASE_ chain sets OUTPUT_DIR."""
    from slowfast_atfr.config.defaults import get_cfg

    return "OUTPUT_DIR" in merge_file(get_cfg(), os.path.join(_CONFIG_ROOT, config))


@pytest.mark.parametrize("config", _CONFIGS)
def test_a_config_without_output_dir_runs_in_output_slash_its_name(config):
    out = _output_dir(config)
    assert not os.path.isabs(out) and os.path.normpath(out).split(os.sep)[0] == "output", out
    if not _sets_output_dir(config):
        # configs/Kinetics/X3D_XL_ATFR.yaml -> output/Kinetics/X3D_XL_ATFR
        assert out == "output/" + os.path.splitext(config)[0].replace(os.sep, "/")


def test_every_config_has_its_own_output_dir():
    """Configs of the same stem in different folders (Kinetics/X3D_M, Kinetics600/X3D_M) and
    a config and its _BASE_ never share a run folder (checkpoints, auto-resume, the lock)."""
    by_dir = {}
    for config in _CONFIGS:
        by_dir.setdefault(os.path.normpath(_output_dir(config)), []).append(config)
    shared = {out: configs for out, configs in by_dir.items() if len(configs) > 1}
    assert not shared, f"configs sharing an OUTPUT_DIR: {shared}"


@pytest.mark.slow
def test_a_run_writes_nothing_into_the_checkout_outside_output(tmp_path):
    """tools/run_net.py (a test job of the demo config, random weights, 2 tiny videos) run from
    the root of a copy of the checkout adds files under output/ only."""
    from slowfast_atfr.datasets.demo import make_demo_dataset

    checkout = tmp_path / "checkout"
    for folder in ("configs", "tools"):
        shutil.copytree(os.path.join(ROOT, folder), checkout / folder)
    before = {p for p in glob.glob(str(checkout / "**"), recursive=True) if os.path.isfile(p)}
    data = tmp_path / "demo_data"
    make_demo_dataset(str(data), num_classes=2, videos_per_class=1, val_videos_per_class=1,
                      test_videos_per_class=1, frames=16, size=32, codec="mpeg4")
    cmd = [sys.executable, os.path.join("tools", "run_net.py"),
           "--cfg", os.path.join("configs", "Demo", "RESNET3D18_ATFR.yaml"),
           "TRAIN.ENABLE", "False", "DEMO.ENABLE", "False", "TEST.ENABLE", "True",
           "DATA.PATH_TO_DATA_DIR", str(data), "MODEL.NUM_CLASSES", "2",
           "TEST.BATCH_SIZE", "2", "TEST.NUM_ENSEMBLE_VIEWS", "1", "RESNET.WIDTH_PER_GROUP", "2",
           "DATA.NUM_FRAMES", "4", "DATA.TEST_CROP_SIZE", "32", "DATA_LOADER.NUM_WORKERS", "0"]
    # The package of this checkout (tools/ of the copy finds no slowfast_atfr beside it).
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=str(checkout), env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Test: top-1" in proc.stdout + proc.stderr  # the job ran and logged
    after = {p for p in glob.glob(str(checkout / "**"), recursive=True) if os.path.isfile(p)}
    new = sorted(os.path.relpath(p, checkout) for p in after - before)
    assert new and all(p.split(os.sep)[0] == "output" for p in new), new
    run = os.path.join("output", "Demo", "RESNET3D18_ATFR")
    assert {os.path.join(run, name) for name in ("config.yaml", "stdout.log")} <= set(new)
