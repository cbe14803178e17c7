"""quantize.py: calibration on the first N bins by name, NNCF / onnxruntime on the CPU, AMCT (faked) on an Ascend
host with the bins packed to its --input_shape; and the fake amct_onnx refusing what AMCT refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from blocks import hard_sigmoid, hard_swish
from conftest import REPO_ROOT
from shufflenet_ascend.metrics import cosine_similarity
from shufflenet_ascend.model_labels import label_onnx
from tiny_model import HEIGHT, WIDTH, TinyClassifier, export_tiny

FAKES = REPO_ROOT / "tests" / "fakes"
BATCH = 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny classifier of batch 2 (labelled as the export labels), and 7 bins of images 0..255 in prep/."""
    folder = tmp_path_factory.mktemp("quantize")
    torch.manual_seed(0)
    model = export_tiny(TinyClassifier(), folder / "tiny_bs2.onnx", batch_size=BATCH)
    model.write_bytes(label_onnx(model.read_bytes(), "random weights, seed 0", "Small"))
    rng = np.random.default_rng(0)
    (folder / "prep").mkdir()
    for index in range(7):
        rng.integers(0, 256, (3, HEIGHT, WIDTH)).astype(np.float32).tofile(folder / "prep" / f"img_{index:03d}.bin")
    return folder


def quantize(folder: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "quantize.py"), *args], cwd=folder, env=env, capture_output=True, text=True
    )


def outputs(model: Path, folder: Path) -> np.ndarray:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    images = np.stack([np.fromfile(p, np.float32).reshape(3, HEIGHT, WIDTH) for p in sorted(folder.glob("*.bin"))])
    return np.concatenate([session.run(None, {"image": images[i : i + BATCH]})[0] for i in range(0, 6, BATCH)])


@pytest.mark.parametrize("tool", ["nncf", "onnxruntime"])
def test_cpu_quantizer_writes_an_int8_onnx_beside_the_fp32_one(tiny, tool):
    result = quantize(tiny, "tiny_bs2.onnx", "prep", "--count", "5", "--tool", tool, "--output", f"{tool}.onnx")
    assert result.returncode == 0, result.stderr
    int8 = onnx.load(tiny / f"{tool}.onnx")
    ops = {node.op_type for node in int8.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert int8.opset_import[0].version == 11  # the export's opset: per-tensor scales
    labels = {entry.key: entry.value for entry in int8.metadata_props}
    assert labels["precision"] == "int8" and labels["weights"] == "random weights, seed 0"
    # 5 asked, whole batches of 2: the first 4 by name.
    assert "the first 4 images by name of prep (img_000 .. img_003; 2 batches of 2" in labels["calibration"]
    record = json.loads((tiny / "tiny_bs2_calibration.json").read_text())
    assert record["tool"] == tool and record["images"] == ["img_000", "img_001", "img_002", "img_003"]
    assert record["batches"] == 2 and record["outputs"] == {f"{tool}.onnx": record["outputs"][f"{tool}.onnx"]}
    assert result.stdout.startswith(f"{tool}: tiny_bs2.onnx -> {tool}.onnx")
    fp32, quantized = outputs(tiny / "tiny_bs2.onnx", tiny / "prep"), outputs(tiny / f"{tool}.onnx", tiny / "prep")
    cosines = [cosine_similarity(a[None], b[None])[0] for a, b in zip(fp32, quantized, strict=True)]
    assert np.median(cosines) >= 0.98
    assert not np.array_equal(fp32, quantized)  # int8 arithmetic, not the fp32 model again


class ConvHardSwishConv(torch.nn.Module):
    """Conv -> Megvii's Hard-Swish (Add, Clip, Div, Mul) -> Conv -> SE-style gate (Mul) -> classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.first = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.second = torch.nn.Conv2d(8, 8, 1)
        self.fc = torch.nn.Linear(8, 1000)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.second(hard_swish(self.first(image)))
        features = features * hard_sigmoid(features.mean((2, 3), keepdim=True))
        return self.fc(features.mean((2, 3)))


def test_nncf_leaves_the_hard_swish_and_gate_products_unquantized(tiny):
    """NNCF's ONNX backend does not know Megvii's Hard-Swish; left alone it quantizes both inputs of its Mul, which
    keeps OpenVINO from fusing Conv + Hard-Swish. The Convs' inputs stay quantized."""
    torch.manual_seed(0)
    export_tiny(ConvHardSwishConv(), tiny / "hswish_bs2.onnx", batch_size=BATCH)
    result = quantize(tiny, "hswish_bs2.onnx", "prep", "--count", "6", "--tool", "nncf", "--output", "hswish_int8.onnx")
    assert result.returncode == 0, result.stderr
    graph = onnx.load(tiny / "hswish_int8.onnx").graph
    made_by = {output: node.op_type for node in graph.node for output in node.output}
    muls = [node for node in graph.node if node.op_type == "Mul"]
    convs = [node for node in graph.node if node.op_type == "Conv"]
    assert len(muls) == 2 and len(convs) == 2
    assert all(made_by.get(name) != "DequantizeLinear" for node in muls for name in node.input)
    assert all(made_by[node.input[0]] == "DequantizeLinear" for node in convs)  # activations still int8
    assert all(made_by[node.input[1]] == "DequantizeLinear" for node in convs)  # and weights


def test_amct_is_run_as_the_guides_write_it_on_bins_of_one_batch_each(tiny, tmp_path):
    log = tmp_path / "calls.jsonl"
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "amct_onnx").symlink_to(FAKES / "bin" / "amct_onnx")
    path = f"{tools}{os.pathsep}{os.environ['PATH']}"
    os.environ["FAKE_LOG"] = str(log)
    try:
        result = quantize(tiny, "tiny_bs2.onnx", "prep", "--count", "6", path=path)
    finally:
        del os.environ["FAKE_LOG"]
    assert result.returncode == 0, result.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [call["argv"] for call in calls] == [
        ["calibration", "--model", "tiny_bs2.onnx", "--save_path", "amct_model/tiny_bs2", "--input_shape",
         f"image:2,3,{HEIGHT},{WIDTH}", "--data_dir", "tiny_bs2_calibration", "--data_types", "float32",
         "--batch_num", "3"]
    ]  # fmt: skip
    packed = sorted((tiny / "tiny_bs2_calibration").iterdir())
    assert [p.name for p in packed] == ["batch_000000.bin", "batch_000001.bin", "batch_000002.bin"]
    assert {p.stat().st_size for p in packed} == {BATCH * 3 * HEIGHT * WIDTH * 4}
    # The second batch holds the 3rd and 4th images by name, in order.
    expected = np.concatenate([np.fromfile(tiny / "prep" / f"img_00{i}.bin", np.float32) for i in (2, 3)])
    assert np.array_equal(np.fromfile(packed[1], np.float32), expected)
    deploy = onnx.load(tiny / "amct_model" / "tiny_bs2_deploy_model.onnx")
    assert "AscendQuant" in {node.op_type for node in deploy.graph.node}
    fake_quant = tiny / "amct_model" / "tiny_bs2_fake_quant_model.onnx"
    assert outputs(fake_quant, tiny / "prep").shape == (6, 1000)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "1"], "fewer than one batch of 2"),
        (["--count", "0"], "--count: '0': expected a whole number from 1 to 50000"),
        (["--tool", "nncf", "--calibration-config", "quant.cfg"], "is AMCT's"),
    ],
)
def test_bad_calibration_requests_are_one_line_and_status_2(tiny, args, message):
    result = quantize(tiny, "tiny_bs2.onnx", "prep", *args)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_bins_of_the_wrong_size_are_refused(tiny, tmp_path):
    (tmp_path / "bins").mkdir()
    np.zeros(10, np.float32).tofile(tmp_path / "bins" / "a.bin")
    np.zeros(10, np.float32).tofile(tmp_path / "bins" / "b.bin")
    result = quantize(tiny, "tiny_bs2.onnx", str(tmp_path / "bins"), "--count", "2")
    assert result.returncode == 2 and "a.bin: 40 bytes, not a float32 image" in result.stderr


def fake_amct(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FAKES / "bin" / "amct_onnx"), *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("bins", "args", "message"),
    [
        (2, ["--input_shape", f"image:2,3,{HEIGHT},{WIDTH}", "--batch_num", "3"], "fewer than batch_num 3"),
        (2, ["--input_shape", f"image:1,3,{HEIGHT},{WIDTH}", "--batch_num", "1"], "not one image:1,3"),
        (2, ["--input_shape", f"input:2,3,{HEIGHT},{WIDTH}", "--batch_num", "1"], "no input named 'input'"),
    ],
)
def test_the_fake_amct_refuses_what_amct_refuses(tiny, tmp_path, bins, args, message):
    data = tmp_path / "data"
    data.mkdir()
    for index in range(bins):
        np.zeros((BATCH, 3, HEIGHT, WIDTH), np.float32).tofile(data / f"b{index}.bin")
    common = ["--model", str(tiny / "tiny_bs2.onnx"), "--save_path", str(tmp_path / "out" / "m"),
              "--data_dir", str(data), "--data_types", "float32"]  # fmt: skip
    result = fake_amct(tmp_path, "calibration", *common, *args)
    assert result.returncode == 1 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_the_report_section_gives_the_guard_the_drop_and_the_first_layer_int8_cannot_carry(tmp_path):
    from shufflenet_ascend.quantization_report import int8_section

    comparison = {
        "images_paired": 50,
        "cosine": {"min": 0.91, "min_key": "img_7", "median": 0.975},
        "top1_agreement_percent": 96.0,
        "labels": {
            "images": 50, "reference_top1_percent": 74.0, "candidate_top1_percent": 72.0,
            "reference_top5_percent": 92.0, "candidate_top5_percent": 91.0,
            "reference_right_candidate_wrong": {"count": 3}, "candidate_right_reference_wrong": {"count": 2},
        },
    }  # fmt: skip
    layers = tmp_path / "layers.csv"
    layers.write_text(
        "Index,OpType,NPUDump,GroundTruth,CosineSimilarity\n0,Conv,Conv_0,Conv_0,0.9995\n"
        "1,Relu,Relu_1,Relu_1,0.9901\n2,Conv,Conv_2,Conv_2,0.9712\n"
    )
    text = "\n".join(int8_section("the first 50 images", [("cmp.json", comparison)], 72.0, False, [layers]))
    assert "median cosine 0.975000 over 50 images (FAIL, the int8 guard: median cosine >= 0.98)" in text
    assert "top-1 74.00% (fp32) -> 72.00% (int8): -2.00 points; top-5 92.00% -> 91.00%: -1.00 points" in text
    assert "| first layer int8 cannot carry | first layer below cosine 0.98: row 2, Conv" in text
    assert "cosine 0.971200" in text and "(layers.csv) |" in text
    assert "top-1 72.00% (int8) against the published 74.10% (fp32): -2.10 points" in text
