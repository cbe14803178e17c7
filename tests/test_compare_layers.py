"""compare_layers.py and shufflenet_ascend.layers: every tensor of a golden model against a candidate's, in msit's
CSV columns, on the real network (seeded random weights, batch 1) and on the tiny classifier."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.export import export_file
from shufflenet_ascend.layers import (
    COLUMNS,
    compare_layers,
    first_below,
    first_layer_line,
    load_onnx,
    module_of,
    onnx_input,
    onnx_tensors,
    read_input_bin,
    read_layer_csv,
    to_fp16,
)
from tiny_model import HEIGHT, WIDTH, TinyClassifier, export_tiny

NOISY_CONV = "/features/features.3/branch_main/branch_main.5/Conv"
# fp32: identical graphs on identical inputs give identical tensors; a reordered float32 sum of a few thousand terms
# stays within ~1e-6 of the cosine.
FP32_COSINE = 1 - 1e-6


def write_bin(path: Path, values: np.ndarray) -> Path:
    np.ascontiguousarray(values, dtype=np.float32).tofile(path)
    return path


def image_values(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Whole numbers 0..255, as the preprocessing makes them (so that a uint8 bin holds the same image)."""
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.float32)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real network exported at batch 1 on seeded random weights, a copy with noise in one convolution's
    weights, and two preprocessed float32 bins."""
    folder = tmp_path_factory.mktemp("layers")
    model = folder / "shufflenetv2_bs1.onnx"
    export_file("random", model, 1, seed=0)
    proto = onnx.load(model)
    node = next(node for node in proto.graph.node if node.name == NOISY_CONV)
    weight = next(init for init in proto.graph.initializer if init.name == node.input[1])
    values = numpy_helper.to_array(weight)
    noise = np.random.default_rng(1).normal(0.0, values.std(), values.shape)
    weight.CopyFrom(numpy_helper.from_array((values + noise).astype(np.float32), weight.name))
    noisy = folder / "noisy.onnx"
    onnx.save(proto, noisy)
    return {
        "model": model,
        "noisy": noisy,
        "bin": write_bin(folder / "a.bin", image_values(0, (3, 224, 224))),
        "bin2": write_bin(folder / "b.bin", image_values(1, (3, 224, 224))),
        "folder": folder,
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    model = export_tiny(TinyClassifier(), folder / "tiny.onnx")
    return {"model": model, "bin": write_bin(folder / "a.bin", image_values(0, (3, HEIGHT, WIDTH))), "folder": folder}


def test_noise_in_one_convolution_is_the_first_layer_below(network, run_script, tmp_path):
    done = run_script(
        "compare_layers.py", network["model"], network["noisy"], "--input", network["bin"], "--csv", "layers.csv"
    )
    assert done.returncode == 1, done.stderr
    rows = read_csv(tmp_path / "layers.csv")
    assert list(rows[0])[: len(COLUMNS)] == list(COLUMNS)
    position = next(i for i, row in enumerate(rows) if row["GroundTruth"] == NOISY_CONV)
    assert position > 40  # the conv is deep enough for "every row before it" to mean something
    assert all(float(row["CosineSimilarity"]) >= FP32_COSINE for row in rows[:position])
    assert all(float(row["MaxAbsoluteError"]) == 0.0 for row in rows[:position])  # the very same arithmetic
    assert float(rows[position]["CosineSimilarity"]) < 0.9
    assert rows[position]["NPUDump"] == NOISY_CONV and rows[position]["OpType"] == "Conv"
    first = next(line for line in done.stdout.splitlines() if line.startswith("first layer below"))
    assert f"row {position}, Conv {NOISY_CONV} (PyTorch module features.3.branch_main.5)" in first
    assert "10 worst layers by cosine:" in done.stdout


def test_the_same_model_against_itself_agrees_everywhere(network, run_script, tmp_path):
    done = run_script(
        "compare_layers.py", network["model"], network["model"], "--input", network["bin"], "--csv", "self.csv"
    )
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "self.csv")
    assert len(rows) > 400  # every node output but the constants
    assert all(row["NPUDump"] == row["GroundTruth"] for row in rows)
    assert all(float(row["CosineSimilarity"]) == 1.0 and float(row["MaxAbsoluteError"]) == 0.0 for row in rows)
    assert "every compared layer has cosine >= 0.99" in done.stdout
    assert "unmatched" not in done.stderr


def test_fp16_rows_come_from_a_float16_run(network, run_script, tmp_path):
    done = run_script("compare_layers.py", network["model"], "--fp16", "--input", network["bin"], "--csv", "fp16.csv")
    assert done.returncode in (0, 1), done.stderr
    assert "in float16 (onnxruntime.transformers.float16" in done.stdout
    rows = read_csv(tmp_path / "fp16.csv")
    # Only in the candidate: the converter's cast of the float32 input to float16, and the last MatMul's float16
    # output (its cast to float32 carries the name "class", which pairs with the golden's).
    only = [row for row in rows if not row["GroundTruth"]]
    assert sorted(row["OpType"] for row in only) == ["Cast", "MatMul"]
    assert all(not row["CosineSimilarity"] for row in only)
    # The candidate's tensors are float16, and the first convolution is off by what rounding the golden's output to
    # float16 costs (float32 reordering would be a thousand times less); errors then accumulate down the network.
    proto = load_onnx(network["model"])
    spec = onnx_input(proto, network["model"])
    images = [read_input_bin(network["bin"], spec)]
    half = {tensor.tensor: tensor for tensor in onnx_tensors(to_fp16(proto), images, spec)}
    golden = onnx_tensors(proto, images, spec)
    assert half[golden[0].tensor].values[0].dtype == np.float16
    rounded = golden[0].values[0].astype(np.float16).astype(np.float64)
    reference = golden[0].values[0].astype(np.float64)
    rounding = np.linalg.norm(reference - rounded) / np.linalg.norm(reference)
    first = next(row for row in rows if row["GroundTruth"] == golden[0].name)
    assert 0.8 * rounding <= float(first["RelativeEuclideanDistance"]) <= 3 * rounding
    last = next(row for row in rows if row["GroundTruth"] == "/classifier/classifier.0/MatMul")
    assert float(last["RelativeEuclideanDistance"]) > 2 * float(first["RelativeEuclideanDistance"])
    assert all(float(row["CosineSimilarity"]) > 0.99 for row in rows if row["CosineSimilarity"])


def test_a_checkpoint_golden_pairs_by_module_path(network):
    comparison = compare_layers("random", str(network["model"]), [network["bin"]])
    by_golden = {row.ground_truth: row for row in comparison.rows if row.ground_truth}
    # The exporter folded each BatchNorm into its convolution: the Conv node's output is the BatchNorm's.
    folded = by_golden["features.0.branch_main.1"]
    assert folded.npu_dump == "/features/features.0/branch_main/branch_main.0/Conv" and folded.op_type == "Conv"
    assert by_golden["features.0.branch_main.0"].npu_dump == ""  # the convolution before the folded BatchNorm
    assert by_golden["first_conv.2"].npu_dump == "/first_conv/first_conv.2/Mul"  # hard swish: its last node
    assert by_golden["features.0"].npu_dump == "/features/features.0/Concat"
    assert by_golden["LastSE"].npu_dump == "/LastSE/Mul"
    assert by_golden["classifier.0"].npu_dump == "/classifier/classifier.0/MatMul"
    assert "features" not in by_golden and "" not in by_golden  # containers returning their last child's tensor
    assert "dropout" not in by_golden  # returns its input in eval mode
    paired = comparison.compared
    assert len(paired) > 200 and all(row.cosine >= FP32_COSINE for row in paired)
    assert len(comparison.golden_only) == sum(1 for row in comparison.golden_only if row.op_type == "Conv2d")
    # The operations inside a module (hard swish's Add, Clip, Div) are the candidate's only.
    assert {"Add", "Clip", "Div"} <= {row.op_type for row in comparison.candidate_only}


def test_fp16_of_a_checkpoint_runs_pytorch_in_float16(network):
    comparison = compare_layers("random", None, [network["bin"]], fp16=True)
    assert "in float16 (PyTorch .half() on the CPU)" in comparison.candidate
    assert not comparison.golden_only and not comparison.candidate_only  # the same modules on both sides
    conv = next(row for row in comparison.rows if row.ground_truth == "first_conv.0")
    assert conv.npu_dump == "first_conv.0" and conv.op_type == "Conv2d"
    # float16's 11-bit significand: errors near 2**-11 of the values, far above float32's, far below a fault's
    assert 1e-5 < conv.relative_euclidean_distance < 1e-2
    assert all(0.999 < row.cosine < 1.0 for row in comparison.compared if row.op_type == "Conv2d")


def test_an_int8_model_pairs_what_pairs_and_lists_the_rest(tiny, run_script, tmp_path):
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Calibration(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{"image": image_values(seed, (1, 3, HEIGHT, WIDTH))} for seed in range(4)])

        def get_next(self):
            return next(self.batches, None)

    quantized = tmp_path / "tiny_int8.onnx"
    quantize_static(tiny["model"], quantized, Calibration(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)  # fmt: skip
    done = run_script(
        "compare_layers.py",
        tiny["model"],
        quantized,
        "--input",
        tiny["bin"],
        "--csv",
        "int8.csv",
        "--min-cosine",
        "0.9",
    )
    assert done.returncode == 0, done.stderr
    rows = read_csv(tmp_path / "int8.csv")
    only_candidate = [row for row in rows if not row["GroundTruth"]]
    paired = [row for row in rows if row["GroundTruth"] and row["NPUDump"]]
    assert len(paired) + len(only_candidate) == len(rows)  # every golden tensor has its counterpart
    # A quantized tensor pairs with its dequantized value, what the int8 graph passes on; the quantizer dropped the
    # Relu into the uint8 clamp, so the golden's Relu pairs with the DequantizeLinear after the Conv, whose raw
    # output (under the Relu's name) pairs with the golden's Conv by node name.
    assert [(row["GroundTruth"], row["NPUDump"]) for row in paired] == [
        ("/conv/Conv", "/conv/Conv"),
        ("/Relu", "/Relu_output_0_DequantizeLinear"),
        ("/ReduceMean", "/ReduceMean_output_0_DequantizeLinear"),
        ("/fc/Gemm", "class_DequantizeLinear"),
    ]
    assert all(0.9 < float(row["CosineSimilarity"]) < 1.0 for row in paired)  # int8 rounding: close, not equal
    # Listed, with empty figures: the weights' and the image's DequantizeLinear, the raw outputs before quantizing.
    assert {row["OpType"] for row in only_candidate} == {"DequantizeLinear", "ReduceMean", "Gemm"}
    assert all(row["CosineSimilarity"] == "" for row in only_candidate)
    assert f"0 tensors only in the golden model, {len(only_candidate)} only in the candidate" in done.stderr


def test_several_inputs_report_the_worst_input(network):
    one = compare_layers(str(network["model"]), str(network["noisy"]), [network["bin"]])
    two = compare_layers(str(network["model"]), str(network["noisy"]), [network["bin2"]])
    both = compare_layers(str(network["model"]), str(network["noisy"]), [network["bin"], network["bin2"]])
    for a, b, row in zip(one.rows, two.rows, both.rows, strict=True):
        # (float64 sums of one row or two may round differently in their last bits)
        assert row.cosine == pytest.approx(min(a.cosine, b.cosine), rel=1e-12)
        assert row.max_abs_error == max(a.max_abs_error, b.max_abs_error)
        worst = max(a.relative_euclidean_distance, b.relative_euclidean_distance)
        assert row.relative_euclidean_distance == pytest.approx(worst, rel=1e-12)


def test_a_uint8_bin_is_the_same_image_as_its_float32_bin(tiny, tmp_path):
    values = image_values(0, (3, HEIGHT, WIDTH))
    uint8_bin = tmp_path / "a_uint8.bin"
    values.astype(np.uint8).transpose(1, 2, 0).tofile(uint8_bin)  # HWC, as the uint8 route writes it
    spec = onnx_input(load_onnx(tiny["model"]), tiny["model"])
    assert np.array_equal(read_input_bin(uint8_bin, spec), read_input_bin(tiny["bin"], spec))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["{model}", "{model}", "--input", "missing.bin"], "missing.bin: input bin not found"),
        (["{model}", "missing.onnx", "--input", "{bin}"], "missing.onnx: ONNX file not found"),
        (["{model}", "{model}", "--input", "short.bin"], "short.bin: 100 bytes, but the model's input image"),
        (["{model}", "{model}", "--fp16", "--input", "{bin}"], "give either CANDIDATE or --fp16"),
        (["{model}", "{other}", "--input", "{bin}"], "not the same network as"),
        (["{model}", "{real}", "--input", "{bin}"], "not the same network at the same batch size"),
        (["{model}", "{ascend}", "--input", "{bin}"], "ascend.onnx: onnxruntime cannot run it on the CPU: "),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny, network, run_script, tmp_path, arguments, message):
    (tmp_path / "short.bin").write_bytes(b"\0" * 100)

    class Other(torch.nn.Module):  # the tiny classifier's input, another network
        def __init__(self) -> None:
            super().__init__()
            self.first = torch.nn.Conv2d(3, 4, 3)
            self.last = torch.nn.Linear(4, 1000)

        def forward(self, image: torch.Tensor) -> torch.Tensor:
            return self.last(torch.sigmoid(self.first(image)).amax((2, 3)))

    other = export_tiny(Other(), tmp_path / "other.onnx")
    ascend = onnx.load(tiny["model"])  # an operator only ATC knows, as in AMCT's deploy model
    ascend.graph.node[0].op_type, ascend.graph.node[0].domain = "AscendQuant", "amct"
    ascend.opset_import.add(domain="amct", version=1)
    onnx.save(ascend, tmp_path / "ascend.onnx")
    names = {"model": tiny["model"], "bin": tiny["bin"], "other": other, "real": network["model"],
             "ascend": tmp_path / "ascend.onnx"}  # fmt: skip
    done = run_script("compare_layers.py", *[a.format(**names) for a in arguments], "--csv", "out.csv")
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out.csv").exists()


def test_module_paths_from_the_exporters_node_names():
    assert module_of("/features/features.0/branch_main/branch_main.0/Conv") == "features.0.branch_main.0"
    assert module_of("/LastSE/SE_opr/SE_opr.1/Conv") == "LastSE.SE_opr.1"
    assert module_of("/first_conv/first_conv.2/Mul") == "first_conv.2"
    assert module_of("/Reshape") == ""
    assert module_of("conv.bias_DequantizeLinear") == ""


def test_msits_csv_is_read_by_column_name(tmp_path):
    """msit's result CSV (columns of one release, DataType twice, N/A and NaN figures) gives the same first line."""
    path = tmp_path / "result_20240101000000.csv"
    path.write_text(
        "Index,OpType,NPUDump,DataType,Address,GroundTruth,DataType,TensorIndex,Shape,OverFlow,CosineSimilarity,"
        "MaxAbsoluteError,AccumulatedRelativeError,RelativeEuclideanDistance,KullbackLeiblerDivergence,"
        "StandardDeviation,MeanAbsoluteError\n"
        "0,Conv2D,conv1,DT_FLOAT16,0x1,/first_conv/first_conv.0/Conv,DT_FLOAT,output:0,[1;16;112;112],NO,"
        "0.99999,0.01,0.001,0.002,0,0,0.001\n"
        "1,TransData,trans1,DT_FLOAT16,0x2,*,DT_FLOAT,output:0,[1;16;112;112],NO,N/A,N/A,N/A,N/A,N/A,N/A,N/A\n"
        '2,Mul,hs1,DT_FLOAT16,0x3,"/first_conv/first_conv.2/Div,/first_conv/first_conv.2/Mul",DT_FLOAT,output:0,'
        "[1;16;112;112],YES,NaN,inf,N/A,N/A,N/A,N/A,N/A\n"
    )
    rows = read_layer_csv(path)
    assert [row.cosine for row in rows[:2]] == [0.99999, None] and math.isnan(rows[2].cosine)
    assert first_below(rows, 0.99) is rows[2]
    assert "row 2, Mul hs1 (PyTorch module first_conv.2)" in first_layer_line(rows, 0.99)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(PipelineError, match="not a layer comparison CSV"):
        read_layer_csv(tmp_path / "other.csv")
