"""Long evaluation streams for keyword spotting: keywords at known times in background
noise, among other speech.

A stream is background noise over its whole length at a random level, with keyword
clips and non-keyword speech (sentences, other words) inserted at random times, each
at a random SNR against the noise. :class:`StreamLayout` lays a stream out and mixes
it, whatever the audio's source; the sources are
:class:`seqrec.data.speech_commands_streams.SpeechCommandsStreams` (the test clips of
Speech Commands v2) and
:class:`seqrec.synth.streams.SyntheticStreams` (eSpeak NG's test voices).

A corpus of streams under ``out``: ``streams/stream_000.wav`` ... (mono 16-bit PCM),
and ``streams.jsonl``, one line per stream, paths relative to its folder::

    {"audio_filepath": "streams/stream_000.wav", "duration": 300.0, "id": "stream_000",
     "keywords": [{"word": "yes", "start": 12.345, "end": 12.812}, ...],
     "speech": [{"start": 20.1, "end": 22.9, "text": "the cat ran"}, ...]}

``keywords`` holds every keyword occurrence in time order; its start and end (seconds,
rounded to the millisecond; starts are exact) are those of the spoken word itself, the
clip's leading and trailing silence trimmed off (:func:`word_bounds`). ``speech`` holds
the non-keyword speech likewise. A keyword lies at least ``min_gap_seconds`` from any
other keyword and any speech, so the evaluator's tolerance windows never overlap.
``streams.json`` holds the settings (a corpus with the same settings is reused) and
``streams_stats.json`` the streams, hours, keywords per word, speech seconds and what
was left out.
"""

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from seqrec.data.manifest import write_manifest
from seqrec.data.prepared import is_prepared, mark_prepared

MANIFEST, SETTINGS, STATS = "streams.jsonl", "streams.json", "streams_stats.json"
FOLDER = "streams"  # the wav files, under the corpus folder
PEAK = 0.99  # a stream louder than this is scaled down whole (its SNRs kept)


def word_bounds(
    audio: np.ndarray,
    sample_rate: int,
    range_db: float = 35.0,
    floor_db: float | None = 10.0,
    max_pause_seconds: float | None = 0.3,
) -> tuple[int, int]:
    """(start, end) samples of the speech in a clip, by energy in 10 ms frames; (0, 0)
    when there is none.

    A frame is speech when it is within ``range_db`` of the loudest frame and, with
    ``floor_db``, that much above the clip's noise floor (its quietest tenth of frames;
    3 dB under the loudest frame at most, for a noisy clip). With
    ``max_pause_seconds``, speech frames closer than that are one run, and the run
    holding the loudest frame is the word: a click or a cough elsewhere is not.

    >>> clip = np.zeros(16000, dtype=np.float32)
    >>> clip[4000:9600] = np.sin(np.arange(5600) * 0.3)
    >>> clip[15600:15640] = 0.5  # a click, 0.37 s after it
    >>> word_bounds(clip, 16000)
    (4000, 9600)
    """
    if not np.any(audio):
        return 0, 0
    frame = max(1, round(0.01 * sample_rate))
    count = math.ceil(audio.shape[0] / frame)
    padded = np.zeros(count * frame)
    padded[: audio.shape[0]] = audio
    energy = np.square(padded).reshape(count, frame).mean(axis=1)  # (frames,)
    level = 10 * np.log10(energy + 1e-20)
    threshold = level.max() - range_db
    if floor_db is not None:
        threshold = max(threshold, min(np.percentile(level, 10) + floor_db, level.max() - 3))
    loud = np.flatnonzero(level >= threshold)
    first, last = loud[0], loud[-1]
    if max_pause_seconds is not None:
        breaks = np.flatnonzero(np.diff(loud) > max_pause_seconds * sample_rate / frame)
        runs = np.split(loud, breaks + 1)
        word = next(run for run in runs if int(level.argmax()) in run)
        first, last = word[0], word[-1]
    return int(first) * frame, min(int(last + 1) * frame, audio.shape[0])


def crossfade(pieces: Sequence[np.ndarray], fade: int) -> np.ndarray:
    """The pieces end to end, each join an equal-power crossfade of ``fade`` samples
    (uncorrelated noises keep their level through it).

    >>> crossfade([np.ones(100), np.ones(100)], fade=10).shape
    (190,)
    """
    if any(piece.shape[0] < 2 * fade for piece in pieces):
        raise ValueError(f"every piece must be at least {2 * fade} samples to crossfade")
    ramp = np.sin(np.linspace(0, np.pi / 2, fade))  # cos**2 + sin**2 = 1 over the join
    out = np.zeros(sum(p.shape[0] for p in pieces) - fade * (len(pieces) - 1))
    position = 0
    for i, piece in enumerate(pieces):
        piece = piece.astype(np.float64)  # a copy: the ramps do not touch the caller's
        if i > 0:
            piece[:fade] *= ramp
        if i < len(pieces) - 1:
            piece[piece.shape[0] - fade :] *= ramp[::-1]
        out[position : position + piece.shape[0]] += piece
        position += piece.shape[0] - fade
    return out


def word_list(name: str, words: Iterable[Any]) -> tuple[str, ...]:
    """``words`` as a tuple of strings; a clear error for anything else (YAML reads an
    unquoted yes, no, on or off as a boolean)."""
    words = tuple(words)
    odd = [w for w in words if not isinstance(w, str)]
    if odd or not words:
        raise ValueError(
            f"{name} must be a non-empty list of words (quote yes/no/on/off), got {words}"
        )
    return words


@dataclass(frozen=True)
class Segment:
    """Audio to insert into a stream: ``audio[start:end]`` is the spoken ``text`` (a
    keyword, a word, a sentence); the samples around it (a little of a clip's own
    background, a reverberation tail) fade in and out."""

    audio: np.ndarray
    start: int
    end: int
    text: str

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= self.audio.shape[0]:
            raise ValueError(
                f"segment {self.text!r}: speech [{self.start}, {self.end}) is not inside "
                f"its {self.audio.shape[0]} samples"
            )
        if not np.any(self.audio[self.start : self.end]):
            raise ValueError(f"segment {self.text!r}: its speech is digital silence")


def recorded_word(audio: np.ndarray, sample_rate: int, pad: int, text: str) -> Segment | None:
    """A recording cut to its word (:func:`word_bounds`) with ``pad`` samples of its own
    audio either side, as a :class:`Segment` saying ``text``; None when it holds no word."""
    start, end = word_bounds(audio, sample_rate)
    if end == start:
        return None
    first, last = max(start - pad, 0), min(end + pad, audio.shape[0])
    return Segment(audio[first:last], start - first, end - first, text)


class SegmentQueue:
    """Segments to draw from, one at a time, with a look at the next one. Pass the same
    queue to every stream of a corpus: a segment looked at but not used stays for the
    next stream."""

    def __init__(self, segments: Iterable[Segment]) -> None:
        self._segments = iter(segments)
        self._next: Segment | None = None

    def peek(self) -> Segment | None:
        if self._next is None:
            self._next = next(self._segments, None)
        return self._next

    def pop(self) -> Segment | None:
        segment, self._next = self.peek(), None
        return segment


@dataclass(frozen=True)
class Placement:
    """A segment in a stream: its speech begins at sample ``start``."""

    segment: Segment
    start: int
    keyword: bool

    @property
    def end(self) -> int:
        return self.start + self.segment.end - self.segment.start

    @property
    def first(self) -> int:  # where the segment's audio begins
        return self.start - self.segment.start

    @property
    def last(self) -> int:  # one past where it ends
        return self.first + self.segment.audio.shape[0]


@dataclass
class Stream:
    """A mixed stream: its waveform (S,), its label rows in time order, and how many
    speech segments were too long for any stretch between keywords (left out)."""

    audio: np.ndarray
    keywords: list[dict[str, Any]]
    speech: list[dict[str, Any]]
    too_long: int = 0


@dataclass(frozen=True)
class StreamLayout:
    """Where keywords and other speech go in a stream, and how loud the noise is.

    Args:
        keyword_spacing: (low, high) seconds from a keyword's start to the next one's,
            drawn per keyword; the first comes within ``high`` of the stream's start.
        min_gap_seconds: the least time between a keyword and any other speech.
        speech_gap: (low, high) seconds between two non-keyword speech segments.
        speech_fill: (low, high) share of each stretch between keywords (less the
            gaps) that speech fills, drawn per stretch.
        noise_db: (low, high) RMS level of the background, dB of full scale, per stream.
        edge_seconds: nothing is spoken this close to either end of the stream.
        fade_seconds: the ramps at the outer ends of each inserted segment.
    """

    keyword_spacing: Sequence[float] = (8.0, 12.0)
    min_gap_seconds: float = 2.0
    speech_gap: Sequence[float] = (0.3, 1.5)
    speech_fill: Sequence[float] = (0.3, 1.0)
    noise_db: Sequence[float] = (-55.0, -40.0)
    edge_seconds: float = 1.0
    fade_seconds: float = 0.02

    def __post_init__(self) -> None:
        for name in ("keyword_spacing", "speech_gap", "speech_fill", "noise_db"):
            low, high = (float(v) for v in getattr(self, name))
            if low > high:
                raise ValueError(f"{name} must be (low, high) with low <= high, got {low, high}")
            object.__setattr__(self, name, (low, high))  # frozen; OmegaConf lists in
        if self.keyword_spacing[0] <= 0 or self.min_gap_seconds < 0 or self.edge_seconds < 0:
            raise ValueError("keyword_spacing must be positive, min_gap and edge_seconds >= 0")
        if not 0 <= self.speech_fill[0] <= self.speech_fill[1] <= 1:
            raise ValueError(f"speech_fill must lie in [0, 1], got {self.speech_fill}")

    def most_keywords(self, seconds: float) -> int:
        """The most keywords a stream of ``seconds`` can hold."""
        return max(int((seconds - 2 * self.edge_seconds) / self.keyword_spacing[0]) + 1, 0)

    def speech_capacity(self, seconds: float) -> float:
        """About the most speech (seconds) a stream holds: ``speech_fill``'s upper share
        of the time between keywords' gaps, at the mean spacing."""
        spacing = sum(self.keyword_spacing) / 2
        free = max(spacing - 2 * self.min_gap_seconds, 0.0) / spacing
        return seconds * free * self.speech_fill[1]

    def mix(
        self,
        noise: np.ndarray,
        sample_rate: int,
        keywords: SegmentQueue | Iterable[Segment],
        speech: SegmentQueue | Iterable[Segment],
        snr_db: Sequence[float],
        rng: np.random.Generator,
    ) -> Stream:
        """A stream as long as ``noise`` (any level: it is set to ``noise_db``; digital
        silence stays silent, the SNRs still measured against ``noise_db``): keywords
        and speech drawn in order, each at an SNR from ``snr_db`` (its speech's RMS
        against the noise's).

        >>> tone = np.sin(np.arange(4000) * 0.2).astype(np.float32)
        >>> words = [Segment(tone, 0, 4000, "yes") for _ in range(4)]
        >>> rng = np.random.default_rng(0)
        >>> stream = StreamLayout().mix(np.zeros(30 * 16000), 16000, words, [], (10, 20), rng)
        >>> stream.audio.shape, len(stream.keywords), stream.keywords[0]
        ((480000,), 3, {'word': 'yes', 'start': 8.644, 'end': 8.894})
        """
        keywords, speech = (
            q if isinstance(q, SegmentQueue) else SegmentQueue(q) for q in (keywords, speech)
        )
        placements, too_long = _Planner(self, noise.shape[0], sample_rate, rng).plan(
            keywords, speech
        )
        noise_rms = 10 ** (rng.uniform(*self.noise_db) / 20)
        noise = noise.astype(np.float64)
        rms = float(np.sqrt(np.mean(np.square(noise))))
        audio = noise * (noise_rms / rms) if rms > 0 else np.zeros(noise.shape[0])  # (S,)
        fade = round(self.fade_seconds * sample_rate)
        for p in placements:
            segment = p.segment
            word = segment.audio[segment.start : segment.end].astype(np.float64)
            gain = noise_rms * 10 ** (rng.uniform(*snr_db) / 20) / np.sqrt(np.mean(word**2))
            audio[p.first : p.last] += gain * _faded(segment, fade)
        peak = float(np.abs(audio).max(initial=0.0))
        if peak > PEAK:
            audio *= PEAK / peak

        def seconds(sample: int) -> float:
            return round(sample / sample_rate, 3)

        return Stream(
            audio.astype(np.float32),
            [
                {"word": p.segment.text, "start": seconds(p.start), "end": seconds(p.end)}
                for p in placements
                if p.keyword
            ],
            [
                {"start": seconds(p.start), "end": seconds(p.end), "text": p.segment.text}
                for p in placements
                if not p.keyword
            ],
            too_long,
        )


def _faded(segment: Segment, fade: int) -> np.ndarray:
    """The segment's audio with raised-cosine ramps at its outer ends, never over its
    speech: the labelled samples stay the speech's own."""
    audio = segment.audio.astype(np.float64)
    lead, tail = min(fade, segment.start), min(fade, audio.shape[0] - segment.end)
    if lead:
        audio[:lead] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(lead) / lead)
    if tail:
        audio[audio.shape[0] - tail :] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(1, tail + 1) / tail)
    return audio


class _Planner:
    """Lays one stream out left to right, in samples. Every start lies on a whole
    millisecond, so labelled starts are exact."""

    def __init__(
        self, layout: StreamLayout, samples: int, sample_rate: int, rng: np.random.Generator
    ) -> None:
        self.layout, self.samples, self.rate, self.rng = layout, samples, sample_rate, rng
        self.edge = round(layout.edge_seconds * sample_rate)
        self.gap = round(layout.min_gap_seconds * sample_rate)
        # no stretch between keywords is longer than this
        self.longest = (layout.keyword_spacing[1] - 2 * layout.min_gap_seconds) * sample_rate
        self.placed: list[Placement] = []
        self.too_long = 0

    def plan(self, keywords: SegmentQueue, speech: SegmentQueue) -> tuple[list[Placement], int]:
        spacing = self.layout.keyword_spacing
        due = self.edge + round(self.rng.uniform(0, spacing[1]) * self.rate)
        while (keyword := keywords.peek()) is not None:
            self.fill(speech, due - self.gap)
            if not self.place(keyword, max(due, self.next_start(keyword=True)), keyword=True):
                break
            keywords.pop()
            due = self.placed[-1].start + round(self.rng.uniform(*spacing) * self.rate)
        self.fill(speech, self.samples - self.edge)
        return self.placed, self.too_long

    def next_start(self, keyword: bool) -> int:
        if not self.placed:
            return self.edge
        last = self.placed[-1]
        if keyword or last.keyword:
            return last.end + self.gap
        return last.end + round(self.rng.uniform(*self.layout.speech_gap) * self.rate)

    def place(self, segment: Segment, start: int, keyword: bool) -> bool:
        """Put ``segment`` at ``start`` (moved on to the next millisecond) if it fits."""
        start = math.ceil(start * 1000 / self.rate) * self.rate // 1000
        placement = Placement(segment, start, keyword)
        inside = placement.first >= 0 and placement.last <= self.samples
        if not inside or placement.end > self.samples - self.edge:
            return False
        self.placed.append(placement)
        return True

    def fill(self, speech: SegmentQueue, until: int) -> None:
        """Speech after what is placed, each segment ending by ``until``, up to a share
        of the stretch drawn from ``speech_fill``."""
        if self.longest <= 0:
            return
        start = self.next_start(keyword=False)
        budget = self.rng.uniform(*self.layout.speech_fill) * max(until - start, 0)
        filled = dropped = 0
        while filled < budget and (segment := speech.peek()) is not None:
            span = segment.end - segment.start
            if span > self.longest:  # it would wait for a stretch that never comes
                speech.pop()
                self.too_long += 1
                dropped += 1
                if dropped == 100:  # an endless source of such segments: leave the stretch
                    return
                continue
            if start + span > until or not self.place(segment, start, keyword=False):
                break  # the segment waits for the next stretch
            speech.pop()
            filled += span
            start = self.next_start(keyword=False)


def write_stream(out: Path, index: int, stream: Stream, sample_rate: int) -> dict[str, Any]:
    """Write ``stream`` as ``out/streams/stream_<index>.wav``; its manifest row."""
    name = f"stream_{index:03d}"
    relative = f"{FOLDER}/{name}.wav"
    (out / FOLDER).mkdir(parents=True, exist_ok=True)
    sf.write(out / relative, stream.audio, sample_rate, subtype="PCM_16")
    return {
        "audio_filepath": relative,
        "duration": round(stream.audio.shape[0] / sample_rate, 3),
        "id": name,
        "keywords": stream.keywords,
        "speech": stream.speech,
    }


def stream_stats(rows: Sequence[dict[str, Any]], keywords: Sequence[str]) -> dict[str, Any]:
    """Streams, hours, keyword occurrences per word, and speech seconds of a manifest."""
    seconds = sum(row["duration"] for row in rows)
    counts = dict.fromkeys(keywords, 0)
    for row in rows:
        for keyword in row["keywords"]:
            counts[keyword["word"]] = counts.get(keyword["word"], 0) + 1
    speech = sum(s["end"] - s["start"] for row in rows for s in row["speech"])
    return {
        "streams": len(rows),
        "hours": round(seconds / 3600, 4),
        "keywords": counts,
        "keyword_total": sum(counts.values()),
        "speech_seconds": round(speech, 3),
        "speech_share": round(speech / seconds, 4) if seconds else 0.0,
    }


def prepare_streams(
    out: Path,
    settings: dict[str, Any],
    keywords: Sequence[str],
    build: Callable[[Path], tuple[list[dict[str, Any]], dict[str, Any]]],
) -> Path:
    """``build(out)`` (it writes the streams and gives their manifest rows and any
    statistics of its own) unless ``out/streams.json`` records ``settings``; then the
    manifest and the statistics. Returns ``out``."""
    marker = out / SETTINGS
    if is_prepared(marker, settings):
        return out
    marker.unlink(missing_ok=True)
    rows, extra = build(out)
    write_manifest(out / MANIFEST, rows)
    stats = {**stream_stats(rows, keywords), **extra}
    (out / STATS).write_text(json.dumps(stats, indent=2) + "\n")
    mark_prepared(marker, settings)
    return out
