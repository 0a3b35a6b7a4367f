"""Tests of the similarity networks f_s (Sec. 4.1) and the measures (Eq. 1, App. D)."""

import math

import pytest
import torch

from slowfast_atfr.models.atfr.sgs import similarity_guided_sampling
from slowfast_atfr.models.atfr.similarity import (
    _STATIC_SPREAD,
    MEASURES,
    SIMILARITY_NETS,
    angular,
    build_similarity_net,
    magnitude,
    mean_distance,
    pointwise_conv1d,
    resolve_measure,
    spherical,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _to_cartesian(radius, angles):
    """Inverse of the hyperspherical coordinates; the last angle was shifted by +pi."""
    angles = angles.clone()
    angles[..., -1] -= math.pi
    coords, sines = [], torch.ones_like(radius)
    for i in range(angles.shape[-1]):
        coords.append(radius * sines * torch.cos(angles[..., i]))
        sines = sines * torch.sin(angles[..., i])
    coords.append(radius * sines)
    return torch.stack(coords, dim=-1)


def test_magnitude_is_eq1():
    z = torch.tensor([[[3.0, 4.0], [0.0, 0.0], [1.0, 0.0]]])
    assert magnitude(z).tolist() == [[5.0, 0.0, 1.0]]


def test_angles_for_known_vectors():
    z = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0], [0, 0, -1.0], [0, 0, 0]]], dtype=torch.float64)
    expected = [[0, math.pi], [math.pi / 2, math.pi], [math.pi / 2, math.pi / 2], [0, math.pi]]
    torch.testing.assert_close(angular(z)[0], torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("dim", [2, 3, 4, 8])
def test_spherical_coordinates_round_trip_and_ranges(dim):
    z = torch.randn(2, 5, dim, dtype=torch.float64)
    coords = spherical(z)
    assert coords.shape == (2, 5, dim)
    torch.testing.assert_close(_to_cartesian(coords[..., 0], coords[..., 1:]), z)
    angles = angular(z)
    assert angles.shape == (2, 5, dim - 1)
    assert (angles >= 0).all(), "binning needs delta >= 0"
    assert (angles[..., :-1] <= math.pi).all() and (angles[..., -1] <= 2 * math.pi).all()
    torch.testing.assert_close(coords[..., 1:], angles)


def test_mean_distance_is_scale_and_shift_invariant():
    z = torch.randn(3, 6, 4)
    d = mean_distance(z)
    assert d.shape == (3, 6)
    torch.testing.assert_close(d.amax(dim=1), torch.ones(3))
    expected = (z - z.mean(1, keepdim=True)).norm(dim=-1)
    torch.testing.assert_close(d, expected / expected.amax(1, keepdim=True))
    torch.testing.assert_close(mean_distance(3 * z + 2), d)
    # Static clips (all distances 0, Z = 0 included): every frame ties with the largest, 1.
    assert torch.equal(mean_distance(torch.ones(2, 5, 4)), torch.ones(2, 5))
    assert torch.equal(mean_distance(torch.zeros(2, 5, 4)), torch.ones(2, 5))


def _near_static(noise, n=3, t=8, dim=4):
    """float64 clips whose frames equal one random vector up to `noise` per element."""
    return torch.randn(n, 1, dim, dtype=torch.float64) + noise * torch.randn(
        n, t, dim, dtype=torch.float64)


@pytest.mark.parametrize("spread", [1.0, 1e-2])
def test_mean_distance_is_the_authors_on_ordinary_clips(spread):
    # Ordinary clips, down to a spread of 1% of ||Z_t|| (10x the floor): d_t / max_t d, bit
    # for bit, so the binning is unchanged too.
    z = _near_static(spread)
    dist = magnitude(z - z.mean(dim=1, keepdim=True))
    assert torch.equal(mean_distance(z), dist / dist.amax(dim=1, keepdim=True))


@pytest.mark.parametrize("noise", [1e-4, 1e-6, 1e-9])
def test_mean_distance_gradient_is_bounded_on_near_static_clips(noise):
    # ||d delta_t / dZ|| <= (2 + f) / (f * mean_t ||Z_t||), f = _STATIC_SPREAD, whatever the
    # spread; dividing by the spread alone gave ~2 / spread (6.4e5 at noise 1e-6).
    z = _near_static(noise)
    jac = torch.autograd.functional.jacobian(mean_distance, z)  # [N, T, N, T, L]
    per_frame = jac.flatten(2).norm(dim=2)  # [N, T]
    bound = (2 + _STATIC_SPREAD) / (_STATIC_SPREAD * magnitude(z).mean(dim=1, keepdim=True))
    assert (per_frame <= bound).all() and torch.isfinite(per_frame).all()
    assert per_frame.max() > 0.1 * bound.min()  # the bound is not loose by orders


@pytest.mark.parametrize("noise", [1e-6, 1e-9, 0.0])
def test_mean_distance_keeps_a_near_static_clip_in_one_bin(noise):
    # With B = T bins, the spread-only measure stretched these tiny differences over [0, 1]
    # (B' of 4-6 here); the floor keeps every delta within max_t d / D (~1e-3 at noise 1e-6)
    # of 1, inside the top bin (1 - 1/T, 1].
    z = _near_static(noise)
    t = z.shape[1]
    delta = mean_distance(z)
    assert ((delta > 1 - 1 / t) & (delta <= 1 + 1e-12)).all()
    x = torch.randn(z.shape[0], 2, t, 1, 1, dtype=torch.float64)
    _, lengths = similarity_guided_sampling(x, delta, t)
    assert lengths.tolist() == [1] * z.shape[0]


@pytest.mark.parametrize("name", sorted(MEASURES))
def test_measures_have_finite_gradients_at_zero(name):
    z = torch.zeros(2, 4, 3, requires_grad=True)
    z.data[0, 1] = torch.tensor([1.0, 0.0, 0.0])  # mixes zero and axis-aligned vectors
    MEASURES[name].fn(z).sum().backward()
    assert torch.isfinite(z.grad).all()


def test_measure_defaults_and_errors():
    assert resolve_measure("magnitude", 8)[1] == ()
    assert resolve_measure("angular", 3)[1] == (4, 8)
    assert resolve_measure("angular", 4)[1] == (4, 4, 8)
    assert resolve_measure("spherical", 3)[1] == (2, 4, 4)
    assert resolve_measure("spherical", 3, [1, 2, 3])[1] == (1, 2, 3)
    with pytest.raises(ValueError, match="'polar'.*angular"):
        resolve_measure("polar", 3)
    with pytest.raises(ValueError, match="must hold 3 positive ints"):
        resolve_measure("spherical", 3, [2, 0, 4])


def test_conv_net_is_the_papers_f_s():
    net = build_similarity_net("conv", 6, 8)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv1d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (6, 6, (1,)), (6, 8, (1,))
    ]
    assert sum(p.numel() for p in net.parameters()) == 6 * 6 + 6 + 6 * 8 + 8


def test_mlp_bn_net_is_the_authors_f_s():
    net = build_similarity_net("mlp_bn", 6, 8)
    assert sum(p.numel() for p in net.parameters()) == 6 * 3 + 3 + 3 * 8 + 8 + 2 * 8
    assert isinstance(net.bn, torch.nn.BatchNorm1d)


@pytest.mark.parametrize("name", sorted(SIMILARITY_NETS))
def test_nets_pool_space_and_act_per_frame(name):
    net = build_similarity_net(name, 5, 3).eval()
    x = torch.randn(2, 5, 4, 3, 3)
    z = net(x)
    assert z.shape == (2, 4, 3)
    # Only the spatial mean matters, and frame t of Z depends on frame t of x only.
    shuffled = x.flatten(3)[..., torch.randperm(9)].view_as(x)
    torch.testing.assert_close(net(shuffled), z)
    changed = x.clone()
    changed[:, :, 2] += 1
    diff = (net(changed) - z).abs().sum(dim=(0, 2))
    assert diff[2] > 0 and diff[[0, 1, 3]].max() < 1e-6


def test_unknown_net():
    with pytest.raises(ValueError, match="'gru'.*ATFR.SIMILARITY_NET.*'conv', 'mlp_bn'"):
        build_similarity_net("gru", 4, 4)


def test_pointwise_conv1d_equals_the_conv():
    conv = torch.nn.Conv1d(5, 3, kernel_size=1)
    x = torch.randn(2, 5, 7)
    torch.testing.assert_close(pointwise_conv1d(conv, x.transpose(1, 2)), conv(x).transpose(1, 2))
