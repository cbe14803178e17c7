"""Speed of the accuracy step (imagenet_acc_eval.py) on a full ImageNet val-sized dump: 50,000 outputs of 1000 scores.

Writes the dump the way the benchmark tool (and benchmark_ort.py) writes it, ``<key>_1.txt`` lines of 1000 values
(or ``.bin`` with --binary), plus a label file, then times the evaluation (listing, reading and parsing every
file, ranking, the JSON: ``shufflenet_ascend.accuracy.evaluate``, one reading process per core) and prints outputs
per second. The files are fresh in the page cache, as they are right after an inference run.

    python benchmarks/bench_acc_eval.py                  # 50,000 text outputs
    python benchmarks/bench_acc_eval.py --count 10000 --binary
    python benchmarks/bench_acc_eval.py --count 10000 --workers 1   # one process
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np

from shufflenet_ascend.accuracy import accuracy_json, evaluate
from shufflenet_ascend.contract import NUM_CLASSES
from shufflenet_ascend.formats.dump import dump_file_name, format_dump_line
from shufflenet_ascend.formats.labels import format_labels


def write_dump_folder(folder: Path, count: int, binary: bool) -> tuple[Path, Path]:
    """``count`` outputs (logits whose true class is usually near the top) and their label file."""
    rng = np.random.default_rng(0)
    dump = folder / "dumpOutput_device0"
    dump.mkdir(parents=True, exist_ok=True)
    labels = {}
    for number in range(1, count + 1):
        key = f"ILSVRC2012_val_{number:08d}"
        label = int(rng.integers(0, NUM_CLASSES))
        scores = rng.standard_normal(NUM_CLASSES).astype(np.float32)
        scores[label] += 3.0
        # Plain writes: the dump's atomic writes are not what is measured here.
        if binary:
            (dump / dump_file_name(key, True)).write_bytes(scores.tobytes())
        else:
            (dump / dump_file_name(key, False)).write_text(format_dump_line(scores))
        labels[f"{key}.JPEG"] = label
    label_file = folder / "val_label.txt"
    label_file.write_text(format_labels(labels))
    return dump, label_file


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=50_000, help="number of outputs (default: %(default)s)")
    parser.add_argument("--binary", action="store_true", help="write .bin outputs instead of .txt")
    parser.add_argument("--workers", type=int, default=0, help="reading processes (default: 0, one per core)")
    parser.add_argument("--workdir", type=Path, help="where to write the dump (default: a temporary folder)")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        folder = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_acc_")))
        started = time.perf_counter()
        dump, label_file = write_dump_folder(folder, args.count, args.binary)
        print(
            f"wrote {args.count} {'.bin' if args.binary else '.txt'} outputs in {time.perf_counter() - started:.1f} s"
        )
        started = time.perf_counter()
        evaluation = evaluate(dump, label_file, workers=args.workers)
        document = accuracy_json(evaluation)
        seconds = time.perf_counter() - started
        print(
            f"evaluated {evaluation.images} outputs in {seconds:.2f} s: {evaluation.images / seconds:.0f} "
            f"outputs/s (full ImageNet val, 50,000 outputs: {50_000 / (evaluation.images / seconds):.1f} s)"
        )
        print(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
