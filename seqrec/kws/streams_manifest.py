"""The streams manifest that ``seqrec-eval-stream`` scores against (``seqrec-streams``
writes it): long recordings with their keywords' times and their other speech, read
and checked line by line, with errors that name the file and line. Torch-free.

The streams manifest, one stream a line (paths relative to the manifest's folder):
``{"audio_filepath": "streams/s0.wav", "duration": 300.0, "id": "s0",
"keywords": [{"word": "yes", "start": 12.345, "end": 12.812}, ...], "speech": [...]}``
"""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from seqrec.core.json_lines import JsonLineError, numbered_lines, parse_json_line
from seqrec.core.waveform import DURATION_TOLERANCE
from seqrec.kws.detector import NON_KEYWORDS, Event
from seqrec.kws.settings import finite_number


class StreamManifestError(ValueError):
    """A streams manifest that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Keyword:
    """A true keyword occurrence: the spoken word's start and end, seconds into the stream."""

    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Speech:
    """Non-keyword speech in a stream (the manifest's ``speech`` rows): a sentence, or
    a single word when its text has no space."""

    start: float
    end: float
    text: str = ""


@dataclass(frozen=True)
class Stream:
    id: str
    path: Path
    duration: float  # seconds, as the audio file has it
    keywords: tuple[Keyword, ...]
    speech: tuple[Speech, ...] = ()


# what a false alarm's window overlaps (false_alarm_context), most telling first
CONTEXTS = ("keyword", "sentence", "word", "noise")


def false_alarm_context(event: Event, stream: Stream) -> str:
    """What the window of a false alarm overlaps: a ``keyword`` (the wrong word, or a
    second trigger), a ``sentence`` or a single ``word`` of non-keyword speech, or
    only ``noise``.

    >>> stream = Stream("s", Path("s.wav"), 9.0, (Keyword("yes", 1.0, 1.4),),
    ...                 (Speech(4.0, 6.0, "the cat ran"), Speech(7.5, 8.0, "dog")))
    >>> [false_alarm_context(Event("no", a, a + 1.0, 0.9), stream) for a in (0.6, 5.5, 7.2, 2.5)]
    ['keyword', 'sentence', 'word', 'noise']
    """

    def overlaps(start: float, end: float) -> bool:
        return start < event.end and end > event.start

    if any(overlaps(k.start, k.end) for k in stream.keywords):
        return "keyword"
    for segment in stream.speech:
        if overlaps(segment.start, segment.end):
            return "sentence" if " " in segment.text.strip() else "word"
    return "noise"


def read_streams(
    manifest: str | Path, words: Sequence[str] | None = None, rate: int | None = None
) -> list[Stream]:
    """The streams of a streams manifest (JSON Lines; module docstring), checked: each
    line's fields, keywords sorted and not overlapping within the stream, each word
    one of ``words`` (the model's labels; ``_silence_``/``_unknown_`` are not words),
    the audio there, at ``rate``, as long as ``duration``. Errors name file and line."""
    manifest = Path(manifest)
    if not manifest.is_file():
        raise StreamManifestError(f"{manifest}: streams manifest not found")
    spotted = None if words is None else {w for w in words if w not in NON_KEYWORDS}
    streams: list[Stream] = []
    seen: set[str] = set()
    for number, line in numbered_lines(manifest):
        where = f"{manifest}:{number}"
        stream = _read_stream(line, where, manifest.parent, spotted, rate)
        if stream.id in seen:
            raise StreamManifestError(f"{where}: id {stream.id!r} appears twice")
        seen.add(stream.id)
        streams.append(stream)
    if not streams:
        raise StreamManifestError(f"{manifest}: no streams (an empty manifest)")
    return streams


def _read_stream(
    line: bytes, where: str, root: Path, spotted: set[str] | None, rate: int | None
) -> Stream:
    def fail(problem: str) -> StreamManifestError:
        return StreamManifestError(f"{where}: {problem}")

    try:
        entry = parse_json_line(line)
    except JsonLineError as e:
        raise fail(str(e)) from None
    if not isinstance(entry, dict):
        raise fail(f"expected a JSON object, got {type(entry).__name__}")
    for key in ("audio_filepath", "duration", "keywords"):
        if key not in entry:
            raise fail(f"missing field {key!r}")
    if not isinstance(entry["audio_filepath"], str) or not entry["audio_filepath"]:
        raise fail(f"'audio_filepath' must be a path, got {entry['audio_filepath']!r}")
    duration = entry["duration"]
    if not finite_number(duration) or duration <= 0:
        raise fail(f"'duration' must be a positive number of seconds, got {duration!r}")
    if not isinstance(entry["keywords"], list):
        raise fail(f"'keywords' must be a list, got {entry['keywords']!r}")
    keywords: list[Keyword] = []
    for i, item in enumerate(entry["keywords"]):
        what = f"keywords[{i}]"
        if not isinstance(item, dict) or not {"word", "start", "end"} <= set(item):
            raise fail(f"{what} must be an object with word, start and end, got {item!r}")
        word, start, end = item["word"], item["start"], item["end"]
        if not isinstance(word, str) or (spotted is not None and word not in spotted):
            raise fail(f"{what}: {word!r} is not a keyword of the model ({sorted(spotted or [])})")
        if not (finite_number(start) and finite_number(end) and 0 <= start < end <= duration):
            raise fail(
                f"{what}: start {start!r} and end {end!r} must be 0 <= start < end <= duration"
            )
        if keywords and start < keywords[-1].end:
            raise fail(f"{what} ({word} at {start}) starts before keywords[{i - 1}] ends "
                       f"({keywords[-1].end}): keywords must be sorted and must not overlap")  # fmt: skip
        keywords.append(Keyword(word, float(start), float(end)))
    if not isinstance(entry.get("id", ""), str):
        raise fail(f"'id' must be a string, got {entry['id']!r}")
    speech = entry.get("speech", [])
    if not isinstance(speech, list):
        raise fail(f"'speech' must be a list, got {speech!r}")
    segments = []
    for i, item in enumerate(speech):
        if not (
            isinstance(item, dict)
            and finite_number(item.get("start"))
            and finite_number(item.get("end"))
            and item["start"] < item["end"]
            and isinstance(item.get("text", ""), str)
        ):
            raise fail(f"speech[{i}] must be an object with start < end (seconds) and a text "
                       f"string, got {item!r}")  # fmt: skip
        segments.append(Speech(float(item["start"]), float(item["end"]), item.get("text", "")))
    path = Path(entry["audio_filepath"])
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise fail(f"audio {path} not found")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise fail(f"cannot read audio {path} ({e})") from None
    if rate is not None and info.samplerate != rate:
        raise fail(f"{path} is at {info.samplerate} Hz, and the model listens at {rate} Hz")
    seconds = info.frames / info.samplerate
    if abs(seconds - duration) > max(DURATION_TOLERANCE, 1 / info.samplerate):
        raise fail(f"'duration' is {duration} s, but {path} lasts {seconds:.3f} s")
    return Stream(str(entry.get("id", path.stem)), path, seconds, tuple(keywords), tuple(segments))
