"""Layer by layer: where a deployed model parts from its original (compare_layers.py, and msit's CSV read back).

Both models run on the same preprocessed bins with every intermediate tensor exposed, and each tensor of the golden
model is set beside its counterpart in the candidate, in the golden graph's order, with the columns of Huawei's
``msit debug compare`` result CSV (Index, OpType, NPUDump, GroundTruth, Shape, CosineSimilarity, MaxAbsoluteError,
MeanAbsoluteError, RelativeEuclideanDistance; NPUDump is the candidate's name, GroundTruth the golden's). Read top
down, the first row whose cosine falls below the threshold is where the candidate parts from the golden model.

- An ONNX model: every node output (Constant nodes left out) becomes a graph output, and onnxruntime runs the graph
  once per input with its optimizations off, so each tensor is what its node computes.
- A checkpoint, or ``random``: ShuffleNetV2+ in PyTorch with a forward hook on every module; a module's output is
  one tensor (a container that returns its last child's tensor is not repeated, nor a module that returns its
  input, such as Dropout in eval mode).
- ``--fp16``: the candidate is the golden model in float16, converted by onnxruntime's own float16 converter
  (``onnxruntime.transformers.float16``, inputs and outputs kept float32) or, for a checkpoint, PyTorch in float16
  on the CPU: the precision ATC's default OM computes in.

Pairing. Two ONNX graphs: by tensor name, else by node name (and output index); a quantized model's
QuantizeLinear/DequantizeLinear nodes and renamed tensors pair with nothing and are listed, but a tensor
it quantizes pairs with its dequantized value (what the quantized graph passes on). A PyTorch module and an
ONNX graph: by the module path the TorchScript exporter writes into node names (``/features/features.0/branch_main/
branch_main.0/Conv`` belongs to module ``features.0.branch_main.0``): a module's output is the output of the last
node under its path. The exporter folds each BatchNorm into the convolution before it: the BatchNorm's output is
that convolution node's output, and the convolution module's own output (before the folded BatchNorm) exists only
in PyTorch. Tensors of the same name but another shape do not pair. Unpaired tensors are rows with empty metrics.

Several inputs: each figure of a row is the worst input's (cosine the lowest, the errors the highest), so a layer
that one image drives out of range is not averaged away.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import textwrap
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shufflenet_ascend.bounds import COSINE, ERROR
from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.contract import DEFAULT_MODEL_SIZE, RANDOM_WEIGHTS
from shufflenet_ascend.fileio import atomic_output, atomic_write_text, read_bytes, read_text, write_errors_named
from shufflenet_ascend.metrics import (
    cosine_similarity,
    max_abs_error,
    mean_abs_error,
    relative_euclidean_distance,
)

LOG = logging.getLogger(__name__)

DEFAULT_MIN_COSINE = 0.99  # the stricter of the thresholds msit's users read (Huawei's porting guide says 0.98)
WORST_SHOWN = 10
COLUMNS = (
    "Index",
    "OpType",
    "NPUDump",
    "GroundTruth",
    "Shape",
    "CosineSimilarity",
    "MaxAbsoluteError",
    "MeanAbsoluteError",
    "RelativeEuclideanDistance",
)
MODULE_COLUMN = "PyTorchModule"  # ours, after msit's columns: the module a row belongs to
MIN_PAIRED_FRACTION = 0.5  # below this share of the golden's tensors paired, the two are not the same network


# ----------------------------------------------------------------------------------------------------------------
# One side's tensors


@dataclass
class Tensor:
    """One intermediate tensor of one side, its values on each input."""

    name: str  # shown in the CSV: a node name (":<i>" for a node's output after the first), or a module path
    op_type: str
    module: str  # the PyTorch module it belongs to ("" when not known)
    values: list[np.ndarray] = field(default_factory=list)
    node: str = ""  # ONNX: the node's name
    output_index: int = 0
    tensor: str = ""  # ONNX: the tensor's name
    dequantized: str = ""  # ONNX: the tensor that QuantizeLinear -> DequantizeLinear make of it (what is passed on)
    source: object = None  # PyTorch: the hook's record (see torch_tensors)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.values[0].shape) if self.values else ()


@dataclass
class Side:
    """A model run on the inputs: what it is, and its tensors in topological order."""

    description: str
    tensors: list[Tensor]
    is_onnx: bool


def module_of(node_name: str) -> str:
    """The PyTorch module path the TorchScript exporter wrote into a node name: ``/features/features.0/branch_main/
    branch_main.0/Conv`` -> ``features.0.branch_main.0`` (a scope ``<parent>.<i>`` names child ``i`` of the
    container ``<parent>``); ``""`` for a node of the root module or a name of another form."""
    if not node_name.startswith("/"):
        return ""
    path: list[str] = []
    for scope in node_name.strip("/").split("/")[:-1]:
        if path and scope.startswith(path[-1].rsplit(".", 1)[-1] + "."):
            path[-1] += scope[len(path[-1].rsplit(".", 1)[-1]) :]
        else:
            path.append(scope)
    return ".".join(path)


# ----------------------------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int, ...]  # [B, C, H, W]


def read_input_bin(path: str | os.PathLike[str], spec: InputSpec) -> np.ndarray:
    """One preprocessed image as the model's input batch: a float32 CHW bin (the guide's), or a uint8 HWC bin (the
    uint8 route's, made float32 CHW as ATC's AIPP stage does); a model of batch B gets the image B times."""
    from shufflenet_ascend.preprocess.transform import uint8_bin_as_float32

    batch, channels, height, width = spec.shape
    data = read_bytes(path, "input bin")
    values = channels * height * width
    if len(data) == 4 * values:
        image = np.frombuffer(data, dtype=np.float32).reshape(channels, height, width)
    elif len(data) == values:
        image = uint8_bin_as_float32(data, height, width)
    else:
        raise PipelineError(
            f"{path}: {len(data)} bytes, but the model's input {spec.name} {list(spec.shape)} takes one image of "
            f"{4 * values} bytes (float32 CHW) or {values} bytes (uint8 HWC, the uint8 route)"
        )
    if not np.isfinite(image).all():
        raise PipelineError(f"{path}: contains NaN or infinite values")
    return np.array(np.broadcast_to(image, (batch, channels, height, width)), dtype=np.float32)  # a writable copy


# ----------------------------------------------------------------------------------------------------------------
# ONNX models


def load_onnx(path: str | os.PathLike[str]):  # -> onnx.ModelProto
    import onnx

    if not Path(path).is_file():
        raise PipelineError(f"{path}: ONNX file not found")
    try:
        return onnx.load(os.fspath(path))
    except Exception:  # onnx raises DecodeError, OSError and others for what is not an ONNX file
        raise PipelineError(f"{path}: not an ONNX file") from None


def onnx_input(model, path: str | os.PathLike[str]) -> InputSpec:
    """The graph's image input (the first input that is not an initializer): a symbolic batch axis counts as 1."""
    initializers = {init.name for init in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in initializers]
    if len(inputs) != 1 or len(inputs[0].type.tensor_type.shape.dim) != 4:
        raise PipelineError(f"{path}: expected one image input [B, C, H, W], found {[v.name for v in inputs]}")
    dims = [dim.dim_value if dim.HasField("dim_value") else 1 for dim in inputs[0].type.tensor_type.shape.dim]
    return InputSpec(inputs[0].name, tuple(dims))


def to_fp16(model):  # onnx.ModelProto -> onnx.ModelProto
    """The model with float16 weights and arithmetic, its inputs and outputs kept float32 (onnxruntime's converter)."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it warns about values it clamps to the float16 range: that is the point
        return convert_float_to_float16(model, keep_io_types=True)


def onnx_tensors(model, images: Sequence[np.ndarray], spec: InputSpec, source: str = "the model") -> list[Tensor]:
    """Every floating-point node output of ``model`` on each image batch, in the graph's (topological) order;
    a graph onnxruntime cannot run (an AMCT deploy model's Ascend operators, say) is a PipelineError naming
    ``source``."""
    import onnx
    import onnxruntime

    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    graph = exposed.graph
    present = {value.name for value in graph.output}
    tensors: list[Tensor] = []
    for node in graph.node:
        if node.op_type == "Constant":
            continue
        for index, name in enumerate(node.output):
            if not name:
                continue
            shown = node.name or name
            if node.name and index:
                shown = f"{node.name}:{index}"
            tensors.append(Tensor(shown, node.op_type, module_of(node.name), node=node.name, output_index=index,
                                  tensor=name))  # fmt: skip
            if name not in present:
                graph.output.append(onnx.ValueInfoProto(name=name))  # onnxruntime infers its type
                present.add(name)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    # Off: each exposed tensor is what its node computes, not a fused kernel's.
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    quantized = {node.output[0]: node.input[0] for node in graph.node if node.op_type == "QuantizeLinear"}
    dequantized = {quantized[node.input[0]]: node.output[0] for node in graph.node
                   if node.op_type == "DequantizeLinear" and node.input[0] in quantized}  # fmt: skip
    for tensor in tensors:
        tensor.dequantized = dequantized.get(tensor.tensor, "")
    names = [tensor.tensor for tensor in tensors]
    try:
        session = onnxruntime.InferenceSession(exposed.SerializeToString(), options, providers=["CPUExecutionProvider"])
        for batch in images:
            for tensor, value in zip(tensors, session.run(names, {spec.name: batch}), strict=True):
                tensor.values.append(np.asarray(value))
    except Exception as exc:  # onnxruntime's errors share no public base class
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise PipelineError(f"{source}: onnxruntime cannot run it on the CPU: {reason}") from None
    return [tensor for tensor in tensors if np.issubdtype(tensor.values[0].dtype, np.floating)]


# ----------------------------------------------------------------------------------------------------------------
# The PyTorch model


@dataclass
class _Hooked:
    """What a module's forward hook saw: the module, and its input and output tensors by identity."""

    path: str
    kind: str
    container: bool
    input_id: int | None
    output_id: int


def torch_tensors(model, images: Sequence[np.ndarray], half: bool = False) -> list[Tensor]:
    """The output of every module of ``model`` on each image batch, in the order the modules finish (topological);
    ``half``: the model and its inputs in float16 on the CPU."""
    import torch

    if half:
        model = model.half()
    tensors: list[Tensor] = []
    for run, batch in enumerate(images):
        recorder = _Recorder()
        handles = [
            module.register_forward_hook(recorder.hook(path, any(True for _ in module.children())))
            for path, module in model.named_modules()
        ]
        try:
            with torch.no_grad():
                data = torch.from_numpy(batch)
                model(data.half() if half else data)
        finally:
            for handle in handles:
                handle.remove()
        events = recorder.events
        kept = _distinct_outputs([hooked for hooked, _ in events])
        if run == 0:
            tensors = [Tensor(events[i][0].path, events[i][0].kind, events[i][0].path, source=events[i][0])
                       for i in kept]  # fmt: skip
        for tensor, index in zip(tensors, kept, strict=True):
            tensor.values.append(events[index][1])
    return tensors


class _Recorder:
    """The forward hooks of one run: each module's output (a copy) and the identities of its input and output."""

    def __init__(self) -> None:
        self.events: list[tuple[_Hooked, np.ndarray]] = []
        self._alive: list[object] = []  # keeps every hooked tensor alive, so that no two share an id

    def hook(self, path: str, container: bool):  # -> a forward hook
        import torch

        def record(module, inputs, output) -> None:
            if not isinstance(output, torch.Tensor):
                return
            first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            self._alive.extend([first, output])
            hooked = _Hooked(path, type(module).__name__, container, None if first is None else id(first), id(output))
            # A copy: an in-place ReLU rewrites the tensor the module before it returned.
            self.events.append((hooked, output.detach().float().numpy().copy()))

        return record


def _distinct_outputs(events: Sequence[_Hooked]) -> list[int]:
    """The events whose output is a tensor of its own: not a container's return of the tensor its last finished
    module returned, nor a leaf that returns its very input (Dropout in eval mode)."""
    kept = []
    last_by_id: dict[int, int] = {}
    for index, event in enumerate(events):
        repeat = event.container and event.output_id in last_by_id
        identity = not event.container and event.input_id == event.output_id and event.kind == "Dropout"
        last_by_id[event.output_id] = index
        if not (repeat or identity):
            kept.append(index)
    return kept


# ----------------------------------------------------------------------------------------------------------------
# Pairing


def pair_onnx(golden: Sequence[Tensor], candidate: Sequence[Tensor]) -> dict[int, int]:
    """golden index -> candidate index: by tensor name, else by node name and output index.

    A tensor that a quantized candidate passes through QuantizeLinear -> DequantizeLinear pairs with the
    DequantizeLinear's output: that is what the rest of its graph reads (and a quantizer that drops a Relu into the
    QuantizeLinear's clamp leaves its Conv's raw output under the Relu's name). The tensor name comes first: such a
    quantizer also keeps the Conv node's name on the node that outputs the Relu's tensor."""
    by_tensor = {t.tensor: i for i, t in enumerate(candidate)}
    by_node = {(t.node, t.output_index): i for i, t in enumerate(candidate) if t.node}
    pairs: dict[int, int] = {}
    for g, tensor in enumerate(golden):
        match = by_tensor.get(tensor.tensor)
        if match is not None and candidate[match].dequantized in by_tensor:
            match = by_tensor[candidate[match].dequantized]
        if match is not None:
            pairs[g] = match
    used = set(pairs.values())
    for g, tensor in enumerate(golden):
        match = by_node.get((tensor.node, tensor.output_index)) if tensor.node else None
        if g not in pairs and match is not None and match not in used:
            pairs[g] = match
            used.add(match)
    return pairs


def pair_modules(golden: Sequence[Tensor], candidate: Sequence[Tensor]) -> dict[int, int]:
    """golden (PyTorch module) index -> candidate (ONNX tensor) index: a module's output is the output of the last
    node under its path; a BatchNorm without nodes of its own (folded into the convolution before it by the
    exporter) takes over the pairing of the module whose output it read."""
    last_under: dict[str, int] = {}
    for c, tensor in enumerate(candidate):
        if tensor.output_index == 0:
            parts = tensor.module.split(".") if tensor.module else []
            for depth in range(len(parts) + 1):
                last_under[".".join(parts[:depth])] = c  # later nodes overwrite: the last one under each scope
    pairs: dict[int, int] = {}
    producer: dict[int, int] = {}  # output id -> golden index of the module that returned it
    for g, tensor in enumerate(golden):
        hooked = tensor.source
        assert isinstance(hooked, _Hooked)
        match = last_under.get(tensor.module)
        if tensor.module == "" and candidate:
            match = len(candidate) - 1
        if match is None and hooked.kind.startswith("BatchNorm") and hooked.input_id in producer:
            before = producer[hooked.input_id]
            if before in pairs:
                match = pairs.pop(before)
        if match is not None:
            pairs[g] = match
        producer[hooked.output_id] = g
    return pairs


# ----------------------------------------------------------------------------------------------------------------
# Rows


@dataclass(frozen=True)
class LayerRow:
    """One row of the CSV: a paired tensor with its figures, or a tensor of one side only (figures None)."""

    index: int
    op_type: str
    npu_dump: str  # the candidate's name ("" when only in the golden model)
    ground_truth: str  # the golden's name ("" when only in the candidate)
    shape: str
    cosine: float | None = None
    max_abs_error: float | None = None
    mean_abs_error: float | None = None
    relative_euclidean_distance: float | None = None
    module: str = ""

    @property
    def paired(self) -> bool:
        return self.cosine is not None

    def below(self, min_cosine: float) -> bool:
        """Below the threshold: a cosine under it, or none that can be computed (NaN: an infinite or NaN value)."""
        return self.cosine is not None and not self.cosine >= min_cosine


def tensor_figures(golden: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> tuple[float, float, float, float]:
    """Cosine, max abs error, mean abs error, relative Euclidean distance of one tensor, each the worst input's;
    a non-finite value makes the cosine NaN."""
    reference = np.stack([np.asarray(value, dtype=np.float64).reshape(-1) for value in golden])
    other = np.stack([np.asarray(value, dtype=np.float64).reshape(-1) for value in candidate])
    with np.errstate(invalid="ignore", over="ignore"):
        cosine = cosine_similarity(reference, other)
        finite = np.isfinite(reference).all(axis=1) & np.isfinite(other).all(axis=1)
        cosine = np.where(finite, cosine, np.nan)
        figures = (
            float(np.nan if np.isnan(cosine).any() else cosine.min()),
            float(max_abs_error(reference, other).max()),
            float(mean_abs_error(reference, other).max()),
            float(relative_euclidean_distance(reference, other).max()),
        )
    return figures


def _shape(shape: Sequence[int]) -> str:
    return "[" + ",".join(map(str, shape)) + "]"


def build_rows(golden: Side, candidate: Side, pairs: dict[int, int]) -> tuple[list[LayerRow], int]:
    """The rows in the golden model's order, each candidate-only tensor after the row of the last paired tensor
    that precedes it in the candidate; and how many same-named tensors did not pair because their shapes differ."""
    pairs = dict(pairs)
    mismatched = 0
    for g, c in list(pairs.items()):
        if golden.tensors[g].shape != candidate.tensors[c].shape:
            del pairs[g]
            mismatched += 1
    paired_candidates = {c: g for g, c in pairs.items()}
    after: dict[int, list[int]] = {}  # golden index (-1: before the first) -> candidate-only tensors
    last = -1
    for c in range(len(candidate.tensors)):
        if c in paired_candidates:
            last = paired_candidates[c]
        else:
            after.setdefault(last, []).append(c)
    rows: list[LayerRow] = []

    def add_candidate_only(key: int) -> None:
        for c in after.get(key, []):
            tensor = candidate.tensors[c]
            rows.append(LayerRow(len(rows), tensor.op_type, tensor.name, "", _shape(tensor.shape),
                                 module=tensor.module))  # fmt: skip

    add_candidate_only(-1)
    for g, tensor in enumerate(golden.tensors):
        c = pairs.get(g)
        if c is None:
            rows.append(LayerRow(len(rows), tensor.op_type, "", tensor.name, _shape(tensor.shape),
                                 module=tensor.module))  # fmt: skip
        else:
            other = candidate.tensors[c]
            op_type = tensor.op_type if golden.is_onnx or not candidate.is_onnx else other.op_type
            module = tensor.module or other.module
            rows.append(LayerRow(len(rows), op_type, other.name, tensor.name, _shape(tensor.shape),
                                 *tensor_figures(tensor.values, other.values), module=module))  # fmt: skip
        add_candidate_only(g)
    return rows, mismatched


# ----------------------------------------------------------------------------------------------------------------
# The comparison


@dataclass
class LayerComparison:
    golden: str  # what the golden model is (file, runtime, precision)
    candidate: str
    inputs: list[str]
    rows: list[LayerRow]
    shape_mismatches: int = 0

    @property
    def golden_only(self) -> list[LayerRow]:
        return [row for row in self.rows if not row.npu_dump]

    @property
    def candidate_only(self) -> list[LayerRow]:
        return [row for row in self.rows if not row.ground_truth]

    @property
    def compared(self) -> list[LayerRow]:
        return [row for row in self.rows if row.paired]


def is_onnx_path(golden: str) -> bool:
    return golden != RANDOM_WEIGHTS and Path(golden).suffix.lower() == ".onnx"


def compare_layers(
    golden: str,
    candidate: str | None,
    inputs: Sequence[str | os.PathLike[str]],
    fp16: bool = False,
    model_size: str = DEFAULT_MODEL_SIZE,
    seed: int = 0,
) -> LayerComparison:
    """Every tensor of ``golden`` (an ONNX file, a checkpoint or ``random``) against its counterpart in
    ``candidate`` (an ONNX file; None with ``fp16``: the golden model in float16) on the input bins."""
    if fp16 == (candidate is not None):
        raise PipelineError("give either CANDIDATE or --fp16 (the candidate is then the golden model in float16)")
    if not inputs:
        raise PipelineError("no --input bin given")
    golden_onnx = load_onnx(golden) if is_onnx_path(golden) else None
    candidate_onnx = load_onnx(candidate) if candidate is not None else None
    if golden_onnx is None and candidate_onnx is None and not fp16:
        raise PipelineError(f"{golden}: a checkpoint golden model needs an ONNX CANDIDATE")
    if golden_onnx is not None:
        spec = onnx_input(golden_onnx, golden)
        if candidate_onnx is not None:
            other = onnx_input(candidate_onnx, candidate)
            if other.shape != spec.shape:
                raise PipelineError(
                    f"{candidate}: input {other.name} {list(other.shape)} is not {golden}'s {list(spec.shape)}: "
                    "not the same network at the same batch size"
                )
    elif candidate_onnx is not None:
        spec = onnx_input(candidate_onnx, candidate)
    else:
        from shufflenet_ascend.contract import CHANNELS, IMAGE_SIZE, INPUT_NAME

        spec = InputSpec(INPUT_NAME, (1, CHANNELS, IMAGE_SIZE, IMAGE_SIZE))
    images = [read_input_bin(path, spec) for path in inputs]
    runtime = "onnxruntime CPU"

    if golden_onnx is not None:
        golden_side = Side(
            f"{golden} (ONNX, float32, {runtime})", onnx_tensors(golden_onnx, images, spec, golden), True
        )
    else:
        golden_side = Side(
            f"{golden} (PyTorch ShuffleNetV2+ {model_size}, float32, CPU)",
            torch_tensors(_torch_model(golden, model_size, seed), images),
            False,
        )
    if fp16 and golden_onnx is not None:
        candidate_side = Side(
            f"{golden} in float16 (onnxruntime.transformers.float16, inputs and outputs float32; {runtime})",
            onnx_tensors(to_fp16(golden_onnx), images, spec, f"{golden} in float16"),
            True,
        )
    elif fp16:
        candidate_side = Side(
            f"{golden} in float16 (PyTorch .half() on the CPU)",
            torch_tensors(_torch_model(golden, model_size, seed), images, half=True),
            False,
        )
    else:
        candidate_side = Side(
            f"{candidate} (ONNX, {runtime})", onnx_tensors(candidate_onnx, images, spec, str(candidate)), True
        )

    if golden_side.is_onnx:
        pairs = pair_onnx(golden_side.tensors, candidate_side.tensors)
    elif candidate_side.is_onnx:
        pairs = pair_modules(golden_side.tensors, candidate_side.tensors)
    else:  # PyTorch against PyTorch in float16: the same module paths
        positions = {tensor.name: c for c, tensor in enumerate(candidate_side.tensors)}
        pairs = {g: positions[t.name] for g, t in enumerate(golden_side.tensors) if t.name in positions}
    rows, mismatched = build_rows(golden_side, candidate_side, pairs)
    comparison = LayerComparison(
        golden_side.description, candidate_side.description, [str(path) for path in inputs], rows, mismatched
    )
    paired = len(comparison.compared)
    if paired < MIN_PAIRED_FRACTION * len(golden_side.tensors) or not paired:
        raise PipelineError(
            f"{candidate if candidate is not None else golden}: only {paired} of the golden model's "
            f"{len(golden_side.tensors)} tensors have a counterpart of the same name and shape: not the same "
            f"network as {golden}"
        )
    return comparison


def _torch_model(checkpoint: str, model_size: str, seed: int):
    from shufflenet_ascend.model import prepare_model

    if checkpoint != RANDOM_WEIGHTS and not Path(checkpoint).is_file():
        raise PipelineError(f"{checkpoint}: checkpoint not found (or give an .onnx file, or the word random)")
    return prepare_model(checkpoint, model_size, seed).eval()


# ----------------------------------------------------------------------------------------------------------------
# Verdict and printout


def first_below(rows: Sequence[LayerRow], min_cosine: float) -> LayerRow | None:
    """The first row, top down, whose cosine is below ``min_cosine``."""
    return next((row for row in rows if row.below(min_cosine)), None)


def worst_rows(rows: Sequence[LayerRow], count: int = WORST_SHOWN) -> list[LayerRow]:
    """The ``count`` paired rows of lowest cosine (NaN first), earlier rows first on ties."""
    paired = [row for row in rows if row.paired]
    return sorted(paired, key=lambda row: (-math.inf if math.isnan(row.cosine) else row.cosine, row.index))[:count]


def row_module(row: LayerRow) -> str:
    """The PyTorch module of a row: its own, else the one its ONNX names carry (msit's GroundTruth may list several
    operators, separated by commas)."""
    if row.module:
        return row.module
    for name in (*row.ground_truth.split(","), *row.npu_dump.split(",")):
        module = module_of(name.strip())
        if module:
            return module
    return ""


def _name(row: LayerRow) -> str:
    return row.npu_dump or row.ground_truth


def _number(value: float | None, digits: str) -> str:
    return "-" if value is None else format(value, digits)


def first_layer_line(rows: Sequence[LayerRow], min_cosine: float) -> str:
    """The verdict in one line: the first layer below the threshold, its op type and PyTorch module."""
    first = first_below(rows, min_cosine)
    if first is None:
        paired = [row for row in rows if row.paired]
        if not paired:
            return "no layer was compared"
        lowest = worst_rows(paired, 1)[0]
        return (
            f"every compared layer has cosine >= {min_cosine:g} ({len(paired)} layers; the lowest "
            f"{lowest.cosine:.6f} at row {lowest.index}, {lowest.op_type} {_name(lowest)})"
        )
    module = row_module(first)
    return (
        f"first layer below cosine {min_cosine:g}: row {first.index}, {first.op_type} {_name(first)}"
        + (f" (PyTorch module {module})" if module else "")
        + f": cosine {_number(first.cosine, '.6f')}, max abs error {_number(first.max_abs_error, '.4g')}"
    )


def format_summary(comparison: LayerComparison, min_cosine: float, worst: int = WORST_SHOWN) -> str:
    lines = [
        f"golden:    {comparison.golden}",
        f"candidate: {comparison.candidate}",
        f"inputs:    {len(comparison.inputs)} ({', '.join(comparison.inputs[:3])}"
        + (", ..." if len(comparison.inputs) > 3 else "")
        + ")"
        + ("; each figure is the worst input's" if len(comparison.inputs) > 1 else ""),
        f"tensors:   {len(comparison.compared)} compared, {len(comparison.golden_only)} only in the golden model, "
        f"{len(comparison.candidate_only)} only in the candidate (in the CSV with empty figures)",
        first_layer_line(comparison.rows, min_cosine),
    ]
    lines += format_worst(comparison.rows, worst)
    return "\n".join(lines) + "\n"


def format_worst(rows: Sequence[LayerRow], count: int = WORST_SHOWN) -> list[str]:
    shown = worst_rows(rows, count)
    if not shown:
        return []
    header = f"  {'row':>5}  {'cosine':>10}  {'max abs':>10}  {'rel eucl':>10}  {'op':<18} name (PyTorch module)"
    lines = [f"{len(shown)} worst layers by cosine:", header]
    for row in shown:
        module = row_module(row)
        lines.append(
            f"  {row.index:>5}  {_number(row.cosine, '.6f'):>10}  {_number(row.max_abs_error, '.4g'):>10}  "
            f"{_number(row.relative_euclidean_distance, '.4g'):>10}  {row.op_type:<18} {_name(row)}"
            + (f" ({module})" if module else "")
        )
    return lines


# ----------------------------------------------------------------------------------------------------------------
# The CSV: ours, and msit's read back


def _cell(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def format_csv(rows: Sequence[LayerRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*COLUMNS, MODULE_COLUMN])
    for row in rows:
        writer.writerow([
            row.index, row.op_type, row.npu_dump, row.ground_truth, row.shape, _cell(row.cosine),
            _cell(row.max_abs_error), _cell(row.mean_abs_error), _cell(row.relative_euclidean_distance), row.module,
        ])  # fmt: skip
    return buffer.getvalue()


def write_csv(path: str | os.PathLike[str], rows: Sequence[LayerRow]) -> None:
    with write_errors_named(path, "layer CSV"):
        atomic_write_text(path, format_csv(rows))


def _float(text: str | None) -> float | None:
    """A figure of the CSV: None when empty or not a number (msit writes e.g. "N/A"); "NaN" stays NaN."""
    try:
        return float((text or "").strip())
    except ValueError:
        return None


_ERROR_COLUMNS = ("MaxAbsoluteError", "MeanAbsoluteError", "RelativeEuclideanDistance")


def read_layer_csv(path: str | os.PathLike[str]) -> list[LayerRow]:
    """Rows of a layer CSV, ours or msit's (``msit debug compare``'s result_<timestamp>.csv), columns read by name
    (the set varies by release; Index, OpType, NPUDump, GroundTruth and CosineSimilarity must be there). A cosine
    msit could not compute ("NaN") counts as below any threshold; an empty one as not compared."""
    text = read_text(path, "layer CSV")
    reader = csv.DictReader(io.StringIO(text))
    needed = ("Index", "OpType", "NPUDump", "GroundTruth", "CosineSimilarity")
    missing = [column for column in needed if column not in (reader.fieldnames or [])]
    if missing:
        raise PipelineError(f"{path}: not a layer comparison CSV (no column {missing[0]})")
    rows = []
    for number, record in enumerate(reader):
        try:
            index = int(float(record["Index"]))
        except (TypeError, ValueError):
            index = number
        cosine = _float(record.get("CosineSimilarity"))
        where = f"{path}: row {number + 1}: "
        # Rule 4 (bounds): msit's "NaN" (a cosine it could not compute) and its "inf" error (an overflowed tensor)
        # are its own words and kept; a cosine outside -1..1 or a negative error is a corrupt or edited file.
        if cosine is not None and not math.isnan(cosine):
            COSINE.check(cosine, where + "CosineSimilarity")
        errors = [_float(record.get(column)) for column in _ERROR_COLUMNS]
        for column, value in zip(_ERROR_COLUMNS, errors, strict=True):
            if value is not None and value < 0:
                ERROR.check(value, where + column)
        rows.append(
            LayerRow(
                index,
                (record.get("OpType") or "").strip(),
                (record.get("NPUDump") or "").strip(),
                (record.get("GroundTruth") or "").strip(),
                (record.get("Shape") or "").strip(),
                cosine,
                *errors,
                (record.get(MODULE_COLUMN) or "").strip(),
            )
        )
    return rows


def plot_cosine(rows: Sequence[LayerRow], path: str | os.PathLike[str], title: str, min_cosine: float) -> None:
    """A small plot of cosine per layer (row index), the threshold as a line and the first layer below it marked."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    paired = [row for row in rows if row.paired]
    figure, axes = plt.subplots(figsize=(8, 3.2), dpi=100)
    try:
        x = [row.index for row in paired]
        y = [0.0 if math.isnan(row.cosine) else row.cosine for row in paired]
        axes.plot(x, y, marker=".", markersize=3, linewidth=0.8)
        axes.axhline(min_cosine, color="tab:red", linewidth=0.8, linestyle="--", label=f"threshold {min_cosine:g}")
        first = first_below(rows, min_cosine)
        if first is not None:
            axes.axvline(first.index, color="tab:orange", linewidth=0.8, label=f"first below: row {first.index}")
        low = min([*y, min_cosine])
        axes.set_ylim(max(-1.0, low - (1.0 - low) * 0.1 - 1e-6), 1.0 + (1.0 - low) * 0.05 + 1e-6)
        axes.set_xlabel("row of the layer CSV (golden model's order)")
        axes.set_ylabel("cosine similarity")
        axes.set_title(textwrap.fill(title, 110), fontsize=8)
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8, loc="lower left")
        figure.tight_layout()
        with write_errors_named(path, "plot"), atomic_output(path, "wb") as handle:
            figure.savefig(handle, format="png", metadata={"Software": None})
    finally:
        plt.close(figure)
