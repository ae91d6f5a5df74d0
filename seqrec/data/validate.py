"""Check manifests and the media they point to, reporting every problem at once.

The logic behind ``seqrec-validate``; each problem names the manifest, the line and
the reason.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from seqrec.core.resampling import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, check_sample_rate
from seqrec.core.waveform import DURATION_MISMATCH, EMPTY_AUDIO, UNREADABLE_AUDIO
from seqrec.data.manifest import BAD_TEXT, ManifestEntry, ManifestError, Problem, scan_manifest
from seqrec.data.video import VideoError, decode_video, probe_video
from seqrec.text.normalize import TextError, normalize_text

UNSUPPORTED_FORMAT = "unsupported_format"


@dataclass(frozen=True)
class MediaInfo:
    duration: float  # seconds
    sample_rate: float  # audio: samples per second; video: frames per second
    channels: int  # audio channels; 3 for video


@dataclass
class ValidationRules:
    """What the data must satisfy beyond being well formed.

    Args:
        labels: allowed labels (None: any).
        charset: characters allowed in ``text`` after :func:`~seqrec.text.normalize_text` (None: any).
        sample_rates: allowed audio sample rates (None: any; seqrec resamples).
        channels: allowed channel counts (None: any; seqrec downmixes).
        duration_tolerance: seconds by which a manifest duration may disagree with
            the file.
        max_duration: longest allowed entry, in seconds.
        video: entries are ``video_filepath`` rather than ``audio_filepath``.
        decode: decode every file completely (catches corruption after the header,
            and video whose frames end before its header's duration).
    """

    labels: Sequence[str] | None = None
    charset: str | None = None
    sample_rates: Sequence[int] | None = None
    channels: Sequence[int] | None = None
    duration_tolerance: float = 0.05
    max_duration: float | None = None
    video: bool = False
    decode: bool = True


def audio_info(path: Path, decode: bool = True) -> MediaInfo:
    """Duration, rate and channels of an audio file; raises ManifestError on failure."""
    try:
        info = sf.info(str(path))
        if info.frames == 0:
            raise ManifestError(f"{path}: no audio samples (empty file)", EMPTY_AUDIO)
        if decode:
            with sf.SoundFile(str(path)) as f:
                for block in f.blocks(blocksize=1 << 16, dtype="float32"):
                    if not np.isfinite(block).all():
                        raise ManifestError(
                            f"{path}: audio contains NaN or infinite samples", UNREADABLE_AUDIO
                        )
    except (sf.LibsndfileError, RuntimeError) as e:
        raise ManifestError(f"{path}: cannot decode audio ({e})", UNREADABLE_AUDIO) from None
    return MediaInfo(info.frames / info.samplerate, info.samplerate, info.channels)


def video_info(path: Path, decode: bool = True) -> MediaInfo:
    """Duration and frame rate of a video file (:func:`~seqrec.data.video.probe_video`,
    or :func:`~seqrec.data.video.decode_video`); raises ManifestError on failure.

    With ``decode`` the duration is proved by decoding every frame: frames that end
    before the header's duration are a ``truncated_video`` problem.
    """
    try:
        info = decode_video(path) if decode else probe_video(path)
    except VideoError as e:
        raise ManifestError(str(e), e.reason) from None
    return MediaInfo(info.duration, info.fps, 3)


def check_entry(entry: ManifestEntry, rules: ValidationRules) -> list[Problem]:
    """Media and content checks for one parsed entry."""
    problems = []

    def problem(reason: str, message: str) -> None:
        problems.append(Problem(entry.source, reason, message))

    if rules.charset is not None and entry.text is not None:
        # training normalises text before it tokenises it ("Hello, World!" -> "hello world")
        try:
            text = normalize_text(entry.text)
        except TextError as e:
            problem(BAD_TEXT, str(e))
        else:
            outside = sorted(set(text) - set(rules.charset))
            if outside:
                problem(
                    BAD_TEXT,
                    f"text has characters outside the tokenizer after normalisation: "
                    f"{''.join(outside)!r}",
                )
    try:
        info = (video_info if rules.video else audio_info)(entry.path, rules.decode)
    except ManifestError as e:
        problem(e.reason, str(e))
        return problems
    end = entry.offset + entry.duration
    if entry.offset == 0 and abs(info.duration - entry.duration) > rules.duration_tolerance:
        problem(
            DURATION_MISMATCH,
            f"duration {entry.duration:.3f}s disagrees with the file ({info.duration:.3f}s)",
        )
    elif end > info.duration + rules.duration_tolerance:
        problem(
            DURATION_MISMATCH,
            f"offset + duration = {end:.3f}s runs past the end of the file ({info.duration:.3f}s)",
        )
    if not rules.video:
        try:
            check_sample_rate(int(info.sample_rate), "file")
        except ValueError:
            problem(
                UNSUPPORTED_FORMAT,
                f"sample rate {int(info.sample_rate)} Hz is outside the {MIN_SAMPLE_RATE}-"
                f"{MAX_SAMPLE_RATE} Hz that seqrec resamples",
            )
    if (
        not rules.video
        and rules.sample_rates is not None
        and int(info.sample_rate) not in rules.sample_rates
    ):
        problem(
            UNSUPPORTED_FORMAT,
            f"sample rate {int(info.sample_rate)} Hz is not one of {list(rules.sample_rates)}",
        )
    if not rules.video and rules.channels is not None and info.channels not in rules.channels:
        problem(
            UNSUPPORTED_FORMAT,
            f"{info.channels} channels; expected {' or '.join(map(str, rules.channels))}",
        )
    return problems


def validate_manifests(
    manifests: Iterable[str | Path], rules: ValidationRules
) -> tuple[int, list[Problem]]:
    """Check every line of every manifest. Returns (lines checked, problems)."""
    target_key = (
        "text" if rules.charset is not None else ("label" if rules.labels is not None else None)
    )
    path_key = "video_filepath" if rules.video else "audio_filepath"
    checked, problems = 0, []
    for manifest in manifests:
        try:
            scan = scan_manifest(
                manifest, path_key, target_key, rules.labels, max_duration=rules.max_duration
            )
        except ManifestError as e:
            problems.append(Problem(str(manifest), e.reason, str(e).removeprefix(f"{manifest}: ")))
            continue
        problems.extend(scan.problems)
        checked += len(scan.entries) + len(scan.problems)
        for entry in tqdm(
            scan.entries, desc=f"checking {Path(manifest).name}", unit="file", leave=False
        ):
            problems.extend(check_entry(entry, rules))
    problems.sort(key=lambda p: _line_order(p.source))
    return checked, problems


def _line_order(source: str) -> tuple[str, int]:
    path, _, line = source.rpartition(":")
    return (path, int(line)) if line.isdigit() else (source, 0)
