"""Load a trained model from its checkpoint alone and run it::

model = seqrec.load("outputs/kws_synthetic/<run>/checkpoints/best.ckpt")
model.classify(["yes.wav", waveform])  # [Prediction(label='yes', score=0.98, ...), ...]
"""

import pickle
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from torch import nn

from seqrec.data.audio import load_audio
from seqrec.data.batch import pad_sequences

AudioInput = str | Path | np.ndarray | torch.Tensor


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded safely; the message names the file."""


@dataclass
class Prediction:
    label: str
    score: float
    top_k: list[tuple[str, float]] = field(default_factory=list)
    input: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"input": self.input, "label": self.label, "score": self.score,
                "top_k": [{"label": label, "score": score} for label, score in self.top_k]}  # fmt: skip


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True``: tensors and plain containers only.

    A checkpoint that carries any other pickled object is refused, and nothing in it
    runs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused to load: the checkpoint holds objects other than tensors and plain "
            f"containers, which could run code when unpickled ({str(e).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e})") from None


def load(path: str | Path, device: str | torch.device = "cpu") -> "Classifier":
    """Rebuild a trained model from a seqrec checkpoint, in eval mode on ``device``."""
    checkpoint = read_checkpoint(path)
    try:
        hparams = checkpoint["hyper_parameters"]
        model: nn.Module = instantiate(hparams["model_config"])
        prefix = "model."
        state = {
            k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)
        }
        model.load_state_dict(state)
    except KeyError as e:
        raise CheckpointError(f"{path}: not a seqrec checkpoint (missing {e})") from None
    return Classifier(model, hparams["labels"], hparams["input_spec"], device)


class Classifier:
    """A trained sequence classifier: audio in, labels out."""

    def __init__(
        self, model: nn.Module, labels: Sequence[str], input_spec: dict[str, Any], device="cpu"
    ) -> None:
        self.model = model.to(device).eval()
        self.labels = list(labels)
        self.input_spec = dict(input_spec)
        self.device = torch.device(device)

    @property
    def sample_rate(self) -> int:
        return int(self.input_spec["sample_rate"])

    def _waveform(self, item: AudioInput) -> torch.Tensor:
        if isinstance(item, str | Path):
            return load_audio(item, self.sample_rate)
        waveform = torch.as_tensor(item, dtype=torch.float32)
        if waveform.dim() != 1 or waveform.numel() == 0:
            raise ValueError(
                f"a waveform must be a non-empty 1-D array at {self.sample_rate} Hz, got shape {tuple(waveform.shape)}"
            )
        return waveform

    @torch.inference_mode()
    def classify(
        self, inputs: Sequence[AudioInput], top_k: int = 5, batch_size: int = 32
    ) -> list[Prediction]:
        """Label each input: a file path, or a mono waveform at :attr:`sample_rate`.

        Returns one :class:`Prediction` per input, in input order, with the best label,
        its probability, and the ``top_k`` labels with theirs.
        """
        waveforms = [self._waveform(item) for item in inputs]
        order = sorted(range(len(waveforms)), key=lambda i: waveforms[i].numel())  # less padding
        predictions: list[Prediction | None] = [None] * len(waveforms)
        k = min(top_k, len(self.labels))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            audio, lengths = pad_sequences([waveforms[i] for i in chunk])
            logits, _ = self.model(audio.to(self.device), lengths.to(self.device))
            probs = torch.softmax(logits.float(), dim=-1).cpu()
            scores, indices = probs.topk(k, dim=-1)
            for row, i in enumerate(chunk):
                top = [
                    (self.labels[j], round(s, 6))
                    for s, j in zip(scores[row].tolist(), indices[row].tolist(), strict=True)
                ]
                name = str(inputs[i]) if isinstance(inputs[i], str | Path) else f"waveform[{i}]"
                predictions[i] = Prediction(label=top[0][0], score=top[0][1], top_k=top, input=name)
        return predictions
