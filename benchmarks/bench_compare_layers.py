"""Speed of the layer comparison (compare_layers.py) on the real network: ShuffleNetV2+ Small exported at batch 1 on
seeded random weights, one preprocessed image, every intermediate tensor compared.

Times, side by side in interleaved rounds (the order rotating), reporting the median of each:

- onnx vs onnx: ``shufflenet_ascend.layers.compare_layers`` of the file against itself (both run in onnxruntime with
  every node output exposed, then paired and measured: the int8-against-fp32 case costs the same);
- fp16: the file against itself converted to float16 (``--fp16``: the conversion included);
- random vs onnx: the PyTorch model (forward hooks on every module) against the file;
- figures only: pairing and the four figures of every tensor, both sides already run;
- CLI, fp16: ``python compare_layers.py MODEL --fp16 ...`` in a fresh interpreter, imports and the CSV included.

    python benchmarks/bench_compare_layers.py              # 5 rounds
    python benchmarks/bench_compare_layers.py --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np

from shufflenet_ascend.export import export_file
from shufflenet_ascend.host import available_cores, cpu_name
from shufflenet_ascend.layers import (
    Side,
    build_rows,
    compare_layers,
    load_onnx,
    onnx_input,
    onnx_tensors,
    pair_onnx,
    read_input_bin,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the random weights' warning, once per model built, is not news

    with contextlib.ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench_layers_")))
        model = folder / "shufflenetv2_bs1.onnx"
        export_file("random", model, 1, seed=0)
        image = folder / "image.bin"
        np.random.default_rng(0).integers(0, 256, (3, 224, 224)).astype(np.float32).tofile(image)
        proto = load_onnx(model)
        spec = onnx_input(proto, model)
        images = [read_input_bin(image, spec)]
        golden = Side("golden", onnx_tensors(proto, images, spec), True)
        candidate = Side("candidate", onnx_tensors(proto, images, spec), True)
        cli = [sys.executable, str(REPO_ROOT / "compare_layers.py"), str(model), "--fp16", "--input", str(image),
               "--csv", str(folder / "layers.csv")]  # fmt: skip

        cases: dict[str, Callable[[], object]] = {
            "onnx vs onnx": lambda: compare_layers(str(model), str(model), [image]),
            "fp16": lambda: compare_layers(str(model), None, [image], fp16=True),
            "random vs onnx": lambda: compare_layers("random", str(model), [image]),
            "figures only": lambda: build_rows(golden, candidate, pair_onnx(golden.tensors, candidate.tensors)),
            "CLI, fp16": lambda: subprocess.run(cli, check=False, capture_output=True),
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        names = list(cases)
        for round_number in range(args.rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                cases[name]()
                times[name].append(time.perf_counter() - started)
        counts = {
            "onnx vs onnx": len(compare_layers(str(model), str(model), [image]).compared),
            "fp16": len(compare_layers(str(model), None, [image], fp16=True).compared),
            "random vs onnx": len(compare_layers("random", str(model), [image]).compared),
        }
        counts["figures only"] = counts["onnx vs onnx"]
        counts["CLI, fp16"] = counts["fp16"]
        print(f"ShuffleNetV2+ Small, batch 1, random weights (seed 0), one image; {cpu_name()}, "
              f"{available_cores()} cores; {args.rounds} interleaved rounds, medians:")  # fmt: skip
        for name in names:
            print(f"  {name:<16} {statistics.median(times[name]):6.2f} s  ({counts[name]} tensors compared; "
                  f"min {min(times[name]):.2f} s, max {max(times[name]):.2f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
