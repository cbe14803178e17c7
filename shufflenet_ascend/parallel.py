"""Work split over processes, for the steps that read tens of thousands of files (accuracy, comparison)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from shufflenet_ascend.host import available_cores

Task = TypeVar("Task")
Result = TypeVar("Result")


def map_tasks(function: Callable[[Task], Result], tasks: Sequence[Task], workers: int = 0) -> list[Result]:
    """``[function(task) for task in tasks]``, in up to ``workers`` processes (0: one per available core).

    In this process when ``workers`` is 1 or there is one task: a pool costs more than it saves. ``function`` must
    be a module-level function; the processes are forked (they need nothing but the modules already imported).
    Results come in task order, and the first failing task's exception (e.g. a PipelineError naming a file) is
    raised here."""
    workers = min(workers or available_cores(), len(tasks))
    if workers <= 1:
        return [function(task) for task in tasks]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(function, tasks))
