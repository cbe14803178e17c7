"""Speed of the accuracy step (imagenet_acc_eval.py) on a full ImageNet val-sized dump: 50,000 outputs of 1000 scores,
alone and with the per-image files (--predictions, --per-class) made from the same single read.

Writes the dump the way the benchmark tool (and benchmark_ort.py) writes it, ``<key>_1.txt`` lines of 1000 values
(or ``.bin`` with --binary), plus a label file, then times, side by side in interleaved rounds (the order of the two
alternating), reporting the median of each:

- accuracy: ``shufflenet_ascend.accuracy.evaluate`` and the JSON (listing, reading and parsing every file, ranking);
- accuracy + files: ``evaluate(keep_ranking=True)``, the JSON, the predictions and per-class CSVs written
  (``accuracy.write_outputs``, with the record beside the JSON).

Both use one reading process per core (--workers). The class names (torchvision's list, read from its installed
source) cost a script once; that is measured apart, in a fresh interpreter, and printed; inside the rounds they are
already read. The files are fresh in the page cache, as they are right after an inference run.

    python benchmarks/bench_acc_eval.py                  # 50,000 text outputs, 3 rounds
    python benchmarks/bench_acc_eval.py --count 10000 --rounds 5
    python benchmarks/bench_acc_eval.py --count 10000 --binary --workers 1   # one process
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np

from shufflenet_ascend.accuracy import OutputFiles, accuracy_json, evaluate, write_outputs
from shufflenet_ascend.class_names import imagenet_class_names
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


def time_accuracy(dump: Path, label_file: Path, folder: Path, workers: int) -> tuple[float, str]:
    started = time.perf_counter()
    evaluation = evaluate(dump, label_file, workers=workers)
    document = accuracy_json(evaluation)
    (folder / "alone.json").write_text(document)
    return time.perf_counter() - started, document


def time_with_files(dump: Path, label_file: Path, folder: Path, workers: int) -> tuple[float, str]:
    started = time.perf_counter()
    evaluation = evaluate(dump, label_file, workers=workers, keep_ranking=True)
    outputs = OutputFiles(folder / "with.json", folder / "with_predictions.csv", folder / "with_per_class.csv")
    write_outputs(outputs, evaluation, [dump], label_file, None, ["bench"])
    return time.perf_counter() - started, (folder / "with.json").read_text()


def names_import_seconds() -> float:
    """A fresh interpreter's cost of the class names (torchvision's import), which a script pays once."""
    code = (
        "import time; t = time.perf_counter(); from shufflenet_ascend.class_names import imagenet_class_names; "
        "imagenet_class_names(); print(time.perf_counter() - t)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    return float(result.stdout)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=50_000, help="number of outputs (default: %(default)s)")
    parser.add_argument("--binary", action="store_true", help="write .bin outputs instead of .txt")
    parser.add_argument("--workers", type=int, default=0, help="reading processes (default: 0, one per core)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: %(default)s)")
    parser.add_argument("--workdir", type=Path, help="where to write the dump (default: a temporary folder)")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        folder = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_acc_")))
        started = time.perf_counter()
        dump, label_file = write_dump_folder(folder, args.count, args.binary)
        print(
            f"wrote {args.count} {'.bin' if args.binary else '.txt'} outputs in {time.perf_counter() - started:.1f} s"
        )
        imagenet_class_names()  # imported once here: its cost is measured apart
        times: dict[str, list[float]] = {"accuracy": [], "accuracy + files": []}
        documents = set()
        for round_number in range(args.rounds):
            order = [time_accuracy, time_with_files]
            if round_number % 2:
                order.reverse()
            for measure in order:
                seconds, document = measure(dump, label_file, folder, args.workers)
                times["accuracy" if measure is time_accuracy else "accuracy + files"].append(seconds)
                documents.add(document)
        assert len(documents) == 1, "the JSON differs with the per-image files"
        alone, both = (statistics.median(times[name]) for name in ("accuracy", "accuracy + files"))
        rows = sum(1 for _ in open(folder / "with_predictions.csv")) - 1
        print(f"{args.rounds} interleaved rounds, medians, {args.count} outputs, workers {args.workers or 'all'}:")
        print(f"  accuracy alone:           {alone:6.2f} s  ({args.count / alone:.0f} outputs/s)")
        print(f"  accuracy + predictions + per-class files: {both:6.2f} s  ({both / alone:.2f}x; {rows} rows)")
        print(f"  class names (once per script run, a fresh interpreter): {names_import_seconds():.2f} s")
        print(f"  scaled to 50,000 outputs: {50_000 * alone / args.count:.1f} s and {50_000 * both / args.count:.1f} s")
        print(documents.pop())
    return 0


if __name__ == "__main__":
    sys.exit(main())
