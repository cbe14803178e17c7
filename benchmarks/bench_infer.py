"""Speed of the benchmark stand-in (both backends) against a plain onnxruntime loop, side by side in one run.

For each batch size: the same ONNX model, the same images. "plain" is a loop of ``session.run`` over batches
already in memory (no reading, no writing), onnxruntime's default session options, one run at a time: what a
user writes first. "stand-in ort" and "stand-in ov" are the stand-in's dataset mode (benchmark_ort.py) with
``-backend=onnxruntime`` and ``-backend=openvino`` and their default concurrency (reads the .bin files listed in
an info file, infers with several batches in flight, writes one dump file per image), whose e2e
throughputRate is images / wall time of the whole run. Targets (issue 11, on a 2-core machine): stand-in ort
>= 1.3x plain at batch 1 and >= 1.0x at batch 16; stand-in ov >= 1.5x plain at both.
The three run in ``--rounds`` interleaved rounds (the order rotates from round to round); each ratio printed is
the median of the rounds' ratios, each measured within one round, so a load that changes between rounds (the
machine is shared) cancels out as far as it can.

    python benchmarks/bench_infer.py                       # batch 1 and 16, 192 images, 5 rounds
    python benchmarks/bench_infer.py --batch-sizes 1 4 16 --images 256 --rounds 7

The model: ShuffleNetV2+ Small on seeded random weights, exported by the pipeline's own functions
(shufflenet_ascend.model and .export).
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
from collections.abc import Iterator, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT)]

import numpy as np  # noqa: E402

from shufflenet_ascend.contract import IMAGE_SIZE, INPUT_NAME
from shufflenet_ascend.export import export_onnx
from shufflenet_ascend.formats.info import InfoEntry, write_info
from shufflenet_ascend.formats.perf import DatasetPerf, parse_dataset_perf, perf_file_name
from shufflenet_ascend.model import build_model, randomize_weights_
from shufflenet_ascend.standin import pipeline
from shufflenet_ascend.standin.backends import available_cores
from shufflenet_ascend.standin.flags import parse_flags

LAST_PERF: dict[tuple[int, str], DatasetPerf] = {}


def export(batch_size: int, path: Path) -> None:
    """ShuffleNetV2+ Small on seeded random weights, exported as the pipeline exports it."""
    model = randomize_weights_(build_model("Small"), seed=0)
    path.write_bytes(export_onnx(model, batch_size))


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


def plain_rate(model_path: Path, batches: Sequence[np.ndarray]) -> float:
    """img/s of a plain loop: default session options, one run at a time, batches in memory, one warm-up run."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
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


def stand_in_rate(
    folder: Path, model_path: Path, info: Path, batch_size: int, backend: str, extra: Sequence[str] = ()
) -> float:
    # A fresh dump folder, as run_all.sh gives each run (replacing 50,000 old files costs the file system more).
    shutil.rmtree(folder / "result", ignore_errors=True)
    # Its perf lines and progress messages would bury the table.
    with (
        working_directory(folder),
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
                    *extra,
                ]
            )
        )
        if status != 0:
            raise SystemExit(f"the stand-in failed with status {status}")
        perf = parse_dataset_perf((folder / "result" / perf_file_name(batch_size, 0)).read_text())
    assert perf is not None
    LAST_PERF[(batch_size, backend)] = perf
    return perf.e2e_throughput


RUNS = ("plain", "onnxruntime", "openvino")
SHORT = {"onnxruntime": "ort", "openvino": "ov"}
TARGETS = {("onnxruntime", 1): 1.3, ("onnxruntime", 16): 1.0, ("openvino", 1): 1.5, ("openvino", 16): 1.5}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 16], help="default: 1 16")
    parser.add_argument("--images", type=int, default=192, help="images per run (default: %(default)s)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="interleaved rounds (plain, stand-in ort, stand-in ov) per batch size (default: %(default)s, at least 3)",
    )
    parser.add_argument(
        "--stand-in-flags",
        default="",
        help="extra flags for the stand-in in one string, e.g. --stand-in-flags='-streams=2 "
        "-threads=1' (default: none, its defaults)",
    )
    parser.add_argument("--show-perf", action="store_true", help="print the last stand-in perf file of each run")
    parser.add_argument("--workdir", type=Path, help="where to write models, bins and results (default: temp)")
    args = parser.parse_args(argv)
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (medians)")
    extra_flags = args.stand_in_flags.split()

    with contextlib.ExitStack() as stack:
        folder = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_infer_")))
        folder = folder.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        info = write_dataset(folder, args.images)
        images = np.stack(
            [
                np.fromfile(folder / f"prep_dataset/img_{i:06d}.bin", dtype=np.float32).reshape(
                    3, IMAGE_SIZE, IMAGE_SIZE
                )
                for i in range(args.images)
            ]
        )
        print(
            f"model: ShuffleNetV2+ Small (random weights); {args.images} images of 3x{IMAGE_SIZE}x{IMAGE_SIZE}; "
            f"{args.rounds} interleaved rounds; stand-in flags: {args.stand_in_flags or 'defaults'}; "
            f"{available_cores()} cores; load average {os.getloadavg()[0]:.1f}"
        )
        print(
            f"{'batch':>5} {'plain':>7} {'ort e2e':>8} {'ov e2e':>7} {'ort/plain':>10} {'ov/plain':>9}"
            "   (img/s medians; ratios = medians of per-round ratios; target)"
        )
        for batch_size in args.batch_sizes:
            model_path = folder / f"bench_bs{batch_size}.onnx"
            export(batch_size, model_path)
            usable = len(images) - len(images) % batch_size
            batches = [images[start : start + batch_size] for start in range(0, usable, batch_size)]
            rates: dict[str, list[float]] = {run: [] for run in RUNS}
            for round_number in range(args.rounds):
                # Rotate the order, so a drifting load favours none of the three.
                shift = round_number % len(RUNS)
                for run in RUNS[shift:] + RUNS[:shift]:
                    rates[run].append(
                        plain_rate(model_path, batches)
                        if run == "plain"
                        else stand_in_rate(folder, model_path, info, batch_size, run, extra_flags)
                    )
            ratios = {
                run: statistics.median(ours / plain for ours, plain in zip(rates[run], rates["plain"], strict=False))
                for run in RUNS[1:]
            }
            targets = (
                "; ".join(
                    f"{SHORT[run]} >= {TARGETS[(run, batch_size)]:.1f}x "
                    f"{'met' if ratios[run] >= TARGETS[(run, batch_size)] else 'MISSED'}"
                    for run in RUNS[1:]
                    if (run, batch_size) in TARGETS
                )
                or "no target for this batch size"
            )
            print(
                f"{batch_size:>5} {statistics.median(rates['plain']):>7.1f} "
                f"{statistics.median(rates['onnxruntime']):>8.1f} {statistics.median(rates['openvino']):>7.1f} "
                f"{ratios['onnxruntime']:>9.2f}x {ratios['openvino']:>8.2f}x   ({targets})"
            )
            print(
                "      rounds (plain/ort/ov): "
                + ", ".join("/".join(f"{rates[run][index]:.0f}" for run in RUNS) for index in range(args.rounds))
            )
            if args.show_perf:
                for run in RUNS[1:]:
                    print(
                        f"      last {run} perf file: "
                        + LAST_PERF[(batch_size, run)].format().rstrip().replace("\n", "\n" + " " * 30)
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
