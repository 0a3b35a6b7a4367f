"""PySlowFast's own config files load unchanged, with and without ATFR, and build.

pyslowfast_configs.json holds the keys and values of PySlowFast's CNN configs for Kinetics
(incl. its Caffe2-converted, stepwise and multigrid variants) and SSv2, and of a few configs
of features we lack (MViT, pytorchvideo models, Charades, AVA), taken from its repository as
facts: each is written back to a YAML file here and loaded as a user would.
"""

import json
import os

import pytest
import torch
import yaml

from slowfast_atfr.config.defaults import assert_and_infer_cfg
from slowfast_atfr.config.parser import load_config, parse_args
from slowfast_atfr.config.pyslowfast import feature_of, pyslowfast_only_defaults
from slowfast_atfr.models import build_model
from slowfast_atfr.utils.misc import num_pathways

with open(os.path.join(os.path.dirname(__file__), "pyslowfast_configs.json")) as _f:
    _UPSTREAM = json.load(_f)

# Their files of features we do not have, and the words the refusal must say.
_REFUSED = {
    "Kinetics/MVITv2_S_16x4.yaml": "MODEL.MODEL_NAME MViT in .*: MViT models are not supported",
    "Kinetics/pytorchvideo/X3D_M.yaml": "MODEL.MODEL_NAME PTVX3D in .*: pytorchvideo models are "
                                        "not supported; MODEL.MODEL_NAME X3D",
    "Kinetics/pytorchvideo/SLOWFAST_8x8_R50.yaml": "PTVSlowFast .*MODEL.MODEL_NAME SlowFast",
    "Charades/SLOWFAST_16x8_R50.yaml": "multi-label data sets",
    "AVA/SLOW_8x8_R50_SHORT.yaml": "DETECTION.ENABLE=True .*AVA action detection",
}
_SUPPORTED = sorted(set(_UPSTREAM) - set(_REFUSED))


def _write(tmp_path, name):
    path = tmp_path / os.path.basename(name)
    path.write_text(yaml.safe_dump(_UPSTREAM[name]))
    return str(path)


def _load(path, *opts):
    return assert_and_infer_cfg(load_config(parse_args(["--cfg", path, *opts])))


def test_the_fixture_covers_every_family_and_variant():
    names = " ".join(_SUPPORTED)
    for family in ("X3D_XS", "X3D_S", "X3D_M", "X3D_L", "SLOWFAST", "SLOW_", "C2D",
                   "C2D_NOPOOL", "I3D", "NLN", "stepwise", "multigrid", "c2/", "SSv2/"):
        assert family in names, family
    assert len(_SUPPORTED) >= 36


@pytest.mark.parametrize("name", _SUPPORTED)
def test_upstream_config_loads_unchanged_and_builds_with_and_without_atfr(tmp_path, name):
    path = _write(tmp_path, name)
    plain = _load(path)
    # PySlowFast's default MODEL_NAME is ours: SlowFast.
    assert plain.MODEL.MODEL_NAME == _UPSTREAM[name]["MODEL"].get("MODEL_NAME", "SlowFast")
    assert plain.SOLVER.BASE_LR == pytest.approx(_UPSTREAM[name]["SOLVER"]["BASE_LR"])
    atfr = _load(path, "ATFR.ENABLED", "True", "NUM_GPUS", "0", "RESNET.WIDTH_PER_GROUP", "8",
                 "X3D.DIM_C5", "32")
    model = build_model(atfr)
    assert model.sampler is not None
    frames = atfr.DATA.NUM_FRAMES
    alpha = atfr.SLOWFAST.ALPHA
    inputs = [torch.randn(2, 3, frames // alpha, 32, 32), torch.randn(2, 3, frames, 32, 32)]
    inputs = inputs[-num_pathways(atfr):]
    model.train()
    assert model(inputs).shape == (2, atfr.MODEL.NUM_CLASSES)


@pytest.mark.parametrize("name", sorted(_REFUSED))
def test_configs_of_features_we_lack_are_refused_by_what_they_are(tmp_path, name):
    with pytest.raises(ValueError, match=_REFUSED[name]):
        _load(_write(tmp_path, name))


def test_upstream_specifics_are_implemented(tmp_path):
    x3d = _load(_write(tmp_path, "Kinetics/X3D_M.yaml"), "--num_shards", "1")
    assert x3d.DATA.DECODING_BACKEND == "torchvision"  # decoded with PyAV, one warning
    stepwise = _load(_write(tmp_path, "Kinetics/SLOWFAST_8x8_R50_stepwise.yaml"))
    assert len(stepwise.SOLVER.LRS) > len(stepwise.SOLVER.STEPS)
    nopool = build_model(_load(_write(tmp_path, "Kinetics/c2/C2D_NOPOOL_8x8_R50.yaml"),
                               "NUM_GPUS", "0"))
    assert list(nopool.pathway0_pool.kernel_size) == [1, 1, 1]


def test_base_lr_scales_with_the_number_of_machines(tmp_path):
    path = _write(tmp_path, "Kinetics/X3D_M.yaml")
    one = _load(path)
    four = assert_and_infer_cfg(load_config(parse_args(["--cfg", path, "--num_shards", "4"])))
    for key in ("BASE_LR", "WARMUP_START_LR", "COSINE_END_LR"):
        assert four.SOLVER[key] == pytest.approx(4 * one.SOLVER[key])
    # Checked again (e.g. a saved config.yaml loaded back): not scaled twice.
    assert assert_and_infer_cfg(four.clone()).SOLVER.BASE_LR == pytest.approx(four.SOLVER.BASE_LR)


def test_pyslowfast_only_keys_pass_at_their_default_and_are_refused_otherwise(tmp_path):
    defaults = pyslowfast_only_defaults()
    assert all(feature_of(key) for key in defaults)  # every key names its feature
    # A full PySlowFast config dump (what its checkpoints store under "cfg") loads.
    dump = {}
    for key, value in defaults.items():
        node = dump
        *groups, leaf = key.split(".")
        for group in groups:
            node = node.setdefault(group, {})
        node[leaf] = value
    dump["MODEL"] = {"ARCH": "slow", "MODEL_NAME": "ResNet"}
    path = tmp_path / "dump.yaml"
    path.write_text(yaml.safe_dump(dump))
    assert _load(str(path)).MODEL.ARCH == "slow"
    asks = tmp_path / "asks.yaml"
    asks.write_text(yaml.safe_dump({"MIXUP": {"ENABLE": True}, "DATA": {"SSL_COLOR_JITTER": True}}))
    with pytest.raises(ValueError, match="2 PySlowFast keys ask for features") as refused:
        _load(str(asks))
    assert "MIXUP.ENABLE=True in" in str(refused.value) and "mixup and cutmix" in str(
        refused.value)
    assert "DATA.SSL_COLOR_JITTER=True in" in str(refused.value)
    with pytest.raises(ValueError, match="SOLVER.LAYER_DECAY=0.75 in the command line overrides"
                                         ": .*layer-wise"):
        _load(str(path), "SOLVER.LAYER_DECAY", "0.75")
    assert _load(str(path), "SOLVER.LAYER_DECAY", "1.0").SOLVER.BASE_LR > 0


def test_model_names_and_archs_we_lack_are_refused_from_the_command_line(tmp_path):
    path = _write(tmp_path, "Kinetics/SLOW_8x8_R50.yaml")
    with pytest.raises(ValueError, match="MODEL.MODEL_NAME PTVResNet: pytorchvideo"):
        _load(path, "MODEL.MODEL_NAME", "PTVResNet")
    with pytest.raises(ValueError, match="MODEL.ARCH mvit: MViT models are not supported"):
        _load(path, "MODEL.ARCH", "mvit")


def test_an_all_digit_sha256_stays_text_on_the_command_line(tmp_path):
    digest = "0" + "1234567890" * 6 + "123"
    path = _write(tmp_path, "Kinetics/SLOW_8x8_R50.yaml")
    cfg = _load(path, "TRAIN.CHECKPOINT_SHA256", digest, "TEST.CHECKPOINT_SHA256", digest[1:] + "9")
    assert cfg.TRAIN.CHECKPOINT_SHA256 == digest
    assert cfg.TEST.CHECKPOINT_SHA256 == digest[1:] + "9"
