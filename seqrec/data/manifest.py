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

from seqrec.waveform import MISSING_FILE

# Why a line or a sample was rejected; the keys of skip counts and reports.
INVALID_JSON = "invalid_json"
MISSING_FIELD = "missing_field"
BAD_VALUE = "bad_value"
# MISSING_FILE: from seqrec.waveform, which raises it for audio files
UNKNOWN_LABEL = "unknown_label"
BAD_TEXT = "bad_text"
TOO_LONG = "too_long"


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
    with manifest.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
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
    line: str,
    source: str,
    base_dir: Path,
    path_key: str = "audio_filepath",
    target_key: str | None = "label",
    label_set: set[str] | None = None,
    check_files: bool = True,
) -> ManifestEntry:
    """Parse one manifest line; ``source`` ("file:line") prefixes every error."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        raise ManifestError(
            f"{source}: not valid JSON ({e.msg} at column {e.colno})", INVALID_JSON
        ) from None
    if not isinstance(row, dict):
        raise ManifestError(
            f"{source}: expected a JSON object, got {type(row).__name__}", INVALID_JSON
        )
    required = [path_key, "duration"] + ([target_key] if target_key else [])
    missing = [key for key in required if key not in row]
    if missing:
        raise ManifestError(f"{source}: missing field(s) {', '.join(missing)}", MISSING_FIELD)
    try:
        duration = float(row["duration"])
        offset = float(row.get("offset", 0.0))
    except (TypeError, ValueError):
        raise ManifestError(f"{source}: duration and offset must be numbers") from None
    if not duration > 0:
        raise ManifestError(f"{source}: duration must be positive, got {row['duration']!r}")
    if offset < 0:
        raise ManifestError(f"{source}: offset must be >= 0, got {offset}")
    path = Path(row[path_key])
    if not path.is_absolute():
        path = base_dir / path
    if check_files and not path.is_file():
        raise ManifestError(f"{source}: {path_key} {path} does not exist", MISSING_FILE)
    label = row.get("label")
    if label is not None:
        label = str(label)
    if target_key == "label" and label_set is not None and label not in label_set:
        raise ManifestError(
            f"{source}: label {label!r} is not in the label set ({len(label_set)} labels)",
            UNKNOWN_LABEL,
        )
    text = row.get("text")
    if target_key == "text" and not isinstance(text, str):
        raise ManifestError(f"{source}: text must be a string", BAD_TEXT)
    known = {path_key, "duration", "offset", "label", "text", "id", "speaker"}
    return ManifestEntry(
        path=path,
        duration=duration,
        offset=offset,
        label=label,
        text=text,
        id=str(row.get("id", path.stem)),
        speaker=row.get("speaker"),
        source=source,
        extra={k: v for k, v in row.items() if k not in known},
    )


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
