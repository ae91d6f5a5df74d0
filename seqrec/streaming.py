"""Keyword detection in a stream, torch-free: a window of the model's clip length
slides over the audio by a hop; each window is classified; the class posteriors are
averaged over the last few windows; a keyword whose averaged score crosses its
threshold gives an event, and a refractory period follows.

Any classifier that :func:`seqrec.load` gives (a checkpoint's, or an exported
model's through :mod:`seqrec.runtime`) can detect: the windows go through its own
``classify_clips``. Memory is bounded by one window, the smoothing span and one batch
of windows, whatever the stream's length. Latency: a window is scored when its last
sample arrives, so an event comes at the earliest when the end of the keyword has
entered a window; with a bidirectional decoder the whole window is needed, so a
keyword is detected between one hop and one window length after it ends, plus the
smoothing span.

    model = seqrec.load("kws.ckpt")               # or "kws.onnx"
    for event in model.detect("long.wav", threshold=0.8):
        print(event.word, event.start, event.end, event.score)
"""

import sys
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import soundfile as sf

from seqrec.waveform import MISSING_FILE, AudioError

# classes that are never events: Speech Commands' 12-class task has both
NON_KEYWORDS = ("_silence_", "_unknown_")
BLOCK_SECONDS = 1.0  # how much of a file (or of stdin) is read at a time


@dataclass(frozen=True)
class Event:
    """A keyword heard in the stream: where the window that found it begins and ends
    (seconds from the start of the stream), and its smoothed score."""

    word: str
    start: float
    end: float
    score: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "score": round(self.score, 6),
        }


class StreamingDetector:
    """Feed it chunks of audio of any size (:meth:`feed`); it gives back the events
    found so far. The same events come whatever the chunk sizes.

    Args:
        model: a classifier from :func:`seqrec.load` (audio, checkpoint or ONNX).
        threshold: the smoothed score that triggers an event: one for every keyword,
            or a mapping word -> threshold (a word not in it cannot trigger).
        hop_seconds: the step between windows.
        window_seconds: the window length; default: the reader's ``clip_seconds``,
            else 1 s (the synthetic and Speech Commands clips).
        smooth_windows: posteriors are averaged over this many windows.
        refractory_seconds: after an event, no event for this long.
        batch_windows: windows classified in one call, when a chunk brings several.
    """

    def __init__(
        self,
        model: Any,
        threshold: float | Mapping[str, float] = 0.5,
        hop_seconds: float = 0.1,
        window_seconds: float | None = None,
        smooth_windows: int = 3,
        refractory_seconds: float = 1.0,
        batch_windows: int = 16,
    ) -> None:
        if getattr(model, "modality", None) != "audio" or not hasattr(model, "labels"):
            raise TypeError(
                f"{getattr(model, 'source', model)}: detect() needs an audio classifier"
            )
        self.model = model
        self.rate = int(model.sample_rate)
        labels = list(model.labels)
        self.labels = labels
        self.index = {label: i for i, label in enumerate(labels)}
        if window_seconds is None:
            window_seconds = _reader_clip_seconds(model) or 1.0
        self.window = round(window_seconds * self.rate)
        self.hop = round(hop_seconds * self.rate)
        if self.hop < 1 or self.window < 1:
            raise ValueError(f"hop_seconds and window_seconds must be positive, got {hop_seconds}")
        if smooth_windows < 1 or batch_windows < 1:
            raise ValueError("smooth_windows and batch_windows must be at least 1")
        keywords = [w for w in labels if w not in NON_KEYWORDS]
        if isinstance(threshold, Mapping):
            unknown = sorted(set(threshold) - set(keywords))
            if unknown:
                raise ValueError(f"thresholds for words the model does not spot: {unknown}")
            limits = [threshold.get(w, np.inf) for w in labels]
        else:
            limits = [threshold] * len(labels)
        self.thresholds = np.array(
            [limit if w in keywords else np.inf for w, limit in zip(labels, limits, strict=True)]
        )
        self.refractory = round(refractory_seconds * self.rate)
        self.batch_windows = batch_windows
        self.recent: deque[np.ndarray] = deque(maxlen=smooth_windows)
        self.buffer = np.zeros(0, np.float32)  # the samples of the next window(s)
        self.buffer_start = 0  # stream position (samples) of buffer[0]
        self.next_end = self.window  # stream position where the next window ends
        self.quiet_until = 0  # no event for windows ending before this

    def feed(self, samples: np.ndarray) -> list[Event]:
        """Add ``samples`` (1-D, at the model's sample rate) and score every window
        that is now complete; the events they give."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"a chunk must be 1-D samples at {self.rate} Hz, got {samples.shape}")
        self.buffer = np.concatenate([self.buffer, samples])
        events: list[Event] = []
        while True:
            ends = []
            end = self.next_end
            while end <= self.buffer_start + self.buffer.size and len(ends) < self.batch_windows:
                ends.append(end)
                end += self.hop
            if not ends:
                break
            windows = [self.buffer[e - self.window - self.buffer_start : e - self.buffer_start]
                       for e in ends]  # fmt: skip
            events += self._score(windows, ends)
            self.next_end = end
            keep_from = self.next_end - self.window  # the next window's first sample
            drop = max(0, keep_from - self.buffer_start)
            self.buffer = self.buffer[drop:]
            self.buffer_start += drop
        return events

    def finish(self) -> list[Event]:
        """At the end of the stream: one hop of silence, so that a window ends at or
        after the stream's last sample."""
        return self.feed(np.zeros(self.hop, np.float32))

    def _score(self, windows: list[np.ndarray], ends: list[int]) -> list[Event]:
        names = [f"window@{e / self.rate:.2f}s" for e in ends]
        predictions = self.model.classify_clips(
            [[self._as_input(w)] for w in windows], names, top_k=len(self.labels)
        )
        events = []
        for end, prediction in zip(ends, predictions, strict=True):
            posterior = np.zeros(len(self.labels))
            for label, score in prediction.top_k:
                posterior[self.index[label]] = score
            self.recent.append(posterior)
            smoothed = np.mean(self.recent, axis=0)
            above = smoothed >= self.thresholds
            if end < self.quiet_until or not above.any():
                continue
            best = int(np.argmax(np.where(above, smoothed, -np.inf)))
            start = end - self.window
            events.append(
                Event(self.labels[best], start / self.rate, end / self.rate, float(smoothed[best]))
            )
            self.quiet_until = end + self.refractory
        return events

    def _as_input(self, window: np.ndarray) -> Any:
        """A window as the model's ``classify_clips`` takes it (a tensor for a checkpoint)."""
        prepared = self.model.prepare(window)  # its own checks (and tensor type)
        return prepared[0]


def _reader_clip_seconds(model: Any) -> float | None:
    reader = getattr(model, "reader", None)
    if reader is not None:
        return getattr(reader, "clip_seconds", None)
    return getattr(model, "reader_config", {}).get("clip_seconds")


def chunks_of_source(
    source: str | Path | BinaryIO | Iterable[np.ndarray], rate: int
) -> Iterator[np.ndarray]:
    """The audio of ``source`` in chunks at ``rate``: a file (read a block at a time;
    it must be at ``rate``), ``"-"`` for raw 16-bit little-endian mono PCM at ``rate``
    on stdin, a binary stream of the same, or an iterable of 1-D arrays."""
    if isinstance(source, str | Path) and str(source) == "-":
        source = sys.stdin.buffer
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise AudioError(f"{path}: file not found", MISSING_FILE)
        info = sf.info(str(path))
        if info.samplerate != rate:
            raise AudioError(
                f"{path}: {info.samplerate} Hz, and this model listens at {rate} Hz; "
                f"resample the stream to {rate} Hz first"
            )
        blocks = sf.blocks(str(path), blocksize=round(BLOCK_SECONDS * rate), dtype="float32")
        for block in blocks:
            yield block if block.ndim == 1 else block.mean(axis=1)
        return
    if hasattr(source, "read"):
        block_bytes = 2 * round(BLOCK_SECONDS * rate)
        rest = b""
        while data := source.read(block_bytes):
            data = rest + data
            whole = len(data) // 2 * 2
            rest = data[whole:]
            yield np.frombuffer(data[:whole], dtype="<i2").astype(np.float32) / 32768.0
        return
    yield from source


def detect(
    model: Any, source: str | Path | BinaryIO | Iterable[np.ndarray], **options: Any
) -> Iterator[Event]:
    """The events of ``source`` (:func:`chunks_of_source`) as they are found, by a
    :class:`StreamingDetector` on ``model`` with ``options``."""
    detector = StreamingDetector(model, **options)
    for chunk in chunks_of_source(source, detector.rate):
        yield from detector.feed(chunk)
    yield from detector.finish()
