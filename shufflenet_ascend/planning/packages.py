"""The interpreter's packages, checked before any stage: a missing one is one line naming it, not a traceback in
the middle of the export. Only the standard library here: this runs before anything that needs the packages."""

from __future__ import annotations

import importlib.util
import sys

from shufflenet_ascend.cli import PipelineError

# import name -> the name requirements.txt installs it under
REQUIRED = {
    "numpy": "numpy",
    "torch": "torch",
    "torchvision": "torchvision",
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "PIL": "Pillow",
    "cv2": "opencv-python-headless",
    "matplotlib": "matplotlib",
    "tqdm": "tqdm",
}
OPTIONAL = {"openvino": "openvino"}  # needed only by --backend openvino
INT8 = {"nncf": "nncf"}  # needed only by --precision int8 (the CPU's quantizer)


def missing_packages(backend: str = "onnxruntime", precision: str = "float") -> list[str]:
    """The packages (as requirements.txt names them) that this interpreter cannot import."""
    wanted = {**REQUIRED, **(OPTIONAL if backend == "openvino" else {}), **(INT8 if precision == "int8" else {})}
    return [package for module, package in wanted.items() if importlib.util.find_spec(module) is None]


def check_packages(backend: str = "onnxruntime", precision: str = "float") -> None:
    missing = missing_packages(backend, precision)
    if missing:
        raise PipelineError(
            f"the Python interpreter {sys.executable} lacks {', '.join(missing)} (install them with "
            f"'{sys.executable} -m pip install -r requirements.txt', or set PYTHON to an interpreter that has them)"
        )
