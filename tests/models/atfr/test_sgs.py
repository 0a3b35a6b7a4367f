"""Tests of the SGS core (Eq. 2-9), on a whole clip and on temporal blocks (App. A)."""

import pytest
import torch

from slowfast_atfr.config.choices import SGS_KERNELS
from slowfast_atfr.models.atfr.sgs import (
    BORDER_BAND,
    BORDER_WEIGHT,
    SGS,
    sample_in_blocks,
    similarity_guided_sampling,
)

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
@pytest.mark.parametrize("kernel", SGS_KERNELS)
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
@pytest.mark.parametrize("kernel", SGS_KERNELS)
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


@pytest.mark.parametrize("kernel", SGS_KERNELS)
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


@pytest.mark.parametrize("kernel", SGS_KERNELS)
def test_zero_gamma_gives_one_bin(kernel):
    x = torch.randn(2, 3, 5, 2, 2, dtype=F64, requires_grad=True)
    delta = torch.zeros(2, 5, dtype=F64, requires_grad=True)
    out, lengths = similarity_guided_sampling(x, delta, 5, kernel)
    assert lengths.tolist() == [1, 1] and out.shape[2] == 1
    expected = x.sum(dim=2) if kernel == "linear" else x.mean(dim=2)
    torch.testing.assert_close(out[:, :, 0], expected)
    out.sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(delta.grad).all()


@pytest.mark.parametrize("kernel", SGS_KERNELS)
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


@pytest.mark.parametrize("kernel", SGS_KERNELS)
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
@pytest.mark.parametrize("kernel", SGS_KERNELS)
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
        out, lengths, _ = sgs(x)
        out.float().sum().backward()
    assert torch.isfinite(x.grad).all() and (lengths >= 1).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kernel", SGS_KERNELS)
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


@pytest.mark.parametrize("kernel", SGS_KERNELS)
@pytest.mark.parametrize("block, t, num_bins", [(3, 7, 2), (4, 6, 16), (2, 5, 1), (8, 5, 3),
                                                (0, 5, 16)])
def test_sample_in_blocks_is_the_core_per_block(kernel, block, t, num_bins):
    # An int B is capped at each block's frames (none without blocks); K >= T is one block.
    x = torch.randn(3, 2, t, 2, 2, dtype=F64)
    delta = torch.rand(3, t, dtype=F64)
    out, lengths, block_lengths = sample_in_blocks(x, delta, num_bins, kernel, block)
    step = block if 0 < block < t else t
    pieces = [similarity_guided_sampling(x[:, :, s:s + step], delta[:, s:s + step],
                                         min(num_bins, step, t - s) if block else num_bins,
                                         kernel) for s in range(0, t, step)]
    assert torch.equal(block_lengths, torch.stack([length for _, length in pieces], dim=1))
    assert torch.equal(lengths, block_lengths.sum(dim=1))
    for n in range(3):
        kept = torch.cat([part[n, :, :length[n]] for part, length in pieces], dim=1)
        torch.testing.assert_close(out[n, :, :lengths[n]], kept)
        assert not out[n, :, lengths[n]:].any()


def test_sample_in_blocks_uses_per_dimension_bins_as_given():
    x, delta = torch.randn(2, 2, 6, 2, 2, dtype=F64), torch.rand(2, 6, 2, dtype=F64)
    _, _, block_lengths = sample_in_blocks(x, delta, (3, 4), block_length=2)
    for b in range(3):
        _, lengths = similarity_guided_sampling(x[:, :, 2 * b:2 * b + 2],
                                                delta[:, 2 * b:2 * b + 2], (3, 4))
        assert torch.equal(block_lengths[:, b], lengths)


@pytest.mark.parametrize("block_length", [-1, 1.5, True])
def test_sample_in_blocks_rejects_bad_block_lengths(block_length):
    with pytest.raises(ValueError, match="block_length="):
        sample_in_blocks(torch.zeros(2, 3, 4, 2, 2), torch.zeros(2, 4), 2,
                         block_length=block_length)
