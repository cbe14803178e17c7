"""Speed of the benchmark stand-in (both backends) against the CPU peers' own best, side by side in one run.

For each batch size: the same ONNX model, the same images, five runs in ``--rounds`` interleaved rounds:

- "plain": a loop of ``session.run`` over batches already in memory (no reading, no writing), onnxruntime's
  default session options, one run at a time: what a user writes first.
- "ort best": onnxruntime's best settings found here, in memory: before the rounds, each candidate (intra-op
  threads 1 or all cores, thread-pool spinning on or off, one run at a time or one per core at once; all graph
  optimisations, sequential execution, memory arena) runs once, and the fastest is measured in the rounds.
- "benchmark_app": OpenVINO's own benchmark tool (shipped with the openvino package) on the same ONNX file:
  THROUGHPUT hint, f32 inference precision (``-infer_precision f32``), inputs in memory, nothing written, for
  ``--app-seconds``; its reported Throughput (images per second).
- "stand-in ort" and "stand-in ov": the stand-in's dataset mode (benchmark_ort.py) with ``-backend=onnxruntime``
  and ``-backend=openvino`` and their default concurrency: files and all (reads the .bin files listed in an info
  file, infers with several batches in flight, writes one dump file per image); its e2e throughputRate, images /
  wall time of the whole run.
- with ``--routes float32 uint8``, "stand-in ort u8" and "stand-in ov u8" too: the same runs on the uint8 route's
  bins (the same images as HWC uint8, a quarter of the bytes; the stand-in converts them as AIPP does).
- with ``--routes ... int8``: the model quantized as run_all.sh --precision int8 quantizes it (quantize.py's
  quantizer, ``--quantizer``: NNCF by default; calibrated on the first 300 images), and "bench_app i8"
  (benchmark_app on the int8 file, the same settings as on the fp32 one), "stand-in ort i8" and "stand-in ov i8"
  (the stand-in on the int8 file, the guide's float32 bins) beside the fp32 columns.

Each ratio printed is the median of the rounds' ratios, each measured within one round (the order rotates from
round to round), so a load that changes between rounds (the machine is shared) cancels out as far as it can.
Targets (issue 20, on a 2-core machine): stand-in ov >= 0.9x benchmark_app at batch 1 and 16; stand-in ort >=
1.0x plain at batch 16. Issue 28's: the stand-in on the int8 file (files and all) >= 1.5x benchmark_app's fp32
throughput at batch 16 and >= 1.3x at batch 1, and >= 0.9x benchmark_app on the same int8 file. Issue 11's (ort
>= 1.3x plain at batch 1, ov >= 1.5x plain at both) were set on a loaded machine, where the peers' spinning threads
lose most; on a quiet one they are out of reach and shown as such.

Where the files go: by default a temporary folder on tmpfs (``/dev/shm``, where there is one), so that the
figures are the stand-in's own cost, not the disk's; ``--workdir`` puts the models, bins and results elsewhere,
and the header names the file system. On a disk the files cost what the file system makes them cost: on this
machine's ext4, which has no journal, creating a file took 0.015 ms of CPU in a quiet folder and 0.5 to 0.8 ms
for a minute or more after thousands of files had been deleted nearby (such a file system skips inodes freed
recently, looking at each), against 2.5 to 3 ms of inference per image. Each stand-in run writes into a fresh
result folder (as run_all.sh gives each run), and none is removed before the end, so that no run's files are
created just after another's were deleted.

    python benchmarks/bench_infer.py                       # batch 1 and 16, 384 images, 5 rounds
    python benchmarks/bench_infer.py --batch-sizes 1 4 16 --images 256 --rounds 7
    python benchmarks/bench_infer.py --routes float32 uint8   # both input routes side by side
    python benchmarks/bench_infer.py --routes float32 int8    # the int8 model beside the fp32 one

The model: ShuffleNetV2+ Small on seeded random weights, exported by the pipeline's own functions
(shufflenet_ascend.model and .export) in the graph shufflenetv2_pth2onnx.py gives a file of one batch size
(Megvii's reshape channel shuffle, what ATC gets).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT)]

import numpy as np  # noqa: E402

from shufflenet_ascend.contract import IMAGE_SIZE, INPUT_NAME, STATIC_CHANNEL_SPLIT
from shufflenet_ascend.export import export_onnx
from shufflenet_ascend.formats.info import InfoEntry, write_info
from shufflenet_ascend.formats.perf import DatasetPerf, parse_dataset_perf, perf_file_name
from shufflenet_ascend.model import build_model, randomize_weights_
from shufflenet_ascend.quantize import DEFAULT_CALIBRATION_IMAGES, QUANTIZERS, quantize
from shufflenet_ascend.standin import pipeline
from shufflenet_ascend.standin.backends import available_cores
from shufflenet_ascend.standin.flags import parse_flags

LAST_PERF: dict[tuple[int, str], DatasetPerf] = {}


def export(batch_size: int, path: Path) -> None:
    """ShuffleNetV2+ Small on seeded random weights, exported as shufflenetv2_pth2onnx.py exports a file of one
    batch size: Megvii's reshape channel shuffle (on OpenVINO, the step-2 Slices of the batch-free graph run a
    reference kernel, about a third of the time at batch 16)."""
    model = randomize_weights_(build_model("Small", STATIC_CHANNEL_SPLIT), seed=0)
    path.write_bytes(export_onnx(model, batch_size))


def write_dataset(folder: Path, count: int, dtype: str = "float32") -> Path:
    """``count`` random preprocessed images of one route and their info file (absolute paths: each stand-in run
    works in a folder of its own).

    The values are the integers 0..255 that the evaluation transform makes: float32 CHW bins (the guide's route)
    or the same values as uint8 HWC bins (the uint8 route), the same images for both routes."""
    rng = np.random.default_rng(0)
    (folder / f"prep_{dtype}").mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(count):
        path = folder / f"prep_{dtype}/img_{index:06d}.bin"
        chw = rng.integers(0, 256, size=(3, IMAGE_SIZE, IMAGE_SIZE))
        image = chw.astype(np.float32) if dtype == "float32" else chw.transpose(1, 2, 0).astype(np.uint8)
        image.tofile(path)
        entries.append(InfoEntry(index, str(path), IMAGE_SIZE, IMAGE_SIZE))
    info = folder / f"bench_{dtype}.info"
    write_info(info, entries)
    return info


def plain_rate(model_path: Path, batches: Sequence[np.ndarray]) -> float:
    """img/s of a plain loop: default session options, one run at a time, batches in memory, one warm-up run."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    session.run(None, {INPUT_NAME: batches[0]})
    started = time.perf_counter()
    for batch in batches:
        session.run(None, {INPUT_NAME: batch})
    return sum(len(batch) for batch in batches) / (time.perf_counter() - started)


@dataclass(frozen=True)
class OrtSettings:
    """One candidate of onnxruntime's settings: intra-op threads, thread-pool spinning, runs at once."""

    intra_threads: int
    spinning: bool
    concurrent_runs: int

    def describe(self) -> str:
        spin = "spinning" if self.spinning else "no spinning"
        return f"{self.intra_threads} intra-op thread(s), {spin}, {self.concurrent_runs} run(s) at once"


def ort_candidates(cores: int) -> list[OrtSettings]:
    return [
        OrtSettings(cores, True, 1),  # onnxruntime's defaults but explicit
        OrtSettings(cores, False, 1),
        OrtSettings(1, True, 1),
        OrtSettings(1, True, cores),
        OrtSettings(cores, False, cores),
    ]


def ort_rate(model_path: Path, batches: Sequence[np.ndarray], settings: OrtSettings) -> float:
    """img/s of onnxruntime with ``settings`` (all graph optimisations, sequential execution, memory arena), the
    batches in memory shared among ``concurrent_runs`` threads, one warm-up run per thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.enable_cpu_mem_arena = True
    options.intra_op_num_threads = settings.intra_threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.spinning else "0")
    session = ort.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])

    def work(part: Sequence[np.ndarray]) -> None:
        for batch in part:
            session.run(None, {INPUT_NAME: batch})

    with ThreadPoolExecutor(settings.concurrent_runs) as pool:
        list(pool.map(work, [batches[:1]] * settings.concurrent_runs))  # warm-up, each thread
        started = time.perf_counter()
        list(pool.map(work, [batches[index :: settings.concurrent_runs] for index in range(settings.concurrent_runs)]))
        seconds = time.perf_counter() - started
    return sum(len(batch) for batch in batches) / seconds


def best_ort_settings(model_path: Path, batches: Sequence[np.ndarray], cores: int) -> OrtSettings:
    """The fastest candidate, each run once on the batches (a first look, before the interleaved rounds)."""
    rates = {settings: ort_rate(model_path, batches, settings) for settings in ort_candidates(cores)}
    return max(rates, key=rates.__getitem__)


_APP_THROUGHPUT = re.compile(r"Throughput:\s*([0-9.]+)\s*FPS")


def benchmark_app_rate(model_path: Path, seconds: int) -> float:
    """OpenVINO's benchmark_app on the model: THROUGHPUT hint, f32, in memory; its Throughput (images/s)."""
    command = [
        shutil.which("benchmark_app") or "benchmark_app",
        "-m",
        str(model_path),
        "-d",
        "CPU",
        "-hint",
        "throughput",
        "-infer_precision",
        "f32",
        "-t",
        str(seconds),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    match = _APP_THROUGHPUT.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"benchmark_app failed ({done.returncode}): {(done.stderr or done.stdout)[-500:]}")
    return float(match[1])


@contextlib.contextmanager
def working_directory(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def stand_in_rate(
    folder: Path, model_path: Path, info: Path, batch_size: int, backend: str, extra: Sequence[str] = ()
) -> float:
    run_folder = Path(tempfile.mkdtemp(prefix="stand_in_", dir=folder))  # a fresh result folder, as run_all.sh's
    backend, _, dtype = backend.partition(" ")
    # Its perf lines and progress messages would bury the table.
    with (
        working_directory(run_folder),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
    ):
        status = pipeline.run(
            parse_flags(
                [
                    "-model_type=vision",
                    "-device_id=0",
                    f"-batch_size={batch_size}",
                    f"-om_path={model_path}",
                    f"-input_text_path={info}",
                    f"-input_width={IMAGE_SIZE}",
                    f"-input_height={IMAGE_SIZE}",
                    "-output_binary=False",
                    "-useDvpp=False",
                    f"-backend={backend}",
                    f"-input_dtype={dtype or 'float32'}",
                    *extra,
                ]
            )
        )
        if status != 0:
            raise SystemExit(f"the stand-in failed with status {status}")
        perf = parse_dataset_perf((run_folder / "result" / perf_file_name(batch_size, 0)).read_text())
    assert perf is not None
    LAST_PERF[(batch_size, f"{backend} {dtype}".strip())] = perf
    return perf.e2e_throughput


RUNS = ("plain", "ort best", "benchmark_app", "onnxruntime", "openvino")
UINT8_RUNS = ("onnxruntime uint8", "openvino uint8")  # the stand-in on the uint8 route's bins (--routes)
INT8_RUNS = ("benchmark_app int8", "onnxruntime int8", "openvino int8")  # the int8 model (--routes ... int8)
COLUMNS = {"plain": "plain", "ort best": "ort best", "benchmark_app": "bench_app", "onnxruntime": "ort e2e",
           "openvino": "ov e2e", "onnxruntime uint8": "ort u8", "openvino uint8": "ov u8",
           "benchmark_app int8": "app i8", "onnxruntime int8": "ort i8", "openvino int8": "ov i8"}  # fmt: skip
# (candidate, reference, batch size) -> the least ratio; None: every batch size.
# Issue 11's were set on a loaded machine, where the peers' spinning threads lose most (plain ran 55 img/s).
TARGETS = {
    ("openvino", "benchmark_app", None): (0.9, "issue 20"),
    ("onnxruntime", "plain", 16): (1.0, "issue 20"),
    ("onnxruntime", "plain", 1): (1.3, "issue 11, under load"),
    ("openvino", "plain", None): (1.5, "issue 11, under load"),
    ("openvino int8", "benchmark_app", 16): (1.5, "issue 28"),
    ("openvino int8", "benchmark_app", 1): (1.3, "issue 28"),
    ("openvino int8", "benchmark_app int8", None): (0.9, "issue 28"),
}
RATIOS = (("openvino", "benchmark_app"), ("onnxruntime", "plain"), ("onnxruntime", "ort best"), ("openvino", "plain"))
UINT8_RATIOS = (("onnxruntime uint8", "onnxruntime"), ("openvino uint8", "openvino"))
INT8_RATIOS = (("openvino int8", "benchmark_app"), ("openvino int8", "benchmark_app int8"),
               ("benchmark_app int8", "benchmark_app"), ("onnxruntime int8", "benchmark_app"),
               ("onnxruntime int8", "onnxruntime"))  # fmt: skip
SHORT = {"onnxruntime": "ort", "openvino": "ov", "plain": "plain", "ort best": "ort best", "benchmark_app": "app",
         "onnxruntime uint8": "ort u8", "openvino uint8": "ov u8", "benchmark_app int8": "app i8",
         "onnxruntime int8": "ort i8", "openvino int8": "ov i8"}  # fmt: skip


def target(candidate: str, reference: str, batch_size: int) -> tuple[float, str] | None:
    return TARGETS.get((candidate, reference, batch_size), TARGETS.get((candidate, reference, None)))


def remove_run_folders(folder: Path) -> None:
    for run_folder in folder.glob("stand_in_*"):
        shutil.rmtree(run_folder, ignore_errors=True)


def file_system(folder: Path) -> str:
    """The type of the file system ``folder`` is on (Linux's mount table), e.g. "tmpfs" or "ext4"."""
    try:
        mounts = [line.split()[1:3] for line in Path("/proc/mounts").read_text().splitlines()]
    except OSError:
        return "unknown file system"
    best = max(
        ((point, kind) for point, kind in mounts if folder == Path(point) or Path(point) in folder.parents),
        key=lambda mount: len(mount[0]),
        default=("", "unknown file system"),
    )
    return best[1]


def default_workdir_parent() -> str | None:
    """``/dev/shm`` where it is a writable tmpfs folder (the stand-in's own cost, not the disk's), else None."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) and file_system(shm) == "tmpfs" else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16], help="default: 1 16")
    parser.add_argument(
        "--images", type=int, default=384, help="images per run (default: %(default)s: 24 batches of 16)"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds per batch size (default: %(default)s, at least 3)"
    )
    parser.add_argument(
        "--app-seconds", type=int, default=3, help="benchmark_app's -t per round (default: %(default)s)"
    )
    parser.add_argument(
        "--stand-in-flags",
        default="",
        help="extra flags for the stand-in in one string, e.g. --stand-in-flags='-streams=2 "
        "-threads=1' (default: none, its defaults)",
    )
    parser.add_argument(
        "--routes",
        nargs="+",
        choices=("float32", "uint8", "int8"),
        default=["float32"],
        help="input routes of the stand-in: float32 (the guide's bins, default); with uint8 the stand-in also runs "
        "on uint8 HWC bins of the same images, side by side (columns ort u8, ov u8); with int8 the model quantized "
        "(columns app i8, ort i8, ov i8)",
    )
    parser.add_argument(
        "--quantizer",
        choices=QUANTIZERS,
        default="nncf",
        help="what makes the int8 model (quantize.py --tool; default: %(default)s)",
    )
    parser.add_argument("--show-perf", action="store_true", help="print the last stand-in perf file of each run")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where to write models, bins and results (default: a temporary folder in /dev/shm, tmpfs, where there "
        "is one, else in the system's temporary folder)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (medians)")
    extra_flags = args.stand_in_flags.split()
    cores = available_cores()

    with contextlib.ExitStack() as stack:
        folder = args.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_infer_", dir=default_workdir_parent()))
        )
        folder = folder.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        stack.callback(remove_run_folders, folder)
        info = write_dataset(folder, args.images)
        uint8_info = write_dataset(folder, args.images, "uint8") if "uint8" in args.routes else None
        int8 = "int8" in args.routes
        runs = RUNS + (UINT8_RUNS if uint8_info else ()) + (INT8_RUNS if int8 else ())
        ratios = RATIOS + (UINT8_RATIOS if uint8_info else ()) + (INT8_RATIOS if int8 else ())
        images = np.stack(
            [
                np.fromfile(folder / f"prep_float32/img_{i:06d}.bin", dtype=np.float32).reshape(
                    3, IMAGE_SIZE, IMAGE_SIZE
                )
                for i in range(args.images)
            ]
        )
        print(
            f"model: ShuffleNetV2+ Small (random weights); {args.images} images of 3x{IMAGE_SIZE}x{IMAGE_SIZE}; "
            f"{args.rounds} interleaved rounds; stand-in flags: {args.stand_in_flags or 'defaults'}; "
            f"{cores} cores; load average {os.getloadavg()[0]:.1f}; files in {folder} ({file_system(folder)})"
            + (f"; int8 by {args.quantizer}" if "int8" in args.routes else "")
        )
        print(f"{'batch':>5} " + " ".join(f"{COLUMNS[run]:>9}" for run in runs) + "   (img/s, medians of the rounds)")
        for batch_size in args.batch_sizes:
            model_path = folder / f"bench_bs{batch_size}.onnx"
            export(batch_size, model_path)
            int8_path = folder / f"bench_bs{batch_size}_int8.onnx"
            if int8:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    quantize(model_path, folder / "prep_float32", min(DEFAULT_CALIBRATION_IMAGES, args.images),
                             args.quantizer, output=int8_path)  # fmt: skip
            usable = len(images) - len(images) % batch_size
            batches = [images[start : start + batch_size] for start in range(0, usable, batch_size)]
            best = best_ort_settings(model_path, batches, cores)
            rates: dict[str, list[float]] = {run: [] for run in runs}
            for round_number in range(args.rounds):
                # Rotate the order, so a drifting load favours none of them.
                shift = round_number % len(runs)
                for run in runs[shift:] + runs[:shift]:
                    if run == "plain":
                        rate = plain_rate(model_path, batches)
                    elif run == "ort best":
                        rate = ort_rate(model_path, batches, best)
                    elif run == "benchmark_app":
                        rate = benchmark_app_rate(model_path, args.app_seconds)
                    elif run == "benchmark_app int8":
                        rate = benchmark_app_rate(int8_path, args.app_seconds)
                    elif run in INT8_RUNS:
                        backend = run.split()[0]
                        rate = stand_in_rate(folder, int8_path, info, batch_size, backend, extra_flags)
                    else:
                        route_info = uint8_info if run in UINT8_RUNS else info
                        rate = stand_in_rate(folder, model_path, route_info, batch_size, run, extra_flags)
                    rates[run].append(rate)
            print(f"{batch_size:>5} " + " ".join(f"{statistics.median(rates[run]):>9.1f}" for run in runs))
            for candidate, reference in ratios:
                ratio = statistics.median(
                    ours / theirs for ours, theirs in zip(rates[candidate], rates[reference], strict=True)
                )
                goal = target(candidate, reference, batch_size)
                verdict = ""
                if goal:
                    least, whose = goal
                    verdict = f"   (target >= {least:.1f}x, {whose}: {'met' if ratio >= least else 'MISSED'})"
                who = SHORT[candidate] if candidate.startswith("benchmark_app") else f"stand-in {SHORT[candidate]}"
                print(f"      {who} / {SHORT[reference]}: {ratio:.2f}x{verdict}")
            print(f"      ort best: {best.describe()}; load average now {os.getloadavg()[0]:.1f}")
            print(
                f"      rounds ({'/'.join(SHORT[run] for run in runs)}): "
                + ", ".join("/".join(f"{rates[run][index]:.0f}" for run in runs) for index in range(args.rounds))
            )
            if args.show_perf:
                for run in ("onnxruntime", "openvino"):
                    print(
                        f"      last {run} perf file: "
                        + LAST_PERF[(batch_size, run)].format().rstrip().replace("\n", "\n" + " " * 30)
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
