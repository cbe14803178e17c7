"""shufflenetv2_pth2onnx.py (shufflenet_ascend.model and .export): checkpoint loading, the exported ONNX files, parity
with PyTorch, every error path."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

import shufflenetv2_pth2onnx as pth2onnx
from shufflenet_ascend import export, metrics
from shufflenet_ascend import model as shufflenet
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import INPUT_NAME, NUM_CLASSES, OUTPUT_NAME
from tests.conftest import REPO_ROOT

SCRIPT = "shufflenetv2_pth2onnx.py"
SEED = 0
STATIC_BATCHES = (1, 4, 8, 16, 32)
DYNAMIC_BATCHES = (1, 3, 32)
INPUT_SEED = 123  # parity inputs differ from the images randomize_weights_ calibrated on


# --------------------------------------------------------------------------------------------------------------
# Fixtures: one randomised model, each ONNX file exported once.


@pytest.fixture(scope="module")
def random_model() -> torch.nn.Module:
    return shufflenet.randomize_weights_(shufflenet.build_model("Small"), SEED)


@pytest.fixture(scope="module")
def reshape_model() -> torch.nn.Module:
    """The same weights with Megvii's channel split: what a static export (the guide's flow) uses by default."""
    return shufflenet.prepare_model("random", "Small", SEED, channel_split="reshape")


@pytest.fixture(scope="module")
def tolerance(random_model: torch.nn.Module) -> float:
    """Relative to max |logit|: how far two fp32 computations that sum in another order may differ."""
    return shufflenet.fp32_reorder_tolerance(random_model)


@pytest.fixture(scope="module")
def static_files(reshape_model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    folder = tmp_path_factory.mktemp("static")
    files = {}
    for batch_size in STATIC_BATCHES:
        files[batch_size] = folder / f"shufflenetv2_bs{batch_size}.onnx"
        files[batch_size].write_bytes(export.export_onnx(reshape_model, batch_size))
    return files


@pytest.fixture(scope="module")
def dynamic_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Exported through the command line, as a user would; returns the file and the run's stderr."""
    path = tmp_path_factory.mktemp("dynamic") / "shufflenetv2_dynamic.onnx"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / SCRIPT), "random", str(path), "4", "--dynamic-batch", "--seed", str(SEED)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    return path, result.stderr


def assert_same_outputs(model: torch.nn.Module, onnx_path: Path, batch_size: int, tolerance: float) -> None:
    """onnxruntime and PyTorch sum in other orders: held to the fp32 bound, top-5 equal up to ties within it."""
    images = shufflenet.random_images(batch_size, INPUT_SEED + batch_size)
    expected = shufflenet.torch_outputs(model, images)
    assert float(expected.std()) > 1.0, "logits without spread make the parity check unable to fail"
    got = export.run_onnx(onnx_path, images.numpy())
    parity = export.parity(expected, got)
    assert parity.relative_error <= tolerance, parity
    assert export.top_k_agree(expected, got, atol=tolerance * float(np.abs(expected).max())), parity


def save_official(state_dict: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save({"state_dict": {"module." + key: value for key, value in state_dict.items()}}, path)
    return path


# --------------------------------------------------------------------------------------------------------------
# Parity


@pytest.mark.parametrize("batch_size", STATIC_BATCHES)
def test_static_file_matches_pytorch(reshape_model, static_files, batch_size: int, tolerance: float) -> None:
    assert_same_outputs(reshape_model, static_files[batch_size], batch_size, tolerance)


@pytest.mark.parametrize("batch_size", DYNAMIC_BATCHES)
def test_dynamic_batch_file_matches_pytorch_at_any_batch(
    random_model, dynamic_file, batch_size: int, tolerance: float
) -> None:
    assert_same_outputs(random_model, dynamic_file[0], batch_size, tolerance)


def test_both_graphs_give_the_same_outputs(static_files, dynamic_file, tolerance: float) -> None:
    images = shufflenet.random_images(16, INPUT_SEED).numpy()
    reshaped = export.run_onnx(static_files[16], images)
    sliced = export.run_onnx(dynamic_file[0], images)
    assert float(np.std(reshaped)) > 1.0, "real spread, or the comparison cannot fail"
    parity = export.parity(sliced, reshaped)
    assert parity.relative_error <= tolerance, parity
    assert export.top_k_agree(sliced, reshaped, atol=tolerance * float(np.abs(sliced).max()))


def test_fp32_tolerance_still_fails_a_batch_mix_up_and_a_scaled_output(random_model, tolerance: float) -> None:
    images = shufflenet.random_images(4, INPUT_SEED)
    expected = shufflenet.torch_outputs(random_model, images)
    atol = tolerance * float(np.abs(expected).max())
    assert export.parity(expected, expected[[1, 0, 2, 3]]).relative_error > 10 * tolerance
    assert not export.top_k_agree(expected, expected[[1, 0, 2, 3]], atol=atol)
    assert export.parity(expected, expected * 1.01).relative_error > 10 * tolerance
    assert export.top_k_agree(expected, expected + atol / 2, atol=atol)


def test_top_k_agree_allows_only_swaps_within_the_tolerance() -> None:
    reference = np.array([[9.0, 8.0, 7.0, 6.0, 5.0, 4.9995, 1.0]])
    near_tie = reference.copy()
    near_tie[0, 5] += 0.001  # class 5 passes class 4 by less than 2 * atol
    assert not np.array_equal(metrics.top_k(reference), metrics.top_k(near_tie))
    assert export.top_k_agree(reference, near_tie, atol=1e-3)
    assert not export.top_k_agree(reference, near_tie, atol=1e-5)
    far = reference.copy()
    far[0, 6] = 100.0
    assert not export.top_k_agree(reference, far, atol=1e-3)


def test_parity_defines_relative_error_against_the_largest_reference_value() -> None:
    reference = np.array([[1.0, -8.0, 3.0, 0.0, 2.0, 5.0]])
    candidate = reference + np.array([[0.0, 0.0, 0.004, 0.0, 0.0, 0.0]])
    parity = export.parity(reference, candidate)
    assert parity.max_abs_error == pytest.approx(0.004)
    assert parity.relative_error == pytest.approx(0.004 / 8.0)
    assert parity.top5_equal
    swapped = export.parity(reference, reference[:, [0, 1, 4, 3, 2, 5]])
    assert not swapped.top5_equal
    assert not export.parity(reference, reference * 1.001).ok


# --------------------------------------------------------------------------------------------------------------
# The files themselves


# The data movement of each channel split in the exported graph, and what it must not contain.
SPLIT_OPS = {"reshape": {"Reshape", "Transpose", "Gather"}, "slice": {"Slice", "Flatten"}}


def check_file(path: Path, batch: int | str, channel_split: str) -> onnx.ModelProto:
    model = onnx.load(path)
    onnx.checker.check_model(model)
    assert [(opset.domain, opset.version) for opset in model.opset_import] == [("", 11)]
    ops = {node.op_type for node in model.graph.node}
    assert ops <= export.ATC_OPS, ops - export.ATC_OPS
    assert "Shape" not in ops
    assert {"Conv", "Clip", "Concat", "GlobalAveragePool"} <= ops
    other_split = "slice" if channel_split == "reshape" else "reshape"
    assert SPLIT_OPS[channel_split] <= ops and not SPLIT_OPS[other_split] & ops, ops
    assert export.graph_problems(model) == []
    assert export.onnx_input_output(model) == {INPUT_NAME: [batch, 3, 224, 224], OUTPUT_NAME: [batch, NUM_CLASSES]}
    float_type = TensorProto.FLOAT
    assert model.graph.input[0].type.tensor_type.elem_type == float_type
    assert model.graph.output[0].type.tensor_type.elem_type == float_type
    return model


@pytest.mark.parametrize("batch_size", STATIC_BATCHES)
def test_static_file_opset_ops_names_and_shapes(static_files, batch_size: int) -> None:
    check_file(static_files[batch_size], batch_size, "reshape")


def test_dynamic_file_opset_ops_names_and_symbolic_batch(dynamic_file) -> None:
    model = check_file(dynamic_file[0], export.DYNAMIC_BATCH_AXIS, "slice")
    assert "Reshape" not in {node.op_type for node in model.graph.node}, "nothing that could hold the batch size"


def test_files_differ_only_in_the_batch_size_they_declare(static_files) -> None:
    one, sixteen = onnx.load(static_files[1]), onnx.load(static_files[16])
    assert [node.op_type for node in one.graph.node] == [node.op_type for node in sixteen.graph.node]


def test_op_counts_of_both_graphs(static_files, dynamic_file) -> None:
    """The counts issue 12 lists: the guide's graph (Megvii's network) and the batch-free one."""
    common = {
        "Conv": 102,
        "Add": 52,
        "Clip": 52,
        "Div": 52,
        "Mul": 52,
        "Relu": 23,
        "Concat": 20,
        "GlobalAveragePool": 13,
        "AveragePool": 1,
        "MatMul": 2,
    }
    reshaped = Counter(export.op_types(onnx.load(static_files[1])))
    sliced = Counter(export.op_types(onnx.load(dynamic_file[0])))
    assert reshaped == Counter({**common, "Reshape": 33, "Transpose": 16, "Gather": 32})
    assert sliced == Counter({**common, "Slice": 32, "Flatten": 1})


def test_graph_problems_reports_shape_ops_and_batch_dependent_reshapes() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Reshape", ["x", "shape"], ["y"], name="computed"),
        helper.make_node("Constant", [], ["fixed"], value=helper.make_tensor("v", TensorProto.INT64, [2], [4, 6])),
        helper.make_node("Reshape", ["y", "fixed"], ["z"], name="batch_in_target"),
        helper.make_node("Constant", [], ["free"], value=helper.make_tensor("w", TensorProto.INT64, [2], [-1, 6])),
        helper.make_node("Reshape", ["z", "free"], ["out"], name="fine"),
    ]

    def model(batch: int | str) -> onnx.ModelProto:
        graph = helper.make_graph(
            nodes,
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 6])],
            [helper.make_tensor_value_info("out", TensorProto.FLOAT, [batch, 6])],
        )
        return helper.make_model(graph)

    problems = export.graph_problems(model("N"))
    assert len(problems) == 3, problems
    assert "Shape" in problems[0]
    assert "computed" in problems[1]
    assert "batch_in_target" in problems[2] and "[4, 6]" in problems[2]
    # A file of one batch size may hold it in a Reshape target (Megvii's shuffle does); the rest still counts.
    assert export.has_symbolic_batch(model("N")) and not export.has_symbolic_batch(model(4))
    assert export.graph_problems(model(4)) == problems[:2]


# --------------------------------------------------------------------------------------------------------------
# Checkpoints


@pytest.fixture(scope="module")
def small_state_dict(random_model) -> dict[str, torch.Tensor]:
    return {key: value.clone() for key, value in random_model.state_dict().items()}


@pytest.mark.parametrize("layout", ["official", "bare", "bare with module. prefix", "official without prefix"])
def test_checkpoint_layouts_round_trip(small_state_dict, tmp_path: Path, layout: str) -> None:
    path = tmp_path / "checkpoint.pth.tar"
    prefixed = {"module." + key: value for key, value in small_state_dict.items()}
    content = {
        "official": {"state_dict": prefixed},
        "bare": small_state_dict,
        "bare with module. prefix": prefixed,
        "official without prefix": {"state_dict": small_state_dict},
    }[layout]
    torch.save(content, path)
    state_dict = shufflenet.read_checkpoint(path)
    assert list(state_dict) == list(small_state_dict)
    model = shufflenet.build_model("Small")
    shufflenet.load_weights(model, state_dict, path, "Small")
    loaded = model.state_dict()
    assert all(torch.equal(loaded[key], small_state_dict[key]) for key in small_state_dict)


def test_load_weights_names_missing_and_unexpected_keys(small_state_dict) -> None:
    state_dict = dict(small_state_dict)
    del state_dict["fc.0.weight"], state_dict["LastSE.SE_opr.1.weight"]
    state_dict["head.weight"] = torch.zeros(3)
    with pytest.raises(
        PipelineError,
        match=r"ckpt\.pth: not a ShuffleNetV2\+ Small checkpoint: 2 missing keys "
        r"\(LastSE\.SE_opr\.1\.weight, fc\.0\.weight\); 1 unexpected keys "
        r"\(head\.weight\)",
    ) as error:
        shufflenet.load_weights(shufflenet.build_model("Small"), state_dict, "ckpt.pth", "Small")
    assert error.value.exit_code == 2


@pytest.mark.parametrize("saved_size, wanted_size", [("Large", "Small"), ("Small", "Medium"), ("Medium", "Large")])
def test_load_weights_says_which_size_a_checkpoint_fits(saved_size: str, wanted_size: str) -> None:
    state_dict = shufflenet.build_model(saved_size).state_dict()
    assert shufflenet.sizes_fitting(state_dict) == [saved_size]
    with pytest.raises(
        PipelineError,
        match=rf"ckpt\.pth: checkpoint of model size {saved_size} .*"
        rf"not {wanted_size}\); pass --model-size {saved_size}",
    ):
        shufflenet.load_weights(shufflenet.build_model(wanted_size), state_dict, "ckpt.pth", wanted_size)


def test_load_weights_names_a_tensor_that_fits_no_size(small_state_dict) -> None:
    state_dict = dict(small_state_dict)
    state_dict["classifier.0.weight"] = torch.zeros(10, 1280)
    with pytest.raises(
        PipelineError,
        match=r"ckpt\.pth: 1 tensors do not fit ShuffleNetV2\+ of any size, "
        r"e\.g\. classifier\.0\.weight has shape \[10, 1280\]",
    ):
        shufflenet.load_weights(shufflenet.build_model("Small"), state_dict, "ckpt.pth", "Small")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not a PyTorch checkpoint"),
        (b"hello, not a pickle", "not a PyTorch checkpoint"),
        (None, "holds an object of type argparse.Namespace besides tensors"),
        ([1, 2, 3], "not a checkpoint: expected a state_dict"),
        ({"state_dict": {}}, "not a checkpoint: expected a state_dict"),
        ({"weights": [1.0]}, "not a checkpoint: expected a state_dict"),
    ],
)
def test_read_checkpoint_rejects_what_is_not_a_checkpoint(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "bad.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is None:
        torch.save({"state_dict": {"w": torch.zeros(1)}, "args": argparse.Namespace(lr=0.1)}, path)
    else:
        torch.save(content, path)
    with pytest.raises(PipelineError, match=f"^{path}: {message}"):
        shufflenet.read_checkpoint(path)


def test_read_checkpoint_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match="nothere.pth: checkpoint not found"):
        shufflenet.read_checkpoint(tmp_path / "nothere.pth")
    with pytest.raises(PipelineError, match="is a folder, expected a checkpoint file"):
        shufflenet.read_checkpoint(tmp_path)


def test_md5_is_computed_and_compared_with_the_published_one_for_small(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "ShuffleNetV2+.Small.pth.tar"
    path.write_bytes(b"not the published file" * 100_000)
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    assert shufflenet.file_md5(path) == md5
    assert shufflenet.published_md5("Small") == "1d6611049e6ef03f1d6afa11f6f9023e"
    assert shufflenet.published_md5("Large") is None

    with caplog.at_level(logging.INFO, logger=shufflenet.LOG.name):
        assert shufflenet.check_checkpoint_md5(path, "Small") == md5
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert (
        md5 in record.getMessage()
        and "differs from the published md5 1d6611049e6ef03f1d6afa11f6f9023e" in record.getMessage()
    )

    caplog.clear()
    with caplog.at_level(logging.INFO, logger=shufflenet.LOG.name):
        shufflenet.check_checkpoint_md5(path, "Medium")
    assert [r.levelno for r in caplog.records] == [logging.INFO]

    caplog.clear()
    monkeypatch.setattr(shufflenet, "SMALL_CHECKPOINT_MD5", md5)
    with caplog.at_level(logging.INFO, logger=shufflenet.LOG.name):
        shufflenet.check_checkpoint_md5(path, "Small")
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "the published md5" in caplog.records[0].getMessage()


# --------------------------------------------------------------------------------------------------------------
# The command line


def stderr_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_random_export_warns_loudly_and_shows_no_exporter_warnings(dynamic_file) -> None:
    _, stderr = dynamic_file
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[0].startswith("WARNING: no checkpoint: exporting RANDOM weights (seed 0)")
    assert "chance-level" in lines[0]
    assert lines[1:] == [
        f"wrote {lines[1].split()[1]} (ShuffleNetV2+ Small, dynamic batch, opset 11, channel split slice)"
    ]
    assert "arning" not in stderr.replace("WARNING", "")


def test_cli_verify_prints_both_errors_and_writes_the_same_file_as_the_library(
    run_script, tmp_path: Path, static_files
) -> None:
    output = tmp_path / "shufflenetv2_bs16.onnx"
    result = run_script(SCRIPT, "random", output, 16, "--verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("verify (batch 16): max abs error ")
    assert "relative error" in result.stdout and "top-5 equal" in result.stdout
    assert "arning" not in result.stderr.replace("WARNING", "")
    assert output.read_bytes() == static_files[16].read_bytes(), "the export must be deterministic"
    assert sorted(path.name for path in tmp_path.iterdir()) == [output.name]


def test_cli_exports_an_official_checkpoint_with_its_md5(
    run_script, tmp_path: Path, small_state_dict, random_model, tolerance: float
) -> None:
    checkpoint = save_official(small_state_dict, tmp_path / "ShuffleNetV2+.Small.pth.tar")
    output = tmp_path / "shufflenetv2_bs1.onnx"
    result = run_script(SCRIPT, checkpoint, output, "--model-size", "Small")
    assert result.returncode == 0, result.stderr
    assert "loaded 549 tensors into ShuffleNetV2+ Small" in result.stderr
    assert shufflenet.file_md5(checkpoint) in result.stderr
    assert "differs from the published md5" in result.stderr
    assert "RANDOM" not in result.stderr
    check_file(output, 1, "reshape")
    assert_same_outputs(random_model, output, 1, tolerance)


def test_verify_failure_exits_1_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_run_onnx = export.run_onnx
    monkeypatch.setattr(export, "run_onnx", lambda model, images: real_run_onnx(model, images) * 1.01)
    monkeypatch.setattr(pth2onnx, "setup_logging", lambda verbose=False: None)
    output = tmp_path / "out.onnx"
    with pytest.raises(
        PipelineError,
        match=r"out\.onnx: verification failed: relative error 0\.01 > 0\.0001; "
        r"file not written",
    ) as error:
        pth2onnx.main(["random", str(output), "--verify"])
    assert error.value.exit_code == 1
    assert "relative error 0.01 " in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def test_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        pth2onnx.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())  # the help wraps to the terminal: compare words, not lines
    for option in (
        "CHECKPOINT",
        "OUTPUT.onnx",
        "BATCH_SIZE",
        "--model-size",
        "--opset",
        "--dynamic-batch",
        "--verify",
        "--seed",
        "random",
        "Small, Medium, Large",
        "max |onnx - torch| / max |torch|",
        "--channel-split {reshape,slice}",
        "NC1HWC0",
        "the guide converted with ATC",
        "one file serves any batch size",
    ):
        assert option in text, option


def test_a_megvii_network_without_channel_split_can_only_reshape(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clone of Megvii's network.py takes no channel_split and always reshapes: "slice" is a clear error."""
    real = shufflenet.ShuffleNetV2_Plus

    def megvii_network(input_size: int = 224, n_class: int = 1000, architecture=None, model_size: str = "Large"):
        return real(input_size, n_class, architecture, model_size, channel_split="reshape")

    monkeypatch.setattr(shufflenet, "ShuffleNetV2_Plus", megvii_network)
    assert shufflenet.build_model("Small", "reshape").channel_split == "reshape"
    assert shufflenet.build_model("Small").channel_split == "reshape"
    with pytest.raises(
        PipelineError,
        match=r"network\.py: its ShuffleNetV2_Plus takes no channel_split .* use "
        r"--channel-split reshape without --dynamic-batch",
    ):
        shufflenet.build_model("Small", "slice")


def test_build_model_refuses_an_unknown_channel_split() -> None:
    with pytest.raises(ValueError, match="unknown channel split 'shuffle'"):
        shufflenet.build_model("Small", "shuffle")


def test_cli_channel_split_slice_makes_a_batch_free_static_file(
    run_script, tmp_path: Path, random_model, tolerance: float
) -> None:
    output = tmp_path / "shufflenetv2_bs2.onnx"
    result = run_script(SCRIPT, "random", output, 2, "--channel-split", "slice")
    assert result.returncode == 0, result.stderr
    assert "(ShuffleNetV2+ Small, batch 2, opset 11, channel split slice)" in result.stderr
    check_file(output, 2, "slice")
    assert_same_outputs(random_model, output, 2, tolerance)


@pytest.mark.parametrize(
    "name, batch_size, dynamic, expected",
    [
        ("shufflenetv2_bs16.onnx", 1, False, [16]),
        ("shufflenetv2_bs16.onnx", 16, False, []),
        ("bs4_shufflenetv2.onnx", 1, False, [4]),
        ("shufflenetv2_BS8.onnx", 1, False, [8]),
        ("shufflenetv2_bs16.onnx", 1, True, []),  # a dynamic file serves batch 16 too
        ("shufflenetv2_bs1.onnx", 1, False, []),
        ("shufflenetv2.onnx", 4, False, []),
        ("libs16.onnx", 1, False, []),  # not a bs<N> of its own
        ("shufflenetv2_bs160.onnx", 16, False, [160]),
    ],
)
def test_batch_size_in_the_name_is_checked(
    name: str, batch_size: int, dynamic: bool, expected: list[int], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger=export.LOG.name):
        export.warn_on_batch_name_mismatch(Path("folder_bs2") / name, batch_size, dynamic)
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == len(expected)
    if expected:
        assert (
            f"the name says batch size {expected[0]} but the file is exported for batch size {batch_size}"
            in warnings[0].getMessage()
        )


def test_cli_warns_when_the_batch_size_is_forgotten_and_still_writes(run_script, tmp_path: Path) -> None:
    output = tmp_path / "shufflenetv2_bs16.onnx"
    result = run_script(SCRIPT, "random", output)
    assert result.returncode == 0, result.stderr
    lines = stderr_lines(result)
    assert lines[0] == (
        f"warning: {output}: the name says batch size 16 but the file is exported for batch size 1 "
        "(give BATCH_SIZE 16 after the file name for a batch-16 file); writing it anyway"
    )
    assert export.onnx_input_output(onnx.load(output))[INPUT_NAME] == [1, 3, 224, 224]


def make_error_case(tmp_path: Path, case: str) -> tuple[list[object], str]:
    """Arguments of a failing run and the file its error line must name."""
    output = tmp_path / "out.onnx"
    if case == "checkpoint missing":
        return [tmp_path / "missing.pth.tar", output], "missing.pth.tar: checkpoint not found"
    if case == "checkpoint unreadable":
        path = tmp_path / "garbage.pth.tar"
        path.write_bytes(np.random.default_rng(0).bytes(4096))
        return [path, output], "garbage.pth.tar: not a PyTorch checkpoint"
    if case == "not a checkpoint":
        path = tmp_path / "list.pth"
        torch.save([torch.zeros(2)], path)
        return [path, output], "list.pth: not a checkpoint"
    if case == "checkpoint of another size":
        path = save_official(shufflenet.build_model("Medium").state_dict(), tmp_path / "medium.pth.tar")
        return [path, output], "medium.pth.tar: checkpoint of model size Medium (its shapes fit Medium, not Small)"
    if case == "missing and unexpected keys":
        state_dict = shufflenet.build_model("Small").state_dict()
        state_dict["extra.bias"] = state_dict.pop("classifier.0.weight")
        path = save_official(state_dict, tmp_path / "keys.pth.tar")
        return (
            [path, output],
            "keys.pth.tar: not a ShuffleNetV2+ Small checkpoint: 1 missing keys "
            "(classifier.0.weight); 1 unexpected keys (extra.bias)",
        )
    if case == "output folder missing":
        return ["random", tmp_path / "nowhere" / "out.onnx"], "out.onnx: output folder"
    if case == "output folder not writable":
        if os.geteuid() == 0:  # root writes through permission bits; /proc refuses new files even to root
            return [
                "random",
                Path("/proc/shufflenetv2_test.onnx"),
            ], "shufflenetv2_test.onnx: output folder /proc is not writable"
        folder = tmp_path / "readonly"
        folder.mkdir(mode=0o555)
        return ["random", folder / "out.onnx"], "out.onnx: output folder"
    if case == "batch size 0":
        return ["random", output, 0], "BATCH_SIZE: '0': expected a whole number from 1 to 1024"
    if case == "unknown model size":
        return ["random", output, "--model-size", "Tiny"], "out.onnx: unknown --model-size 'Tiny'"
    if case == "opset too old":
        return ["random", output, "--opset", "9"], "out.onnx: --opset must be between 11 and"
    if case == "reshape with dynamic batch":
        return (
            ["random", output, "--dynamic-batch", "--channel-split", "reshape"],
            "out.onnx: --channel-split reshape cannot make a --dynamic-batch file (its reshape targets hold the "
            "traced batch size); use --channel-split slice or drop --dynamic-batch",
        )
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "checkpoint missing",
        "checkpoint unreadable",
        "not a checkpoint",
        "checkpoint of another size",
        "missing and unexpected keys",
        "output folder missing",
        "output folder not writable",
        "batch size 0",
        "unknown model size",
        "opset too old",
        "reshape with dynamic batch",
    ],
)
def test_cli_errors_are_one_line_naming_the_file_with_status_2(run_script, tmp_path: Path, case: str) -> None:
    args, expected = make_error_case(tmp_path, case)
    before = set(tmp_path.rglob("*"))
    result = run_script(SCRIPT, *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = stderr_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{SCRIPT}: error: ")
    assert expected in lines[0]
    assert set(tmp_path.rglob("*")) == before, "a failed export must leave no file"
    assert result.stdout == ""
