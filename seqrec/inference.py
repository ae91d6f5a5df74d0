"""Load a trained model (audio or video) from its checkpoint alone and run it::

model = seqrec.load("outputs/kws_synthetic/<run>/checkpoints/best.ckpt")
model.classify(["yes.wav", waveform])  # [Prediction(label='yes', score=0.98, ...), ...]

asr = seqrec.load("outputs/asr_synthetic/<run>/checkpoints/best.ckpt")
asr.transcribe(["a.wav", waveform])    # ["the cat sat on the mat", ...]
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqrec.checkpoint import CheckpointError, build_model, read_checkpoint
from seqrec.data.audio import load_audio
from seqrec.data.batch import pad_sequences
from seqrec.data.video import ClipReader, ClipTransform
from seqrec.decoding import WordTime, word_times

Input = str | Path | np.ndarray | torch.Tensor


@dataclass
class Prediction:
    label: str
    score: float
    top_k: list[tuple[str, float]] = field(default_factory=list)
    input: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "label": self.label,
            "score": self.score,
            "top_k": [{"label": label, "score": score} for label, score in self.top_k],
        }


def load(path: str | Path, device: str | torch.device = "cpu") -> "Classifier | Transcriber":
    """Rebuild a trained model from a seqrec checkpoint, in eval mode on ``device``: a
    :class:`Classifier` (voice commands, video actions) or a :class:`Transcriber`
    (speech-to-text)."""
    checkpoint = read_checkpoint(path)
    try:
        hparams = checkpoint["hyper_parameters"]
        model_config, input_spec = hparams["model_config"], hparams["input_spec"]
        state_dict = checkpoint["state_dict"]
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: not a seqrec checkpoint (missing {e})") from None
    try:
        model = build_model(model_config, path)
    except CheckpointError:
        raise
    except Exception as e:  # a config that names allowed parts with wrong arguments
        raise CheckpointError(f"{path}: cannot rebuild the model from its config: {e}") from None
    prefix = "model."
    state = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the model: {e}") from None
    if "tokenizer" in hparams:
        from seqrec.text import tokenizer_from_state

        tokenizer = tokenizer_from_state(hparams["tokenizer"])
        return Transcriber(
            model, tokenizer, input_spec, hparams.get("decoding"), device, source=path
        )
    if "labels" not in hparams:
        raise CheckpointError(
            f"{path}: not a seqrec checkpoint (neither labels nor a tokenizer in its hyper-parameters)"
        )
    return Classifier(model, hparams["labels"], input_spec, device, source=path)


class LoadedModel:
    """What every loaded model shares: the network in eval mode, what it takes as input
    (``input_spec``), and reading inputs that way."""

    kind = "model"

    def __init__(
        self, model: nn.Module, input_spec: dict[str, Any], device="cpu", source: str | Path = ""
    ) -> None:
        self.model = model.to(device).eval()
        self.source = str(source) or "this model"
        self.input_spec = dict(input_spec)
        self.device = torch.device(device)
        self.modality = self.input_spec.get("modality", "audio")
        if self.modality == "video":
            spec = self.input_spec
            self.clip_reader = ClipReader(
                num_frames=spec["num_frames"],
                frames_per_second=spec.get("frames_per_second"),
                num_clips=spec.get("num_clips", 1),
                clip_seconds=spec.get("clip_seconds"),
                short_side=spec["short_side"],
                transform=ClipTransform(size=spec["size"], train=False),
            )

    @property
    def sample_rate(self) -> int:
        return int(self.input_spec["sample_rate"])

    def _wrong_kind(self, method: str, wants: str) -> TypeError:
        return TypeError(
            f"{self.source}: {method}() needs {wants}, but this checkpoint is a {self.kind}"
        )

    def classify(self, *args: Any, **kwargs: Any) -> list["Prediction"]:
        raise self._wrong_kind("classify", "a classifier (voice commands or video actions)")

    def transcribe(self, *args: Any, **kwargs: Any) -> list[str]:
        raise self._wrong_kind("transcribe", "a speech-to-text (CTC) checkpoint")

    def transcribe_with_times(self, *args: Any, **kwargs: Any) -> list["Transcript"]:
        raise self._wrong_kind("transcribe_with_times", "a speech-to-text (CTC) checkpoint")

    def prepare(self, item: Input) -> list[torch.Tensor]:
        """One input as the list of sequences the model scores (clips of a video)."""
        if self.modality == "video":
            if isinstance(item, str | Path):
                return self.clip_reader(item)
            clip = torch.as_tensor(item, dtype=torch.float32)
            if clip.dim() != 4 or clip.shape[1] != 3:
                raise ValueError(
                    f"a video clip must be a (T, 3, H, W) tensor, got shape {tuple(clip.shape)}"
                )
            return [clip]
        if isinstance(item, str | Path):
            return [load_audio(item, self.sample_rate)]
        waveform = torch.as_tensor(item, dtype=torch.float32)
        if waveform.dim() != 1 or waveform.numel() == 0:
            raise ValueError(
                f"a waveform must be a non-empty 1-D array at {self.sample_rate} Hz, got shape {tuple(waveform.shape)}"
            )
        return [waveform]


class Classifier(LoadedModel):
    """A trained sequence classifier: audio or video in, labels out."""

    kind = "classifier"

    def __init__(
        self,
        model: nn.Module,
        labels: Sequence[str],
        input_spec: dict[str, Any],
        device="cpu",
        source: str | Path = "",
    ) -> None:
        super().__init__(model, input_spec, device, source)
        self.labels = list(labels)

    @torch.inference_mode()
    def classify(
        self, inputs: Sequence[Input], top_k: int = 5, batch_size: int = 32
    ) -> list[Prediction]:
        """Label each input.

        Audio models take file paths or mono waveforms at :attr:`sample_rate`; video
        models take file paths (read as at evaluation, several clips averaged) or
        normalised (T, 3, H, W) clips. Returns one :class:`Prediction` per input, in
        input order: the best label, its probability, and the ``top_k`` labels.
        """
        names = [
            str(item) if isinstance(item, str | Path) else f"input[{i}]"
            for i, item in enumerate(inputs)
        ]
        return self.classify_clips(
            [self.prepare(item) for item in inputs], names, top_k, batch_size
        )

    @torch.inference_mode()
    def classify_clips(
        self,
        items: Sequence[Sequence[torch.Tensor]],
        names: Sequence[str],
        top_k: int = 5,
        batch_size: int = 32,
    ) -> list[Prediction]:
        """Label inputs already prepared: for each, its clips (video) or its one waveform
        (audio). The scores of an input's clips are averaged."""
        order = sorted(range(len(items)), key=lambda i: items[i][0].shape[0])  # less padding
        predictions: list[Prediction | None] = [None] * len(items)
        k = min(top_k, len(self.labels))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            sequences = [clip for i in chunk for clip in items[i]]
            padded, lengths = pad_sequences(sequences)
            logits, _ = self.model(padded.to(self.device), lengths.to(self.device))
            logits = logits.float().cpu()
            owners = torch.tensor([row for row, i in enumerate(chunk) for _ in items[i]])
            summed = torch.zeros(len(chunk), logits.shape[-1]).index_add_(0, owners, logits)
            counts = torch.bincount(owners, minlength=len(chunk)).unsqueeze(1)
            probs = torch.softmax(summed / counts, dim=-1)  # clip scores averaged per input
            scores, indices = probs.topk(k, dim=-1)
            for row, i in enumerate(chunk):
                top = [
                    (self.labels[j], round(s, 6))
                    for s, j in zip(scores[row].tolist(), indices[row].tolist(), strict=True)
                ]
                predictions[i] = Prediction(
                    label=top[0][0], score=top[0][1], top_k=top, input=names[i]
                )
        return predictions


class Transcriber(LoadedModel):
    """A trained CTC speech recogniser: audio in, text out.

    Args:
        model: the network (waveforms -> log-probabilities).
        tokenizer: its :class:`~seqrec.text.Tokenizer`.
        input_spec: ``{"modality": "audio", "sample_rate": ...}``.
        decoding: :class:`~seqrec.decoding.CTCSearch` settings (the checkpoint's by
            default; ``{"method": "greedy"}`` when it has none).
        chunk_seconds: recordings longer than this are cut into chunks of at most this
            length, at the quietest point of each chunk's last quarter, transcribed
            as a batch and joined; nothing is dropped.
    """

    kind = "speech-to-text model"

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        input_spec: dict[str, Any],
        decoding: dict[str, Any] | None = None,
        device="cpu",
        chunk_seconds: float = 30.0,
        source: str | Path = "",
    ) -> None:
        super().__init__(model, input_spec, device, source)
        self.tokenizer = tokenizer
        self.chunk_seconds = chunk_seconds
        self.set_decoding(decoding or {"method": "greedy"})

    def set_decoding(self, decoding: dict[str, Any]) -> None:
        """Switch decoding, e.g. ``{"method": "beam_lm", "lm_path": "lm.arpa",
        "lexicon": "words.txt"}``."""
        from seqrec.decoding import CTCSearch

        self.decoding = dict(decoding)
        self.search = CTCSearch(self.tokenizer, **self.decoding)

    @property
    def frame_seconds(self) -> float:
        """Seconds between the model's output frames (the feature hop times the
        subsampling factor)."""
        stride = 1
        for part in (self.model.frontend, self.model.encoder, self.model.decoder):
            stride *= getattr(part, "time_stride", 1)
        return stride / self.sample_rate

    @torch.inference_mode()
    def transcribe(self, inputs: Sequence[Input], batch_size: int = 16) -> list[str]:
        """One transcript per input: audio file paths, or mono waveforms at
        :attr:`sample_rate`. Long recordings are chunked (``chunk_seconds``)."""
        return self.transcribe_waveforms([self.prepare(item)[0] for item in inputs], batch_size)

    @torch.inference_mode()
    def transcribe_with_times(
        self, inputs: Sequence[Input], batch_size: int = 16
    ) -> list["Transcript"]:
        """:meth:`transcribe`, with the start and end of every word in seconds
        (:func:`~seqrec.decoding.word_times`)."""
        waveforms = [self.prepare(item)[0] for item in inputs]
        transcripts = self.transcripts(waveforms, batch_size, with_times=True)
        for i, (transcript, item) in enumerate(zip(transcripts, inputs, strict=True)):
            transcript.input = str(item) if isinstance(item, str | Path) else f"input[{i}]"
        return transcripts

    @torch.inference_mode()
    def transcribe_waveforms(
        self, waveforms: Sequence[torch.Tensor], batch_size: int = 16
    ) -> list[str]:
        """Transcripts of waveforms already read (1-D, at :attr:`sample_rate`)."""
        return [t.text for t in self.transcripts(waveforms, batch_size, with_times=False)]

    @torch.inference_mode()
    def transcripts(
        self, waveforms: Sequence[torch.Tensor], batch_size: int = 16, with_times: bool = True
    ) -> list["Transcript"]:
        """:class:`Transcript` of waveforms already read; word times if ``with_times``."""
        max_samples = round(self.chunk_seconds * self.sample_rate)
        frame_seconds = self.frame_seconds
        chunks, owners, offsets = [], [], []
        for i, waveform in enumerate(waveforms):
            offset = 0
            for chunk in split_at_quiet_points(waveform, max_samples, self.sample_rate):
                chunks.append(chunk)
                owners.append(i)
                offsets.append(offset / self.sample_rate)
                offset += chunk.shape[0]
        order = sorted(range(len(chunks)), key=lambda i: chunks[i].shape[0])  # less padding
        parts = [Transcript("") for _ in chunks]
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            padded, lengths = pad_sequences([chunks[i] for i in batch])
            log_probs, out_lengths = self.model(padded.to(self.device), lengths.to(self.device))
            hypotheses = self.search.decode(log_probs.float().cpu(), out_lengths.cpu())
            for i, hypothesis in zip(batch, hypotheses, strict=True):
                parts[i] = Transcript(hypothesis.text)
                if with_times:
                    parts[i].words = word_times(
                        hypothesis, self.tokenizer, frame_seconds, offsets[i]
                    )
        joined = [Transcript("") for _ in waveforms]
        for owner, part in zip(owners, parts, strict=True):
            if part.text:
                whole = joined[owner]
                whole.text = f"{whole.text} {part.text}" if whole.text else part.text
                whole.words.extend(part.words)
        return joined


@dataclass
class Transcript:
    """A transcript, with its words' times when asked for
    (:meth:`Transcriber.transcribe_with_times`)."""

    text: str
    words: list[WordTime] = field(default_factory=list)
    input: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"input": self.input, "text": self.text, "words": [w.as_dict() for w in self.words]}


def split_at_quiet_points(
    waveform: torch.Tensor, max_samples: int, sample_rate: int
) -> list[torch.Tensor]:
    """Cut a waveform into pieces of at most ``max_samples``, each cut at the frame of
    lowest energy (25 ms frames, 10 ms hop) in the last quarter of its piece, at
    that frame's centre. The
    pieces put back together are the whole waveform.

    >>> wave = torch.ones(100_000)
    >>> wave[30_000:30_400] = 0  # a pause
    >>> pieces = split_at_quiet_points(wave, 32_000, 16_000)
    >>> pieces[0].numel(), sum(p.numel() for p in pieces), max(p.numel() for p in pieces)
    (30120, 100000, 30120)
    """
    if max_samples <= 0:
        raise ValueError(f"max_samples must be positive, got {max_samples}")
    frame, hop = round(0.025 * sample_rate), round(0.010 * sample_rate)
    pieces, start, total = [], 0, waveform.shape[0]
    while total - start > max_samples:
        lo, hi = start + (3 * max_samples) // 4, start + max_samples
        window = waveform[lo:hi]
        if window.numel() >= frame:
            energy = window.unfold(0, frame, hop).pow(2).mean(dim=1)
            cut = lo + int(energy.argmin()) * hop + frame // 2  # the quietest frame's centre
        else:
            cut = hi
        cut = max(cut, start + 1)
        pieces.append(waveform[start:cut])
        start = cut
    pieces.append(waveform[start:])
    return pieces
