"""standin.torch_reference: the PyTorch reference is the plain model; the fp16 preview moves it plausibly far."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from shufflenet_ascend.cli import PipelineError
from shufflenet_ascend.comparison import compare_folders
from shufflenet_ascend.export import export_onnx, run_onnx
from shufflenet_ascend.formats.dump import read_dump, write_dumps
from shufflenet_ascend.model import prepare_model, random_images
from shufflenet_ascend.standin import torch_reference

SEED = 3
IMAGES = 4


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return random_images(IMAGES, seed=11)


@pytest.fixture(scope="module")
def plain_outputs(images) -> torch.Tensor:
    with torch.no_grad():
        return prepare_model("random", "Small", SEED).eval()(images)


def cosines(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    a, b = a.double().numpy(), b.double().numpy()
    return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def test_random_weights_are_prepare_models(images):
    model = torch_reference.load_reference_model("random", "Small", SEED)
    expected = prepare_model("random", "Small", SEED).state_dict()
    state = model.state_dict()
    assert list(state) == list(expected)
    assert all(torch.equal(state[key], expected[key]) for key in expected)
    other = torch_reference.load_reference_model("random", "Small", SEED + 1).state_dict()
    assert not torch.equal(other["classifier.0.weight"], expected["classifier.0.weight"])


def test_forward_equals_the_plain_model_on_real_spread_weights(images, plain_outputs, tmp_path):
    model = torch_reference.load_reference_model("random", "Small", SEED)
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    with torch.no_grad():
        outputs = model(images)
    assert outputs.dtype == torch.float32 and tuple(outputs.shape) == (IMAGES, 1000)
    assert float(plain_outputs.std()) > 1.0  # real spread: a parity check on these logits can fail
    assert torch.equal(outputs, plain_outputs)
    # Written with the one dump writer and read back: the same float32 values.
    write_dumps(tmp_path, [f"img{i}" for i in range(IMAGES)], outputs.numpy(), binary=False)
    for i in range(IMAGES):
        assert np.array_equal(read_dump(tmp_path / f"img{i}_1.txt"), outputs[i].numpy())


def test_a_checkpoint_file_loads_the_same_model(images, plain_outputs, tmp_path):
    checkpoint = tmp_path / "model.pth.tar"
    state = prepare_model("random", "Small", SEED).state_dict()
    torch.save({"state_dict": {f"module.{key}": value for key, value in state.items()}}, checkpoint)
    with torch.no_grad():
        outputs = torch_reference.load_reference_model(str(checkpoint), "Small")(images)
    assert torch.equal(outputs, plain_outputs)


def test_fp16_preview_differs_by_a_plausible_amount(images, plain_outputs):
    model = torch_reference.load_reference_model("random", "Small", SEED, fp16=True)
    with torch.no_grad():
        outputs = model(images)
    assert outputs.dtype == torch.float32
    similarity = cosines(outputs, plain_outputs)
    # float16 keeps 11 significant bits (relative rounding 2**-11 = 4.9e-4 per tensor); through about 60 rounded
    # layers the logits move by a fraction of a percent: far from nothing, far from a different model.
    assert (similarity < 1.0).all() and (similarity > 0.99).all(), similarity
    difference = (outputs - plain_outputs).abs().max(dim=1).values
    assert (difference > 0).all()
    assert float(difference.max()) < 0.1 * float(plain_outputs.abs().max())


def test_fp16_rounds_weights_and_every_conv_linear_batchnorm_output(images):
    model = torch_reference.load_reference_model("random", "Small", SEED, fp16=True)
    rounded = [module for module in model.modules() if isinstance(module, (nn.Conv2d, nn.Linear, nn.BatchNorm2d))]
    assert rounded
    for module in rounded:
        for tensor in [*module.parameters(recurse=False), *module.buffers(recurse=False)]:
            if tensor.is_floating_point():
                assert torch.equal(tensor, tensor.half().float())
    seen: list[bool] = []

    def check(module, inputs, output):  # registered after the emulation's hook: sees its rounded output
        seen.append(torch.equal(output, output.half().float()))
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            seen.append(torch.equal(inputs[0], inputs[0].half().float()))

    handles = [module.register_forward_hook(check) for module in rounded]
    with torch.no_grad():
        model(images[:1])
    for handle in handles:
        handle.remove()
    assert len(seen) >= len(rounded) and all(seen)
    # The plain reference's outputs are not float16 values: the check above can fail.
    plain = torch_reference.load_reference_model("random", "Small", SEED)
    with torch.no_grad():
        out = plain(images[:1])
    assert not torch.equal(out, out.half().float())


def test_bad_size_or_checkpoint_is_a_pipeline_error(tmp_path):
    with pytest.raises(PipelineError, match="unknown model size 'Tiny'"):
        torch_reference.load_reference_model("random", "Tiny")
    with pytest.raises(PipelineError, match="checkpoint not found"):
        torch_reference.load_reference_model(str(tmp_path / "missing.pth.tar"))


def test_onnx_export_agrees_with_the_reference_through_the_dumps(images, tmp_path):
    """The stand-in's ONNX file on the same images, both written by the one dump writer and compared by
    comparison.compare_folders: cosine >= 0.99999 and the same top-1 on every image (float32 accumulation differs
    only in summation order), while the fp16 preview is measurably further away."""
    reference = torch_reference.load_reference_model("random", "Small", SEED)
    keys = [f"img{i}" for i in range(IMAGES)]
    for name in ("reference", "onnx", "fp16"):
        (tmp_path / name).mkdir()
    with torch.no_grad():
        write_dumps(tmp_path / "reference", keys, reference(images).numpy(), binary=False)
        fp16 = torch_reference.load_reference_model("random", "Small", SEED, fp16=True)(images).numpy()
    write_dumps(tmp_path / "onnx", keys, run_onnx(export_onnx(reference, IMAGES), images.numpy()), binary=True)
    write_dumps(tmp_path / "fp16", keys, fp16, binary=False)
    onnx = compare_folders(tmp_path / "reference", tmp_path / "onnx", workers=1)
    assert onnx["images_paired"] == IMAGES
    assert onnx["cosine"]["min"] >= 0.99999 and onnx["top1_agreement_percent"] == 100.0
    preview = compare_folders(tmp_path / "reference", tmp_path / "fp16", workers=1)
    assert 0.99 < preview["cosine"]["min"] < 1.0
    assert preview["max_abs_error"]["value"] > 10 * onnx["max_abs_error"]["value"]
