"""Paired top-1 comparison of two models on the same videos."""

import pytest
import torch

from slowfast_atfr.evaluation.metrics import paired_top1_gap


def _scores(predicted, num_classes=3):
    return torch.nn.functional.one_hot(torch.tensor(predicted), num_classes).float()


def test_gap_is_b_minus_a_in_points():
    labels = torch.tensor([0, 1, 2, 0])
    a = _scores([0, 1, 0, 1])  # 2 of 4 right
    b = _scores([0, 1, 2, 1])  # 3 of 4 right
    result = paired_top1_gap(a, b, labels, resamples=2000)
    assert result["gap"] == pytest.approx(25.0)
    assert result["videos"] == 4 and result["resolution"] == pytest.approx(25.0)
    # Resampled means of per-video differences in {0, +100}: within [0, 100].
    assert 0.0 <= result["low"] <= result["gap"] <= result["high"] <= 100.0


def test_identical_models_have_a_zero_interval():
    labels = torch.randint(0, 5, (40,), generator=torch.Generator().manual_seed(0))
    scores = torch.rand(40, 5, generator=torch.Generator().manual_seed(1))
    result = paired_top1_gap(scores, scores.clone(), labels)
    assert (result["gap"], result["low"], result["high"]) == (0.0, 0.0, 0.0)


def test_pairing_gives_a_tighter_interval_than_the_spread_of_each_model():
    # b agrees with a except on one video that a got right: the paired interval stays near
    # -1.25 points,
    # while each model alone has a binomial spread of several points on 80 videos.
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 8, (80,), generator=gen)
    a = torch.rand(80, 8, generator=gen)
    b = a.clone()
    right = int((a.argmax(1) == labels).nonzero()[0])
    b[right, labels[right]] = -1.0
    result = paired_top1_gap(a, b, labels)
    assert result["gap"] == pytest.approx(-1.25)
    assert -5.0 < result["low"] <= result["high"] <= 0.0


@pytest.mark.parametrize("shapes", [((4, 3), (5, 3), (4,)), ((4, 3), (4, 3), (5,)),
                                    ((0, 3), (0, 3), (0,))])
def test_mismatched_or_empty_inputs_are_refused(shapes):
    a, b, labels = torch.rand(shapes[0]), torch.rand(shapes[1]), torch.zeros(shapes[2]).long()
    with pytest.raises(ValueError, match="same videos"):
        paired_top1_gap(a, b, labels)


def test_bad_level_is_refused():
    with pytest.raises(ValueError, match="level"):
        paired_top1_gap(torch.rand(3, 2), torch.rand(3, 2), torch.zeros(3).long(), level=1.5)


def test_several_pairs_average_per_video_and_resample_videos_with_all_their_pairs():
    labels = torch.tensor([0, 1, 2, 0])
    # Seed 1: b gains video 2; seed 2: b loses video 0. Per video the mean difference is
    # -50, 0, +50, 0 points, so the mean is 0 and a resample can only move whole videos.
    a = torch.stack([_scores([0, 1, 0, 1]), _scores([0, 1, 2, 1])])
    b = torch.stack([_scores([0, 1, 2, 1]), _scores([1, 1, 2, 1])])
    result = paired_top1_gap(a, b, labels, resamples=4000)
    assert result["gap"] == 0.0 and result["pairs"] == 2 and result["videos"] == 4
    assert result["resolution"] == pytest.approx(12.5)
    assert -50.0 <= result["low"] < 0.0 < result["high"] <= 50.0
    # One pair given as [1, V, K] is the plain comparison.
    assert paired_top1_gap(a[:1], b[:1], labels) == paired_top1_gap(a[0], b[0], labels)
    with pytest.raises(ValueError, match="same videos"):
        paired_top1_gap(a, b[:1], labels)
