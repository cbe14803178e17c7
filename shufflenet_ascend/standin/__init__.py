"""The CPU stand-in for Huawei's benchmark tool (``benchmark_ort.py``): same flags, same result files.

``flags`` (the tool's gflags-style command line and help), ``pipeline`` (dataset run, pure inference, the dump
and perf files), ``backends`` (onnxruntime, openvino, torch, torch-fp16 with several batches in flight),
``torch_reference`` (the PyTorch model and its fp16 emulation; imports torch, so only the torch backends load it).
"""
