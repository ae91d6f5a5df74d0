"""Load a trained model (audio or video) from its checkpoint alone and run it::

model = seqrec.load("outputs/kws_synthetic/<run>/checkpoints/best.ckpt")
model.classify(["yes.wav", waveform])  # [Prediction(label='yes', score=0.98, ...), ...]

asr = seqrec.load("outputs/asr_synthetic/<run>/checkpoints/best.ckpt")
asr.transcribe(["a.wav", waveform])    # ["the cat sat on the mat", ...]
"""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqrec.api import Classifies, ModelMethods, Transcribes
from seqrec.checkpoint import CheckpointError, build_model, build_reader, read_checkpoint
from seqrec.core.results import Prediction as Prediction
from seqrec.core.results import Transcript, chunk_transcript, join_transcripts
from seqrec.core.results import WordTime as WordTime
from seqrec.core.waveform import chunks_of, cut_at, quiet_cuts
from seqrec.data.audio import AudioReader
from seqrec.data.batch import pad_sequences
from seqrec.data.video import ClipReader

Input = str | Path | np.ndarray | torch.Tensor


def load(
    path: str | Path,
    device: str | torch.device = "cpu",
    threads: int | None = None,
    decoding: dict[str, Any] | None = None,
) -> "Classifier | Transcriber":
    """Rebuild a trained model from a seqrec checkpoint, in eval mode on ``device``: a
    :class:`Classifier` (voice commands, video actions) or a :class:`Transcriber`
    (speech-to-text). An ``.onnx`` file (``seqrec-export``) loads into
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
        return Transcriber(
            model, tokenizer, reader, decoding or hparams.get("decoding"), device, source=path
        )
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
    return Classifier(model, labels, reader, device, source=path)


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


Reader = AudioReader | ClipReader


def run_batches(
    model: nn.Module,
    sequences: Sequence[torch.Tensor],
    batch_size: int,
    device: torch.device | str = "cpu",
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor]]:
    """Run ``model`` over ``sequences`` (waveforms or clips, each with time first),
    shortest first so that little is padding, ``batch_size`` at a time.

    Yields, per batch, the indices of its sequences, the outputs (float, on the CPU)
    and their lengths. The one batching loop of inference: classification,
    transcription and the benchmarks all go through it.

    >>> net = lambda x, n: (x.sum(dim=1, keepdim=True), n)
    >>> [(i, out.flatten().tolist()) for i, out, _ in run_batches(net, [torch.ones(3), torch.ones(1)], 8)]
    [([1, 0], [1.0, 3.0])]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(sequences)), key=lambda i: sequences[i].shape[0])
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        padded, lengths = pad_sequences([sequences[i] for i in batch])
        outputs, out_lengths = model(padded.to(device), lengths.to(device))
        yield batch, outputs.float().cpu(), out_lengths.cpu()


class LoadedModel(ModelMethods):
    """What every loaded model shares: the network in eval mode, and the reader that
    turns an input into what the network takes (the checkpoint's ``reader``)."""

    file_kind = "checkpoint"

    def __init__(
        self, model: nn.Module, reader: Reader, device="cpu", source: str | Path = ""
    ) -> None:
        self.model = model.to(device).eval()
        self.source = str(source) or "this model"
        self.reader = reader
        self.device = torch.device(device)

    @property
    def modality(self) -> str:
        return self.reader.modality

    @property
    def sample_rate(self) -> int:
        if not isinstance(self.reader, AudioReader):
            raise AttributeError(f"{self.source}: a {self.modality} model has no sample rate")
        return self.reader.sample_rate

    def prepare(self, item: Input, index: int | None = None) -> list[torch.Tensor]:
        """One input as the list of sequences the model scores (clips of a video),
        checked by the reader; an error names the file, or the array by ``index`` (its
        place among the inputs)."""
        return self.reader.prepare(item, index)


class Classifier(Classifies, LoadedModel):
    """A trained sequence classifier: audio or video in, labels out."""

    kind = "classifier"

    def __init__(
        self,
        model: nn.Module,
        labels: Sequence[str],
        reader: Reader,
        device="cpu",
        source: str | Path = "",
    ) -> None:
        super().__init__(model, reader, device, source)
        self.labels = list(labels)

    @torch.inference_mode()
    def posteriors(
        self, items: Sequence[Sequence[torch.Tensor]], batch_size: int = 32
    ) -> np.ndarray:
        """(N, C) class probabilities of inputs already prepared: for each, its clips
        (video) or its one waveform (audio). The logits of an input's clips are
        averaged; ``batch_size`` counts sequences (clips) per forward pass."""
        sequences = [clip for clips in items for clip in clips]
        owners = torch.tensor([i for i, clips in enumerate(items) for _ in clips], dtype=torch.long)
        logits = torch.zeros(len(sequences), len(self.labels))
        for batch, outputs, _ in run_batches(self.model, sequences, batch_size, self.device):
            logits[batch] = outputs
        summed = torch.zeros(len(items), len(self.labels)).index_add_(0, owners, logits)
        counts = torch.bincount(owners, minlength=len(items)).unsqueeze(1)
        return torch.softmax(summed / counts, dim=-1).numpy()  # clip scores averaged per input


class Transcriber(Transcribes, LoadedModel):
    """A trained CTC speech recogniser: audio in, text out.

    Args:
        model: the network (waveforms -> log-probabilities).
        tokenizer: its :class:`~seqrec.text.Tokenizer`.
        reader: the :class:`~seqrec.data.audio.AudioReader` (its sample rate).
        decoding: the config of the CTC search (``conf/decoding/``, e.g.
            ``{"_target_": "seqrec.decoding.BeamSearch", "beam_size": 32}``; the
            checkpoint's by default; greedy when None).
        chunk_seconds: recordings longer than this are cut into chunks of at most this
            length, at the quietest point of each chunk's last quarter, transcribed
            as a batch and joined; nothing is dropped.
    """

    kind = "speech-to-text model"

    def __init__(
        self,
        model: nn.Module,
        tokenizer,
        reader: AudioReader,
        decoding: dict[str, Any] | None = None,
        device="cpu",
        chunk_seconds: float = 30.0,
        source: str | Path = "",
    ) -> None:
        super().__init__(model, reader, device, source)
        self.tokenizer = tokenizer
        self.chunk_seconds = chunk_seconds
        self.set_decoding(decoding)

    def set_decoding(self, decoding: dict[str, Any] | None) -> None:
        """Switch decoding to the search a config names (``conf/decoding/``), e.g.
        ``{"_target_": "seqrec.decoding.LexiconBeamSearch", "lm_path": "lm.arpa",
        "lexicon": "words.txt"}``; the ``{"method": "beam_lm", ...}`` form of older
        checkpoints works too (:func:`~seqrec.decoding.build_search`). The files it
        names are read once, into :attr:`decoding` (:func:`~seqrec.core.ctc_search.embed_decoding`),
        so an export of this model carries them as data."""
        from seqrec.core.ctc_search import embed_decoding
        from seqrec.decoding import build_search

        self.decoding = embed_decoding(decoding)
        self.search = build_search(self.decoding, self.tokenizer)

    @property
    def frame_seconds(self) -> float:
        """Seconds between the model's output frames (the feature hop times the
        subsampling factor)."""
        stride = 1
        for part in (self.model.frontend, self.model.encoder, self.model.decoder):
            stride *= getattr(part, "time_stride", 1)
        return stride / self.sample_rate

    @torch.inference_mode()
    def transcripts(
        self, waveforms: Sequence[torch.Tensor], batch_size: int = 16, with_times: bool = True
    ) -> list["Transcript"]:
        """:class:`Transcript` of waveforms already read; word times if ``with_times``."""
        max_samples = round(self.chunk_seconds * self.sample_rate)
        frame_seconds = self.frame_seconds
        chunks, owners, offsets = chunks_of(
            waveforms,
            lambda w: split_at_quiet_points(w, max_samples, self.sample_rate),
            self.sample_rate,
        )
        parts = [Transcript("") for _ in chunks]
        batches = run_batches(self.model, chunks, batch_size, self.device)
        for batch, log_probs, out_lengths in batches:
            hypotheses = self.search.decode(log_probs, out_lengths)
            for i, hypothesis in zip(batch, hypotheses, strict=True):
                parts[i] = chunk_transcript(
                    hypothesis, self.tokenizer, frame_seconds, offsets[i], with_times
                )
        return join_transcripts(parts, owners, len(waveforms))


def split_at_quiet_points(
    waveform: torch.Tensor, max_samples: int, sample_rate: int
) -> list[torch.Tensor]:
    """Cut a waveform into pieces of at most ``max_samples`` where
    :func:`seqrec.core.waveform.split_at_quiet_points` cuts it: each at the centre of the
    frame of lowest energy (25 ms frames, 10 ms hop) in the last quarter of its piece.
    The pieces are views of ``waveform``; put back together they are all of it.

    >>> wave = torch.ones(100_000)
    >>> wave[30_000:30_400] = 0  # a pause
    >>> pieces = split_at_quiet_points(wave, 32_000, 16_000)
    >>> pieces[0].numel(), sum(p.numel() for p in pieces), max(p.numel() for p in pieces)
    (30120, 100000, 30120)
    """
    cuts = quiet_cuts(waveform.detach().cpu().numpy(), max_samples, sample_rate)
    return cut_at(waveform, cuts)
