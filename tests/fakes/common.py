"""What the fake Ascend tools share: the call log, the planted scores, the fake OM and its inputs (stdlib only, no
project code)."""

from __future__ import annotations

import json
import os
import sys

FLOAT32_INPUT_BYTES = 3 * 224 * 224 * 4  # the ONNX input of one image, CHW float32
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
    """The bytes of one image's input: the AIPP stage's uint8 HWC when the OM was built with it, else float32 CHW."""
    return UINT8_INPUT_BYTES if om.get("aipp") else FLOAT32_INPUT_BYTES


def check_input_size(path: str, om: dict, batch_files: int = 1) -> None:
    """Huawei's tools read each input as raw bytes of the model input's size; another size fails with their
    message (ais_bench: 'arg0 tensorsize ... filesize ... not match'), exit status 1."""
    size = os.path.getsize(path)
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
        data = handle.read()
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
