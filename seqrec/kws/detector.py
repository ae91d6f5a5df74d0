"""Keyword detection in a stream, torch-free: a window of the model's clip length
slides over the audio by a hop; each window is classified; the class posteriors are
averaged over the last few windows; a keyword whose averaged score crosses its
threshold gives an event, and a refractory period follows. With a decision span
(``decision_seconds``), the detector waits that long after a crossing and names the
keyword with the best score above its threshold in the span: a word whose start
sounds like another keyword ("do" of "down" like "go") then no longer takes the
event, at the cost of that much latency.

Any classifier that :func:`seqrec.load` gives (a checkpoint's, or an exported
model's through :mod:`seqrec.runtime`) can detect: the windows go through its own
``posteriors``. Memory is bounded by one window, the smoothing span and one batch
of windows, whatever the stream's length. Latency: a window is scored when its last
sample arrives, so an event comes at the earliest when the end of the keyword has
entered a window; with a bidirectional decoder the whole window is needed, so a
keyword is detected between one hop and one window length after it ends, plus the
smoothing span and the decision span. ``Event.decided`` says when the event was given.

The two halves are separate so that thresholds can be swept without running the model
again: :func:`score_track` gives a stream's smoothed posteriors (a :class:`Track`), and
:func:`trigger` turns a track into events; :class:`StreamingDetector` runs the same
two steps a batch of windows at a time, so both give the same events.

With ``threshold=None`` (the default) the threshold comes from the JSON sidecar that
``seqrec-eval-stream`` writes beside the model (``best.ckpt`` -> ``best.detect.json``,
:mod:`seqrec.kws.settings`), with its hop, window, smoothing, refractory and decision
settings; else it is 0.5. Sources are read by :mod:`seqrec.core.audio_chunks`.

    model = seqrec.load("kws.ckpt")               # or "kws.onnx"
    for event in model.detect("long.wav", threshold=0.8):
        print(event.word, event.start, event.end, event.score)
"""

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqrec.core.audio_chunks import Source, chunks_of_source
from seqrec.core.waveform import check_finite
from seqrec.kws.settings import DetectorSettings, Thresholds

# classes that are never events: Speech Commands' 12-class task has both
NON_KEYWORDS = ("_silence_", "_unknown_")


@dataclass(frozen=True)
class Event:
    """A keyword heard in the stream: where the window that found it begins and ends
    (seconds from the start of the stream), its smoothed score, and when the detector
    gave it (``decided``; None: when that window ended, as without a decision span)."""

    word: str
    start: float
    end: float
    score: float
    decided: float | None = None

    @property
    def time(self) -> float:
        """When the detector gave the event (seconds from the start of the stream)."""
        return self.end if self.decided is None else self.decided

    def as_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "score": round(self.score, 6),
            "decided": round(self.time, 3),
        }


@dataclass(frozen=True)
class Track:
    """A stream's smoothed class posteriors, one row per window, in the order of
    ``labels``: all that :func:`trigger` needs to give the events at any threshold.

    >>> track = Track(("_silence_", "yes"), 10, 10, np.array([10, 11]), np.zeros((2, 2)))
    >>> track.ends, track.smoothed.shape
    (array([1. , 1.1]), (2, 2))
    """

    labels: tuple[str, ...]
    rate: int  # samples per second
    window: int  # the window length, in samples
    end_samples: np.ndarray  # (N,) int64: where each window ends, samples into the stream
    smoothed: np.ndarray  # (N, C): posteriors averaged over the last few windows

    @property
    def ends(self) -> np.ndarray:
        """(N,) the windows' end times, in seconds."""
        return self.end_samples / self.rate


class WindowScorer:
    """The windows of a stream and their smoothed posteriors: feed chunks of audio of
    any size; each call gives the windows completed so far, in batches of
    ``(ends (n,) in samples, smoothed (n, C))``. The same rows come whatever the chunk
    sizes. Arguments as for :class:`StreamingDetector` (no sidecar here)."""

    def __init__(
        self,
        model: Any,
        hop_seconds: float = 0.1,
        window_seconds: float | None = None,
        smooth_windows: int = 3,
        batch_windows: int = 16,
    ) -> None:
        _check_audio_classifier(model)
        self.model = model
        self.rate = int(model.sample_rate)
        self.labels = tuple(model.labels)
        if window_seconds is None:
            window_seconds = clip_window_seconds(model)
        self.window = round(window_seconds * self.rate)
        self.hop = round(hop_seconds * self.rate)
        if self.hop < 1 or self.window < 1:
            raise ValueError(f"hop_seconds and window_seconds must be positive, got {hop_seconds}")
        if smooth_windows < 1 or batch_windows < 1:
            raise ValueError("smooth_windows and batch_windows must be at least 1")
        self.batch_windows = batch_windows
        self.recent: deque[np.ndarray] = deque(maxlen=smooth_windows)
        self.buffer = np.zeros(0, np.float32)  # the samples of the next window(s)
        self.buffer_start = 0  # stream position (samples) of buffer[0]
        self.next_end = self.window  # stream position where the next window ends

    def feed(self, samples: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Add ``samples`` (1-D, finite, at the model's sample rate); score every window
        that is now complete. A NaN or infinite sample is an
        :class:`~seqrec.core.waveform.AudioError` naming its place in the stream: a NaN
        would make every window that holds it score nan, and no event could fire."""
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"a chunk must be 1-D samples at {self.rate} Hz, got {samples.shape}")
        check_finite(samples, "the audio stream", first=self.buffer_start + self.buffer.size)
        self.buffer = np.concatenate([self.buffer, samples])
        batches = []
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
            batches.append((np.array(ends, np.int64), self._smoothed(windows)))
            self.next_end = end
            keep_from = self.next_end - self.window  # the next window's first sample
            drop = max(0, keep_from - self.buffer_start)
            self.buffer = self.buffer[drop:]
            self.buffer_start += drop
        return batches

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """At the end of the stream: one hop of silence, so that a window ends at or
        after the stream's last sample."""
        return self.feed(np.zeros(self.hop, np.float32))

    def _smoothed(self, windows: list[np.ndarray]) -> np.ndarray:
        inputs = [[self.model.prepare(w)[0]] for w in windows]  # its checks and tensor type
        posteriors = np.asarray(self.model.posteriors(inputs, len(inputs)), np.float64)  # (n, C)
        rows = np.zeros_like(posteriors)
        for row, posterior in zip(rows, posteriors, strict=True):
            self.recent.append(posterior)
            row[:] = np.mean(self.recent, axis=0)
        return rows


class StreamingDetector:
    """Feed it chunks of audio of any size (:meth:`feed`); it gives back the events
    found so far. The same events come whatever the chunk sizes, and the same as
    :func:`trigger` gives on the stream's :func:`score_track`.

    Args:
        model: a classifier from :func:`seqrec.load` (audio, checkpoint or ONNX).
        threshold: the smoothed score that triggers an event: one for every keyword,
            or a mapping word -> threshold (a word not in it cannot trigger); default:
            the model's sidecar (:meth:`DetectorSettings.for_model`), else 0.5.
        hop_seconds: the step between windows (default: the sidecar's, else 0.1).
        window_seconds: the window length; default: the sidecar's, else the reader's
            ``clip_seconds``, else 1 s (the synthetic and Speech Commands clips).
        smooth_windows: posteriors are averaged over this many windows (default: the
            sidecar's, else 3).
        refractory_seconds: after an event, no event for this long (default: the
            sidecar's, else 1 s).
        decision_seconds: after a crossing, wait this long and name the best keyword
            above its threshold in that span (default: the sidecar's, else 0: the
            crossing window's best keyword, at once).
        batch_windows: windows classified in one call, when a chunk brings several.
    """

    def __init__(
        self,
        model: Any,
        threshold: Thresholds | None = None,
        hop_seconds: float | None = None,
        window_seconds: float | None = None,
        smooth_windows: int | None = None,
        refractory_seconds: float | None = None,
        decision_seconds: float | None = None,
        batch_windows: int = 16,
    ) -> None:
        _check_audio_classifier(model)
        settings = DetectorSettings.for_model(
            model,
            threshold=threshold,
            hop_seconds=hop_seconds,
            window_seconds=window_seconds,
            smooth_windows=smooth_windows,
            refractory_seconds=refractory_seconds,
            decision_seconds=decision_seconds,
        )
        self.settings = settings  # what it uses, and the sidecar the threshold came from
        windowing = (settings.hop_seconds, settings.window_seconds, settings.smooth_windows)
        self.scorer = WindowScorer(model, *windowing, batch_windows)
        self.rate, self.labels = self.scorer.rate, self.scorer.labels
        self.window = self.scorer.window  # samples
        self.limits = keyword_limits(self.labels, settings.threshold, settings.sidecar)
        self.refractory = round(settings.refractory_seconds * self.rate)
        self.decision = round(settings.decision_seconds * self.rate)
        self.state = TriggerState()

    def feed(self, samples: np.ndarray) -> list[Event]:
        """Add ``samples`` (1-D, at the model's sample rate); the events of the windows
        that are now complete."""
        return self._trigger(self.scorer.feed(samples))

    def finish(self) -> list[Event]:
        """The events of the stream's last window(s) (:meth:`WindowScorer.finish`)."""
        batches = self.scorer.finish() or [(np.zeros(0, np.int64), np.zeros((0, len(self.labels))))]
        return self._trigger(batches, final=True)

    def _trigger(
        self, batches: list[tuple[np.ndarray, np.ndarray]], final: bool = False
    ) -> list[Event]:
        events = []
        for i, (ends, smoothed) in enumerate(batches):
            last = final and i == len(batches) - 1
            fired = _fire(
                ends, smoothed, self.limits, self.refractory, self.decision, self.state, last
            )
            events += _events(self.labels, self.rate, self.window, fired)
        return events


def keyword_limits(labels: tuple[str, ...], threshold: Thresholds, where: str = "") -> np.ndarray:
    """(C,) the score each class must reach to trigger: ``threshold`` for every keyword,
    or per word from a mapping (other words: never); never for ``NON_KEYWORDS``.

    >>> keyword_limits(("_silence_", "yes", "no"), {"yes": 0.7})
    array([inf, 0.7, inf])
    """
    keywords = [w for w in labels if w not in NON_KEYWORDS]
    if isinstance(threshold, Mapping):
        unknown = sorted(set(threshold) - set(keywords))
        if unknown:
            prefix = f"{where}: " if where else ""
            raise ValueError(f"{prefix}thresholds for words the model does not spot: {unknown}")
        limits = [threshold.get(w, np.inf) for w in labels]
    else:
        limits = [threshold] * len(labels)
    return np.array(
        [limit if w in keywords else np.inf for w, limit in zip(labels, limits, strict=True)],
        dtype=float,
    )


@dataclass
class TriggerState:
    """What the trigger rule carries from one batch of windows to the next: no event
    for windows ending before ``quiet_until`` (samples), and a crossing whose decision
    span is still open (``pending``: the span's end, and the best window so far as
    ``(end, class, score)``)."""

    quiet_until: int = 0
    pending: tuple[int, tuple[int, int, float]] | None = None
    last_end: int = 0  # the end of the last window seen


def _fire(
    ends: np.ndarray,
    smoothed: np.ndarray,
    limits: np.ndarray,
    refractory: int,
    decision: int,
    state: TriggerState,
    final: bool = False,
) -> list[tuple[int, int, float, int]]:
    """The trigger rule, for the detector and for :func:`trigger` alike, on one batch
    of windows (``ends`` in samples, ascending; ``smoothed`` (N, C)). A window ending
    at or after ``state.quiet_until`` whose smoothed score reaches a class's limit opens
    a decision span of ``decision`` samples; when the span has ended (or the stream,
    with ``final``), the window and class with the best score at or above its limit in
    the span fire. The span and the ``refractory`` samples after it stay quiet.
    Returns ``(window end, class, score, decided)`` per event, with ``decided`` the
    end of the window that closed the span; updates ``state``."""
    masked = np.where(smoothed >= limits, smoothed, -np.inf)  # (N, C)
    classes, scores = masked.argmax(axis=1), masked.max(axis=1, initial=-np.inf)
    rows = np.flatnonzero(np.isfinite(scores))
    candidate_ends, candidate_scores = ends[rows], scores[rows]
    last = int(ends[-1]) if ends.size else state.last_end
    state.last_end = last
    fired = []

    def best_in(i: int, span_end: int, best: tuple[int, int, float] | None):
        j = int(np.searchsorted(candidate_ends, span_end, side="right"))
        if j > i:
            k = i + int(np.argmax(candidate_scores[i:j]))
            if best is None or candidate_scores[k] > best[2]:
                best = (int(candidate_ends[k]), int(classes[rows[k]]), float(candidate_scores[k]))
        return best

    def settle(span_end: int, best: tuple[int, int, float]) -> bool:
        if last < span_end and not final:
            state.pending = (span_end, best)
            return False
        closing = int(np.searchsorted(ends, span_end))
        decided = int(ends[closing]) if closing < ends.size else last
        fired.append((*best, decided))
        state.pending = None
        return True

    if state.pending is not None:
        span_end, best = state.pending
        if not settle(span_end, best_in(0, span_end, best)):
            return fired
    i = int(np.searchsorted(candidate_ends, state.quiet_until))
    while i < rows.size:
        crossing = int(candidate_ends[i])
        span_end = crossing + decision
        state.quiet_until = span_end + max(refractory, 1)
        if not settle(span_end, best_in(i, span_end, None)):
            break
        i = int(np.searchsorted(candidate_ends, state.quiet_until))
    return fired


def _events(
    labels: tuple[str, ...], rate: int, window: int, fired: list[tuple[int, int, float, int]]
) -> list[Event]:
    return [
        Event(labels[c], (end - window) / rate, end / rate, score, decided / rate)
        for end, c, score, decided in fired
    ]


def fired_windows(
    track: Track,
    threshold: Thresholds,
    refractory_seconds: float = 1.0,
    decision_seconds: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """When the events of :func:`trigger` at ``threshold`` (one for all keywords, or a
    mapping word -> threshold) are given (``Event.time``, seconds) and the class each
    names, as arrays, for sweeps."""
    fired = _fire_track(track, threshold, refractory_seconds, decision_seconds)
    times = np.array([decided for *_, decided in fired], float) / track.rate
    return times, np.array([c for _, c, _, _ in fired], np.int64)


def _fire_track(
    track: Track, threshold: Thresholds, refractory_seconds: float, decision_seconds: float
) -> list[tuple[int, int, float, int]]:
    limits = keyword_limits(track.labels, threshold)
    refractory = round(refractory_seconds * track.rate)
    decision = round(decision_seconds * track.rate)
    state = TriggerState()
    return _fire(track.end_samples, track.smoothed, limits, refractory, decision, state, True)


def trigger(
    track: Track,
    threshold: Thresholds,
    refractory_seconds: float = 1.0,
    decision_seconds: float = 0.0,
) -> list[Event]:
    """The events that :class:`StreamingDetector` gives at ``threshold`` (one for all
    keywords, or a mapping word -> threshold), from the stream's :class:`Track`.

    >>> smoothed = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.2, 0.8]])
    >>> track = Track(("_silence_", "yes"), 10, 10, np.array([10, 15, 20, 25]), smoothed)
    >>> [(e.word, e.start, e.end, e.score) for e in trigger(track, 0.7, refractory_seconds=1.0)]
    [('yes', 0.5, 1.5, 0.8), ('yes', 1.5, 2.5, 0.8)]
    >>> [(e.end, e.score, e.time) for e in trigger(track, 0.7, 1.0, decision_seconds=0.5)]
    [(2.0, 0.9, 2.0)]
    """
    fired = _fire_track(track, threshold, refractory_seconds, decision_seconds)
    return _events(track.labels, track.rate, track.window, fired)


def score_track(
    model: Any,
    source: Source,
    hop_seconds: float = 0.1,
    window_seconds: float | None = None,
    smooth_windows: int = 3,
    batch_windows: int = 16,
) -> Track:
    """Run ``model`` once over ``source`` (:func:`chunks_of_source`): the smoothed
    posteriors of every window, as :class:`StreamingDetector` computes them. Memory:
    one window and one batch of windows, plus the (N, C) track itself."""
    scorer = WindowScorer(model, hop_seconds, window_seconds, smooth_windows, batch_windows)
    batches = []
    for chunk in chunks_of_source(source, scorer.rate):
        batches += scorer.feed(chunk)
    batches += scorer.finish()
    ends = np.concatenate([e for e, _ in batches]) if batches else np.zeros(0, np.int64)
    smoothed = (
        np.concatenate([s for _, s in batches]) if batches else np.zeros((0, len(scorer.labels)))
    )
    return Track(scorer.labels, scorer.rate, scorer.window, ends, smoothed)


def _check_audio_classifier(model: Any) -> None:
    if getattr(model, "modality", None) != "audio" or not hasattr(model, "labels"):
        raise TypeError(f"{getattr(model, 'source', model)}: detect() needs an audio classifier")


def clip_window_seconds(model: Any) -> float:
    """The window a detector on ``model`` uses by default: the reader's clip length,
    else 1 s."""
    return getattr(getattr(model, "reader", None), "clip_seconds", None) or 1.0


def detect(model: Any, source: Source, pcm: str = "s16le", **options: Any) -> Iterator[Event]:
    """The events of ``source`` (:func:`chunks_of_source`, raw streams in format
    ``pcm``) as they are found, by a :class:`StreamingDetector` on ``model`` with
    ``options``."""
    detector = StreamingDetector(model, **options)
    for chunk in chunks_of_source(source, detector.rate, pcm):
        yield from detector.feed(chunk)
    yield from detector.finish()
