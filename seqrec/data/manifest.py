"""JSON Lines manifests (NeMo-compatible): one utterance or clip per line.

Audio lines carry ``audio_filepath`` and ``duration`` (seconds), then ``text`` (ASR)
or ``label`` (classification); ``offset``, ``id`` and ``speaker`` are optional.
Video lines carry ``video_filepath`` instead. Relative paths are resolved against
the folder holding the manifest.
"""

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqrec.core.json_lines import (
    JsonLineError,
    NonFiniteNumberError,
    numbered_lines,
    parse_json_line,
)
from seqrec.core.waveform import MISSING_FILE

# Why a line or a sample was rejected; the keys of skip counts and reports.
INVALID_JSON = "invalid_json"
MISSING_FIELD = "missing_field"
BAD_VALUE = "bad_value"
# MISSING_FILE: from seqrec.core.waveform, which raises it for audio files
UNKNOWN_LABEL = "unknown_label"
BAD_TEXT = "bad_text"
TOO_LONG = "too_long"
# Seconds no duration or offset reaches (about 31 years). A larger finite number would
# overflow as a count of samples or frames, far from the line that holds it.
MAX_SECONDS = 1e9


class ManifestError(ValueError):
    """A manifest line that cannot be used; the message names the file and line."""

    def __init__(self, message: str, reason: str = BAD_VALUE) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass  # not frozen: Lightning rebuilds dataclasses inside a batch when moving it
class Problem:
    """One rejected line or sample: where (``file:line``), why (a reason key), and a message."""

    source: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass(frozen=True)
class ManifestEntry:
    path: Path
    duration: float
    offset: float = 0.0
    label: str | None = None
    text: str | None = None
    id: str = ""
    speaker: str | None = None
    source: str = ""  # "manifest.jsonl:LINE", for error messages
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ManifestScan:
    """The usable entries of a manifest, and a :class:`Problem` for every rejected line."""

    entries: list[ManifestEntry]
    problems: list[Problem]


def scan_manifest(
    manifest: str | Path,
    path_key: str = "audio_filepath",
    target_key: str | None = "label",
    labels: Sequence[str] | None = None,
    check_files: bool = True,
    max_duration: float | None = None,
) -> ManifestScan:
    """Parse every line, keeping the good ones and recording each bad one.

    Args:
        manifest: the ``.jsonl`` file.
        path_key: ``audio_filepath`` or ``video_filepath``.
        target_key: ``label``, ``text`` or None (inputs only, e.g. for prediction).
        labels: when given, every label must be one of them.
        check_files: check that every media file exists.
        max_duration: entries longer than this (seconds) are rejected as ``too_long``.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        raise ManifestError(f"{manifest}: manifest not found", MISSING_FILE)
    label_set = set(labels) if labels is not None else None
    entries, problems = [], []
    for lineno, line in numbered_lines(manifest):
        source = f"{manifest}:{lineno}"
        try:
            entry = parse_line(
                line, source, manifest.parent, path_key, target_key, label_set, check_files
            )
        except ManifestError as e:
            problems.append(Problem(source, e.reason, str(e).removeprefix(f"{source}: ")))
            continue
        if max_duration is not None and entry.duration > max_duration:
            message = f"duration {entry.duration:.2f}s is over max_duration {max_duration:.2f}s"
            problems.append(Problem(source, TOO_LONG, message))
            continue
        entries.append(entry)
    return ManifestScan(entries, problems)


def read_manifest(manifest: str | Path, *args: Any, **kwargs: Any) -> list[ManifestEntry]:
    """Read and check a manifest; raise :class:`ManifestError` on the first bad line.

    The arguments are :func:`scan_manifest`'s, passed on as given, so the two read
    lines by the same rules.
    """
    scan = scan_manifest(manifest, *args, **kwargs)
    if scan.problems:
        first = scan.problems[0]
        raise ManifestError(str(first), first.reason)
    if not scan.entries:
        raise ManifestError(f"{manifest}: manifest has no entries")
    return scan.entries


def parse_line(
    line: bytes | str,
    source: str,
    base_dir: Path,
    path_key: str = "audio_filepath",
    target_key: str | None = "label",
    label_set: set[str] | None = None,
    check_files: bool = True,
) -> ManifestEntry:
    """Parse one manifest line (bytes as read, or text); ``source`` ("file:line")
    prefixes every error.

    The line must be UTF-8 JSON with no non-finite number anywhere, and each field of
    its type: the path a non-empty string, ``duration`` and ``offset`` numbers of
    seconds, ``label``, ``text``, ``id`` and ``speaker`` strings (or null where
    optional).

    >>> parse_line('{"audio_filepath": "a.wav", "duration": NaN, "label": "yes"}',
    ...            "m.jsonl:3", Path("."), check_files=False)
    Traceback (most recent call last):
    ...
    seqrec.data.manifest.ManifestError: m.jsonl:3: duration is NaN; every number must be finite
    """
    try:
        row = parse_json_line(line)
    except NonFiniteNumberError as e:
        raise ManifestError(f"{source}: {e}", BAD_VALUE) from None
    except JsonLineError as e:
        raise ManifestError(f"{source}: {e}", INVALID_JSON) from None
    if not isinstance(row, dict):
        raise ManifestError(
            f"{source}: expected a JSON object, got {type(row).__name__}", INVALID_JSON
        )
    required = [path_key, "duration"] + ([target_key] if target_key else [])
    missing = [key for key in required if key not in row]
    if missing:
        raise ManifestError(f"{source}: missing field(s) {', '.join(missing)}", MISSING_FIELD)
    duration = _seconds(row, "duration", source)
    offset = _seconds(row, "offset", source) if row.get("offset") is not None else 0.0
    if not duration > 0:
        raise ManifestError(f"{source}: duration must be positive, got {row['duration']!r}")
    if offset < 0:
        raise ManifestError(f"{source}: offset must be >= 0, got {offset}")
    if not isinstance(row[path_key], str) or not row[path_key]:
        raise ManifestError(
            f"{source}: {path_key} must be a path (a non-empty string), got {_shown(row[path_key])}"
        )
    path = Path(row[path_key])
    if not path.is_absolute():
        path = base_dir / path
    if check_files and not path.is_file():
        raise ManifestError(f"{source}: {path_key} {path} does not exist", MISSING_FILE)
    text = row.get("text")
    if (text is not None and not isinstance(text, str)) or (target_key == "text" and text is None):
        raise ManifestError(f"{source}: text must be a string, got {_shown(text)}", BAD_TEXT)
    label = row.get("label")
    if (label is not None and not isinstance(label, str)) or (
        target_key == "label" and label is None
    ):
        raise ManifestError(f"{source}: label must be a string, got {_shown(label)}")
    if target_key == "label" and label_set is not None and label not in label_set:
        raise ManifestError(
            f"{source}: label {label!r} is not in the label set ({len(label_set)} labels)",
            UNKNOWN_LABEL,
        )
    for key in ("id", "speaker"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise ManifestError(f"{source}: {key} must be a string or null, got {_shown(row[key])}")
    known = {path_key, "duration", "offset", "label", "text", "id", "speaker"}
    return ManifestEntry(
        path=path,
        duration=duration,
        offset=offset,
        label=label,
        text=text,
        id=row["id"] if row.get("id") is not None else path.stem,
        speaker=row.get("speaker"),
        source=source,
        extra={k: v for k, v in row.items() if k not in known},
    )


def _seconds(row: dict[str, Any], key: str, source: str) -> float:
    """``row[key]`` as seconds: a JSON number (not a bool, not a string of digits), no
    larger than :data:`MAX_SECONDS`."""
    value = row[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ManifestError(f"{source}: {key} must be a number of seconds, got {_shown(value)}")
    if value > MAX_SECONDS:
        raise ManifestError(
            f"{source}: {key} {_shown(value)} is beyond any recording "
            f"(expected at most {MAX_SECONDS:.0e} seconds)"
        )
    return float(value)


def _shown(value: Any) -> str:
    """``value`` as an error message shows it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


def write_manifest(manifest: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSON Lines (atomically: a partial file is never left behind)."""
    manifest = Path(manifest)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(manifest.suffix + ".tmp")
    count = 0
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(manifest)
    return count


def manifest_texts(manifest: str | Path) -> list[str]:
    """The ``text`` of every line of a manifest (for tokenizer and LM training)."""
    return [e.text for e in read_manifest(manifest, target_key="text", check_files=False)]
