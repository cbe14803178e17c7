"""A checkpoint saved from an independent implementation of the reference architecture loads strictly into our
model and gives the very same outputs, bit for bit, in PyTorch and through the exported ONNX file.

The implementation below is written again from the published architecture (Megvii's ShuffleNet-Series repository,
folder ShuffleNetV2+) in a deliberately different style, the one of Megvii's original code: the stride-1 channel
split is a reshape/permute over batch * channels with the sizes read through ``.data`` (as Megvii's
``channel_shuffle`` does), Hard-Swish computes its gate first (``clip = clamp(x + 3, 0, 6) / 6``, then ``x * clip``,
as Megvii's ``HS.forward``), squeeze-excitation is a separate module, layers are listed one by one, and the features
are flattened with ``view(-1, 1280)``. Exported on its own (``torch.onnx.export`` here, not shufflenet_ascend.export),
it gives the graph the guide converted with ATC: the script's default static export must have the same sequence of
operators, and onnxruntime must compute the same bits from both files.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn

from shufflenet_ascend import contract, export
from shufflenet_ascend import model as shufflenet


class HardSwishRef(nn.Module):
    def forward(self, x):
        clip = torch.clamp(x + 3, 0, 6) / 6
        return x * clip


class SqueezeExciteRef(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.SE_opr = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(c, c // 4, 1, 1, 0, bias=False),
            nn.BatchNorm2d(c // 4),
            nn.ReLU(inplace=False),
            nn.Conv2d(c // 4, c, 1, 1, 0, bias=False),
        )

    def forward(self, x):
        a = self.SE_opr(x)
        a = torch.clamp(a + 3, 0, 6) / 6
        return x * a


def act_ref(kind):
    return HardSwishRef() if kind == "HS" else nn.ReLU(inplace=False)


def channel_shuffle_ref(x):
    b, c, h, w = x.data.size()
    x = x.reshape(b * c // 2, 2, h * w)
    x = x.permute(1, 0, 2)
    x = x.reshape(2, -1, c // 2, h, w)
    return x[0], x[1]


class UnitRef(nn.Module):
    """Both block kinds; ``xception`` selects the main branch."""

    def __init__(self, inp, oup, k, stride, kind, se, xception):
        super().__init__()
        self.stride = stride
        mid = oup // 2
        outputs = oup - inp
        if xception:
            main = [
                nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, mid, 1, 1, 0, bias=False),
                nn.BatchNorm2d(mid),
                act_ref(kind),
                nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
                nn.BatchNorm2d(mid),
                nn.Conv2d(mid, mid, 1, 1, 0, bias=False),
                nn.BatchNorm2d(mid),
                act_ref(kind),
                nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False),
                nn.BatchNorm2d(mid),
                nn.Conv2d(mid, outputs, 1, 1, 0, bias=False),
                nn.BatchNorm2d(outputs),
                act_ref(kind),
            ]
        else:
            main = [
                nn.Conv2d(inp, mid, 1, 1, 0, bias=False),
                nn.BatchNorm2d(mid),
                act_ref(kind),
                nn.Conv2d(mid, mid, k, stride, k // 2, groups=mid, bias=False),
                nn.BatchNorm2d(mid),
                nn.Conv2d(mid, outputs, 1, 1, 0, bias=False),
                nn.BatchNorm2d(outputs),
                act_ref(kind),
            ]
        if se:
            main.append(SqueezeExciteRef(outputs))
        self.branch_main = nn.Sequential(*main)
        if stride == 2:
            self.branch_proj = nn.Sequential(
                nn.Conv2d(inp, inp, k, 2, k // 2, groups=inp, bias=False),
                nn.BatchNorm2d(inp),
                nn.Conv2d(inp, inp, 1, 1, 0, bias=False),
                nn.BatchNorm2d(inp),
                act_ref(kind),
            )

    def forward(self, old_x):
        if self.stride == 1:
            x_proj, x = channel_shuffle_ref(old_x)
            return torch.cat((x_proj, self.branch_main(x)), 1)
        return torch.cat((self.branch_proj(old_x), self.branch_main(old_x)), 1)


class ShuffleNetV2PlusRef(nn.Module):
    WIDTHS = {
        "Large": [-1, 16, 68, 168, 336, 672, 1280],
        "Medium": [-1, 16, 48, 128, 256, 512, 1280],
        "Small": [-1, 16, 36, 104, 208, 416, 1280],
    }

    def __init__(self, architecture, size, n_class=1000):
        super().__init__()
        widths = self.WIDTHS[size]
        c = widths[1]
        self.first_conv = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), HardSwishRef())
        units = []
        n = 0
        for stage, repeat in enumerate([4, 4, 8, 4]):
            out = widths[stage + 2]
            for i in range(repeat):
                choice = architecture[n]
                n += 1
                units.append(
                    UnitRef(
                        c if i == 0 else c // 2,
                        out,
                        [3, 5, 7, 3][choice],
                        2 if i == 0 else 1,
                        "HS" if stage >= 1 else "ReLU",
                        stage >= 2,
                        choice == 3,
                    )
                )
                c = out
        self.features = nn.Sequential(*units)
        self.conv_last = nn.Sequential(nn.Conv2d(c, 1280, 1, 1, 0, bias=False), nn.BatchNorm2d(1280), HardSwishRef())
        self.globalpool = nn.AvgPool2d(7)
        self.LastSE = SqueezeExciteRef(1280)
        self.fc = nn.Sequential(nn.Linear(1280, 1280, bias=False), HardSwishRef())
        self.dropout = nn.Dropout(0.2)
        self.classifier = nn.Sequential(nn.Linear(1280, n_class, bias=False))

    def forward(self, x):
        x = self.conv_last(self.features(self.first_conv(x)))
        x = self.LastSE(self.globalpool(x))
        x = x.contiguous().view(-1, 1280)
        return self.classifier(self.dropout(self.fc(x)))


SEED = 11
SIZES = ("Small", "Medium", "Large")


def reference_network(model_size: str) -> nn.Module:
    model = ShuffleNetV2PlusRef(contract.ARCHITECTURE, model_size).eval()
    return shufflenet.randomize_weights_(model, seed=SEED)


def save_official_checkpoint(model: nn.Module, path: Path) -> Path:
    """The weights as Megvii publishes them: {'state_dict': {'module.<key>': tensor}}."""
    state_dict = {"module." + key: value for key, value in model.state_dict().items()}
    torch.save({"state_dict": state_dict}, path)
    return path


@pytest.fixture(scope="module")
def reference_model() -> nn.Module:
    return reference_network("Small")


@pytest.fixture(scope="module")
def official_checkpoint(reference_model: nn.Module, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_official_checkpoint(
        reference_model, tmp_path_factory.mktemp("independent") / "ShuffleNetV2+.Small.pth.tar"
    )


@pytest.mark.parametrize("channel_split", contract.CHANNEL_SPLITS)
@pytest.mark.parametrize("model_size", SIZES)
def test_independent_checkpoint_loads_strictly_and_gives_bit_identical_outputs(
    model_size: str, channel_split: str, tmp_path: Path
) -> None:
    reference = reference_network(model_size)
    checkpoint = save_official_checkpoint(reference, tmp_path / f"ShuffleNetV2+.{model_size}.pth.tar")
    ours = shufflenet.build_model(model_size, channel_split)
    shufflenet.load_weights(ours, shufflenet.read_checkpoint(checkpoint), checkpoint, model_size)
    images = shufflenet.random_images(4, seed=3)
    with torch.no_grad():
        expected = reference(images)
        got = ours(images)
    assert float(expected.std()) > 1.0  # weights with real spread: a wrong layer cannot hide in tiny logits
    assert torch.equal(got, expected), float((got - expected).abs().max())


def test_the_other_hard_swish_order_is_not_bit_identical(reference_model: nn.Module) -> None:
    """The bit-identity test can fail: ``x * clamp(x + 3, 0, 6) / 6`` (the product first) changes the outputs."""

    class ProductFirst(nn.Module):
        def forward(self, x):
            return x * torch.clamp(x + 3, 0, 6) / 6

    altered = ShuffleNetV2PlusRef(contract.ARCHITECTURE, "Small").eval()
    altered.load_state_dict(reference_model.state_dict())
    for module in list(altered.modules()):
        for child_name, child in module.named_children():
            if isinstance(child, HardSwishRef):
                setattr(module, child_name, ProductFirst())
    images = shufflenet.random_images(2, seed=3)
    with torch.no_grad():
        assert not torch.equal(altered(images), reference_model(images))


def test_independent_checkpoint_exports_to_an_equivalent_onnx_file(
    reference_model: nn.Module, official_checkpoint: Path, run_script, tmp_path: Path
) -> None:
    onnx_path = tmp_path / "shufflenetv2_bs4.onnx"
    result = run_script("shufflenetv2_pth2onnx.py", official_checkpoint, onnx_path, 4, "--verify")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "relative error" in result.stdout
    images = shufflenet.random_images(4, seed=4)
    with torch.no_grad():
        expected = reference_model(images).numpy()
    got = export.run_onnx(onnx_path, images.numpy())
    parity = export.parity(expected, got)
    tolerance = shufflenet.fp32_reorder_tolerance(reference_model)  # onnxruntime sums in another order than PyTorch
    assert parity.relative_error <= tolerance, parity
    assert export.top_k_agree(expected, got, atol=tolerance * float(np.abs(expected).max()))
    assert np.std(expected) > 1.0


def export_reference(model: nn.Module, batch_size: int) -> bytes:
    """The reference exported as the guide's export script does (opset 11, TorchScript exporter, fixed batch)."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation, the tracer's constant sizes
        torch.onnx.export(
            model.eval(),
            torch.zeros(batch_size, 3, 224, 224),
            buffer,
            input_names=["image"],
            output_names=["class"],
            opset_version=11,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


def run_one_thread(model: bytes | Path, images: np.ndarray) -> np.ndarray:
    """onnxruntime on one intra-op thread: its sums then have one order, the same for the same graph."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    return session.run(["class"], {"image": images})[0]


@pytest.mark.parametrize("batch_size", [1, 16])
def test_default_static_export_is_the_megvii_graph_with_bit_identical_outputs(
    reference_model: nn.Module, official_checkpoint: Path, run_script, tmp_path: Path, batch_size: int
) -> None:
    onnx_path = tmp_path / f"shufflenetv2_bs{batch_size}.onnx"
    result = run_script("shufflenetv2_pth2onnx.py", official_checkpoint, onnx_path, batch_size)
    assert result.returncode == 0, result.stderr
    assert "channel split reshape" in result.stderr
    ours = export.op_types(onnx.load(onnx_path))
    reference_bytes = export_reference(reference_model, batch_size)
    reference = export.op_types(onnx.load_from_string(reference_bytes))
    assert ours == reference
    assert ours.count("Reshape") == 33 and ours.count("Transpose") == 16 and ours.count("Gather") == 32
    assert "Slice" not in ours and "Shape" not in ours
    # Hard-Swish and the SE gate: Add, Clip, Div, then Mul, in all of their places (none the other way round).
    text = " ".join(ours)
    assert text.count("Add Clip Div Mul") >= 52
    assert "Clip Mul Div" not in text
    images = shufflenet.random_images(batch_size, seed=5).numpy()
    got = run_one_thread(onnx_path, images)
    expected = run_one_thread(reference_bytes, images)
    assert float(np.std(expected)) > 1.0
    assert np.array_equal(got, expected), float(np.abs(got - expected).max())
