"""Which weights a model file holds: the labels the export writes into the ONNX file's metadata, and their reader.

Every later step (the stand-in's run record, ATC's record, the report) can tell which weights an ONNX file came
from without the checkpoint at hand. The export writes two ``metadata_props`` entries; the graph is untouched:

    weights      sha256:<the checkpoint file's sha256>, or "random weights, seed <s>"
    model_size   Small, Medium or Large

Only the ``onnx`` package is needed here (no torch), so the stand-in's ONNX backends can read the labels.
"""

from __future__ import annotations

import os

WEIGHTS_KEY = "weights"
MODEL_SIZE_KEY = "model_size"
UNKNOWN_WEIGHTS = "unknown"


def checkpoint_weights(sha256: str) -> str:
    """The label of a checkpoint's weights: ``sha256:<hex>``."""
    return f"sha256:{sha256}"


def random_weights(seed: int) -> str:
    """The label of the seeded random weights of ``model.randomize_weights_``."""
    return f"random weights, seed {seed}"


def label_onnx(data: bytes, weights: str | None, model_size: str | None) -> bytes:
    """The ONNX file ``data`` with the weights' labels in its metadata (an unknown label is left out); the bytes
    are unchanged when there is nothing to write. Deterministic: the same labels give the same bytes."""
    labels = {key: value for key, value in ((WEIGHTS_KEY, weights), (MODEL_SIZE_KEY, model_size)) if value}
    if not labels:
        return data
    import onnx

    proto = onnx.load_from_string(data)
    kept = [entry for entry in proto.metadata_props if entry.key not in labels]
    del proto.metadata_props[:]
    for entry in kept:
        proto.metadata_props.add(key=entry.key, value=entry.value)
    for key, value in labels.items():
        proto.metadata_props.add(key=key, value=value)
    return proto.SerializeToString()


def read_onnx_labels(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ONNX file's metadata (key -> value); {} for a file that has none or cannot be read as ONNX (the
    backend that loads it says what is wrong with it)."""
    import onnx

    try:
        proto = onnx.load(os.fspath(path), load_external_data=False)
    except Exception:  # onnx raises DecodeError, OSError and others for what is not an ONNX file
        return {}
    return {entry.key: entry.value for entry in proto.metadata_props}
