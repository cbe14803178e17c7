"""The code the pipeline's scripts share: ShuffleNetV2+ from a PyTorch checkpoint to accuracy and speed on Ascend.

The guide's steps are thin scripts in the repository's root; everything they compute lives here, one concern per
module: ``contract`` (the model's contract and published figures), ``cli`` (errors, exit statuses, help),
``fileio`` (atomic writes), ``keys`` (image keys), ``formats`` (one module per file format), ``metrics``.
"""
