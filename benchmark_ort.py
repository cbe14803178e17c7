"""Offline inference anywhere: a CPU stand-in for Huawei's benchmark tool (the guide's step 5.2).

Same flags (gflags style), same result/ files; it runs the ONNX file the OM was converted from (backends
onnxruntime or openvino) or the PyTorch model itself (torch, torch-fp16). The guide's command lines, with the ONNX
file in place of the OM file:

    python benchmark_ort.py -model_type=vision -device_id=0 -batch_size=1 -om_path=shufflenetv2_bs1.onnx \\
        -input_text_path=./shufflenetv2_prep_bin.info -input_width=224 -input_height=224 \\
        -output_binary=False -useDvpp=False
    python benchmark_ort.py -round=20 -om_path=shufflenetv2_bs1.onnx -device_id=0 -batch_size=1

ais_bench's command lines run too, with only the program name changed (and its files: <key>_0.txt,
<dirname>_summary.json):

    python benchmark_ort.py --model ./shufflenetv2_bs1.om --input ./prep_dataset/ --output ./result/ --outfmt TXT
    python benchmark_ort.py --model=./shufflenetv2_bs16.om --loop=100 --batchsize=16 --output ./result/

Every run leaves a run record (JSON) beside its perf file or summary. The work is done by
shufflenet_ascend.standin; ``-help`` tells every flag and what each perf figure means.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from shufflenet_ascend.cli import run_cli, setup_logging
from shufflenet_ascend.standin import pipeline
from shufflenet_ascend.standin.flags import PROG, format_help, parse_flags, wants_help


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if wants_help(argv):
        sys.stdout.write(format_help())
        return 0
    setup_logging()
    return pipeline.run(parse_flags(argv), command=[PROG, *argv])


if __name__ == "__main__":
    run_cli(main)
