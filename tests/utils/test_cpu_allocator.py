"""retain_freed_memory keeps freed tensors resident inside its block and returns them after."""

import pytest
import torch

from slowfast_atfr.utils import cpu_allocator
from slowfast_atfr.utils.cpu_allocator import retain_freed_memory

_MIB = 2**20


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def _allocate_and_free(mib: int) -> None:
    x = torch.ones(mib * _MIB // 4)  # touched, so resident
    del x


@pytest.mark.skipif(cpu_allocator._glibc() is None, reason="needs glibc's malloc")
def test_freed_memory_stays_resident_inside_the_block_and_is_returned_after():
    with retain_freed_memory() as applied:
        assert applied
        before = _rss_mib()
        _allocate_and_free(64)
        inside = _rss_mib()
    after = _rss_mib()
    assert inside - before > 48, "the freed 64 MiB should stay in the heap"
    assert inside - after > 48, "leaving the block should hand it back"
    # glibc's defaults are back: a large block is unmapped as soon as it is freed.
    before = _rss_mib()
    _allocate_and_free(64)
    assert _rss_mib() - before < 16


def test_disabled_changes_nothing():
    with retain_freed_memory(enabled=False) as applied:
        assert not applied
