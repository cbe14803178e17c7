"""Benchmark of the preprocessor (imagenet_torch_preprocess.py): its two routes side by side (float32 bins, the
guide's, and uint8 bins, a quarter of the bytes), against the plain loop of the guide's transform.

    python benchmarks/bench_preprocess.py                 # 400 images, 3 rounds
    python benchmarks/bench_preprocess.py --count 1000 --rounds 5 --dir /data/tmp

Generates a few hundred ImageNet-like JPEGs (about 500x375, some portrait, some grayscale) in a temporary folder
(under --dir: put it on the disk the bins will go to), then measures in each round, one after the other (each round
in a rotated order), the images per second of the runs below, and prints their medians and best rounds with the
ratios to the plain loop and the bytes each run writes. All runs are in this process's Python (no interpreter
start-up counted) and are checked first: the float32 bins byte-identical to the plain loop's, and the uint8 bins,
read back as float32 CHW, equal to them. Target: ours float32 with all workers >= 1.8x the plain loop.

The runs:
  plain loop         the guide's way, in one process: PIL -> OpencvResize -> CenterCrop -> ToBGRTensor
                     -> .numpy().tofile() (the reference transform of tests/guide_reference.py)
  float32 -j 1       preprocess_folder(..., workers=1, dtype="float32")
  uint8 -j 1         preprocess_folder(..., workers=1, dtype="uint8")
  float32 -j N       preprocess_folder(..., workers=all cores, dtype="float32"), worker start-up included
  uint8 -j N         the same with dtype="uint8"
"""

from __future__ import annotations

import filecmp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

from guide_reference import guide_preprocess
from shufflenet_ascend.cli import PipelineError, add_workers_flag, make_parser, run_cli
from shufflenet_ascend.contract import FULL_VALIDATION_IMAGES
from shufflenet_ascend.demo import IMAGENET_LIKE_VARIANTS, write_images
from shufflenet_ascend.fileio import format_bytes
from shufflenet_ascend.preprocess.folder import preprocess_folder
from shufflenet_ascend.preprocess.record import list_images
from shufflenet_ascend.preprocess.transform import uint8_bin_as_float32

TARGET_RATIO = 1.8


def plain_loop(src_dir: Path, dst_dir: Path) -> None:
    dst_dir.mkdir(parents=True, exist_ok=True)
    for image in list_images(src_dir)[0]:
        guide_preprocess(image, dst_dir / f"{image.stem}.bin")


def images_per_second(run: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def bin_names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.bin"))


def same_bins(dir_a: Path, dir_b: Path) -> bool:
    names = bin_names(dir_a)
    if names != bin_names(dir_b):
        return False
    _, mismatch, errors = filecmp.cmpfiles(dir_a, dir_b, names, shallow=False)
    return not mismatch and not errors


def uint8_bins_equal_float32_bins(uint8_dir: Path, float32_dir: Path) -> bool:
    names = bin_names(uint8_dir)
    return names == bin_names(float32_dir) and all(
        uint8_bin_as_float32((uint8_dir / name).read_bytes()).tobytes() == (float32_dir / name).read_bytes()
        for name in names
    )


def bytes_written(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("*.bin"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--count", type=int, default=400, help="number of generated images (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="measurement rounds (default: %(default)s)")
    add_workers_flag(parser, os.cpu_count() or 1, "workers of the parallel runs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated images (default: %(default)s)")
    parser.add_argument(
        "--dir", type=Path, default=None, help="folder for the temporary images and bins (default: the system's)"
    )
    args = parser.parse_args(argv)
    if args.count < 1 or args.rounds < 1 or args.workers < 1:
        raise PipelineError("--count, --rounds and --workers must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench_preprocess.", dir=args.dir) as tmp:
        src = Path(tmp) / "val"
        write_images(src, args.count, args.seed, IMAGENET_LIKE_VARIANTS, prefix="ILSVRC2012_val")
        routes = {  # name: (workers, dtype)
            "float32_one": (1, "float32"),
            "uint8_one": (1, "uint8"),
            "float32_all": (args.workers, "float32"),
            "uint8_all": (args.workers, "uint8"),
        }
        outputs = {name: Path(tmp) / name for name in ("plain", *routes)}

        def ours(name: str) -> Callable[[], object]:
            workers, dtype = routes[name]
            return lambda: preprocess_folder(
                src, outputs[name], workers=workers, overwrite=True, progress=False, dtype=dtype
            )

        runs: dict[str, Callable[[], object]] = {"plain": lambda: plain_loop(src, outputs["plain"])}
        runs.update({name: ours(name) for name in routes})
        labels = {"plain": "plain loop (guide)"}
        labels.update({name: f"{dtype} -j {workers}" for name, (workers, dtype) in routes.items()})
        for run in runs.values():  # warm-up: file cache, imports, lazy initialisation
            run()
        checks = [
            same_bins(outputs["plain"], outputs["float32_one"]),
            same_bins(outputs["plain"], outputs["float32_all"]),
            same_bins(outputs["uint8_one"], outputs["uint8_all"]),
            uint8_bins_equal_float32_bins(outputs["uint8_one"], outputs["plain"]),
        ]
        if not all(checks):
            raise PipelineError("the bins of the runs differ: benchmark aborted", exit_code=1)
        written = {name: bytes_written(outputs[name]) for name in runs}

        rates: dict[str, list[float]] = {name: [] for name in runs}
        print(
            f"{args.count} ImageNet-like images, {os.cpu_count()} cores, {args.rounds} rounds (images/s), bins "
            f"written to {tmp}"
        )
        order = list(runs)
        for number in range(1, args.rounds + 1):
            for name in order[number - 1 :] + order[: number - 1]:  # each round starts one run later: no run
                rates[name].append(images_per_second(runs[name], args.count))  # always follows the same one
            print(f"round {number}: " + ", ".join(f"{labels[name]} {rates[name][-1]:.0f}" for name in runs))

    # Median: the typical round; best: the least disturbed one (the machine may be shared).
    median = {name: statistics.median(values) for name, values in rates.items()}
    best = {name: max(values) for name, values in rates.items()}
    print(f"{'images/s':<22}{'median':>8}{'ratio':>8}{'best':>8}{'ratio':>8}{'bytes written':>16}{'per 50k':>10}")
    for name in runs:
        per_image = written[name] / args.count
        print(
            f"  {labels[name]:<20}{median[name]:8.1f}{median[name] / median['plain']:7.2f}x"
            f"{best[name]:8.1f}{best[name] / best['plain']:7.2f}x{written[name]:16,}"
            f"{format_bytes(round(per_image * FULL_VALIDATION_IMAGES)):>10}"
        )
    for workers in ("one", "all"):
        ratio = median[f"uint8_{workers}"] / median[f"float32_{workers}"]
        print(
            f"uint8 / float32 -j {routes[f'uint8_{workers}'][0]} (medians): {ratio:.2f}x the images/s, "
            f"{written[f'uint8_{workers}'] / written[f'float32_{workers}']:.2f}x the bytes"
        )
    ratio = median["float32_all"] / median["plain"]
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"target float32 -j {args.workers} >= {TARGET_RATIO}x plain loop (medians): {verdict} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    run_cli(main)
