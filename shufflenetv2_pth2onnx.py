"""Export ShuffleNetV2+ from a PyTorch checkpoint to an ONNX file for ATC (the guide's step 3.1).

    python shufflenetv2_pth2onnx.py ShuffleNetV2+.Small.pth.tar shufflenetv2_bs1.onnx
    python shufflenetv2_pth2onnx.py ShuffleNetV2+.Small.pth.tar shufflenetv2_bs16.onnx 16 --verify

The work is done by shufflenet_ascend.export and shufflenet_ascend.model; ``--help`` tells the details.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from shufflenet_ascend.bounds import BATCH_SIZE, SEED
from shufflenet_ascend.cli import add_verbose_flag, make_parser, run_cli, setup_logging
from shufflenet_ascend.contract import (
    CHANNEL_SPLITS,
    DEFAULT_MODEL_SIZE,
    DYNAMIC_CHANNEL_SPLIT,
    MODEL_SIZES,
    RANDOM_WEIGHTS,
)
from shufflenet_ascend.export import DEFAULT_OPSET, MAX_OPSET, MAX_RELATIVE_ERROR, export_file

DESCRIPTION = f"""\
Export ShuffleNetV2+ from a PyTorch checkpoint to an ONNX file for ATC (the guide's step 3.1). The guide's
command line (batch size 1 unless BATCH_SIZE is given; ATC needs one file per batch size):

    python shufflenetv2_pth2onnx.py ShuffleNetV2+.Small.pth.tar shufflenetv2_bs1.onnx
    python shufflenetv2_pth2onnx.py ShuffleNetV2+.Small.pth.tar shufflenetv2_bs16.onnx 16 --verify

Without a checkpoint, give the word {RANDOM_WEIGHTS} instead of a file: the model then gets seeded random weights
(--seed) whose logits have real spread, so the whole pipeline can run, but its accuracy is chance-level (a file
really named "{RANDOM_WEIGHTS}" is ./{RANDOM_WEIGHTS}):

    python shufflenetv2_pth2onnx.py {RANDOM_WEIGHTS} shufflenetv2_bs1.onnx

The checkpoint may be the official file ({{'state_dict': {{'module.<key>': tensor}}}}) or a bare state_dict, with
or without the module. prefix; it is loaded strictly. Its md5 is logged and, for model size Small, compared with
the published md5 of ShuffleNetV2+.Small.pth.tar (a mismatch is a warning).

The ONNX file: input image float32 [B, 3, 224, 224] (BGR, 0..255), output class float32 [B, 1000], opset
{DEFAULT_OPSET} by default, TorchScript exporter; it passes onnx.checker and contains no Shape op. It is written
under a temporary name and renamed, only after --verify (if asked) passed, so a failed run leaves no OUTPUT file.
Its metadata names the weights (weights: sha256:<the checkpoint's sha256>, or "random weights, seed <s>") and
model_size, so that every later step can tell which weights an ONNX file, and an OM built from it, came from; the
export is deterministic (the same checkpoint gives the same bytes). A bs<N> in the file name that disagrees with
BATCH_SIZE (random shufflenetv2_bs16.onnx without 16) is warned
about; the file is still written.

Two graphs, the same numbers (--channel-split). The stride-1 blocks split channels into even and odd halves:

- reshape (default for a file of one batch size, the guide's flow): Megvii's channel shuffle, Reshape to
  (B*C/2, 2, H*W), Transpose, Reshape to (2, -1, C/2, H, W), Gather [0] and [1], and a Reshape to (-1, 1280)
  before the classifier. This is the graph the guide converted with ATC for its published figures. On the
  Ascend, channels are stored in blocks of 16 (NC1HWC0), so this shuffle and a step-2 channel slice compile to
  different data-movement kernels: only this graph makes an OM comparable with the guide's throughput. Its
  reshape targets hold the batch size, so the file serves that batch size only.
- slice (default with --dynamic-batch): strided Slices (step 2 on channels) and a Flatten; no shape in the graph
  depends on the batch, so one file serves any batch size. reshape with --dynamic-batch is refused.

--verify runs the file in onnxruntime and the model in PyTorch on the same seeded random images and prints the
maximum absolute error, the relative error (max |onnx - torch| / max |torch|) and whether the top-5 classes agree;
it fails (exit status 1, no file written) when the relative error exceeds {MAX_RELATIVE_ERROR:g}.

The model is imported as the guide does, from ShuffleNet-Series/ShuffleNetV2+ in the repository (from network
import ShuffleNetV2_Plus), so a clone of Megvii's repository can stand in for ours.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION, usage="%(prog)s CHECKPOINT OUTPUT.onnx [BATCH_SIZE] [options]")
    parser.add_argument(
        "checkpoint",
        metavar="CHECKPOINT",
        help="PyTorch checkpoint, e.g. ShuffleNetV2+.Small.pth.tar (official or bare state_dict), "
        f"or the word '{RANDOM_WEIGHTS}' for seeded random weights (chance-level accuracy)",
    )
    parser.add_argument("output", metavar="OUTPUT.onnx", help="ONNX file to write, e.g. shufflenetv2_bs1.onnx")
    parser.add_argument(
        "batch_size",
        metavar="BATCH_SIZE",
        nargs="?",
        type=BATCH_SIZE.arg(),
        default=1,
        help=f"batch size of the file's input and output, 1..{BATCH_SIZE.high:g} (default: %(default)s); with "
        "--dynamic-batch only the batch the model is traced with",
    )
    parser.add_argument(
        "--model-size",
        default=DEFAULT_MODEL_SIZE,
        metavar="SIZE",
        help=f"model size: {', '.join(MODEL_SIZES)} (default: %(default)s)",
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=DEFAULT_OPSET,
        help=f"ONNX opset, {DEFAULT_OPSET}..{MAX_OPSET} (default: %(default)s, what ATC of CANN 5.0.1 supports)",
    )
    parser.add_argument(
        "--dynamic-batch",
        action="store_true",
        help="make the batch axis symbolic, so one file serves any batch size (the guide found "
        "that ATC does not convert such a file: export one file per batch size for ATC); "
        f"its channel split is {DYNAMIC_CHANNEL_SPLIT} unless --channel-split says otherwise",
    )
    parser.add_argument(
        "--channel-split",
        choices=CHANNEL_SPLITS,
        default=None,
        help="how the stride-1 blocks split channels; same outputs, different graph (see above). "
        "Default: reshape for a file of one batch size, slice with --dynamic-batch",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="run the file in onnxruntime and the model in PyTorch on the same random images, "
        "print the max abs and relative error (max |onnx - torch| / max |torch|); fail with "
        f"exit status 1 and write nothing above {MAX_RELATIVE_ERROR:g}",
    )
    parser.add_argument(
        "--seed",
        type=SEED.arg(),
        default=0,
        help="seed of the random weights (CHECKPOINT 'random') and of --verify's random images (default: %(default)s)",
    )
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    export_file(
        args.checkpoint,
        args.output,
        args.batch_size,
        model_size=args.model_size,
        opset=args.opset,
        dynamic_batch=args.dynamic_batch,
        channel_split=args.channel_split,
        verify=args.verify,
        seed=args.seed,
    )
    return 0


if __name__ == "__main__":
    run_cli(main)
