"""benchmark_ort.py and shufflenet_ascend.standin: the stand-in writes the benchmark tool's files (formats.md) and
rejects bad input cleanly."""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import benchmark_ort
from shufflenet_ascend import fileio
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import INPUT_NAME
from shufflenet_ascend.fileio import atomic_write_bytes
from shufflenet_ascend.formats import dump
from shufflenet_ascend.formats.dump import encode_dump_lines, format_dump_line, read_dump, write_dumps
from shufflenet_ascend.formats.info import InfoEntry, write_info
from shufflenet_ascend.formats.perf import parse_dataset_perf, parse_pure_infer_perf
from shufflenet_ascend.standin import pipeline, torch_reference
from shufflenet_ascend.standin.backends import open_backend, open_session
from shufflenet_ascend.standin.flags import check_flags, parse_flags
from tiny_model import HEIGHT, WIDTH, TinyClassifier, export_tiny

STATIC_BATCH = 4
IMAGES = 10  # not a multiple of the batch: the last batch is padded


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """tiny_bs4.onnx (static batch 4) and tiny_dynamic.onnx (dynamic batch), input 'image' [B,3,32,24]."""
    folder = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    model = TinyClassifier().eval()
    paths = {"static": folder / f"tiny_bs{STATIC_BATCH}.onnx", "dynamic": folder / "tiny_dynamic.onnx"}
    export_tiny(model, paths["static"], batch_size=STATIC_BATCH)
    export_tiny(model, paths["dynamic"], dynamic_batch=True)
    return paths


def make_dataset(folder: Path, count: int = IMAGES) -> tuple[Path, np.ndarray]:
    """``count`` preprocessed inputs under folder/prep_dataset and the info file listing them (relative paths)."""
    rng = np.random.default_rng(0)
    (folder / "prep_dataset").mkdir()
    images = rng.uniform(0, 255, size=(count, 3, HEIGHT, WIDTH)).astype(np.float32)
    entries = []
    for index, image in enumerate(images):
        relative = f"./prep_dataset/ILSVRC2012_val_{index + 1:08d}.bin"
        image.tofile(folder / relative)
        entries.append(InfoEntry(index, relative, WIDTH, HEIGHT))
    write_info(folder / "prep_bin.info", entries)
    return folder / "prep_bin.info", images


def guide_flags(model: Path, batch_size: int = STATIC_BATCH, device_id: int = 0, binary: bool = False) -> list[str]:
    return [
        "-model_type=vision",
        f"-device_id={device_id}",
        f"-batch_size={batch_size}",
        f"-om_path={model}",
        "-input_text_path=./prep_bin.info",
        f"-input_width={WIDTH}",
        f"-input_height={HEIGHT}",
        f"-output_binary={binary}",
        "-useDvpp=False",
    ]


def onnxruntime_outputs(model: Path, images: np.ndarray, batch_size: int) -> np.ndarray:
    """The model's outputs for ``images``, batched and padded as the stand-in batches them."""
    session = open_session(model)
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = np.zeros((batch_size, *images.shape[1:]), dtype=np.float32)
        chunk = images[start : start + batch_size]
        batch[: len(chunk)] = chunk
        outputs.append(session.run(None, {INPUT_NAME: batch})[0][: len(chunk)])
    return np.concatenate(outputs)


FIVE_LINES = re.compile(
    r"\[e2e\] throughputRate: \S+, latency: \S+\n"
    r"\[data read\] throughputRate: \S+, moduleLatency: \S+\n"
    r"\[preprocess\] throughputRate: \S+, moduleLatency: \S+\n"
    r"\[infer\] throughputRate: \S+, Interface throughputRate: \S+, moduleLatency: \S+\n"
    r"\[post\] throughputRate: \S+, moduleLatency: \S+\n\Z"
)


def test_dataset_mode_writes_the_tools_files(tmp_path: Path, run_script, models: dict[str, Path]) -> None:
    _, images = make_dataset(tmp_path)
    result = run_script("benchmark_ort.py", *guide_flags(models["static"], device_id=3))
    assert result.returncode == 0, result.stderr

    keys = [f"ILSVRC2012_val_{index + 1:08d}" for index in range(IMAGES)]
    dump = tmp_path / "result" / "dumpOutput_device3"
    assert sorted(path.name for path in (tmp_path / "result").iterdir()) == [
        "dumpOutput_device3",
        "dumpOutput_device3.json",  # the run records of the dump folder and of the perf file (issue 17)
        "perf_vision_batchsize_4_device_3.json",
        "perf_vision_batchsize_4_device_3.txt",
    ]
    assert sorted(path.name for path in dump.iterdir()) == [f"{key}_1.txt" for key in keys]  # padding dropped

    expected = onnxruntime_outputs(models["static"], images, STATIC_BATCH)
    for key, values in zip(keys, expected, strict=False):
        text = (dump / f"{key}_1.txt").read_text()
        assert text.count("\n") == 1 and text.endswith("\n") and len(text.split(" ")) == 1000
        np.testing.assert_array_equal(read_dump(dump / f"{key}_1.txt"), values)

    perf_text = (tmp_path / "result" / "perf_vision_batchsize_4_device_3.txt").read_text()
    assert FIVE_LINES.match(perf_text), perf_text
    assert result.stdout == perf_text
    perf = parse_dataset_perf(perf_text)
    assert perf is not None
    # Relations between the figures that hold by their definitions (not timings): e2e x latency = images,
    # the [post] rate counts batches (3 for 10 images of batch 4), ms per item = 1000 / rate.
    assert perf.e2e_throughput * perf.e2e_latency_ms / 1000 == pytest.approx(IMAGES, rel=1e-4)
    assert perf.post_throughput * perf.post_latency_ms == pytest.approx(1000, rel=1e-4)
    assert perf.read_throughput * perf.read_latency_ms == pytest.approx(1000, rel=1e-4)
    # Samples run (12, padding included) over the time with a batch in flight, vs images (10) over the
    # inference stage's span, which contains that time.
    assert perf.interface_throughput * (1 + 1e-5) >= perf.infer_throughput * 12 / 10


def test_binary_outputs_are_raw_float32(tmp_path: Path, run_script, models: dict[str, Path]) -> None:
    _, images = make_dataset(tmp_path)
    result = run_script("benchmark_ort.py", *guide_flags(models["static"], binary=True))
    assert result.returncode == 0, result.stderr
    dump = tmp_path / "result" / "dumpOutput_device0"
    expected = onnxruntime_outputs(models["static"], images, STATIC_BATCH)
    names = sorted(path.name for path in dump.iterdir())
    assert names == [f"ILSVRC2012_val_{index + 1:08d}_1.bin" for index in range(IMAGES)]
    for name, values in zip(names, expected, strict=False):
        assert (dump / name).stat().st_size == 4000
        np.testing.assert_array_equal(np.fromfile(dump / name, dtype=np.float32), values)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_dynamic_batch_model_serves_any_batch(
    tmp_path: Path, run_script, models: dict[str, Path], batch_size: int
) -> None:
    _, images = make_dataset(tmp_path)
    result = run_script("benchmark_ort.py", *guide_flags(models["dynamic"], batch_size=batch_size))
    assert result.returncode == 0, result.stderr
    dump = tmp_path / "result" / "dumpOutput_device0"
    assert len(list(dump.iterdir())) == IMAGES
    assert (tmp_path / "result" / f"perf_vision_batchsize_{batch_size}_device_0.txt").is_file()
    last = read_dump(dump / f"ILSVRC2012_val_{IMAGES:08d}_1.txt")
    np.testing.assert_allclose(last, onnxruntime_outputs(models["dynamic"], images, batch_size)[-1], rtol=1e-6)


def test_pure_inference_mode(tmp_path: Path, run_script, models: dict[str, Path]) -> None:
    result = run_script("benchmark_ort.py", "-round=3", f"-om_path={models['static']}", "-device_id=2", "-batch_size=4")
    assert result.returncode == 0, result.stderr
    assert sorted(path.name for path in (tmp_path / "result").iterdir()) == [
        "PureInfer_perf_of_tiny_bs4_in_device_2.json",  # its run record (issue 17)
        "PureInfer_perf_of_tiny_bs4_in_device_2.txt",
    ]
    text = (tmp_path / "result" / "PureInfer_perf_of_tiny_bs4_in_device_2.txt").read_text()
    assert re.fullmatch(r"ave_throughputRate = [0-9.e+]+samples/s, ave_latency = [0-9.e+-]+ms\n", text), text
    perf = parse_pure_infer_perf(text)
    assert perf is not None
    assert perf.throughput * perf.latency_ms / 1000 == pytest.approx(STATIC_BATCH, rel=1e-4)  # samples per batch


def test_flag_forms() -> None:
    flags = parse_flags(
        [
            "-model_type=vision",
            "--device_id=1",
            "-batch_size",
            "16",
            "--om_path",
            "m.onnx",
            "-output_binary=true",
            "-useDvpp",
            "0",
        ]
    )
    assert (flags.model_type, flags.device_id, flags.batch_size, flags.om_path) == ("vision", 1, 16, "m.onnx")
    assert (flags.output_binary, flags.useDvpp) == (True, False)
    for words, expected in [
        (["-output_binary=False"], False),
        (["-output_binary=TRUE"], True),
        (["-output_binary=1"], True),
        (["-output_binary", "false"], False),
        (["-output_binary"], True),
        (["-nooutput_binary"], False),
    ]:
        assert parse_flags(words).output_binary is expected, words
    assert parse_flags(["-output_binary", "-round=2"]).round == 2


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-om_pth=m.onnx"], "unknown flag '-om_pth=m.onnx' (did you mean -om_path?)"),
        (["-batch_size=two"], "-batch_size=two: expected a whole number from 1 to 1024"),
        (["-output_binary=maybe"], "-output_binary=maybe: expected True or False"),
        (["-batch_size"], "flag '-batch_size' needs a value"),
        (["m.onnx"], "unexpected argument 'm.onnx'"),
    ],
)
def test_bad_flags(argv: list[str], message: str) -> None:
    with pytest.raises(PipelineError, match=re.escape(message)):
        parse_flags(argv)


@pytest.mark.parametrize("flag", ["-help", "--help", "-h"])
def test_help_explains_every_flag(run_script, flag: str) -> None:
    result = run_script("benchmark_ort.py", flag)
    assert result.returncode == 0
    for name in (
        "model_type",
        "device_id",
        "batch_size",
        "om_path",
        "input_text_path",
        "input_width",
        "input_height",
        "output_binary",
        "useDvpp",
        "round",
    ):
        assert f"  -{name} (" in result.stdout
    words = " ".join(result.stdout.split())  # the help wraps to the terminal: compare words, not lines
    assert "Interface throughputRate" in words  # what the perf figures mean


def _truncate_one_bin(folder: Path) -> None:
    path = folder / "prep_dataset" / "ILSVRC2012_val_00000003.bin"
    path.write_bytes(path.read_bytes()[:-4])


def _corrupt_info_line(folder: Path) -> None:
    info = folder / "prep_bin.info"
    lines = info.read_text().splitlines(keepends=True)
    lines[4] = "4 ./prep_dataset/ILSVRC2012_val_00000005.bin 24\n"
    info.write_text("".join(lines))


def _remove_one_bin(folder: Path) -> None:
    (folder / "prep_dataset" / "ILSVRC2012_val_00000007.bin").unlink()


INPUT_ERRORS = {
    "truncated bin": (
        _truncate_one_bin,
        {},
        "ILSVRC2012_val_00000003.bin: 9212 bytes, expected 3*32*24 float32 values = 9216 bytes",
    ),
    "malformed info line": (_corrupt_info_line, {}, "prep_bin.info:5: malformed info line"),
    "missing bin": (_remove_one_bin, {}, "input ./prep_dataset/ILSVRC2012_val_00000007.bin (index 6) not found"),
    "swapped height and width": (
        None,
        {"-input_width": HEIGHT, "-input_height": WIDTH},
        "-input_height=24 -input_width=32 disagree with the model",
    ),
    "static batch mismatch": (None, {"-batch_size": 8}, "static batch of 4 but -batch_size=8"),
    "om file": (None, {"-om_path": "shufflenetv2_bs4.om"}, "shufflenetv2_bs4.om: an OM model runs only on an Ascend"),
    "missing model": (None, {"-om_path": "nowhere.onnx"}, "nowhere.onnx: model file not found"),
    "not a model": (None, {"-om_path": "prep_bin.info"}, "prep_bin.info: not a model onnxruntime can load"),
    "missing info file": (None, {"-input_text_path": "nowhere.info"}, "nowhere.info: info file not found"),
    "dvpp": (None, {"-useDvpp": True}, "-useDvpp=True decodes JPEGs"),
    "model type": (None, {"-model_type": "nlp"}, "supports only -model_type=vision"),
}


@pytest.mark.parametrize("case", INPUT_ERRORS, ids=list(INPUT_ERRORS))
def test_input_errors_exit_2_without_perf_file(tmp_path: Path, run_script, models: dict[str, Path], case: str) -> None:
    spoil, overrides, message = INPUT_ERRORS[case]
    make_dataset(tmp_path)
    if spoil is not None:
        spoil(tmp_path)
    argv = [flag for flag in guide_flags(models["static"]) if flag.split("=")[0] not in overrides]
    argv += [f"{name}={value}" for name, value in overrides.items()]
    result = run_script("benchmark_ort.py", *argv)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("benchmark_ort.py: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    assert not (tmp_path / "result").exists()


def test_neither_dataset_nor_rounds_is_an_error(run_script, models: dict[str, Path]) -> None:
    result = run_script("benchmark_ort.py", f"-om_path={models['static']}", "-batch_size=4")
    assert result.returncode == 2 and "-input_text_path=<info file> (dataset mode) or -round=<N>" in result.stderr


def test_a_failure_during_the_run_stops_every_stage(
    tmp_path: Path, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reader or writer failing mid-run: the error reaches the caller (no hang), named; no perf figures."""
    make_dataset(tmp_path)
    monkeypatch.chdir(tmp_path)
    backend = open_backend("onnxruntime", str(models["dynamic"]))
    shape = (3, HEIGHT, WIDTH)
    backend.start(2, shape)
    samples = pipeline.load_samples(tmp_path / "prep_bin.info", 4 * 3 * HEIGHT * WIDTH, "3*32*24")
    samples[7].path.unlink()
    with pytest.raises(PipelineError, match="ILSVRC2012_val_00000008.bin: cannot read the input"):
        pipeline.run_dataset(backend, samples, 2, shape, tmp_path / "dump_a", False, progress=False)

    (tmp_path / "dump_b" / "ILSVRC2012_val_00000002_1.txt").mkdir(parents=True)  # a folder where a file must go
    with pytest.raises(PipelineError, match="ILSVRC2012_val_00000002_1.txt: cannot write the dump file"):
        pipeline.run_dataset(backend, samples[:5], 2, shape, tmp_path / "dump_b", False, progress=False)
    assert not any(path.name.startswith(".") for path in (tmp_path / "dump_b").iterdir())  # no temporary left


def test_dump_text_is_percent_8e_and_reads_back_exactly() -> None:
    """The dump line format (dump.encode_dump_lines, vectorised): every float32, including subnormals,
    extremes and values next to powers of ten, reads back bit for bit, as the guide's script reads it."""
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2**32, size=40_000, dtype=np.uint64).astype(np.uint32)
    random_floats = bits.view(np.float32)[np.isfinite(bits.view(np.float32))][:30_000]
    powers = np.array([10.0**exponent for exponent in range(-45, 39)]).astype(np.float32)
    special = np.float32(
        [
            0.0,
            -0.0,
            1e-45,
            -1e-45,
            3.4028235e38,
            -3.4028235e38,
            1.17549435e-38,
            0.1,
            -2.5,
            99999999.0,
            999999999.0,
            1e8,
            1e9,
        ]
    )
    values = np.concatenate(
        [random_floats, powers, np.nextafter(powers, np.float32(np.inf)), np.nextafter(powers, np.float32(0)), special]
    )
    rows = values[: len(values) // 100 * 100].reshape(-1, 100)
    lines = encode_dump_lines(rows)
    assert len(lines) == len(rows)
    for line, row in zip(lines, rows, strict=False):
        assert line.decode() == format_dump_line(row) == " ".join("%.8e" % value for value in row) + "\n"
        read_back = np.array([np.float32(token) for token in line.decode().strip().split(" ")], dtype=np.float32)
        assert read_back.tobytes() == row.tobytes()
    tail = values[len(rows) * 100 :]
    assert np.array(format_dump_line(tail).split(), dtype=np.float32).tobytes() == tail.tobytes()
    assert format_dump_line(np.float32([np.nan, -np.inf, 1.5])) == "nan -inf 1.5\n"  # non-finite: %.9g


def test_write_dumps_writes_one_file_per_row(tmp_path: Path) -> None:
    rows = np.random.default_rng(12).standard_normal((3, 1000)).astype(np.float32)
    for binary in (False, True):
        write_dumps(tmp_path, ["a", "b", "c"], rows, binary, output_number=2)
        for key, row in zip("abc", rows, strict=False):
            np.testing.assert_array_equal(read_dump(tmp_path / f"{key}_2.{'bin' if binary else 'txt'}"), row)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "a_2.bin",
        "a_2.txt",
        "b_2.bin",
        "b_2.txt",
        "c_2.bin",
        "c_2.txt",
    ]


def test_dump_files_are_written_atomically(tmp_path: Path) -> None:
    """atomic_write_bytes (the dump writer's fast path): complete file, mode 0o644, no temporary left behind,
    and on failure neither a file under the name nor a temporary."""
    target = tmp_path / "k_1.txt"
    target.write_text("old content, replaced in one step\n")
    atomic_write_bytes(target, b"1.00000000e+00\n")
    assert target.read_bytes() == b"1.00000000e+00\n" and (target.stat().st_mode & 0o777) == 0o644
    (tmp_path / "folder_1.txt").mkdir()  # renaming a file onto a folder fails
    with pytest.raises(OSError):
        atomic_write_bytes(tmp_path / "folder_1.txt", b"x")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["folder_1.txt", "k_1.txt"]


# --------------------------------------------------------------------------------------------------------------
# Concurrency and backends through the command line.


def read_dump_folder(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_dumps_do_not_depend_on_the_stream_count(tmp_path: Path, run_script, models: dict[str, Path]) -> None:
    """-streams=1 (2 threads) and -streams=2 (1 thread each, batches completing in any order): the very same
    dump files, byte for byte (onnxruntime's kernels give identical results whatever the thread count)."""
    make_dataset(tmp_path, count=13)
    dumps = []
    for streams, threads in [(1, 2), (2, 1), (3, 1)]:
        result = run_script(
            "benchmark_ort.py",
            *guide_flags(models["dynamic"], batch_size=2),
            f"-streams={streams}",
            f"-threads={threads}",
        )
        assert result.returncode == 0, result.stderr
        assert f"{streams} streams x {threads} threads" in result.stderr
        dumps.append(read_dump_folder(tmp_path / "result" / "dumpOutput_device0"))
    assert len(dumps[0]) == 13
    assert dumps[1] == dumps[0] and dumps[2] == dumps[0]


def test_openvino_backend_dataset_and_pure_inference(tmp_path: Path, run_script, models: dict[str, Path]) -> None:
    """Same files, outputs within fp32 accumulation of onnxruntime's (rel err <= 1e-4 of the image's largest
    output), same top-5; pure inference too."""
    _, images = make_dataset(tmp_path)
    result = run_script("benchmark_ort.py", *guide_flags(models["static"], binary=True), "-backend=openvino")
    assert result.returncode == 0, result.stderr
    assert "openvino" in result.stderr and "precision f32" in result.stderr
    assert FIVE_LINES.match((tmp_path / "result" / "perf_vision_batchsize_4_device_0.txt").read_text())
    expected = onnxruntime_outputs(models["static"], images, STATIC_BATCH)
    for index, reference in enumerate(expected):
        got = read_dump(tmp_path / "result" / "dumpOutput_device0" / f"ILSVRC2012_val_{index + 1:08d}_1.bin")
        assert np.abs(got - reference).max() <= 1e-4 * np.abs(reference).max()
        assert list(np.argsort(-got)[:5]) == list(np.argsort(-reference)[:5])
    result = run_script(
        "benchmark_ort.py",
        "-round=5",
        f"-om_path={models['static']}",
        "-batch_size=4",
        "-backend=openvino",
        "-streams=2",
    )
    assert result.returncode == 0, result.stderr
    perf = parse_pure_infer_perf((tmp_path / "result" / "PureInfer_perf_of_tiny_bs4_in_device_0.txt").read_text())
    assert perf is not None and perf.throughput * perf.latency_ms / 1000 == pytest.approx(STATIC_BATCH, rel=1e-4)


def test_an_earlier_runs_dump_is_removed_first(tmp_path: Path, run_script, models: dict[str, Path]) -> None:
    """A dump folder holding another run's outputs (other keys, other numbering, an interrupted write's
    temporary) holds this run's outputs only afterwards; other files are left alone; the log says how many."""
    make_dataset(tmp_path, count=5)
    dump = tmp_path / "result" / "dumpOutput_device0"
    dump.mkdir(parents=True)
    for name in [
        "old_image_1.txt",
        "old_image_1.bin",
        "ILSVRC2012_val_00000001_0.npy",
        "ILSVRC2012_val_00000002_1.txt",
    ]:
        (dump / name).write_text("stale\n")
    (dump / ".ILSVRC2012_val_00000009_1.txt.123-456.tmp").write_text("half")
    (dump / "notes.md").write_text("mine")
    # Outputs with no run record (another tool's, or an interrupted run's): replaced only when asked (issue 17).
    result = run_script("benchmark_ort.py", *guide_flags(models["dynamic"], batch_size=2), "-overwrite=true")
    assert result.returncode == 0, result.stderr
    assert "result/dumpOutput_device0: removed 4 outputs of an earlier run" in result.stderr
    assert sorted(path.name for path in dump.iterdir()) == [
        f"ILSVRC2012_val_{index + 1:08d}_1.txt" for index in range(5)
    ] + ["notes.md"]
    assert (dump / "ILSVRC2012_val_00000002_1.txt").read_text() != "stale\n"


def _result_is_a_file(folder: Path) -> None:
    (folder / "result").write_text("")


def _dump_folder_is_a_file(folder: Path) -> None:
    (folder / "result").mkdir()
    (folder / "result" / "dumpOutput_device0").write_text("")


def _perf_path_is_a_folder(folder: Path) -> None:
    (folder / "result" / "perf_vision_batchsize_4_device_0.txt").mkdir(parents=True)


OUTPUT_ERRORS = {
    "result is a file": (_result_is_a_file, "result: is a file, expected a folder for the results"),
    "dump folder is a file": (
        _dump_folder_is_a_file,
        "result/dumpOutput_device0: is a file, expected a folder for the results",
    ),
    "perf path is a folder": (_perf_path_is_a_folder, "result/perf_vision_batchsize_4_device_0.txt: is a folder"),
}


@pytest.mark.parametrize("case", OUTPUT_ERRORS, ids=list(OUTPUT_ERRORS))
def test_blocked_outputs_fail_before_inference(tmp_path: Path, run_script, models: dict[str, Path], case: str) -> None:
    spoil, message = OUTPUT_ERRORS[case]
    make_dataset(tmp_path)
    spoil(tmp_path)
    result = run_script("benchmark_ort.py", *guide_flags(models["static"]))
    assert result.returncode == 2
    assert result.stderr.startswith("benchmark_ort.py: error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr
    dump = tmp_path / "result" / "dumpOutput_device0"
    assert not dump.is_dir() or not any(dump.iterdir())  # checked before any inference


def test_read_only_folder(
    tmp_path: Path,
    run_script,
    models: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The stand-in started in a folder it cannot write to: one line naming the folder. Root may write to a
    mode-0o555 folder, so the file system's refusal is also simulated (EROFS from mkdir)."""
    make_dataset(tmp_path)
    tmp_path.chmod(0o555)
    try:
        result = run_script("benchmark_ort.py", *guide_flags(models["static"]))
        if os.geteuid() != 0:
            assert result.returncode == 2, result.stderr
            assert (
                result.stderr == "benchmark_ort.py: error: result: cannot create the results folder: "
                "Permission denied\n"
            )
    finally:
        tmp_path.chmod(0o755)
    shutil.rmtree(tmp_path / "result", ignore_errors=True)
    monkeypatch.chdir(tmp_path)

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(PipelineError) as raised:
        benchmark_ort.main(guide_flags(models["static"]))
    assert str(raised.value) == "result: cannot create the results folder: Read-only file system"


def test_disk_full_names_the_file(tmp_path: Path, models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC as os.write raises it (no file name attached): the message names the dump file (or the perf file)
    that could not be written, not 'None'."""
    make_dataset(tmp_path)
    monkeypatch.chdir(tmp_path)
    real_write = fileio.atomic_write_bytes
    attempts: list[str] = []

    def full_after(count: int):
        def write(path: object, data: bytes) -> None:
            attempts.append(os.fspath(path))
            if len(attempts) > count:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real_write(path, data)

        return write

    for module in (fileio, dump):  # the dump writer and atomic_write_text both end in atomic_write_bytes
        monkeypatch.setattr(module, "atomic_write_bytes", full_after(6))
    with pytest.raises(PipelineError) as raised:
        benchmark_ort.main([*guide_flags(models["static"]), "-streams=1"])
    assert str(raised.value) == f"{attempts[6]}: cannot write the dump file: No space left on device"
    assert Path(attempts[6]).parent == Path("result/dumpOutput_device0") and "None" not in str(raised.value)

    attempts.clear()
    for module in (fileio, dump):  # the dump writer and atomic_write_text both end in atomic_write_bytes
        monkeypatch.setattr(module, "atomic_write_bytes", full_after(IMAGES))  # every dump, then the perf file
    with pytest.raises(PipelineError) as raised:
        # The first attempt left a dump folder with no run record (an interrupted run's): replaced when asked.
        benchmark_ort.main([*guide_flags(models["static"]), "-overwrite=true"])
    assert str(raised.value) == (
        "result/perf_vision_batchsize_4_device_0.txt: cannot write the perf file: No space left on device"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-backend=tensorrt"], "-backend=tensorrt: expected one of onnxruntime, openvino, torch, torch-fp16"),
        (["-backend=torch", "-model_size=Tiny"], "-model_size=Tiny: expected one of Small, Medium, Large"),
        (["-backend=torch"], "-backend=torch runs the PyTorch model: give -om_path a checkpoint"),
        (["-streams=-1"], "-streams=-1: expected a whole number from 0 to 256"),
    ],
)
def test_bad_backend_flags(argv: list[str], message: str) -> None:
    with pytest.raises(PipelineError, match=re.escape(message)):
        check_flags(parse_flags(["-om_path=m.onnx", "-round=1", *argv]))


def test_torch_backend_dump_is_the_model_and_onnxruntime_agrees(tmp_path: Path, run_script) -> None:
    """-backend=torch on the bins: the dump reads back as the model's own forward (same float32; the same thread
    count, as PyTorch's kernels sum in another order with another one); the onnxruntime dump of the ONNX export
    of the same random weights agrees: cosine >= 0.99999, top-1 identical for every image."""
    rng = np.random.default_rng(3)
    images = rng.uniform(0, 255, size=(6, 3, 224, 224)).astype(np.float32)
    (tmp_path / "prep_dataset").mkdir()
    entries = []
    for index, image in enumerate(images):
        image.tofile(tmp_path / f"prep_dataset/img_{index}.bin")
        entries.append(InfoEntry(index, f"./prep_dataset/img_{index}.bin", 224, 224))
    write_info(tmp_path / "prep_bin.info", entries)
    common = [
        "-model_type=vision",
        "-device_id=0",
        "-batch_size=4",
        "-input_text_path=./prep_bin.info",
        "-input_width=224",
        "-input_height=224",
        "-output_binary=False",
        "-useDvpp=False",
    ]
    result = run_script(
        "benchmark_ort.py",
        *common,
        "-backend=torch",
        "-om_path=random",
        "-model_size=Small",
        "-seed=0",
        "-streams=2",
        "-threads=1",
    )
    assert result.returncode == 0, result.stderr
    dump = tmp_path / "result" / "dumpOutput_device0"
    torch_dump = np.stack([read_dump(dump / f"img_{index}_1.txt") for index in range(6)])

    model = torch_reference.load_reference_model("random", "Small", 0, False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            padded = np.concatenate([images, np.zeros((2, *images.shape[1:]), dtype=np.float32)])
            expected = np.concatenate([model(torch.from_numpy(padded[start : start + 4])).numpy() for start in (0, 4)])[
                :6
            ]
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(torch_dump, expected)

    assert run_script("shufflenetv2_pth2onnx.py", "random", "x_bs4.onnx", "4").returncode == 0
    # The dump folder holds the torch backend's outputs: replaced only when asked (issue 17).
    refused = run_script("benchmark_ort.py", *common, "-om_path=x_bs4.onnx")
    assert refused.returncode == 2 and "holds 6 outputs of another backend" in refused.stderr, refused.stderr
    result = run_script("benchmark_ort.py", *common, "-om_path=x_bs4.onnx", "-overwrite=true")
    assert result.returncode == 0, result.stderr
    assert "removed 6 outputs of an earlier run" in result.stderr
    onnx_dump = np.stack([read_dump(dump / f"img_{index}_1.txt") for index in range(6)])
    cosine = (onnx_dump * torch_dump).sum(1) / np.linalg.norm(onnx_dump, axis=1) / np.linalg.norm(torch_dump, axis=1)
    assert cosine.min() >= 0.99999
    assert (onnx_dump.argmax(1) == torch_dump.argmax(1)).all()
    assert torch_dump.std() > 1.0  # real spread: a wrong model cannot agree by accident
