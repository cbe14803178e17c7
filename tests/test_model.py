"""The ShuffleNetV2+ model (ShuffleNet-Series/ShuffleNetV2+/network.py, blocks.py) against the reference facts."""

from __future__ import annotations

import json

import pytest
import torch

from blocks import (
    CHANNEL_SPLITS,
    HS,
    Shuffle_Xception,
    Shufflenet,
    hard_sigmoid,
    hard_swish,
    split_channels_by_parity,
    split_channels_by_reshape,
)
from network import MODEL_SIZES, PUBLISHED_ARCHITECTURE, ShuffleNetV2_Plus
from shufflenet_ascend import contract
from shufflenet_ascend import model as shufflenet
from tests.conftest import TEST_DATA

PARAMETERS = {"Small": 5_137_116, "Medium": 5_679_840, "Large": 6_768_220}
STATE_DICT_ENTRIES = 549
REFERENCE_JSON = TEST_DATA / "shufflenetv2plus_state_dict.json"


def reference_json() -> dict:
    return json.loads(REFERENCE_JSON.read_text(encoding="utf-8"))


@pytest.mark.parametrize("model_size", MODEL_SIZES)
def test_parameter_count_and_state_dict_size(model_size: str) -> None:
    model = ShuffleNetV2_Plus(model_size=model_size)
    assert sum(parameter.numel() for parameter in model.parameters()) == PARAMETERS[model_size]
    assert len(model.state_dict()) == STATE_DICT_ENTRIES


@pytest.mark.parametrize("model_size", MODEL_SIZES)
def test_state_dict_keys_shapes_dtypes_and_order_match_reference(model_size: str) -> None:
    reference = reference_json()["models"][model_size]
    model = ShuffleNetV2_Plus(architecture=contract.ARCHITECTURE, model_size=model_size)
    ours = [
        [key, list(value.shape), str(value.dtype).removeprefix("torch.")] for key, value in model.state_dict().items()
    ]
    assert ours == reference["state_dict"]
    assert reference["parameters"] == PARAMETERS[model_size]


def test_architecture_is_the_guides() -> None:
    assert list(PUBLISHED_ARCHITECTURE) == list(contract.ARCHITECTURE)
    assert reference_json()["architecture"] == list(contract.ARCHITECTURE)


def test_default_architecture_is_the_published_one() -> None:
    default = ShuffleNetV2_Plus(model_size="Small").state_dict()
    explicit = ShuffleNetV2_Plus(architecture=contract.ARCHITECTURE, model_size="Small").state_dict()
    assert [(k, v.shape) for k, v in default.items()] == [(k, v.shape) for k, v in explicit.items()]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model_size": "Tiny"}, "unknown model size 'Tiny'"),
        ({"input_size": 200}, "multiple of 32"),
        ({"n_class": 0}, "n_class"),
        ({"architecture": [0] * 19}, "needs 20 block choices, got 19"),
        ({"architecture": [0] * 19 + [4]}, r"architecture\[19\] = 4"),
        ({"architecture": [0] * 4 + [3] + [0] * 15}, "cannot be an Xception block"),
        ({"channel_split": "shuffle"}, "unknown channel_split 'shuffle'; expected one of slice, reshape"),
        ({"channel_split": None}, "unknown channel_split None"),
    ],
)
def test_constructor_rejects_bad_arguments_with_value_error(
    kwargs: dict, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ValueError, match=message):
        ShuffleNetV2_Plus(**kwargs)
    assert capsys.readouterr() == ("", "")


def test_construction_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    ShuffleNetV2_Plus(model_size="Small")
    assert capsys.readouterr() == ("", "")


def test_hard_swish_is_megvii_gate_first_expression_bit_for_bit() -> None:
    x = torch.linspace(-8, 8, 100_001)
    megvii = x * (torch.clamp(x + 3, 0, 6) / 6)  # HS.forward: clip = clamp(x + 3, 0, 6) / 6; x * clip
    assert torch.equal(hard_swish(x), megvii)
    assert torch.equal(HS()(x), megvii)
    # The other order rounds differently somewhere on this grid: the test can tell the two apart.
    assert not torch.equal(hard_swish(x), x * torch.clamp(x + 3, 0, 6) / 6)
    assert torch.equal(hard_sigmoid(x), torch.clamp(x + 3, 0, 6) / 6)
    assert hard_swish(torch.tensor([-4.0, 0.0, 1.0, 4.0])).tolist() == pytest.approx([0.0, 0.0, 4 / 6, 4.0])


@pytest.mark.parametrize("split", [split_channels_by_parity, split_channels_by_reshape])
@pytest.mark.parametrize("batch_size", [1, 2, 5])
def test_channel_split_is_even_then_odd_channels(split, batch_size: int) -> None:
    x = torch.arange(batch_size * 6 * 2 * 3, dtype=torch.float32).reshape(batch_size, 6, 2, 3)
    even, odd = split(x)
    assert torch.equal(even, x[:, [0, 2, 4]])
    assert torch.equal(odd, x[:, [1, 3, 5]])


def test_reshape_split_refuses_an_odd_channel_count() -> None:
    with pytest.raises(ValueError, match="even channel count, got 5"):
        split_channels_by_reshape(torch.zeros(1, 5, 2, 2))


@pytest.mark.parametrize("block_class, kwargs", [(Shufflenet, {"ksize": 3}), (Shuffle_Xception, {})])
def test_blocks_take_a_channel_split_and_refuse_unknown_ones(block_class, kwargs: dict) -> None:
    for channel_split in CHANNEL_SPLITS:
        block = block_class(8, 16, 8, stride=1, activation="HS", useSE=True, channel_split=channel_split, **kwargs)
        assert block.channel_split == channel_split
    assert block_class(8, 16, 8, stride=1, activation="HS", useSE=True, **kwargs).channel_split == "slice"
    with pytest.raises(ValueError, match="unknown channel_split 'Slice'"):
        block_class(8, 16, 8, stride=1, activation="HS", useSE=True, channel_split="Slice", **kwargs)


def test_both_channel_splits_share_the_state_dict_and_give_the_same_outputs() -> None:
    sliced = shufflenet.prepare_model("random", "Small", 3, channel_split="slice")
    reshaped = shufflenet.prepare_model("random", "Small", 3, channel_split="reshape")
    assert sliced.channel_split == "slice" and reshaped.channel_split == "reshape"
    assert all(block.channel_split == "reshape" for block in reshaped.features)
    first, second = sliced.state_dict(), reshaped.state_dict()
    assert list(first) == list(second)
    assert all(torch.equal(first[key], second[key]) for key in first), "same seed, same weights"
    images = shufflenet.random_images(5, seed=4)
    with torch.no_grad():
        expected, got = sliced(images), reshaped(images)
    assert float(expected.std()) > 1.0, "real spread, or the comparison cannot fail"
    relative = float((got - expected).abs().max() / expected.abs().max())
    assert relative <= 1e-6, relative
    assert shufflenet.build_model("Small").channel_split == "slice", "network.py's default"


def test_stride1_block_passes_even_channels_and_transforms_odd_ones() -> None:
    block = Shufflenet(8, 16, 8, ksize=5, stride=1, activation="HS", useSE=False).eval()
    shufflenet.randomize_weights_(block, seed=3)
    x = torch.randn(2, 16, 7, 7, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = block(x)
        assert torch.equal(y[:, :8], x[:, 0::2])
        assert torch.equal(y[:, 8:], block.branch_main(x[:, 1::2]))
        # The even channels must not reach branch_main.
        x_changed = x.clone()
        x_changed[:, 0::2] += 1.0
        assert torch.equal(block(x_changed)[:, 8:], y[:, 8:])


def test_fp32_reorder_tolerance_follows_from_the_network() -> None:
    model = shufflenet.build_model("Small")
    assert shufflenet.accumulation_depth_and_length(model) == (110, 1280)
    assert shufflenet.fp32_reorder_tolerance(model) == pytest.approx(2.0**-24 * 1280**0.5 * 110)
    assert 1e-4 < shufflenet.fp32_reorder_tolerance(model) < 3e-4


def leak_batch_mean(model: torch.nn.Module, share: float):
    """A deliberate batch mix-up: one block's output takes ``share`` of the batch's mean (the hook's handle)."""
    return model.features[10].register_forward_hook(
        lambda module, inputs, output: (1 - share) * output + share * output.mean(0, keepdim=True)
    )


@pytest.mark.parametrize("channel_split", CHANNEL_SPLITS)
def test_each_image_is_computed_independently_of_the_batch(channel_split: str) -> None:
    # Batch 3 and three batches of 1 may run different convolution kernels, which sum in another order: the
    # logits then differ by fp32 rounding (4.2e-4 on logits of max 17.6 seen on an AMD EPYC), so they are held
    # to the bound that follows from fp32 accumulation over this network, not to 1e-5.
    model = shufflenet.prepare_model("random", "Small", 1, channel_split=channel_split)
    images = shufflenet.random_images(3, seed=2)
    with torch.no_grad():
        together = model(images)
        alone = torch.cat([model(images[i : i + 1]) for i in range(3)])
        handle = leak_batch_mean(model, 0.01)
        leaked = model(images)
        handle.remove()
    assert together.shape == (3, 1000)
    assert float(alone.std()) > 1.0, "real spread, or the comparison cannot fail"
    atol = shufflenet.fp32_reorder_tolerance(model) * float(alone.abs().max())
    torch.testing.assert_close(together, alone, rtol=0, atol=atol)
    # The tolerance still catches a real mix-up: two images swapped, or 1% of the batch mean leaked into a block.
    assert float((together[[1, 0, 2]] - alone).abs().max()) > 10 * atol
    assert float((leaked - alone).abs().max()) > 10 * atol


def test_default_initialisation_gives_near_zero_logits_and_random_weights_real_spread() -> None:
    images = shufflenet.random_images(4, seed=5)
    model = shufflenet.build_model("Small")
    with torch.no_grad():
        assert float(model(images).std()) < 1e-3  # why parity checks need randomised weights
        shufflenet.randomize_weights_(model, seed=0)
        logits = model(images)
    assert float(logits.std()) > 1.0
    assert float(logits.std(dim=1).min()) > 1.0
    assert float((logits - logits.mean(dim=0)).abs().max()) > 0.5, "logits should depend on the image"


@pytest.mark.parametrize("model_size", MODEL_SIZES)
def test_random_weights_are_deterministic_per_seed(model_size: str) -> None:
    first = shufflenet.randomize_weights_(shufflenet.build_model(model_size), seed=7).state_dict()
    again = shufflenet.randomize_weights_(shufflenet.build_model(model_size), seed=7).state_dict()
    other = shufflenet.randomize_weights_(shufflenet.build_model(model_size), seed=8).state_dict()
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not torch.equal(first["classifier.0.weight"], other["classifier.0.weight"])
    running_vars = [value for key, value in first.items() if key.endswith("running_var")]
    assert len(running_vars) == 89 and all(bool((value > 0).all()) for value in running_vars)
    running_means = [value for key, value in first.items() if key.endswith("running_mean")]
    assert all(float(value.abs().max()) > 0 for value in running_means)
