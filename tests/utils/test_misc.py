"""Small helpers of utils/misc.py."""

import pytest

from slowfast_atfr.utils.misc import spread_indices


@pytest.mark.parametrize("count, total, expected", [
    (5, 3, [0, 1, 2]),  # all of them when there are no more than asked for
    (3, 3, [0, 1, 2]),
    (1, 40, [0]),
    (2, 40, [0, 39]),
    (4, 40, [0, 13, 26, 39]),
    (4, 11, [0, 3, 7, 10]),  # 3.33 -> 3, 6.67 -> 7
    (3, 4, [0, 2, 3]),  # 1.5 -> 2: a tie rounds up, exactly (integer arithmetic)
])
def test_spread_indices_are_even_with_both_ends(count, total, expected):
    assert spread_indices(count, total) == expected


def test_spread_indices_are_distinct_and_ascending():
    for total in range(1, 60):
        for count in range(1, 12):
            picked = spread_indices(count, total)
            assert picked == sorted(set(picked)) and len(picked) == min(count, total)
            assert picked[0] == 0 and (count == 1 or picked[-1] == total - 1)
