"""Post-training int8 quantization of the exported ONNX model, calibrated on preprocessed images (not in the guide:
its int8 step as Huawei's ModelZoo guides add it).

    python quantize.py shufflenetv2_bs1.onnx ./prep_dataset --count 300
    python quantize.py shufflenetv2_bs1.onnx ./prep_dataset --tool amct   # Ascend host: then ATC on the deploy model

The work is done by shufflenet_ascend.quantize; ``--help`` tells the details.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from shufflenet_ascend.bounds import CALIBRATION_IMAGES
from shufflenet_ascend.cli import add_verbose_flag, make_parser, run_cli, setup_logging
from shufflenet_ascend.quantize import DEFAULT_CALIBRATION_IMAGES, TOOLS, quantize, summary

DESCRIPTION = f"""\
Post-training int8 quantization of an exported ONNX file (one batch size), calibrated on the first --count bins by
name of BINS (float32 bins of imagenet_torch_preprocess.py), in whole batches of the model's batch size.

    python quantize.py shufflenetv2_bs1.onnx ./prep_dataset --count 300
    python quantize.py shufflenetv2_bs16.onnx ./calibration_prep --count 320 --tool amct

--tool amct (auto: when amct_onnx is on PATH, an Ascend host): the bins are packed into
<stem>_calibration/batch_<n>.bin, one batch each (exactly one --input_shape array, as AMCT reads them, in name
order), and AMCT runs as Huawei's ModelZoo guides write it:

    amct_onnx calibration --model shufflenetv2_bs1.onnx --save_path amct_model/shufflenetv2_bs1
        --input_shape "image:1,3,224,224" --data_dir shufflenetv2_bs1_calibration
        --data_types "float32" --batch_num 300 [--calibration_config quant.cfg]

It writes amct_model/<stem>_deploy_model.onnx, which ATC converts as any ONNX file (atc
--model=./amct_model/shufflenetv2_bs1_deploy_model.onnx --output=shufflenetv2_bs1_int8 ...), and
amct_model/<stem>_fake_quant_model.onnx (standard operators: onnxruntime simulates the int8 model with it).

--tool nncf (auto anywhere else) or onnxruntime: <stem>_int8.onnx beside the input, made by NNCF's post-training
quantization (nncf.quantize, its defaults) or onnxruntime's quantize_static (QDQ, int8, min-max): QuantizeLinear /
DequantizeLinear pairs in the export's opset 11, per-tensor scales; benchmark_ort.py runs it on onnxruntime and
OpenVINO. Its metadata keeps the fp32 file's weights and says precision int8 and which images calibrated it.

Images judged apart from the images calibrated on: give BINS a folder of other images (run_all.sh
--calibration-dataset DIR preprocesses them into ./calibration_prep/). The default --count is
{DEFAULT_CALIBRATION_IMAGES}; fewer bins than that are all used (whole batches).

Beside the model: <stem>_calibration.json (tool, command, the images' keys and the sha256 of their list, batches,
the input and output files' sha256). Bins of another size than a float32 image, fewer than one batch, or a model
without a static batch are one line and exit status 2; AMCT failing is exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    parser = make_parser(DESCRIPTION)
    parser.add_argument("model", metavar="MODEL.onnx", help="the fp32 ONNX file of one batch size")
    parser.add_argument("bins", metavar="BINS", help="folder of preprocessed float32 .bin files")
    parser.add_argument(
        "--count",
        type=CALIBRATION_IMAGES.arg(),
        default=DEFAULT_CALIBRATION_IMAGES,
        metavar="N",
        help="images to calibrate on: the first N by name, 1..50000 (default: %(default)s)",
    )
    parser.add_argument(
        "--tool", choices=TOOLS, default="auto", help="amct, nncf or onnxruntime (default auto: amct when on PATH)"
    )
    parser.add_argument(
        "--calibration-config", metavar="FILE", help="AMCT's --calibration_config (a quant.cfg), with --tool amct"
    )
    parser.add_argument("--output", metavar="FILE", help="the int8 ONNX file (default: <stem>_int8.onnx beside MODEL)")
    add_verbose_flag(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    result = quantize(args.model, args.bins, args.count, args.tool, args.calibration_config, args.output)
    print(summary(result))
    return 0


if __name__ == "__main__":
    run_cli(main)
