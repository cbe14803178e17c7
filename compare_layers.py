"""Layer by layer: where a deployed model parts from its original (msit debug compare's CSV, on any CPU).

    python compare_layers.py shufflenetv2_bs1.onnx model_int8.onnx --input prep_dataset/img.bin --csv layers.csv
    python compare_layers.py shufflenetv2_bs1.onnx --fp16 --input prep_dataset/img.bin --csv layers_fp16.csv

The comparison is ``shufflenet_ascend.layers``; its figures are ``shufflenet_ascend.metrics``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from shufflenet_ascend.bounds import SEED
from shufflenet_ascend.cli import (
    EXIT_CHECK_FAILED,
    EXIT_OK,
    PipelineError,
    add_min_cosine_flag,
    add_verbose_flag,
    make_parser,
    run_cli,
    setup_logging,
)
from shufflenet_ascend.contract import DEFAULT_MODEL_SIZE, MODEL_SIZES, RANDOM_WEIGHTS
from shufflenet_ascend.fileio import check_output_file
from shufflenet_ascend.layers import (
    DEFAULT_MIN_COSINE,
    compare_layers,
    first_below,
    format_summary,
    plot_cosine,
    write_csv,
)
from shufflenet_ascend.safe_outputs import refuse_unsafe_outputs

LOG = logging.getLogger(Path(__file__).stem)

DESCRIPTION = f"""\
Layer by layer: where a deployed model parts from its original. Both models run on the same preprocessed bin(s)
with every intermediate tensor exposed; each tensor of GOLDEN is compared with its counterpart in CANDIDATE, in
GOLDEN's order, and written as one CSV row with the columns of Huawei's msit debug compare (read the CSV top down:
the first row whose cosine falls below the threshold is where the candidate parts from the golden model):

    python compare_layers.py shufflenetv2_bs1.onnx model_int8.onnx --input img.bin --csv layers.csv
    python compare_layers.py shufflenetv2_bs1.onnx --fp16 --input img.bin --csv layers_fp16.csv
    python compare_layers.py ShuffleNetV2+.Small.pth.tar shufflenetv2_bs1.onnx --input img.bin \\
        --csv layers.csv

- GOLDEN: an ONNX file (run by onnxruntime on the CPU, graph optimizations off, every node output exposed), or a
  PyTorch checkpoint, or the word {RANDOM_WEIGHTS} (ShuffleNetV2+ in PyTorch, --model-size, --seed; a forward hook
  on every module).
- CANDIDATE: an ONNX file of the same network at the same batch size (another export, an fp16 or int8 model, the
  ONNX an OM was built from). Tensors pair by tensor name, else by node name; against a checkpoint by the PyTorch
  module path the exporter writes into node names (a BatchNorm's output is the output of the convolution the
  exporter folded it into). Tensors of one side only (a quantized model's QuantizeLinear/DequantizeLinear, a
  convolution before its folded BatchNorm, the operations inside a PyTorch module) are rows with empty figures,
  counted on stderr.
- --fp16 instead of CANDIDATE: the candidate is GOLDEN in float16, the precision ATC's default OM computes in
  (an ONNX GOLDEN converted by onnxruntime.transformers.float16, inputs and outputs kept float32; a checkpoint run
  in PyTorch's float16 on the CPU): the layers float16 cannot carry, named before a chip is at hand. A CPU's
  float16 kernels are not the NPU's: the figures show what float16 itself costs, not the OM's own rounding.
- --input: a preprocessed bin of one image, float32 CHW (602112 bytes at 224 x 224, the guide's) or uint8 HWC
  (150528 bytes, the uint8 route's, made float32 CHW as ATC's AIPP stage does); a model of batch B gets the image
  B times. Several --input: each figure of a row is the worst input's (the lowest cosine, the highest errors).

CSV columns (msit's names): Index, OpType, NPUDump (the candidate's node or module), GroundTruth (the golden's),
Shape, CosineSimilarity, MaxAbsoluteError, MeanAbsoluteError, RelativeEuclideanDistance (||golden - candidate|| /
||golden||), then PyTorchModule (ours: the module the row belongs to). Figures in float64 over the whole tensor;
a tensor holding an infinite or NaN value (a float16 overflow) has cosine NaN, which counts as below.

stdout: what ran, how many tensors paired, the first layer below --min-cosine (default {DEFAULT_MIN_COSINE}, the
usual bar; Huawei's porting guide reads 0.98) with its op type and PyTorch module, and the ten worst layers. Exit
status 1 when any layer is below; 2 for bad input (a missing file, a bin of the wrong size, ONNX files of
different networks: fewer than half of GOLDEN's tensors pair), nothing written."""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(
        DESCRIPTION, usage="%(prog)s GOLDEN [CANDIDATE | --fp16] --input FILE.bin [--input ...] --csv FILE.csv"
    )
    parser.add_argument(
        "golden",
        metavar="GOLDEN",
        help=f"the reference: an ONNX file, a PyTorch checkpoint or the word {RANDOM_WEIGHTS}",
    )
    parser.add_argument("candidate", metavar="CANDIDATE", nargs="?", help="the ONNX file compared with it")
    parser.add_argument(
        "--input",
        action="append",
        required=True,
        type=Path,
        metavar="FILE.bin",
        help="a preprocessed bin of one image (repeat for several)",
    )
    parser.add_argument("--csv", required=True, type=Path, metavar="FILE.csv", help="the layer CSV to write")
    add_min_cosine_flag(parser, DEFAULT_MIN_COSINE, "a layer's")
    parser.add_argument("--fp16", action="store_true", help="the candidate is GOLDEN run in float16 (no CANDIDATE)")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="also draw the cosine of every layer")
    parser.add_argument(
        "--model-size",
        default=DEFAULT_MODEL_SIZE,
        metavar="SIZE",
        help=f"for a checkpoint GOLDEN: {', '.join(MODEL_SIZES)} (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=SEED.arg(), default=0, help=f"seed of the {RANDOM_WEIGHTS} weights (default: %(default)s)"
    )
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    if args.model_size not in MODEL_SIZES:
        raise PipelineError(f"unknown --model-size {args.model_size!r}; choose one of {', '.join(MODEL_SIZES)}")
    refuse_unsafe_outputs(
        [args.csv, *([] if args.plot is None else [args.plot])],
        [None if args.golden == RANDOM_WEIGHTS else args.golden, args.candidate, *args.input],
    )
    check_output_file(args.csv)
    if args.plot is not None:
        check_output_file(args.plot)

    comparison = compare_layers(args.golden, args.candidate, args.input, args.fp16, args.model_size, args.seed)
    golden_only, candidate_only = len(comparison.golden_only), len(comparison.candidate_only)
    if golden_only or candidate_only:
        LOG.warning(
            "unmatched: %d tensors only in the golden model, %d only in the candidate%s (rows with empty figures "
            "in %s)",
            golden_only,
            candidate_only,
            f", {comparison.shape_mismatches} of them named alike but of another shape"
            if comparison.shape_mismatches
            else "",
            args.csv,
        )
    write_csv(args.csv, comparison.rows)
    LOG.info("wrote %s (%d rows)", args.csv, len(comparison.rows))
    if args.plot is not None:
        plot_cosine(comparison.rows, args.plot, f"{comparison.candidate}\nagainst {comparison.golden}", args.min_cosine)
        LOG.info("wrote %s", args.plot)
    sys.stdout.write(format_summary(comparison, args.min_cosine))
    return EXIT_CHECK_FAILED if first_below(comparison.rows, args.min_cosine) else EXIT_OK


if __name__ == "__main__":
    run_cli(main)
