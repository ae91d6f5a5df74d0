"""Run an exported model (``seqrec-export``) with onnxruntime, numpy and soundfile
only: no torch, Lightning or Hydra (``pip install seqrec[onnx]``)::

    model = seqrec.runtime.load("kws.onnx")   # or seqrec.load("kws.onnx")
    model.classify(["yes.wav", waveform])      # [Prediction(label='yes', ...), ...]
    seqrec.runtime.load("asr.onnx").transcribe(["talk.flac"])

The results are those of :func:`seqrec.load` on the checkpoint: the same batching,
CTC search, word times and chunking of long audio. Greedy search needs nothing
more; beam search (with or without a lexicon and an n-gram LM) needs
``flashlight-text``, a SentencePiece tokenizer ``sentencepiece``, and video files
PyAV (``av``), whose frames are sampled, resized and cropped as the checkpoint's
reader does it (:mod:`seqrec.runtime.video`).
"""

from seqrec.core.results import Prediction, Transcript, WordTime
from seqrec.core.waveform import AudioError, split_at_quiet_points
from seqrec.runtime.audio import read_audio, resample
from seqrec.runtime.model import (
    ExportedModelError,
    ExportReader,
    OnnxNetwork,
    exported_classifier,
    exported_transcriber,
    load,
    read_metadata,
)

__all__ = [
    "AudioError",
    "ExportReader",
    "ExportedModelError",
    "OnnxNetwork",
    "Prediction",
    "Transcript",
    "WordTime",
    "exported_classifier",
    "exported_transcriber",
    "load",
    "read_audio",
    "read_metadata",
    "resample",
    "split_at_quiet_points",
]
