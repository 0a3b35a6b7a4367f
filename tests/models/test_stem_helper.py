"""VideoModelStem: per-pathway stems registered by name, PySlowFast names."""

import pytest
import torch

from slowfast_atfr.models.stem_helper import STEM_REGISTRY, VideoModelStem


def _stem(**overrides):
    kwargs = dict(dim_in=[3, 3], dim_out=[8, 2], kernel=[[1, 7, 7], [5, 7, 7]],
                  stride=[[1, 2, 2]] * 2, padding=[[0, 3, 3], [2, 3, 3]])
    kwargs.update(overrides)
    return VideoModelStem(**kwargs)


def test_names_and_shapes():
    stem = _stem()
    keys = set(stem.state_dict())
    assert "pathway0_stem.conv.weight" in keys and "pathway1_stem.bn.running_var" in keys
    assert stem.pathway1_stem.conv.weight.shape == (2, 3, 5, 7, 7)
    out = stem([torch.randn(1, 3, 2, 32, 32), torch.randn(1, 3, 8, 32, 32)])
    assert [tuple(o.shape) for o in out] == [(1, 8, 2, 8, 8), (1, 2, 8, 8, 8)]


def test_errors_name_the_problem():
    assert "basic_stem" in {name for name, _ in STEM_REGISTRY}
    with pytest.raises(ValueError, match="one entry per pathway"):
        _stem(dim_out=[8])
    with pytest.raises(ValueError, match="'nope' is not registered"):
        _stem(stem_func_name="nope")
    with pytest.raises(ValueError, match="2 pathway tensors"):
        _stem()([torch.randn(1, 3, 2, 32, 32)])
