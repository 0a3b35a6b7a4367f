"""Tests of the SGS core (Eq. 2-9) and of the SGS module (f_s, measures, bins, blocks)."""

import itertools
import math

import pytest
import torch

from slowfast_atfr.models.sgs import (
    BORDER_BAND,
    BORDER_WEIGHT,
    KERNELS,
    SGS,
    similarity_guided_sampling,
)
from slowfast_atfr.models.similarity import MEASURES, SIMILARITY_NETS

F64 = torch.float64


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _frames(values, channels=1):
    """x [1, channels, T, 1, 1] with frame t equal to values[t] in every channel."""
    t = torch.tensor(values, dtype=F64).view(1, 1, -1, 1, 1)
    return t.expand(1, channels, -1, 1, 1).clone()


def _reference(x, delta, bins, kernel):
    """Dense, per-sample, per-bin evaluation of Eq. 2-6 and Eq. 9 plus the border rule."""
    if delta.dim() == 2:
        delta = delta.unsqueeze(-1)
    outs, lengths = [], []
    for n in range(x.shape[0]):
        members = {}
        for t in range(x.shape[2]):
            joint, weight = 0, 1.0
            for k, num in enumerate(bins):
                value = max(float(delta[n, t, k]), 0.0)
                top = float(delta[n, :, k].clamp_min(0).max())
                if top == 0:
                    b, w = 1, 1.0
                else:
                    gamma = top / (2 * num)
                    tents = [max(0.0, 1 - abs(value - (2 * b - 1) * gamma) / gamma)
                             for b in range(1, num + 1)]
                    nonzero = [b for b in range(num) if tents[b] > 0]
                    assert len(nonzero) <= 1, "tents overlap"
                    q = value / (2 * gamma)
                    if abs(q - round(q)) <= BORDER_BAND:  # on a border: the bin to its left
                        b, w = max(round(q), 1), BORDER_WEIGHT
                    else:
                        b, w = nonzero[0] + 1, tents[nonzero[0]]
                joint = joint * num + (b - 1)
                weight *= w
            members.setdefault(joint, []).append((t, weight))
        frames = []
        for joint in sorted(members):
            if kernel == "linear":
                frames.append(sum(w * x[n, :, t] for t, w in members[joint]))
            else:
                frames.append(sum(x[n, :, t] for t, _ in members[joint]) / len(members[joint]))
        outs.append(torch.stack(frames, dim=1))
        lengths.append(len(frames))
    size = max(lengths)
    out = torch.zeros(x.shape[0], x.shape[1], size, *x.shape[3:], dtype=x.dtype)
    for n, o in enumerate(outs):
        out[n, :, : o.shape[1]] = o
    return out, torch.tensor(lengths)


# --- Eq. 2-6 by hand -------------------------------------------------------------------


def test_linear_hand_example_with_borders():
    # T=4, B=2, delta = [0, 1, 2, 4]: gamma = 4/4 = 1, centres 1 and 3. delta=0, 2, 4 lie on
    # borders (weight 0.5, bins 1, 1, 2); delta=1 sits on the centre of bin 1 (weight 1).
    x = _frames([1.0, 2.0, 3.0, 4.0])
    out, lengths = similarity_guided_sampling(x, torch.tensor([[0.0, 1, 2, 4]], dtype=F64), 2)
    assert lengths.tolist() == [2] and lengths.dtype == torch.int64
    assert out.flatten().tolist() == [0.5 * 1 + 2 + 0.5 * 3, 0.5 * 4]


def test_linear_hand_example_interior():
    # delta = [0.5, 1.5, 2.5, 3], B=2: gamma = 0.75, centres 0.75, 2.25.
    # weights: 1 - 0.25/0.75 = 2/3 (bin 1), border 1.5 -> bin 1 (0.5), 2/3 (bin 2), max -> 0.5.
    x = _frames([1.0, 2.0, 3.0, 4.0])
    out, _ = similarity_guided_sampling(x, torch.tensor([[0.5, 1.5, 2.5, 3.0]], dtype=F64), 2)
    torch.testing.assert_close(out.flatten(), torch.tensor([2 / 3 + 1.0, 2.0 + 2.0], dtype=F64))


def test_kronecker_hand_example_is_bin_mean():
    x = _frames([1.0, 2.0, 3.0, 4.0])
    delta = torch.tensor([[0.0, 1, 2, 4]], dtype=F64)
    out, lengths = similarity_guided_sampling(x, delta, 2, kernel="kronecker")
    assert lengths.tolist() == [2]
    torch.testing.assert_close(out.flatten(), torch.tensor([2.0, 4.0], dtype=F64))


def test_bins_follow_delta_order_not_time_order():
    x = _frames([1.0, 2.0, 3.0, 4.0])
    out, lengths = similarity_guided_sampling(
        x, torch.tensor([[3.9, 2.9, 1.1, 0.1]], dtype=F64), 4, kernel="kronecker"
    )
    assert lengths.tolist() == [4]
    assert out.flatten().tolist() == [4.0, 3.0, 2.0, 1.0]


# --- Eq. 7 and Eq. 8 by hand (float64) --------------------------------------------------

# delta = [0.5, 0.75, 1.0, 2.5, 3.0], B = 2: gamma = 0.75, beta = (0.75, 2.25).
# frame: bin, weight (Eq. 6), d weight / d delta (Eq. 8)
#   0.5  : 1, 2/3,  +1/gamma (left of beta_1)
#   0.75 : 1, 1,    +1/gamma (on beta_1: Eq. 8 puts the centre in the "+" case)
#   1.0  : 1, 2/3,  -1/gamma (right of beta_1)
#   2.5  : 2, 2/3,  -1/gamma (right of beta_2)
#   3.0  : 2, 0.5 (border, the max), 0
_DELTA = [0.5, 0.75, 1.0, 2.5, 3.0]
_PSI = [[2 / 3, 1.0, 2 / 3, 0.0, 0.0], [0.0, 0.0, 0.0, 2 / 3, BORDER_WEIGHT]]
_DPSI = [[4 / 3, 4 / 3, -4 / 3, 0.0, 0.0], [0.0, 0.0, 0.0, -4 / 3, 0.0]]


@pytest.mark.parametrize("b", [0, 1])
def test_eq7_gradient_wrt_features(b):
    x = _frames([1.0, 2.0, 3.0, 4.0, 5.0], channels=2).requires_grad_()
    out, _ = similarity_guided_sampling(x, torch.tensor([_DELTA], dtype=F64), 2)
    out[:, :, b].sum().backward()
    expected = torch.tensor(_PSI[b], dtype=F64).view(1, 1, -1, 1, 1).expand(1, 2, -1, 1, 1)
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("b", [0, 1])
def test_eq8_gradient_wrt_delta(b):
    frames = [1.0, 2.0, 3.0, 4.0, 5.0]
    delta = torch.tensor([_DELTA], dtype=F64, requires_grad=True)
    out, _ = similarity_guided_sampling(_frames(frames), delta, 2)
    out[0, 0, b].sum().backward()
    expected = torch.tensor([[d * i for d, i in zip(_DPSI[b], frames)]], dtype=F64)
    torch.testing.assert_close(delta.grad, expected, rtol=0, atol=1e-12)


def test_eq8_gradcheck_with_fixed_maximum():
    # gamma is a constant for autograd (Eq. 8), so check against finite differences while
    # the maximum frame (which sets gamma) is held fixed. The deltas keep 0.1 bin widths
    # away from the borders, whose bands (constant weight) a finite difference could cross.
    x = torch.randn(2, 3, 6, 2, 2, dtype=F64, requires_grad=True)
    bins = torch.tensor([2.0, 3.0], dtype=F64)
    position = torch.randint(0, 2, (2, 5, 2)) + 0.1 + 0.8 * torch.rand(2, 5, 2, dtype=F64)
    rest = (position * 1.5 / bins).requires_grad_()
    top = torch.full((2, 1, 2), 1.5, dtype=F64)

    def fn(x, rest):
        return similarity_guided_sampling(x, torch.cat([rest, top], dim=1), (2, 3))[0]

    assert torch.autograd.gradcheck(fn, (x, rest))


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_the_largest_delta_gets_no_gradient(dtype):
    # It sits on the right border of the last bin, where Eq. 8 is 0, whatever float rounding
    # does to delta / (2 gamma).
    torch.manual_seed(0)
    delta = (torch.rand(500, 8, dtype=dtype) * 3).requires_grad_()
    x = torch.randn(500, 2, 8, 1, 1, dtype=dtype)
    out, _ = similarity_guided_sampling(x, delta, 4)
    out.sum().backward()
    top = delta.detach().argmax(dim=1)
    assert not delta.grad.gather(1, top[:, None]).any()
    assert delta.grad.abs().sum() > 0


def test_kronecker_gradients():
    x = _frames([1.0, 2.0, 3.0, 4.0]).requires_grad_()
    delta = torch.tensor([[0.0, 1, 2, 4]], dtype=F64, requires_grad=True)
    out, _ = similarity_guided_sampling(x, delta, 2, kernel="kronecker")
    out.sum().backward()
    assert x.grad.flatten().tolist() == [1 / 3, 1 / 3, 1 / 3, 1.0]
    assert delta.grad is not None and not delta.grad.any()  # Eq. 5 is piecewise constant


# --- bin borders: Eq. 6 up to BORDER_BAND, a fixed rule inside it -------------------------


def _bins_and_weights(delta, num_bins, kernel="linear"):
    """Each frame's kept-bin position and weight, read off one-hot frames, and B'."""
    n, t = delta.shape[:2]
    x = torch.eye(t, dtype=delta.dtype).view(1, t, t, 1, 1).repeat(n, 1, 1, 1, 1)
    out, lengths = similarity_guided_sampling(x, delta, num_bins, kernel)
    per_bin = out.detach()[..., 0, 0]  # [N, frame, kept bin]: frame t only in channel t
    assert ((per_bin != 0).sum(dim=2) == 1).all(), "every frame lands in exactly one bin"
    return (per_bin != 0).to(torch.int64).argmax(dim=2), per_bin.sum(dim=2), lengths


def test_eq6_exactly_next_to_a_border():
    # B = 2, max 4: gamma = 1, bin width 2 gamma = 2, centres 1 and 3, borders at 0, 2, 4.
    # Eq. 6 by hand, 1 - |delta - beta_b| / gamma, outside the band (> 1e-3 bin widths):
    #   1.98 (1e-2 bins left of 2): bin 1, 1 - |1.98 - 1| = 0.02
    #   2.02 (1e-2 bins right of 2): bin 2, 1 - |2.02 - 3| = 0.02
    #   1.996 (2e-3 bins left of 2): bin 1, 1 - |1.996 - 1| = 0.004
    #   0.02 (1e-2 bins right of 0): bin 1, 1 - |0.02 - 1| = 0.02
    #   1.0 (centre of bin 1): 1
    # Inside the band (<= 1e-3 bins): the bin left of the border, BORDER_WEIGHT:
    #   1.999, 2.0, 2.001 (5e-4 bins from 2, either side, and on it): bin 1
    #   0.0 (border 0): bin 1; 4.0 (the max, border 4): bin 2.
    delta = torch.tensor([[1.98, 2.02, 1.996, 0.02, 1.0, 1.999, 2.0, 2.001, 0.0, 4.0]], dtype=F64)
    bins, weights, lengths = _bins_and_weights(delta, 2)
    assert lengths.tolist() == [2]
    assert bins.tolist() == [[0, 1, 0, 0, 0, 0, 0, 0, 0, 1]]
    w = BORDER_WEIGHT
    expected = torch.tensor([[0.02, 0.02, 0.004, 0.02, 1.0, w, w, w, w, w]], dtype=F64)
    torch.testing.assert_close(weights, expected, rtol=0, atol=1e-12)
    kron_bins, _, kron_lengths = _bins_and_weights(delta, 2, kernel="kronecker")
    assert torch.equal(kron_bins, bins) and torch.equal(kron_lengths, lengths)


def test_eq8_is_the_gradient_of_eq6_next_to_a_border():
    # gamma = 1 (max 4, B = 2). 1.98 is 1e-2 bins left of the border at 2, right of beta_1 = 1:
    # Eq. 8 gives -I/gamma = -1. 2.02 is 1e-2 bins right of it, left of beta_2 = 3: +I/gamma
    # = +10. The max sits on a border: 0. The value is Eq. 6 (0.02 each), and its finite
    # differences give the same slopes: value and gradient are one function.
    frames = [1.0, 10.0, 100.0]

    def out_of(delta):
        return similarity_guided_sampling(_frames(frames), delta, 2)[0].sum()

    delta = torch.tensor([[1.98, 2.02, 4.0]], dtype=F64, requires_grad=True)
    out = out_of(delta)
    torch.testing.assert_close(out.detach(), torch.tensor(0.02 * 1 + 0.02 * 10 + 0.5 * 100,
                                                          dtype=F64), rtol=0, atol=1e-12)
    out.backward()
    torch.testing.assert_close(delta.grad, torch.tensor([[-1.0, 10.0, 0.0]], dtype=F64),
                               rtol=0, atol=1e-12)
    h = 1e-6
    for t in range(2):
        step = torch.zeros(1, 3, dtype=F64)
        step[0, t] = h
        slope = (out_of(delta.detach() + step) - out_of(delta.detach() - step)) / (2 * h)
        assert float(slope) == pytest.approx(float(delta.grad[0, t]), abs=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("num_bins", [4, 16, 64])
@pytest.mark.parametrize("kernel", KERNELS)
def test_a_static_clip_gets_the_same_bins_and_weights_in_any_batch(dtype, num_bins, kernel):
    # Identical frames give deltas that tie up to float rounding, and differently in another
    # batch (up to ~1e-7 relative, 1e-6 here for margin). Which of them comes out largest,
    # or on which side of a border, must change neither B' nor any weight.
    t = 16
    others = torch.rand(5, t, dtype=dtype)
    weight = BORDER_WEIGHT if kernel == "linear" else 1 / t
    for i, noise in enumerate([1e-7, 1e-6, 1e-7, 1e-6, 0.0, 1e-7]):
        static = (0.7 * (1 + noise * torch.randn(1, t, dtype=F64))).to(dtype)
        for batch, row in ((static, 0), (torch.cat([others[:i], static, others[i:]]), i)):
            bins, weights, lengths = _bins_and_weights(batch, num_bins, kernel)
            assert lengths[row] == 1 and not bins[row].any()
            assert (weights[row] == weight).all()


@pytest.mark.parametrize("num_bins", [1, 3, 8, 20])
def test_the_largest_delta_is_never_lost(num_bins):
    # float32 deltas, some of them tied with the max up to rounding: the max frame keeps the
    # last kept bin (bin B) with BORDER_WEIGHT, and no frame is lost.
    delta = torch.rand(200, 8)
    delta[::2, 3] = delta[::2].amax(dim=1) * (1 - 1e-7 * torch.rand(100))
    bins, weights, lengths = _bins_and_weights(delta, num_bins)
    top = delta.argmax(dim=1, keepdim=True)
    assert torch.equal(bins.gather(1, top).squeeze(1), lengths - 1)
    assert (weights.gather(1, top) == BORDER_WEIGHT).all()
    assert (weights > 0).all()


# --- invariants -----------------------------------------------------------------------


@pytest.mark.parametrize("quantised", [True, False])
@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("bins", [(3,), (5,), (2, 3), (4, 1, 2)])
def test_matches_dense_reference(kernel, bins, quantised):
    n, t = 3, 9
    x = torch.randn(n, 2, t, 2, 1, dtype=F64)
    # Quantised deltas put many frames exactly on bin borders, continuous ones anywhere.
    if quantised:
        delta = torch.randint(0, 7, (n, t, len(bins))).to(F64) / 2
    else:
        delta = torch.rand(n, t, len(bins), dtype=F64)
    delta[0] = 0.0  # gamma = 0 for the whole first sample
    delta = delta.squeeze(-1) if len(bins) == 1 else delta
    num_bins = bins[0] if len(bins) == 1 else bins
    out, lengths = similarity_guided_sampling(x, delta, num_bins, kernel)
    ref, ref_lengths = _reference(x, delta, bins, kernel)
    assert lengths.tolist() == ref_lengths.tolist()
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("kernel", KERNELS)
def test_no_frame_is_lost(kernel):
    # One-hot frames: channel t carries frame t only, so out[:, t] shows where frame t went.
    t = 12
    x = torch.eye(t, dtype=F64).view(1, t, t, 1, 1).repeat(4, 1, 1, 1, 1)
    delta = torch.randint(0, 9, (4, t)).to(F64) / 4
    for num_bins in (1, 3, 4, 12, 40):
        out, lengths = similarity_guided_sampling(x, delta, num_bins, kernel)
        nonzero = out[..., 0, 0] != 0  # [N, channel = frame, bin]
        assert (nonzero.sum(dim=2) == 1).all(), "every frame lands in exactly one output bin"
        assert (lengths <= min(num_bins, t)).all()
        for n, length in enumerate(lengths.tolist()):
            assert nonzero[n, :, :length].any(dim=0).all(), "every kept bin is non-empty"
            assert not out[n, :, length:].any(), "zeros after the sample's own length"


@pytest.mark.parametrize("kernel", KERNELS)
def test_zero_gamma_gives_one_bin(kernel):
    x = torch.randn(2, 3, 5, 2, 2, dtype=F64, requires_grad=True)
    delta = torch.zeros(2, 5, dtype=F64, requires_grad=True)
    out, lengths = similarity_guided_sampling(x, delta, 5, kernel)
    assert lengths.tolist() == [1, 1] and out.shape[2] == 1
    expected = x.sum(dim=2) if kernel == "linear" else x.mean(dim=2)
    torch.testing.assert_close(out[:, :, 0], expected)
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(delta.grad).all()


@pytest.mark.parametrize("kernel", KERNELS)
def test_identical_deltas_give_one_bin(kernel):
    x = torch.randn(2, 3, 6, 2, 2, dtype=F64)
    out, lengths = similarity_guided_sampling(x, torch.full((2, 6), 0.7, dtype=F64), 6, kernel)
    assert lengths.tolist() == [1, 1]
    weight = BORDER_WEIGHT if kernel == "linear" else 1 / 6
    torch.testing.assert_close(out[:, :, 0], weight * x.sum(dim=2))


def test_more_bins_than_frames_and_single_frame():
    x = torch.randn(2, 3, 4, 2, 2)
    _, lengths = similarity_guided_sampling(x, torch.rand(2, 4) + 0.1, 50)
    assert (lengths <= 4).all() and (lengths >= 1).all()
    one = x[:, :, :1]
    out, lengths = similarity_guided_sampling(one, torch.tensor([[0.3], [0.0]]), 4)
    assert lengths.tolist() == [1, 1]
    torch.testing.assert_close(out[0], BORDER_WEIGHT * one[0])  # the max frame: a border
    torch.testing.assert_close(out[1], one[1])  # gamma = 0: weight 1


def test_batched_equals_per_sample():
    x = torch.randn(4, 3, 7, 2, 2)
    delta = torch.rand(4, 7)
    delta[1] = delta[1].round(decimals=1)
    out, lengths = similarity_guided_sampling(x, delta, 5)
    for n in range(4):
        alone, length = similarity_guided_sampling(x[n : n + 1], delta[n : n + 1], 5)
        assert length.item() == lengths[n].item()
        torch.testing.assert_close(out[n : n + 1, :, : length.item()], alone)


@pytest.mark.parametrize("kernel", KERNELS)
def test_channels_last_input_keeps_its_layout_and_values(kernel):
    x = torch.randn(3, 4, 7, 3, 5, dtype=F64)
    delta = torch.rand(3, 7, dtype=F64)
    x_last = x.contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    out_last, lengths_last = similarity_guided_sampling(x_last, delta, 7, kernel)
    out, lengths = similarity_guided_sampling(x, delta, 7, kernel)
    assert out_last.is_contiguous(memory_format=torch.channels_last_3d)
    assert lengths_last.tolist() == lengths.tolist()
    torch.testing.assert_close(out_last, out)
    weights = torch.rand_like(out)
    (out_last * weights).sum().backward()
    x_plain = x.clone().requires_grad_()
    (similarity_guided_sampling(x_plain, delta, 7, kernel)[0] * weights).sum().backward()
    torch.testing.assert_close(x_last.grad, x_plain.grad)


def test_cost_does_not_depend_on_number_of_bins():
    # A dense [N, B, T] formulation would need terabytes here.
    x = torch.randn(2, 3, 5, 2, 2)
    _, lengths = similarity_guided_sampling(x, torch.rand(2, 5), 10**12)
    assert lengths.tolist() == [5, 5]
    _, lengths = similarity_guided_sampling(x, torch.rand(2, 5, 2), (10**6, 10**6))
    assert lengths.tolist() == [5, 5]


def test_k1_multi_dim_equals_scalar_delta():
    x = torch.randn(2, 3, 6, 2, 2)
    delta = torch.rand(2, 6)
    a, la = similarity_guided_sampling(x, delta, 3)
    b, lb = similarity_guided_sampling(x, delta.unsqueeze(-1), (3,))
    assert torch.equal(la, lb) and torch.equal(a, b)


def test_multi_dim_row_major_order_and_product():
    # Two dims with 2 x 2 bins; gamma = 0.5 in both (max 2). Joint bin = 2 * b1 + b2.
    x = _frames([1.0, 10.0, 100.0])
    delta = torch.tensor([[[1.5, 0.5], [0.5, 1.5], [2.0, 2.0]]], dtype=F64)
    out, lengths = similarity_guided_sampling(x, delta, (2, 2))
    # frame 0: bins (2, 1), weights (1, 1); frame 1: bins (1, 2), weights (1, 1);
    # frame 2: bins (2, 2), borders in both dims: 0.5 * 0.5.
    assert lengths.tolist() == [3]
    assert out.flatten().tolist() == [10.0, 1.0, 25.0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("kernel", KERNELS)
def test_dtypes(dtype, kernel):
    x = torch.randn(2, 3, 6, 2, 2, dtype=F64)
    delta = torch.rand(2, 6, dtype=F64) + 0.05
    ref, ref_lengths = similarity_guided_sampling(x, delta, 4, kernel)
    xd, dd = x.to(dtype).requires_grad_(), delta.to(dtype).requires_grad_()
    out, lengths = similarity_guided_sampling(xd, dd, 4, kernel)
    assert out.dtype == dtype
    out.float().sum().backward()
    assert xd.grad.dtype == dtype and torch.isfinite(xd.grad.float()).all()
    if dtype != torch.bfloat16:  # bf16 deltas may move across a bin border
        assert torch.equal(lengths, ref_lengths)
        torch.testing.assert_close(out.to(F64), ref, rtol=1e-5, atol=1e-5)


def test_autocast_cpu():
    sgs = SGS(dim_in=3, num_bins_train=-1, num_bins_test=-1, block_length=0, embed_dim=4,
              kernel="linear", measure="magnitude", multi_bins=(), similarity_net="conv")
    x = torch.randn(2, 3, 6, 4, 4, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, lengths = sgs(x)
        out.float().sum().backward()
    assert torch.isfinite(x.grad).all() and (lengths >= 1).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kernel", KERNELS)
def test_cuda_matches_cpu(kernel):
    x, delta = torch.randn(3, 4, 8, 3, 3), torch.rand(3, 8)
    ref, ref_lengths = similarity_guided_sampling(x, delta, 5, kernel)
    out, lengths = similarity_guided_sampling(x.cuda(), delta.cuda(), 5, kernel)
    assert torch.equal(lengths.cpu(), ref_lengths)
    torch.testing.assert_close(out.cpu(), ref)
    with torch.autocast("cuda", dtype=torch.float16):
        out, _ = similarity_guided_sampling(x.cuda(), delta.cuda(), 5, kernel)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize(
    "x_shape, delta_shape, num_bins, kernel, match",
    [
        ((2, 3, 4, 2), (2, 4), 2, "linear", "x must be"),
        ((2, 3, 4, 2, 2), (2, 5), 2, "linear", "delta must be"),
        ((2, 3, 4, 2, 2), (3, 4), 2, "linear", "delta must be"),
        ((2, 3, 4, 2, 2), (2, 4, 2, 1), 2, "linear", "delta must be"),
        ((2, 3, 0, 2, 2), (2, 0), 2, "linear", "no frames"),
        ((2, 3, 4, 2, 2), (2, 4), 0, "linear", "num_bins=0"),
        ((2, 3, 4, 2, 2), (2, 4), -1, "linear", "num_bins=-1"),
        ((2, 3, 4, 2, 2), (2, 4), True, "linear", "num_bins=True"),
        ((2, 3, 4, 2, 2), (2, 4), 2.0, "linear", "num_bins=2.0"),
        ((2, 3, 4, 2, 2), (2, 4, 2), (2,), "linear", "2 positive"),
        ((2, 3, 4, 2, 2), (2, 4, 2), 4, "linear", "2 positive"),
        ((2, 3, 4, 2, 2), (2, 4), 2, "gaussian", "'gaussian'.*'linear', 'kronecker'"),
        ((2, 3, 4, 2, 2), (2, 4, 2), (2**40, 2**40), "linear", "overflow int64"),
    ],
)
def test_bad_arguments(x_shape, delta_shape, num_bins, kernel, match):
    with pytest.raises(ValueError, match=match):
        similarity_guided_sampling(torch.zeros(x_shape), torch.zeros(delta_shape), num_bins, kernel)


# --- the SGS module -------------------------------------------------------------------


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
@pytest.mark.parametrize("kernel", KERNELS)
def test_module_equals_core_on_its_own_delta(measure, net, kernel):
    module = _sgs(measure=measure, similarity_net=net, kernel=kernel).double().eval()
    x = torch.randn(3, 4, 6, 5, 5, dtype=F64)
    out, lengths = module(x)
    bins = module.multi_bins or (6,)
    expected, expected_lengths, _ = _expected_module_output(module, x, 6, lambda t: bins)
    assert torch.equal(lengths, expected_lengths)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("measure", sorted(MEASURES))
@pytest.mark.parametrize("block, t", [(3, 9), (3, 7), (4, 6), (2, 5), (8, 5), (1, 4)])
def test_blocks_equal_per_block_core(measure, block, t):
    module = _sgs(block_length=block, measure=measure).double().eval()
    x = torch.randn(3, 4, t, 3, 3, dtype=F64)
    out, lengths = module(x)
    bins_of = (lambda f: module.multi_bins) if module.multi_bins else (lambda f: (f,))
    expected, expected_lengths, per_block = _expected_module_output(module, x, block,
                                                                     bins_of)
    assert torch.equal(lengths, expected_lengths)
    torch.testing.assert_close(out, expected)
    blocks = math.ceil(t / min(block, t))
    assert (lengths >= blocks).all() and (lengths <= t).all()
    assert torch.equal(module.block_lengths, per_block)  # B' of each block


@pytest.mark.parametrize("num_bins, t, block", [(2, 7, 3), (16, 6, 4), (3, 10, 4)])
def test_block_bins_are_capped_by_the_block_length(num_bins, t, block):
    # e.g. T = 7, K = 3: blocks of 3, 3 and 1 frames get B = 2, 2 and 1.
    module = _sgs(block_length=block, num_bins_test=num_bins).double().eval()
    x = torch.randn(5, 4, t, 3, 3, dtype=F64)
    out, lengths = module(x)
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
    out, lengths = module(x)
    expected, expected_lengths, _ = _expected_module_output(module, x, 6, lambda f: (16,))
    assert torch.equal(lengths, expected_lengths)
    torch.testing.assert_close(out, expected)


def test_train_and_test_bins():
    module = _sgs(num_bins_train=-1, num_bins_test=2, measure="mean_distance").double()
    x = torch.randn(6, 4, 8, 3, 3, dtype=F64)
    module.train()
    _, train_lengths = module(x)
    _, expected_lengths, _ = _expected_module_output(module, x, 8, lambda t: (8,))
    assert torch.equal(train_lengths, expected_lengths)
    module.eval()
    out, test_lengths = module(x)
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
        _, lengths = module(frame.expand(2, 4, 6, 3, 3))
        assert lengths.tolist() == [1, 1]


@pytest.mark.parametrize("measure", ["magnitude", "mean_distance"])
@pytest.mark.parametrize("net", sorted(SIMILARITY_NETS))
def test_a_static_clip_gives_the_same_output_in_any_batch(measure, net):
    # float32, batches of other sizes and contents: f_s may round the static clip's frames
    # differently, but its frames tie within the border band: B' = 1, each frame weight 0.5.
    module = _sgs(measure=measure, similarity_net=net).eval()
    static = torch.randn(1, 4, 1, 3, 3).expand(1, 4, 6, 3, 3)
    alone, length = module(static)
    assert length.tolist() == [1]
    torch.testing.assert_close(alone[:, :, 0], BORDER_WEIGHT * static.sum(dim=2))
    for size, row in ((3, 1), (8, 5)):
        batch = torch.randn(size, 4, 6, 3, 3)
        batch[row] = static[0]
        out, lengths = module(batch)
        assert lengths[row] == 1
        torch.testing.assert_close(out[row : row + 1, :, :1], alone)


@pytest.mark.parametrize("net", sorted(SIMILARITY_NETS))
def test_linear_kernel_trains_the_similarity_net(net):
    module = _sgs(similarity_net=net, num_bins_train=3)
    x = torch.randn(3, 4, 8, 3, 3, requires_grad=True)
    out, _ = module(x)
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
    for kernel, net in itertools.product(KERNELS, SIMILARITY_NETS):
        module = _sgs(kernel=kernel, similarity_net=net, num_bins_train=5)
        out, lengths = module(torch.randn(4, 4, 7, 3, 3))
        assert lengths.dtype == torch.int64 and out.shape[2] == int(lengths.max())
        for n, length in enumerate(lengths.tolist()):
            assert not out[n, :, length:].any()
