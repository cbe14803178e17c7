"""Several devices run at once: how the work is shared between them (run_all.sh's shards, and the stand-in's
``--device 0,1``): contiguous shards of the inputs, sizes differing by at most one, and the CPU's cores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

Item = TypeVar("Item")


def contiguous_shards(items: Sequence[Item], count: int) -> list[list[Item]]:
    """``items`` cut into ``count`` contiguous shards, in order; sizes differ by at most one (the later larger)."""
    bounds = [len(items) * index // count for index in range(count + 1)]
    return [list(items[start:end]) for start, end in zip(bounds, bounds[1:], strict=False)]


def streams_per_device(cores: int, devices: int) -> int:
    """Each device's share of the cores, as streams of one thread each (the stand-in's fastest on a CPU)."""
    return max(1, cores // devices)
