"""Speed of the benchmark stand-in against plain onnxruntime, side by side in one run.

For each batch size: the same ONNX model, the same session options, the same images. "plain" is a loop of
``session.run`` over batches already in memory (no reading, no writing): the ceiling. "stand-in" is
benchmark_ort.py's dataset mode (reads the .bin files listed in an info file, infers, writes one dump file per
image), whose e2e throughputRate is images / wall time of the whole run. The target is ratio >= 0.9.
Plain and stand-in run back to back in ``--pairs`` pairs (which one goes first alternates); the ratio printed
is the median of the pairs' ratios, so a load that changes between pairs (the machine is shared) cancels out.

    python benchmarks/bench_infer.py                       # batch 1 and 16, 128 images, 7 pairs
    python benchmarks/bench_infer.py --batch-sizes 1 4 16 --images 256 --pairs 9

The model: ShuffleNetV2+ Small on seeded random weights, exported by shufflenetv2_pth2onnx.py's own functions.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT)]

import numpy as np  # noqa: E402

import benchmark_ort  # noqa: E402
import shufflenetv2_pth2onnx  # noqa: E402
from ascend_io import (  # noqa: E402
    IMAGE_SIZE,
    INPUT_NAME,
    OUTPUT_NAME,
    DatasetPerf,
    InfoEntry,
    parse_dataset_perf,
    perf_file_name,
    write_info,
)

LAST_PERF: dict[int, DatasetPerf] = {}


def export(batch_size: int, path: Path) -> None:
    """ShuffleNetV2+ Small on seeded random weights, exported as the pipeline exports it."""
    model = shufflenetv2_pth2onnx.randomize_weights_(shufflenetv2_pth2onnx.build_model("Small"), seed=0)
    path.write_bytes(shufflenetv2_pth2onnx.export_onnx(model, batch_size))


def write_dataset(folder: Path, count: int) -> Path:
    """``count`` random preprocessed images and their info file (paths relative to ``folder``)."""
    rng = np.random.default_rng(0)
    (folder / "prep_dataset").mkdir(parents=True, exist_ok=True)
    entries = []
    for index in range(count):
        relative = f"./prep_dataset/img_{index:06d}.bin"
        rng.uniform(0, 255, size=(3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32).tofile(folder / relative)
        entries.append(InfoEntry(index, relative, IMAGE_SIZE, IMAGE_SIZE))
    info = folder / "bench_prep_bin.info"
    write_info(info, entries)
    return info


def plain_rate(model_path: Path, batches: Sequence[np.ndarray], threads: int) -> float:
    session = benchmark_ort.open_session(model_path, threads)
    session.run(None, {INPUT_NAME: batches[0]})
    started = time.perf_counter()
    for batch in batches:
        session.run(None, {INPUT_NAME: batch})
    return sum(len(batch) for batch in batches) / (time.perf_counter() - started)


@contextlib.contextmanager
def working_directory(folder: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def stand_in_rate(folder: Path, model_path: Path, info: Path, batch_size: int, threads: int) -> float:
    # A fresh dump folder, as run_all.sh gives each run (replacing 50,000 old files costs the file system more).
    shutil.rmtree(folder / "result", ignore_errors=True)
    # Its perf lines and progress messages would bury the table.
    with working_directory(folder), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = benchmark_ort.main([
            "-model_type=vision", "-device_id=0", f"-batch_size={batch_size}", f"-om_path={model_path}",
            f"-input_text_path={info}", f"-input_width={IMAGE_SIZE}", f"-input_height={IMAGE_SIZE}",
            "-output_binary=False", "-useDvpp=False", f"-threads={threads}",
        ])
        if status != 0:
            raise SystemExit(f"benchmark_ort.py failed with status {status}")
        perf = parse_dataset_perf((folder / "result" / perf_file_name(batch_size, 0)).read_text())
    assert perf is not None
    LAST_PERF[batch_size] = perf
    return perf.e2e_throughput


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16], help="default: 1 16")
    parser.add_argument("--images", type=int, default=128, help="images per run (default: %(default)s)")
    parser.add_argument("--pairs", type=int, default=7,
                        help="pairs of runs (plain, stand-in) per batch size (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads for both (default 0: all cores)")
    parser.add_argument("--show-perf", action="store_true", help="print the last stand-in perf file of each batch")
    parser.add_argument("--workdir", type=Path, help="where to write models, bins and results (default: temp)")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        folder = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_infer_")))
        folder = folder.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        info = write_dataset(folder, args.images)
        images = np.stack([np.fromfile(folder / f"prep_dataset/img_{i:06d}.bin", dtype=np.float32)
                           .reshape(3, IMAGE_SIZE, IMAGE_SIZE) for i in range(args.images)])
        print(f"model: ShuffleNetV2+ Small (random weights); {args.images} images of 3x{IMAGE_SIZE}x{IMAGE_SIZE}; "
              f"{args.threads or benchmark_ort.available_cores()} intra-op threads; {args.pairs} pairs of runs; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"{'batch':>5} {'plain img/s':>12} {'stand-in e2e img/s':>19} {'ratio':>6}"
              "   (medians; ratio = median over pairs run back to back)")
        for batch_size in args.batch_sizes:
            model_path = folder / f"bench_bs{batch_size}.onnx"
            export(batch_size, model_path)
            usable = len(images) - len(images) % batch_size
            batches = [images[start:start + batch_size] for start in range(0, usable, batch_size)]
            plain, stand_in = [], []
            for pair in range(args.pairs):
                # Alternate which runs first, so a drifting load favours neither.
                if pair % 2 == 0:
                    plain.append(plain_rate(model_path, batches, args.threads))
                stand_in.append(stand_in_rate(folder, model_path, info, batch_size, args.threads))
                if pair % 2 == 1:
                    plain.append(plain_rate(model_path, batches, args.threads))
            ratios = [ours / theirs for ours, theirs in zip(stand_in, plain)]
            print(f"{batch_size:>5} {statistics.median(plain):>12.1f} {statistics.median(stand_in):>19.1f} "
                  f"{statistics.median(ratios):>6.3f}   (pairs: "
                  + ", ".join(f"{theirs:.1f}/{ours:.1f}" for theirs, ours in zip(plain, stand_in)) + ")")
            if args.show_perf:
                print("      last stand-in perf file: " + LAST_PERF[batch_size].format().rstrip().replace(
                    "\n", "\n                               "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
