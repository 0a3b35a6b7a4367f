"""Tests of the domain table (config/checks.py DOMAINS) and the rules between keys (RULES)."""

import glob
import os
import re

import pytest
from fvcore.common.config import CfgNode

from slowfast_atfr.config.checks import DOMAINS, RULES, domain_problems
from slowfast_atfr.config.defaults import assert_and_infer_cfg, get_cfg
from slowfast_atfr.config.domains import OneOf
from slowfast_atfr.config.parser import load_config, parse_args
from slowfast_atfr.models.resnet import _MODEL_STAGE_DEPTH

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(REPO, "configs", "**", "*.yaml"), recursive=True))
NAN, INF = float("nan"), float("inf")


def _leaves(node: CfgNode, prefix: str = ""):
    for key, value in node.items():
        if isinstance(value, CfgNode):
            yield from _leaves(value, prefix + key + ".")
        else:
            yield prefix + key, value


def _is_numeric(value) -> bool:
    """A number (not a bool), or a possibly nested, possibly empty list of numbers."""
    if isinstance(value, (list, tuple)):
        return all(_is_numeric(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _with(overrides):
    cfg = get_cfg()
    for key, value in overrides.items():
        *groups, name = key.split(".")
        node = cfg
        for group in groups:
            node = node[group]
        node[name] = value
    return cfg


def test_every_numeric_key_declares_its_domain():
    # A new numeric key in defaults.py must get a DOMAINS entry (Free, with the reason, when
    # every value is fine), so that no value reaches a run unchecked.
    missing = [key for key, value in _leaves(get_cfg()) if _is_numeric(value)
               and key not in DOMAINS]
    assert missing == [], f"add these keys to DOMAINS in slowfast_atfr/config/checks.py: {missing}"


def test_domains_and_rules_name_declared_keys():
    declared = dict(_leaves(get_cfg()))
    named = list(DOMAINS) + [key for keys, _ in RULES for key in keys]
    assert [key for key in named if key not in declared] == []


def test_resnet_depths_are_the_model_tables():
    assert DOMAINS["RESNET.DEPTH"] == OneOf(tuple(sorted(_MODEL_STAGE_DEPTH)))


def test_defaults_are_inside_their_domains():
    assert domain_problems(get_cfg()) == []


@pytest.mark.parametrize("path", CONFIGS, ids=[os.path.relpath(p, REPO) for p in CONFIGS])
def test_every_shipped_config_is_inside_its_domains(path):
    assert domain_problems(load_config(parse_args(["--cfg", path]), path)) == []


@pytest.mark.parametrize("overrides, match", [
    # One case per kind of domain.
    ({"DATA.NUM_FRAMES": 0}, r"^DATA.NUM_FRAMES=0 must be an int >= 1\.$"),
    ({"TRAIN.BATCH_SIZE": 8.0}, r"TRAIN.BATCH_SIZE=8.0 must be an int >= 1"),
    ({"DATA_LOADER.NUM_WORKERS": True}, r"DATA_LOADER.NUM_WORKERS=True must be an int >= 0"),
    ({"DATA.MAX_DECODE_RETRIES": -1}, r"DATA.MAX_DECODE_RETRIES=-1 must be an int >= 0"),
    ({"RNG_SEED": 2**32}, r"RNG_SEED=4294967296 must be an int in \[0, 4294967295\]"),
    ({"ATFR.NUM_BINS_TEST": [-2, -1]},
     r"an int >= 1 or -1 \(= ATFR.NUM_BINS_TRAIN\); ATFR.NUM_BINS_TEST\[0\] is -2"),
    ({"ATFR.NUM_BINS_TRAIN": [True, -1]}, r"ATFR.NUM_BINS_TRAIN\[0\] is True"),
    ({"DATA.TARGET_FPS": 0}, r"DATA.TARGET_FPS=0 must be a finite number > 0"),
    ({"MODEL.FC_INIT_STD": -0.01}, r"MODEL.FC_INIT_STD=-0.01 must be a finite number > 0"),
    ({"SOLVER.BASE_LR": NAN}, r"SOLVER.BASE_LR=nan must be a finite number >= 0"),
    ({"SOLVER.WEIGHT_DECAY": INF}, r"SOLVER.WEIGHT_DECAY=inf must be a finite number >= 0"),
    ({"SOLVER.CLIP_GRAD_L2NORM": True}, r"SOLVER.CLIP_GRAD_L2NORM=True must be a finite number"),
    ({"MODEL.DROPOUT_RATE": 1.0}, r"MODEL.DROPOUT_RATE=1.0 must be a finite number in \[0, 1\)"),
    ({"SOLVER.MOMENTUM": 1.0}, r"SOLVER.MOMENTUM=1.0 must be a finite number in \[0, 1\)"),
    ({"SOLVER.GAMMA": 0.0}, r"SOLVER.GAMMA=0.0 must be a finite number in \(0, 1\]"),
    ({"SOLVER.DAMPENING": 1.5}, r"SOLVER.DAMPENING=1.5 must be a finite number in \[0, 1\]"),
    ({"RESNET.DEPTH": 34}, r"RESNET.DEPTH=34 must be one of \[18, 50, 101\]"),
    ({"DATA.SPLIT": 1.0}, r"DATA.SPLIT=1.0 must be one of \[1, 2, 3\]"),
    ({"DATA.STD": [0.225, 0.0, 0.225]}, r"DATA.STD\[1\] is 0.0"),
    ({"DATA.MEAN": [0.45, 0.45]}, r"DATA.MEAN=\[0.45, 0.45\] must be a list of 3 values"),
    ({"DATA.TRAIN_JITTER_SCALES": 256}, r"DATA.TRAIN_JITTER_SCALES=256 must be a list of 2"),
    ({"DATA.TRAIN_JITTER_SCALES": [320, 256]}, r"=\[320, 256\] must be .* in ascending order"),
    ({"SOLVER.LR_POLICY": "steps_with_relative_lrs", "SOLVER.STEPS": [0, 18, 14],
      "SOLVER.LRS": [1, 0.1, 0.01]}, r"SOLVER.STEPS=\[0, 18, 14\] must be .* ascending order"),
    ({"RESNET.SPATIAL_STRIDES": [[1], [0], [2], [2]]}, r"RESNET.SPATIAL_STRIDES\[1\]\[0\] is 0"),
    ({"RESNET.SPATIAL_DILATIONS": [[1], [1], [1]]}, r"SPATIAL_DILATIONS=.* a list of 4 values"),
    ({"NONLOCAL.POOL": [[[1, 2, 2]], [[1, 2]], [[1, 2, 2]], [[1, 2, 2]]]},
     r"NONLOCAL.POOL\[1\]\[0\] is \[1, 2\]"),
    ({"MULTIGRID.LONG_CYCLE_FACTORS": [(0.5, 1.5), (1, 1)]},
     r"MULTIGRID.LONG_CYCLE_FACTORS\[0\]\[1\] is 1.5"),
    ({"MULTIGRID.SHORT_CYCLE_FACTORS": []}, r"SHORT_CYCLE_FACTORS=\[\] must be a list of 1 or"),
    # Rules between keys.
    ({"SHARD_ID": 2, "NUM_SHARDS": 2}, r"SHARD_ID=2 must be < NUM_SHARDS=2"),
    ({"DATA.NUM_FRAMES": 4}, r"DATA.NUM_FRAMES=4 leaves the slow pathway no frame .* use "
                             r"DATA.NUM_FRAMES >= 8"),
    ({"BN.NORM_TYPE": "sub_batchnorm", "BN.NUM_SPLITS": 3}, r"BN.NUM_SPLITS=3 must divide the 64"),
    ({"SOLVER.WARMUP_EPOCHS": 301.0}, r"WARMUP_EPOCHS=301.0 must be <= SOLVER.MAX_EPOCH=300"),
    ({"SOLVER.MOMENTUM": 0.0}, r"SOLVER.NESTEROV=True needs SOLVER.MOMENTUM > 0"),
    ({"SOLVER.DAMPENING": 0.1}, r"NESTEROV=True needs .*DAMPENING 0 .*DAMPENING=0.1"),
    ({"SOLVER.LR_POLICY": "steps_with_relative_lrs"}, r"SOLVER.STEPS=\[\] must be non-empty"),
    ({"DATA.PATH_LABEL_SEPARATOR": ", "}, r"DATA.PATH_LABEL_SEPARATOR=', ' must be one char"),
    ({"TEST.SAVE_RESULTS_PATH": "preds.npy"}, r"SAVE_RESULTS_PATH='preds.npy' must end in one"),
    ({"OUTPUT_DIR": " "}, r"OUTPUT_DIR=' ' must name a folder"),
])
def test_values_outside_their_domain_are_named_with_the_range(overrides, match):
    with pytest.raises(ValueError, match=match):
        assert_and_infer_cfg(_with(overrides))


@pytest.mark.parametrize("overrides", [
    {"MODEL.DROPOUT_RATE": 0.0, "SOLVER.GAMMA": 1.0, "SOLVER.DAMPENING": 1.0,
     "SOLVER.NESTEROV": False, "RNG_SEED": 2**32 - 1, "DATA.DECODER_THREADS": 0},
    {"SOLVER.LR_POLICY": "steps_with_relative_lrs", "SOLVER.STEPS": [0, 14, 14],
     "SOLVER.LRS": [1, 0.1, 0.01], "DATA.TRAIN_JITTER_SCALES": [256, 256]},
    {"ATFR.ENABLED": True, "ATFR.NUM_BINS_TRAIN": [1, 8], "ATFR.NUM_BINS_TEST": [-1, 4]},
    # More bins than frames is defined (ATFR_SPEC: at most T bins are kept), e.g. B = 8 with
    # blocks of 4 frames (configs/Demo/RESNET3D18_ATFR_BLOCK4.yaml).
    {"ATFR.ENABLED": True, "ATFR.NUM_BINS_TRAIN": [-1, 16], "ATFR.BLOCK_LENGTH": [0, 4]},
    {"SOLVER.WARMUP_EPOCHS": 300.0, "DATA.TARGET_FPS": 29.97, "MODEL.FC_INIT_STD": 1},
])
def test_values_at_the_edges_are_inside(overrides):
    assert domain_problems(_with(overrides)) == []


def test_several_bad_values_are_reported_in_one_error():
    cfg = _with({"DATA.NUM_FRAMES": 0, "SOLVER.MOMENTUM": NAN, "TEST.NUM_SPATIAL_CROPS": 2,
                 "SHARD_ID": 1})
    with pytest.raises(ValueError) as info:
        assert_and_infer_cfg(cfg)
    lines = str(info.value).splitlines()
    assert lines[0] == "4 config values are invalid; fix them all:"
    for key in ("DATA.NUM_FRAMES=0", "SOLVER.MOMENTUM=nan", "TEST.NUM_SPATIAL_CROPS=2",
                "SHARD_ID=1"):
        assert sum(line.strip().startswith(key) for line in lines[1:]) == 1, (key, lines)


@pytest.mark.parametrize("overrides, key", [
    ({"NUM_SHARDS": 0}, "NUM_SHARDS"),
    ({"DATA.NUM_FRAMES": NAN}, "DATA.NUM_FRAMES"),
    ({"ATFR.ENABLED": True, "ATFR.BLOCK_LENGTH": [0, "4"]}, "ATFR.BLOCK_LENGTH"),
])
def test_a_rule_waits_until_its_keys_are_inside_their_domains(overrides, key):
    # The rules reading these keys (SHARD_ID < NUM_SHARDS, slow-pathway frames)
    # would compare a bad value; only the key's own domain is reported.
    problems = domain_problems(_with(overrides))
    assert len(problems) == 1 and re.match(re.escape(key) + "=", problems[0]), problems

