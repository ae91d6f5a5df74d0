"""Load a trained model (audio or video) from its checkpoint alone and run it::

model = seqrec.load("outputs/kws_synthetic/<run>/checkpoints/best.ckpt")
model.classify(["yes.wav", waveform])  # [Prediction(label='yes', score=0.98, ...), ...]

asr = seqrec.load("outputs/asr_synthetic/<run>/checkpoints/best.ckpt")
asr.transcribe(["a.wav", waveform])    # ["the cat sat on the mat", ...]
"""

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqrec.api import Classifier, Transcriber
from seqrec.core.results import Prediction as Prediction
from seqrec.core.results import Transcript as Transcript
from seqrec.core.results import WordTime as WordTime
from seqrec.data.audio import AudioReader
from seqrec.data.video import ClipReader
from seqrec.inference.checkpoint import CheckpointError, build_model, build_reader, read_checkpoint


class TorchNetwork:
    """A PyTorch module as a loaded model's network (:class:`seqrec.api.Network`):
    numpy in, numpy out, run on ``device`` in eval mode under ``inference_mode``.
    ``model`` is the module itself (:mod:`seqrec.export` exports it)."""

    def __init__(self, model: nn.Module, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    @torch.inference_mode()
    def __call__(self, inputs: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = torch.from_numpy(np.ascontiguousarray(inputs)).to(self.device)
        outputs, out_lengths = self.model(x, torch.from_numpy(lengths).to(self.device))
        return outputs.float().cpu().numpy(), out_lengths.cpu().numpy()


def frame_seconds(model: nn.Module, sample_rate: int) -> float:
    """Seconds between the output frames of an audio model: the feature hop times the
    subsampling factor, over the sample rate."""
    stride = 1
    for part in (model.frontend, model.encoder, model.decoder):
        stride *= getattr(part, "time_stride", 1)
    return stride / sample_rate


def torch_classifier(
    model: nn.Module,
    labels: list[str],
    reader: AudioReader | ClipReader,
    device: str | torch.device = "cpu",
    source: str | Path = "",
) -> Classifier:
    """A :class:`~seqrec.api.Classifier` of a PyTorch module in memory (a task's model
    during a benchmark, a test's tiny network): what :func:`load` builds from a
    checkpoint."""
    return Classifier(TorchNetwork(model, device), labels, reader, source, "checkpoint")


def torch_transcriber(
    model: nn.Module,
    tokenizer: Any,
    reader: AudioReader,
    decoding: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
    chunk_seconds: float = 30.0,
    source: str | Path = "",
) -> Transcriber:
    """A :class:`~seqrec.api.Transcriber` of a PyTorch CTC module in memory, its frame
    times from the module's strides: what :func:`load` builds from a checkpoint."""
    return Transcriber(
        TorchNetwork(model, device),
        tokenizer,
        reader,
        frame_seconds(model, reader.sample_rate),
        decoding,
        chunk_seconds,
        source,
        "checkpoint",
    )


def load(
    path: str | Path,
    device: str | torch.device = "cpu",
    threads: int | None = None,
    decoding: dict[str, Any] | None = None,
) -> Classifier | Transcriber:
    """Rebuild a trained model from a seqrec checkpoint, in eval mode on ``device``: a
    :class:`~seqrec.api.Classifier` (voice commands, video actions) or a
    :class:`~seqrec.api.Transcriber` (speech-to-text), whose network is the PyTorch
    module (:class:`TorchNetwork`). An ``.onnx`` file (``seqrec-export``) loads into
    :mod:`seqrec.runtime` instead, with the same ``classify``/``transcribe``, run by
    onnxruntime on ``threads`` threads (None: one per core; PyTorch's threads are
    ``torch.set_num_threads``').

    ``decoding`` (speech-to-text) replaces the file's CTC search config, which is then
    neither checked nor built: the caller's config may name an LM and a lexicon by
    path (``conf/decoding/``), a file's may not (:mod:`seqrec.core.safe_config`)."""
    if Path(path).suffix == ".onnx":
        from seqrec import runtime

        return runtime.load(path, str(device), threads, decoding=decoding)
    checkpoint = read_checkpoint(path, ignore=("decoding",) if decoding else ())
    try:
        hparams = checkpoint["hyper_parameters"]
        model_config = hparams["model_config"]
        state_dict = checkpoint["state_dict"]
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: not a seqrec checkpoint (missing {e})") from None
    reader = build_reader(hparams, path)
    prefix = "model."
    state = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    model = build_model(model_config, path, state)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the model: {e}") from None
    if "tokenizer" in hparams:
        tokenizer = read_tokenizer(hparams["tokenizer"], model, path)
        decoding = decoding or hparams.get("decoding")
        return torch_transcriber(model, tokenizer, reader, decoding, device, source=path)
    if "labels" not in hparams:
        raise CheckpointError(
            f"{path}: not a seqrec checkpoint (neither labels nor a tokenizer in its hyper-parameters)"
        )
    labels = hparams["labels"]
    linear = getattr(getattr(model, "head", None), "linear", None)
    if isinstance(linear, nn.Linear) and linear.out_features != len(labels):
        raise CheckpointError(
            f"{path}: refused to load: {len(labels)} labels but the classifier head has "
            f"{linear.out_features} outputs"
        )
    return torch_classifier(model, labels, reader, device, source=path)


def read_tokenizer(state: Any, model: nn.Module, source: str | Path) -> Any:
    """The checkpoint's tokenizer, checked at load: readable, and with as many classes
    as the CTC head has outputs."""
    from seqrec.text import tokenizer_from_state

    try:
        tokenizer = tokenizer_from_state(state)
    except Exception as e:  # sentencepiece raises its own types for a corrupt model
        raise CheckpointError(
            f"{source}: refused to load: tokenizer is not readable ({e})"
        ) from None
    head = getattr(getattr(model, "head", None), "num_classes", None)
    if head is not None and head != tokenizer.num_classes:
        raise CheckpointError(
            f"{source}: refused to load: the tokenizer has {tokenizer.num_classes} classes "
            f"(tokens + blank) but the CTC head has {head} outputs"
        )
    return tokenizer
