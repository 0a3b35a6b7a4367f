"""Tests of the SGS module: f_s, measures, train/test bins and temporal blocks."""

import itertools
import math

import pytest
import torch

from slowfast_atfr.config.choices import SGS_KERNELS
from slowfast_atfr.models.atfr.sgs import (
    BORDER_WEIGHT,
    SGS,
    similarity_guided_sampling,
)
from slowfast_atfr.models.atfr.similarity import MEASURES, SIMILARITY_NETS

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _sgs(**overrides):
    args = dict(dim_in=4, num_bins_train=-1, num_bins_test=-1, block_length=0, embed_dim=3,
                kernel="linear", measure="magnitude", multi_bins=(), similarity_net="conv")
    args.update(overrides)
    return SGS(**args)


def _expected_module_output(module, x, block, bins_of):
    """Per-block reference: f_s once, the measure per block, the core per block, concat.

    The module folds blocks into the batch, so its measure reduces in another order than the
    reference's; the tests that compare the two run in float64, where that difference (about
    1e-16) cannot move a frame across a bin border, on any CPU.

    Returns (output, lengths [N], lengths per block [N, blocks]).
    """
    z = module.similarity(x)
    t = x.shape[2]
    outs, lengths = [], torch.zeros(x.shape[0], dtype=torch.int64)
    for start in range(0, t, block):
        stop = min(start + block, t)
        delta = module.measure(z[:, start:stop])
        bins = bins_of(stop - start)
        out, length = similarity_guided_sampling(
            x[:, :, start:stop], delta, bins if len(bins) > 1 else bins[0], module.kernel
        )
        outs.append((out, length))
        lengths += length
    per_block = torch.stack([length for _, length in outs], dim=1)
    expected = x.new_zeros(x.shape[0], x.shape[1], int(lengths.max()), *x.shape[3:])
    for n in range(x.shape[0]):
        pos = 0
        for out, length in outs:
            expected[n, :, pos : pos + length[n]] = out[n, :, : length[n]]
            pos += int(length[n])
    return expected, lengths, per_block


@pytest.mark.parametrize("measure", sorted(MEASURES))
@pytest.mark.parametrize("net", sorted(SIMILARITY_NETS))
@pytest.mark.parametrize("kernel", SGS_KERNELS)
def test_module_equals_core_on_its_own_delta(measure, net, kernel):
    module = _sgs(measure=measure, similarity_net=net, kernel=kernel).double().eval()
    x = torch.randn(3, 4, 6, 5, 5, dtype=F64)
    out, lengths, _ = module(x)
    bins = module.multi_bins or (6,)
    expected, expected_lengths, _ = _expected_module_output(module, x, 6, lambda t: bins)
    assert torch.equal(lengths, expected_lengths)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("measure", sorted(MEASURES))
@pytest.mark.parametrize("block, t", [(3, 9), (3, 7), (4, 6), (2, 5), (8, 5), (1, 4)])
def test_blocks_equal_per_block_core(measure, block, t):
    module = _sgs(block_length=block, measure=measure).double().eval()
    x = torch.randn(3, 4, t, 3, 3, dtype=F64)
    out, lengths, block_lengths = module(x)
    bins_of = (lambda f: module.multi_bins) if module.multi_bins else (lambda f: (f,))
    expected, expected_lengths, per_block = _expected_module_output(module, x, block,
                                                                     bins_of)
    assert torch.equal(lengths, expected_lengths)
    torch.testing.assert_close(out, expected)
    blocks = math.ceil(t / min(block, t))
    assert (lengths >= blocks).all() and (lengths <= t).all()
    assert torch.equal(block_lengths, per_block)  # B' of each block


@pytest.mark.parametrize("num_bins, t, block", [(2, 7, 3), (16, 6, 4), (3, 10, 4)])
def test_block_bins_are_capped_by_the_block_length(num_bins, t, block):
    # e.g. T = 7, K = 3: blocks of 3, 3 and 1 frames get B = 2, 2 and 1.
    module = _sgs(block_length=block, num_bins_test=num_bins).double().eval()
    x = torch.randn(5, 4, t, 3, 3, dtype=F64)
    out, lengths, _ = module(x)
    caps = [min(num_bins, block)] * (t // block) + ([min(num_bins, t % block)] if t % block else [])
    assert (lengths <= sum(caps)).all() and (lengths >= len(caps)).all()
    expected, expected_lengths, _ = _expected_module_output(
        module, x, block, lambda f: (min(num_bins, f),)
    )
    assert torch.equal(lengths, expected_lengths)
    torch.testing.assert_close(out, expected)


def test_without_blocks_more_bins_than_frames_are_kept_as_given():
    module = _sgs(num_bins_test=16, measure="mean_distance").double().eval()
    x = torch.randn(5, 4, 6, 3, 3, dtype=F64)
    out, lengths, _ = module(x)
    expected, expected_lengths, _ = _expected_module_output(module, x, 6, lambda f: (16,))
    assert torch.equal(lengths, expected_lengths)
    torch.testing.assert_close(out, expected)


def test_train_and_test_bins():
    module = _sgs(num_bins_train=-1, num_bins_test=2, measure="mean_distance").double()
    x = torch.randn(6, 4, 8, 3, 3, dtype=F64)
    module.train()
    _, train_lengths, _ = module(x)
    _, expected_lengths, _ = _expected_module_output(module, x, 8, lambda t: (8,))
    assert torch.equal(train_lengths, expected_lengths)
    module.eval()
    out, test_lengths, _ = module(x)
    assert (test_lengths <= 2).all()
    assert train_lengths.max() > 2  # with B = T = 8 some clip keeps more than 2 bins
    ref, ref_lengths, _ = _expected_module_output(module, x, 8, lambda t: (2,))
    assert torch.equal(test_lengths, ref_lengths)
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("measure", sorted(MEASURES))
@pytest.mark.parametrize("net", sorted(SIMILARITY_NETS))
def test_static_clip_gives_one_bin(measure, net):
    module = _sgs(measure=measure, similarity_net=net)
    frame = torch.randn(2, 4, 1, 3, 3)
    for mode in (module.train, module.eval):
        mode()
        _, lengths, _ = module(frame.expand(2, 4, 6, 3, 3))
        assert lengths.tolist() == [1, 1]


@pytest.mark.parametrize("measure", ["magnitude", "mean_distance"])
@pytest.mark.parametrize("net", sorted(SIMILARITY_NETS))
def test_a_static_clip_gives_the_same_output_in_any_batch(measure, net):
    # float32, batches of other sizes and contents: f_s may round the static clip's frames
    # differently, but its frames tie within the border band: B' = 1, each frame weight 0.5.
    module = _sgs(measure=measure, similarity_net=net).eval()
    static = torch.randn(1, 4, 1, 3, 3).expand(1, 4, 6, 3, 3)
    alone, length, _ = module(static)
    assert length.tolist() == [1]
    torch.testing.assert_close(alone[:, :, 0], BORDER_WEIGHT * static.sum(dim=2))
    for size, row in ((3, 1), (8, 5)):
        batch = torch.randn(size, 4, 6, 3, 3)
        batch[row] = static[0]
        out, lengths, _ = module(batch)
        assert lengths[row] == 1
        torch.testing.assert_close(out[row : row + 1, :, :1], alone)


@pytest.mark.parametrize("net", sorted(SIMILARITY_NETS))
def test_linear_kernel_trains_the_similarity_net(net):
    module = _sgs(similarity_net=net, num_bins_train=3)
    x = torch.randn(3, 4, 8, 3, 3, requires_grad=True)
    out = module(x).out
    (out * torch.randn_like(out)).sum().backward()
    assert torch.isfinite(x.grad).all()
    for name, param in module.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_multi_bins_defaults_and_override():
    assert _sgs(measure="angular").multi_bins == (4, 8)  # L = 3: 2 angles, paper 4 x 8
    assert _sgs(measure="spherical").multi_bins == (2, 4, 4)  # paper 2 x 4 x 4
    assert _sgs(measure="angular", multi_bins=[2, 3]).multi_bins == (2, 3)
    assert _sgs(measure="magnitude").multi_bins == ()


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(kernel="box"), "ATFR.KERNEL='box'"),
        (dict(measure="cosine"), "'cosine'.*ATFR.MEASURE"),
        (dict(similarity_net="mlp"), "'mlp'.*ATFR.SIMILARITY_NET"),
        (dict(num_bins_train=0), "ATFR.NUM_BINS_TRAIN=0"),
        (dict(num_bins_test=-2), "ATFR.NUM_BINS_TEST=-2"),
        (dict(block_length=-1), "ATFR.BLOCK_LENGTH=-1"),
        (dict(multi_bins=(4, 8)), "ATFR.MULTI_BINS=\\[4, 8\\].*'magnitude'"),
        (dict(measure="angular", multi_bins=(4,)), "ATFR.MULTI_BINS=\\[4\\] must hold 2"),
        (dict(measure="spherical", embed_dim=1), "ATFR.EMBED_DIM >= 2"),
    ],
)
def test_module_rejects_bad_arguments(overrides, match):
    with pytest.raises(ValueError, match=match):
        _sgs(**overrides)


def test_module_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[N, 4, T>=1, H, W\].*\(2, 5, 4, 3, 3\)"):
        _sgs()(torch.zeros(2, 5, 4, 3, 3))


def test_module_output_contract():
    module = _sgs(num_bins_train=5)
    for kernel, net in itertools.product(SGS_KERNELS, SIMILARITY_NETS):
        module = _sgs(kernel=kernel, similarity_net=net, num_bins_train=5)
        out, lengths, block_lengths = module(torch.randn(4, 4, 7, 3, 3))
        assert lengths.dtype == torch.int64 and out.shape[2] == int(lengths.max())
        assert torch.equal(block_lengths, lengths[:, None])  # no blocks: one per clip
        for n, length in enumerate(lengths.tolist()):
            assert not out[n, :, length:].any()
