"""ais_bench's ``--device 0,1,...`` on the stand-in: one command, one process per device, as run_all.sh's shards.

The inputs are cut into one contiguous shard per device (``shards.contiguous_shards``: the shards' images add up
to the inputs), the CPU's cores shared between the devices (``shards.streams_per_device`` streams of one thread
each, unless -streams/-threads say otherwise), and each device's process runs ``pipeline.run`` on its shard. Each
device writes its own ``<dirname>_device<d>/`` and ``<dirname>_device<d>_summary.json`` (with its record), and
its printed summary block is printed in the order of the devices, as ais_bench prints one block per device. Pure
inference runs --loop batches on every device.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import multiprocessing
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.host import available_cores
from shufflenet_ascend.shards import contiguous_shards, streams_per_device
from shufflenet_ascend.standin import pipeline
from shufflenet_ascend.standin.flags import BenchmarkFlags
from shufflenet_ascend.standin.inputs import Sample

LOG = logging.getLogger(__name__)


def device_dirname(dirname: str, device: int) -> str:
    return f"{dirname}_device{device}"


def device_flags(flags: BenchmarkFlags, cores: int) -> list[BenchmarkFlags]:
    """Each device's flags: its id, its folder name, its share of the cores."""
    devices = flags.device_ids
    dirname = flags.output_dirname or time.strftime("%Y_%m_%d-%H_%M_%S")
    streams = flags.streams or streams_per_device(cores, len(devices))
    threads = flags.threads or 1
    return [
        dataclasses.replace(
            flags,
            device=str(device),
            device_id=device,
            output_dirname=device_dirname(dirname, device),
            streams=streams,
            threads=threads,
        )
        for device in devices
    ]


def run_devices(flags: BenchmarkFlags, command: Sequence[str]) -> int:
    """Every device of ``--device`` at once, each on its shard of the inputs; their printed blocks in order. A
    device that fails: the others' blocks are printed, then its error (the first failing device's)."""
    per_device = device_flags(flags, available_cores())
    if flags.input:
        samples = pipeline.read_inputs(flags)
        if len(samples) < len(per_device):
            raise PipelineError(
                f"--input={flags.input}: {len(samples)} inputs for {len(per_device)} devices; each device needs one"
            )
        shards: list[list[Sample] | None] = list(contiguous_shards(samples, len(per_device)))
    else:
        shards = [None] * len(per_device)
    LOG.info(
        "%d devices at once (%s), %d streams x %d thread each%s",
        len(per_device),
        flags.device,
        per_device[0].streams,
        per_device[0].threads,
        f": {' + '.join(str(len(shard or ())) for shard in shards)} images" if flags.input else "",
    )
    context = multiprocessing.get_context("spawn")  # a fresh interpreter each: no backend threads forked
    with ProcessPoolExecutor(len(per_device), mp_context=context) as pool:
        futures = [
            pool.submit(_run_one, device, tuple(command), shard)
            for device, shard in zip(per_device, shards, strict=True)
        ]
        results = [future.result() for future in futures]
    failed = None
    for device, (status, message, printed) in zip(per_device, results, strict=True):
        sys.stdout.write(printed)
        if status and failed is None:
            failed = (device.device_id, status, message)
    if failed is not None:
        device_id, status, message = failed
        raise PipelineError(f"device {device_id}: {message}", status)
    return 0


def _run_one(flags: BenchmarkFlags, command: tuple[str, ...], shard: list[Sample] | None) -> tuple[int, str, str]:
    """One device's run in its own process: (exit status, error line, what it printed)."""
    logging.basicConfig(
        level=logging.INFO, format=f"[device {flags.device_id}] %(message)s", stream=sys.stderr, force=True
    )
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            status = pipeline.run(flags, command, shard)
    except PipelineError as error:
        return error.exit_code, str(error), printed.getvalue()
    return status, "", printed.getvalue()
