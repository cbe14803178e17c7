"""Benchmark of the preprocessor (imagenet_torch_preprocess.py) against the plain loop of the guide's transform.

    python benchmarks/bench_preprocess.py                 # 400 images, 3 rounds
    python benchmarks/bench_preprocess.py --count 1000 --rounds 5

Generates a few hundred ImageNet-like JPEGs (about 500x375, some portrait, some grayscale) in a temporary folder,
then measures side by side in each round the images per second of the three runs below, and their ratios to the
plain loop (of the medians and of the best rounds). All three run in this process's Python (no interpreter
start-up counted) and write the same bins, which are checked to be byte-identical. Target: ours with all workers
>= 1.8x the plain loop.

The runs:
  plain loop   the guide's way, in one process: PIL -> OpencvResize -> CenterCrop -> ToBGRTensor
               -> .numpy().tofile() (the reference transform of tests/guide_reference.py)
  ours -j 1    preprocess_folder(..., workers=1)
  ours -j N    preprocess_folder(..., workers=all cores), worker start-up included
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
from shufflenet_ascend.demo import IMAGENET_LIKE_VARIANTS, write_images
from shufflenet_ascend.preprocess.folder import preprocess_folder
from shufflenet_ascend.preprocess.record import list_images

TARGET_RATIO = 1.8


def plain_loop(src_dir: Path, dst_dir: Path) -> None:
    dst_dir.mkdir(parents=True, exist_ok=True)
    for image in list_images(src_dir)[0]:
        guide_preprocess(image, dst_dir / f"{image.stem}.bin")


def images_per_second(run: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    run()
    return count / (time.perf_counter() - started)


def same_bins(dir_a: Path, dir_b: Path) -> bool:
    names = sorted(path.name for path in dir_a.glob("*.bin"))
    if names != sorted(path.name for path in dir_b.glob("*.bin")):
        return False
    _, mismatch, errors = filecmp.cmpfiles(dir_a, dir_b, names, shallow=False)
    return not mismatch and not errors


def main(argv: Sequence[str] | None = None) -> int:
    parser = make_parser(__doc__)
    parser.add_argument("--count", type=int, default=400, help="number of generated images (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="measurement rounds (default: %(default)s)")
    add_workers_flag(parser, os.cpu_count() or 1, "workers of the parallel run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated images (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.count < 1 or args.rounds < 1 or args.workers < 1:
        raise PipelineError("--count, --rounds and --workers must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bench_preprocess.") as tmp:
        src = Path(tmp) / "val"
        write_images(src, args.count, args.seed, IMAGENET_LIKE_VARIANTS, prefix="ILSVRC2012_val")
        outputs = {name: Path(tmp) / name for name in ("plain", "one", "all")}
        runs: dict[str, Callable[[], object]] = {
            "plain": lambda: plain_loop(src, outputs["plain"]),
            "one": lambda: preprocess_folder(src, outputs["one"], workers=1, overwrite=True, progress=False),
            "all": lambda: preprocess_folder(src, outputs["all"], workers=args.workers, overwrite=True, progress=False),
        }
        labels = {"plain": "plain loop (guide)", "one": "ours -j 1", "all": f"ours -j {args.workers}"}
        for run in runs.values():  # warm-up: file cache, imports, lazy initialisation
            run()
        if not (same_bins(outputs["plain"], outputs["one"]) and same_bins(outputs["plain"], outputs["all"])):
            raise PipelineError("the bins of the three runs differ: benchmark aborted", exit_code=1)

        rates: dict[str, list[float]] = {name: [] for name in runs}
        print(f"{args.count} ImageNet-like images, {os.cpu_count()} cores, {args.rounds} rounds (images/s)")
        for number in range(1, args.rounds + 1):
            for name, run in runs.items():
                rates[name].append(images_per_second(run, args.count))
            line = ", ".join(f"{labels[name]} {rates[name][-1]:.0f}" for name in runs)
            print(f"round {number}: {line}; ratio -j {args.workers}/plain {rates['all'][-1] / rates['plain'][-1]:.2f}")

    # Median: the typical round; best: the least disturbed one (the machine is shared).
    median = {name: statistics.median(values) for name, values in rates.items()}
    best = {name: max(values) for name, values in rates.items()}
    print(f"{'images/s':<22}{'median':>8}{'ratio':>8}{'best':>8}{'ratio':>8}")
    for name in runs:
        print(
            f"  {labels[name]:<20}{median[name]:8.1f}{median[name] / median['plain']:7.2f}x"
            f"{best[name]:8.1f}{best[name] / best['plain']:7.2f}x"
        )
    ratio = median["all"] / median["plain"]
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"target ours -j {args.workers} >= {TARGET_RATIO}x plain loop (medians): {verdict} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    run_cli(main)
