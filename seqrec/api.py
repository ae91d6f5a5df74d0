"""What a loaded model offers, torch-free: the methods that the PyTorch models
(:mod:`seqrec.inference`) and the exported ones (:mod:`seqrec.runtime`) share:
``classify``, ``transcribe``, ``transcribe_with_times`` and ``detect``, and the error
a model gives for a method of another kind."""

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from seqrec.core.results import Prediction, top_predictions
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
    its kind unless the kind provides it (:class:`seqrec.inference.LoadedModel`,
    :class:`seqrec.runtime.OnnxModel`)."""

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
    ``prepare`` an input and give ``transcripts`` of waveforms: the PyTorch
    :class:`seqrec.inference.Transcriber` and the exported
    :class:`seqrec.runtime.OnnxTranscriber` share them."""

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
    input and give the ``posteriors`` of prepared ones: the PyTorch
    :class:`seqrec.inference.Classifier` and the exported
    :class:`seqrec.runtime.OnnxClassifier` share it."""

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
