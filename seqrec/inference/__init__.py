"""Checkpoints to loaded models, and their scoring:

- :mod:`~seqrec.inference.checkpoint`: what a checkpoint may name (the allowlists and
  the one map of renamed targets, :mod:`seqrec.core.safe_config`), and the model and
  reader it describes, rebuilt;
- :mod:`~seqrec.inference.model`: :func:`load` (a checkpoint, or an ``.onnx`` file
  through :mod:`seqrec.runtime`) into :class:`seqrec.api.Classifier` or
  :class:`seqrec.api.Transcriber`, whose network is the PyTorch module;
- :mod:`~seqrec.inference.evaluate`: ``seqrec-eval``, a model scored on a manifest.
"""

from seqrec.inference.checkpoint import CheckpointError
from seqrec.inference.model import (
    Prediction,
    TorchNetwork,
    Transcript,
    WordTime,
    frame_seconds,
    load,
    torch_classifier,
    torch_transcriber,
)

__all__ = [
    "CheckpointError",
    "Prediction",
    "TorchNetwork",
    "Transcript",
    "WordTime",
    "frame_seconds",
    "load",
    "torch_classifier",
    "torch_transcriber",
]
