"""Tests of TEMPORAL_SAMPLER_REGISTRY, `build_sampler` and the TemporalAttention baseline."""

import pytest
import torch

import slowfast_atfr.models.atfr.sgs  # noqa: F401  (registers SGS)
import slowfast_atfr.models.atfr.temporal_attention  # noqa: F401  (registers TemporalAttention)
from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.models.atfr.samplers import TEMPORAL_SAMPLER_REGISTRY, build_sampler
from slowfast_atfr.models.atfr.sgs import SGS
from slowfast_atfr.models.atfr.temporal_attention import TemporalAttention

SAMPLERS = sorted(name for name, _ in TEMPORAL_SAMPLER_REGISTRY)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _cfg(sampler):
    cfg = get_cfg()
    cfg.ATFR.SAMPLER = sampler
    return cfg


def test_registry_holds_both_samplers_under_their_class_names():
    assert {"SGS", "TemporalAttention"} <= set(SAMPLERS)
    for name, cls in TEMPORAL_SAMPLER_REGISTRY:
        assert cls.__name__ == name


@pytest.mark.parametrize("name", SAMPLERS)
@pytest.mark.parametrize("train", [True, False])
def test_every_sampler_builds_and_follows_the_contract(name, train):
    sampler = build_sampler(_cfg(name), pathway=0, dim_in=8).train(train)
    x = torch.randn(3, 8, 6, 4, 4, requires_grad=True)
    out, lengths, block_lengths = sampler(x)
    assert lengths.dtype == torch.int64 and lengths.shape == (3,)
    assert block_lengths.dtype == torch.int64 and block_lengths.shape[0] == 3
    assert torch.equal(block_lengths.sum(dim=1), lengths)
    assert out.shape[:2] == (3, 8) and out.shape[3:] == (4, 4)
    assert out.shape[2] == int(lengths.max()) and (lengths >= 1).all() and (lengths <= 6).all()
    for n, length in enumerate(lengths.tolist()):
        assert not out[n, :, length:].any()
    assert torch.isfinite(out).all()
    (out * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for pname, param in sampler.named_parameters():
        assert param.grad is not None, pname


def test_build_sampler_reads_the_pathways_atfr_values():
    cfg = _cfg("SGS")
    cfg.ATFR.NUM_BINS_TRAIN = [16, 4]
    cfg.ATFR.NUM_BINS_TEST = [-1, 2]
    cfg.ATFR.BLOCK_LENGTH = [0, 8]
    cfg.ATFR.KERNEL = "kronecker"
    cfg.ATFR.SIMILARITY_NET = "mlp_bn"
    cfg.ATFR.EMBED_DIM = 4
    slow, fast = build_sampler(cfg, 0, 8), build_sampler(cfg, 1, 4)
    assert isinstance(slow, SGS) and isinstance(fast, SGS)
    assert (slow.num_bins_train, slow.num_bins_test, slow.block_length) == (16, 16, 0)
    assert (fast.num_bins_train, fast.num_bins_test, fast.block_length) == (4, 2, 8)
    assert fast.kernel == "kronecker" and fast.dim_in == 4
    assert fast.similarity.fc_b.out_features == 4
    cfg.ATFR.MEASURE, cfg.ATFR.MULTI_BINS = "angular", [2, 2, 3]
    assert build_sampler(cfg, 0, 8).multi_bins == (2, 2, 3)


def test_unknown_sampler_names_key_value_and_choices():
    with pytest.raises(KeyError) as info:
        build_sampler(_cfg("Attention"), 0, 8)
    message = str(info.value)
    assert "ATFR.SAMPLER" in message and "'Attention'" in message and str(SAMPLERS) in message


def test_pathway_without_values():
    cfg = _cfg("SGS")
    cfg.ATFR.NUM_BINS_TRAIN = [-1]
    with pytest.raises(ValueError, match="pathway=1.*ATFR.NUM_BINS_TRAIN"):
        build_sampler(cfg, 1, 8)


def _attention(dim_in=8, embed_dim=4):
    return TemporalAttention(
        dim_in=dim_in, num_bins_train=-1, num_bins_test=-1, block_length=0,
        embed_dim=embed_dim, kernel="linear", measure="magnitude", multi_bins=(),
        similarity_net="conv",
    )


def test_temporal_attention_keeps_every_frame():
    module = _attention()
    x = torch.randn(2, 8, 5, 3, 3, requires_grad=True)
    out, lengths, block_lengths = module(x)
    assert out.shape == x.shape and lengths.tolist() == [5, 5]
    assert block_lengths.tolist() == [[5], [5]]
    out.pow(2).sum().backward()
    for name, param in module.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_temporal_attention_mixes_frames_over_time():
    module = _attention().eval()
    x = torch.randn(1, 8, 5, 3, 3)
    changed = x.clone()
    changed[:, :, 4] += 1.0
    assert (module(changed)[0][:, :, 0] - module(x)[0][:, :, 0]).abs().max() > 1e-4


def test_temporal_attention_weights_identical_frames_equally():
    module = _attention()
    frame = torch.randn(2, 8, 1, 3, 3)
    out = module(frame.expand(2, 8, 6, 3, 3)).out
    torch.testing.assert_close(out, out[:, :, :1].expand_as(out))


def test_temporal_attention_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[N, 8, T, H, W\]"):
        _attention()(torch.zeros(2, 4, 5, 3, 3))
