"""The code the pipeline's scripts share: ShuffleNetV2+ from a PyTorch checkpoint to accuracy and speed on Ascend.

The guide's steps are thin scripts in the repository's root; everything they compute lives here, one concern per
module:

- the contract and the edges: ``contract`` (the model's contract, the input routes, the published figures),
  ``cli`` (errors, exit statuses, help, the shared flags), ``fileio`` (atomic writes, hashes), ``keys`` (image
  keys), ``host`` (this machine and the project's version), ``class_names`` (ImageNet-1k's names);
- ``formats``: one module per file that crosses a step boundary (info, labels, dump, perf, accuracy JSON,
  predictions, run record);
- the steps: ``model`` and ``model_labels`` (PyTorch network, weights), ``export`` (ONNX), ``preprocess``
  (transform, source record, folders, info entries), ``standin`` (the CPU stand-in for Huawei's tools: flags,
  inputs, backends, pipeline, outputs, latency, the PyTorch reference), ``accuracy``, ``comparison``, ``perf``,
  ``report``, ``runs`` (which run a figure came from), ``metrics``, ``parallel``, ``demo``;
- ``planning``: run_all.sh's decisions, one module per stage.
"""

from shufflenet_ascend import signals as _signals

# First thing on import, before any heavy module loads: Ctrl-C or SIGTERM while a script is still importing is one
# line and exit status 130/143, not a traceback (``signals``).
_signals.install()
