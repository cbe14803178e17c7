"""What the fake Ascend tools share: the call log, the planted scores, the fake OM and its inputs (stdlib only, no
project code)."""

from __future__ import annotations

import json
import os
import sys

UINT8_INPUT_BYTES = 3 * 224 * 224  # with ATC's AIPP stage (input_format RGB888_U8): HWC uint8


def log_call(tool: str, **extra: object) -> None:
    """Append {"tool", "cwd", "argv", ...} as one JSON line to $FAKE_LOG (when set)."""
    path = os.environ.get("FAKE_LOG")
    if path:
        with open(path, "a") as log:
            log.write(json.dumps({"tool": tool, "cwd": os.getcwd(), "argv": sys.argv[1:], **extra}) + "\n")


def read_om(path: str) -> dict:
    """The fake OM (JSON written by the fake atc): input_shape, soc_version, aipp (the parsed config, or null)."""
    with open(path) as om:
        return json.load(om)


def image_input_bytes(om: dict) -> int:
    """The bytes of one image's input: the AIPP stage's uint8 HWC when the OM was built with it, else float32 CHW
    (of the OM's input shape, 3x224x224 as the guide converts it)."""
    if om.get("aipp"):
        return UINT8_INPUT_BYTES
    channels, height, width = (int(d) for d in om.get("input_shape", "image:1,3,224,224").split(":")[1].split(",")[1:])
    return 4 * channels * height * width


def npy_data_offset(path: str) -> int:
    """Where a .npy file's values start (after its magic, version, header length and header); 0 for a .bin."""
    if not path.lower().endswith(".npy"):
        return 0
    with open(path, "rb") as handle:
        prefix = handle.read(12)
    if prefix[6] == 1:
        return 10 + int.from_bytes(prefix[8:10], "little")
    return 12 + int.from_bytes(prefix[8:12], "little")


def input_bytes(path: str) -> int:
    """The bytes of an input's values: a .bin's size, a .npy's array (ais_bench loads it with numpy)."""
    return os.path.getsize(path) - npy_data_offset(path)


def check_input_size(path: str, om: dict, batch_files: int = 1) -> None:
    """Huawei's tools read each input as raw bytes of the model input's size; another size fails with their
    message (ais_bench: 'arg0 tensorsize ... filesize ... not match'), exit status 1."""
    size = input_bytes(path)
    expected = image_input_bytes(om)
    if size != expected:
        print(f"[ERROR] arg0 tensorsize: {expected * batch_files} filesize: {size * batch_files} not match ({path})",
              file=sys.stderr)  # fmt: skip
        sys.exit(1)


def read_image_input(path: str, om: dict) -> list[float]:
    """One image's input as the network sees it, CHW float values in BGR order: a uint8 HWC bin goes through the
    AIPP stage of this model (type and layout only: no crop, no colour conversion, no channel swap, no mean/var)."""
    import struct

    with open(path, "rb") as handle:
        data = handle.read()[npy_data_offset(path) :]
    if not om.get("aipp"):
        return list(struct.unpack(f"<{len(data) // 4}f", data))
    pixels = 224 * 224
    return [float(data[pixel * 3 + channel]) for channel in range(3) for pixel in range(pixels)]


def planted_scores(key: str) -> list[float]:
    """1000 scores putting the image's true label at rank (its line number in $FAKE_LABELS, from 0, modulo 6):
    ranks 0..4 count for top-(rank+1), rank 5 is a miss. Independent of which shard or tool runs the image."""
    position, label = None, None
    with open(os.environ["FAKE_LABELS"]) as labels:
        for number, line in enumerate(filter(str.strip, labels)):
            name, value = line.split()
            if name.rsplit(".", 1)[0] == key:
                position, label = number, int(value)
                break
    if label is None:
        raise SystemExit(f"fake tool: {key} has no label in {os.environ['FAKE_LABELS']}")
    rank = position % 6
    others = [c for c in range(1000) if c != label]
    order = others[:rank] + [label] + others[rank:]
    scores = [0.0] * 1000
    for place, cls in enumerate(order):
        scores[cls] = 10.0 - place * 0.001
    return scores
