"""The ONNX file names its weights (issue 17): shufflenet_ascend.model_labels and the export's metadata."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from shufflenet_ascend import export, model_labels
from shufflenet_ascend import model as shufflenet
from shufflenet_ascend.fileio import sha256_file


def tiny_onnx() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["image"], ["class"])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("class", TensorProto.FLOAT, [1, 4])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]).SerializeToString()


def test_labels_go_into_the_metadata_and_nothing_else_changes(tmp_path: Path) -> None:
    data = tiny_onnx()
    labelled = model_labels.label_onnx(data, "random weights, seed 3", "Small")
    assert labelled == model_labels.label_onnx(data, "random weights, seed 3", "Small")  # deterministic
    proto, original = onnx.load_from_string(labelled), onnx.load_from_string(data)
    assert proto.graph.SerializeToString() == original.graph.SerializeToString()
    assert {entry.key: entry.value for entry in proto.metadata_props} == {
        "weights": "random weights, seed 3",
        "model_size": "Small",
    }
    # Labelling again replaces the labels (no duplicates); nothing to say leaves the bytes as they are.
    relabelled = model_labels.label_onnx(labelled, "sha256:ab", None)
    assert [(entry.key, entry.value) for entry in onnx.load_from_string(relabelled).metadata_props] == [
        ("model_size", "Small"),
        ("weights", "sha256:ab"),
    ]
    assert model_labels.label_onnx(data, None, None) == data
    (tmp_path / "m.onnx").write_bytes(labelled)
    assert model_labels.read_onnx_labels(tmp_path / "m.onnx")["weights"] == "random weights, seed 3"
    (tmp_path / "not.onnx").write_text("not a model")
    assert model_labels.read_onnx_labels(tmp_path / "not.onnx") == {}


def test_the_model_knows_its_weights() -> None:
    random = shufflenet.prepare_model("random", "Medium", 7)
    assert shufflenet.weights_label(random) == "random weights, seed 7"
    assert shufflenet.model_size_label(random) == "Medium"
    assert shufflenet.weights_label(shufflenet.build_model("Small")) is None  # not loaded: unknown


def test_a_checkpoints_export_names_its_sha256(tmp_path: Path) -> None:
    checkpoint = tmp_path / "weights.pth.tar"
    source = shufflenet.randomize_weights_(shufflenet.build_model("Small"), 4)
    torch.save({"state_dict": {"module." + key: value for key, value in source.state_dict().items()}}, checkpoint)
    loaded = shufflenet.prepare_model(str(checkpoint), "Small", 0, channel_split="reshape")
    assert shufflenet.weights_label(loaded) == f"sha256:{sha256_file(checkpoint)}"
    data = export.export_onnx(loaded, 1)
    labels = {entry.key: entry.value for entry in onnx.load_from_string(data).metadata_props}
    assert labels == {"weights": f"sha256:{sha256_file(checkpoint)}", "model_size": "Small"}
    assert data == export.export_onnx(loaded, 1)  # the export stays deterministic


@pytest.mark.parametrize("seed", [0, 1])
def test_the_scripts_file_names_the_random_weights(run_script, tmp_path: Path, seed: int) -> None:
    result = run_script("shufflenetv2_pth2onnx.py", "random", "out.onnx", "--seed", seed, "--dynamic-batch")
    assert result.returncode == 0, result.stderr
    labels = model_labels.read_onnx_labels(tmp_path / "out.onnx")
    assert labels == {"weights": f"random weights, seed {seed}", "model_size": "Small"}
