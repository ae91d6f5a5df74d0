"""What a loaded model offers, torch-free: one :class:`Classifier` and one
:class:`Transcriber` for both backends. A checkpoint (:mod:`seqrec.inference`) and an
export (:mod:`seqrec.runtime`) differ only in two parts they hand over:

- the **network**, a callable from a zero-padded ``(B, T, ...)`` float32 array and
  its ``(B,)`` int64 lengths to the outputs and their lengths, numpy in and numpy
  out (:class:`Network`): a PyTorch module run under ``inference_mode``, or an
  onnxruntime session;
- the **reader**, which turns a file path or an array into the sequences the network
  takes (:class:`Reader`): the checkpoint's, or the one an export's metadata
  describes.

Everything else, the batching, the averaging of a video's clips, the CTC search, the
chunking of long audio, the word times, is here once: ``classify``, ``transcribe``,
``transcribe_with_times`` and ``detect``, and the error a model gives for a method of
another kind."""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from seqrec.core.ctc_search import CTCSearch, build_search, embed_decoding
from seqrec.core.results import (
    Prediction,
    Transcript,
    chunk_transcript,
    join_transcripts,
    top_predictions,
)
from seqrec.core.waveform import chunks_of, split_at_quiet_points
from seqrec.kws.detector import Event, detect


def check_inputs(inputs: Any, method: str) -> Sequence[Any]:
    """``inputs`` when it is a list of inputs; a TypeError saying how to pass one when
    it is a single path or waveform (a string would be read character by character).

    >>> check_inputs("a.wav", "classify")
    Traceback (most recent call last):
    ...
    TypeError: classify takes a list of inputs, got one str: pass [input] (model.classify(['a.wav']))
    """
    single = isinstance(inputs, str | Path | bytes) or getattr(inputs, "ndim", None) == 1
    if single:
        shown = repr(str(inputs)) if isinstance(inputs, str | Path) else "waveform"
        raise TypeError(
            f"{method} takes a list of inputs, got one {type(inputs).__name__}: "
            f"pass [input] (model.{method}([{shown}]))"
        )
    return inputs


def input_names(inputs: Sequence[Any]) -> list[str]:
    """What each result's ``input`` says: a file's path, or ``input[i]`` for an array.

    >>> input_names(["a.wav", Path("b.wav"), [0.0, 0.1]])
    ['a.wav', 'b.wav', 'input[2]']
    """
    return [
        str(item) if isinstance(item, str | Path) else f"input[{i}]"
        for i, item in enumerate(inputs)
    ]


class ModelMethods:
    """The methods of every kind of loaded model, each an error naming the file and
    its kind unless the kind provides it (:class:`Classifier`, :class:`Transcriber`)."""

    kind = "model"
    source = "this model"
    file_kind = "model"  # what the error calls the file: a checkpoint, an exported model

    def _wrong_kind(self, method: str, wants: str) -> TypeError:
        return TypeError(
            f"{self.source}: {method}() needs {wants}, but this {self.file_kind} is a {self.kind}"
        )

    def classify(self, *args: Any, **kwargs: Any) -> list:
        raise self._wrong_kind("classify", "a classifier (voice commands or video actions)")

    def transcribe(self, *args: Any, **kwargs: Any) -> list[str]:
        raise self._wrong_kind("transcribe", f"a speech-to-text (CTC) {self.file_kind}")

    def transcribe_with_times(self, *args: Any, **kwargs: Any) -> list:
        raise self._wrong_kind("transcribe_with_times", f"a speech-to-text (CTC) {self.file_kind}")


class Transcribes:
    """``transcribe`` and ``transcribe_with_times`` for a speech recogniser that can
    ``prepare`` an input and give ``transcripts`` of waveforms (:class:`Transcriber`)."""

    def transcribe(self, inputs: Sequence[Any], batch_size: int = 16) -> list[str]:
        """One transcript per input: audio file paths, or mono waveforms at the model's
        sample rate. Long recordings are chunked (``chunk_seconds``)."""
        inputs = check_inputs(inputs, "transcribe")
        waveforms = [self.prepare(item, i)[0] for i, item in enumerate(inputs)]
        return self.transcribe_waveforms(waveforms, batch_size)

    def transcribe_waveforms(self, waveforms: Sequence[Any], batch_size: int = 16) -> list[str]:
        """Transcripts of waveforms already read (1-D, at the model's sample rate)."""
        return [t.text for t in self.transcripts(waveforms, batch_size, with_times=False)]

    def transcribe_with_times(self, inputs: Sequence[Any], batch_size: int = 16) -> list:
        """:meth:`transcribe`, with the start and end of every word in seconds
        (:func:`word_times`), as :class:`Transcript` objects."""
        inputs = check_inputs(inputs, "transcribe_with_times")
        waveforms = [self.prepare(item, i)[0] for i, item in enumerate(inputs)]
        transcripts = self.transcripts(waveforms, batch_size, with_times=True)
        for transcript, name in zip(transcripts, input_names(inputs), strict=True):
            transcript.input = name
        return transcripts


class Classifies:
    """``classify`` and ``classify_clips`` for a classifier that can ``prepare`` an
    input and give the ``posteriors`` of prepared ones (:class:`Classifier`)."""

    def classify_clips(
        self,
        items: Sequence[Sequence[Any]],
        names: Sequence[str],
        top_k: int = 5,
        batch_size: int = 32,
    ) -> list[Prediction]:
        """Label inputs already prepared (:meth:`posteriors`): a :class:`Prediction`
        per input, named by ``names``."""
        return top_predictions(self.posteriors(items, batch_size), self.labels, names, top_k)

    def classify(self, inputs: Sequence[Any], top_k: int = 5, batch_size: int = 32) -> list:
        """Label each input.

        Audio models take file paths or mono waveforms at the model's sample rate;
        video models take file paths (read as at evaluation, several clips averaged) or
        normalised (T, 3, H, W) clips. Returns one :class:`Prediction` per input, in
        input order: the best label, its probability, and the ``top_k`` labels.
        """
        inputs = check_inputs(inputs, "classify")
        items = [self.prepare(item, i) for i, item in enumerate(inputs)]
        return self.classify_clips(items, input_names(inputs), top_k, batch_size)

    def detect(self, source: Any, **options: Any) -> Iterator[Event]:
        """Keywords in a stream, as they are heard: a long file at the model's sample
        rate, ``"-"`` for raw 16-bit PCM on stdin, or an iterable of 1-D chunks of any
        size (a microphone callback's). Yields :class:`~seqrec.kws.detector.Event` s
        (word, start, end, score, decided). ``options``: those of
        :class:`~seqrec.kws.detector.StreamingDetector` (``threshold``, ``hop_seconds``,
        ``smooth_windows``, ``refractory_seconds``, ``decision_seconds``, ...); those not given come from the
        model's ``<model>.detect.json`` beside it, which seqrec-eval-stream writes
        (else a threshold of 0.5, with a warning)."""
        return detect(self, source, **options)


class Network(Protocol):
    """A network as the loaded models run it: a zero-padded (B, T, ...) float32 array
    and its (B,) int64 lengths in, the (B, ...) float32 outputs and their (B,) lengths
    out (logits of a classifier, (B, T', V) log-probabilities of a CTC model)."""

    def __call__(
        self, inputs: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...


class Reader(Protocol):
    """What turns an input into what the network takes: ``modality`` (``audio`` or
    ``video``), for audio its ``sample_rate`` and ``clip_seconds`` (None: any length),
    and ``prepare``, one input (a path or an array) as a list of sequences (a video's
    clips), checked, with an error naming the file or ``waveform <index>``."""

    modality: str

    def prepare(self, item: Any, index: int | None = None) -> list[Any]: ...


def pad_batch(sequences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack (T_i, ...) arrays into a (B, max T, ...) float32 array, zeros after each
    end, and their (B,) int64 lengths.

    >>> padded, lengths = pad_batch([np.ones(2), np.ones(3)])
    >>> padded.tolist(), lengths.tolist()
    ([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], [2, 3])
    """
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    padded = np.zeros((len(sequences), int(lengths.max()), *sequences[0].shape[1:]), np.float32)
    for row, sequence in zip(padded, sequences, strict=True):
        row[: sequence.shape[0]] = sequence
    return padded, lengths


def run_batches(
    network: Network, sequences: Sequence[np.ndarray], batch_size: int
) -> Iterator[tuple[list[int], np.ndarray, np.ndarray]]:
    """Run ``network`` over ``sequences`` (waveforms or clips, each with time first),
    shortest first so that little is padding, ``batch_size`` at a time.

    Yields, per batch, the indices of its sequences, the outputs and their lengths.
    The one batching loop of inference: classification, transcription and the
    benchmarks all go through it, on either backend.

    >>> net = lambda x, n: (x.sum(axis=1, keepdims=True), n)
    >>> [(i, out.ravel().tolist()) for i, out, _ in run_batches(net, [np.ones(3), np.ones(1)], 8)]
    [([1, 0], [1.0, 3.0])]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    order = sorted(range(len(sequences)), key=lambda i: sequences[i].shape[0])
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        outputs, out_lengths = network(*pad_batch([sequences[i] for i in batch]))
        yield batch, np.asarray(outputs, dtype=np.float32), np.asarray(out_lengths)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis.

    >>> softmax(np.array([[0.0, 0.0]], np.float32)).tolist()
    [[0.5, 0.5]]
    """
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class LoadedModel(ModelMethods):
    """What every loaded model shares: its network, its reader, and the file it came
    from (``source``; ``file_kind`` says what the file is in errors: a checkpoint, an
    exported model)."""

    def __init__(
        self, network: Network, reader: Reader, source: str | Path = "", file_kind: str = "model"
    ) -> None:
        self.network = network
        self.reader = reader
        self.source = str(source) or "this model"
        self.file_kind = file_kind

    @property
    def modality(self) -> str:
        return self.reader.modality

    @property
    def sample_rate(self) -> int:
        if self.modality != "audio":
            raise AttributeError(f"{self.source}: a {self.modality} model has no sample rate")
        return int(self.reader.sample_rate)

    def prepare(self, item: Any, index: int | None = None) -> list[np.ndarray]:
        """One input as the list of sequences the network scores (a video's clips),
        checked by the reader; an error names the file, or the array by ``index``
        (its place among the inputs)."""
        return [np.asarray(s, dtype=np.float32) for s in self.reader.prepare(item, index)]


class Classifier(Classifies, LoadedModel):
    """A trained sequence classifier: audio or video in, labels out."""

    kind = "classifier"

    def __init__(
        self,
        network: Network,
        labels: Sequence[str],
        reader: Reader,
        source: str | Path = "",
        file_kind: str = "model",
    ) -> None:
        super().__init__(network, reader, source, file_kind)
        self.labels = list(labels)

    def posteriors(self, items: Sequence[Sequence[np.ndarray]], batch_size: int = 32) -> np.ndarray:
        """(N, C) class probabilities of inputs already prepared (:meth:`prepare`): for
        each, its clips (video) or its one waveform (audio). The logits of an input's
        clips are averaged; ``batch_size`` counts sequences (clips) per forward pass."""
        sequences = [np.asarray(clip, np.float32) for clips in items for clip in clips]
        owners = np.array([i for i, clips in enumerate(items) for _ in clips], dtype=np.int64)
        logits = np.zeros((len(sequences), len(self.labels)), np.float32)
        for batch, outputs, _ in run_batches(self.network, sequences, batch_size):
            logits[batch] = outputs
        summed = np.zeros((len(items), len(self.labels)), np.float32)
        np.add.at(summed, owners, logits)
        counts = np.bincount(owners, minlength=len(items)).astype(np.float32)[:, None]
        return softmax(summed / counts)  # clip scores averaged per input


class Transcriber(Transcribes, LoadedModel):
    """A trained CTC speech recogniser: audio in, text out.

    Args:
        network: waveforms -> (B, T', V) log-probabilities and frame counts.
        tokenizer: its :class:`~seqrec.text.Tokenizer`.
        reader: the audio reader (its sample rate).
        frame_seconds: seconds between the network's output frames (word times).
        decoding: the config of the CTC search (``conf/decoding/``, e.g.
            ``{"_target_": "seqrec.core.ctc_search.BeamSearch", "beam_size": 32}``;
            greedy when None).
        chunk_seconds: recordings longer than this are cut into chunks of at most this
            length, at the quietest point of each chunk's last quarter, transcribed
            as a batch and joined; nothing is dropped.
    """

    kind = "speech-to-text model"

    def __init__(
        self,
        network: Network,
        tokenizer: Any,
        reader: Reader,
        frame_seconds: float,
        decoding: dict[str, Any] | None = None,
        chunk_seconds: float = 30.0,
        source: str | Path = "",
        file_kind: str = "model",
    ) -> None:
        super().__init__(network, reader, source, file_kind)
        self.tokenizer = tokenizer
        self.frame_seconds = float(frame_seconds)
        self.chunk_seconds = chunk_seconds
        self.set_decoding(decoding)

    def set_decoding(self, decoding: dict[str, Any] | None) -> None:
        """Switch decoding to the search a config names (``conf/decoding/``), e.g.
        ``{"_target_": "seqrec.core.ctc_search.LexiconBeamSearch", "lm_path": "lm.arpa",
        "lexicon": "words.txt"}`` (:func:`~seqrec.core.ctc_search.build_search`). The
        files it names are read once, into :attr:`decoding`
        (:func:`~seqrec.core.ctc_search.embed_decoding`), so that an export of this
        model carries them as data."""
        try:
            self.decoding = embed_decoding(decoding)
        except ValueError as e:
            raise ValueError(f"{self.source}: {e}") from None
        self.search: CTCSearch = build_search(self.decoding, self.tokenizer, self.source)

    def transcripts(
        self, waveforms: Sequence[np.ndarray], batch_size: int = 16, with_times: bool = True
    ) -> list[Transcript]:
        """:class:`~seqrec.core.results.Transcript` of waveforms already read; word
        times if ``with_times``."""
        max_samples = round(self.chunk_seconds * self.sample_rate)
        chunks, owners, offsets = chunks_of(
            [np.asarray(w, np.float32) for w in waveforms],
            lambda w: split_at_quiet_points(w, max_samples, self.sample_rate),
            self.sample_rate,
        )
        parts = [Transcript("") for _ in chunks]
        for batch, log_probs, out_lengths in run_batches(self.network, chunks, batch_size):
            hypotheses = self.search.decode(log_probs, out_lengths)
            for i, hypothesis in zip(batch, hypotheses, strict=True):
                parts[i] = chunk_transcript(
                    hypothesis, self.tokenizer, self.frame_seconds, offsets[i], with_times
                )
        return join_transcripts(parts, owners, len(waveforms))
