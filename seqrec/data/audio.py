"""Reading audio with soundfile, and the manifest-backed audio dataset."""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
from torch.utils.data import Dataset

from seqrec.data.batch import AudioSample, SkippedSample, collate_audio
from seqrec.data.manifest import (
    MISSING_FILE,
    TOO_LONG,
    ManifestEntry,
    ManifestError,
    Problem,
    scan_manifest,
)

UNREADABLE_AUDIO = "unreadable_audio"
EMPTY_AUDIO = "empty_audio"
ON_ERROR = ("raise", "skip")


class AudioError(RuntimeError):
    """An audio file that cannot be used; the message names the file and the problem."""

    def __init__(self, message: str, reason: str = UNREADABLE_AUDIO) -> None:
        super().__init__(message)
        self.reason = reason


def load_audio(
    path: str | Path,
    sample_rate: int,
    offset: float = 0.0,
    duration: float | None = None,
) -> torch.Tensor:
    """Read ``path`` as a mono float32 waveform (S,) at ``sample_rate``.

    Multi-channel audio is averaged to mono; other rates are resampled. ``offset`` and
    ``duration`` (seconds) select a segment without reading the rest of the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found", MISSING_FILE)
    try:
        with sf.SoundFile(str(path)) as f:
            file_rate = f.samplerate
            start = round(offset * file_rate)
            if start > f.frames:
                raise AudioError(
                    f"{path}: offset {offset:.3f}s is past the end ({f.frames / file_rate:.3f}s)",
                    EMPTY_AUDIO,
                )
            f.seek(start)
            frames = -1 if duration is None else round(duration * file_rate)
            data = f.read(frames, dtype="float32", always_2d=True)  # (S, channels)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise AudioError(f"{path}: cannot decode audio ({e})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no audio samples (empty file or segment)", EMPTY_AUDIO)
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    waveform = torch.from_numpy(data.mean(axis=1))
    if file_rate != sample_rate:
        waveform = torchaudio.functional.resample(waveform, file_rate, sample_rate)
    return waveform


class AudioClassificationDataset(Dataset):
    """Waveforms and label indices from a manifest; batches with :func:`collate_audio`.

    Every line is checked when the dataset is built (JSON, fields, file exists, label
    in the label set). Files are decoded when an item is read.

    Args:
        manifest: the ``.jsonl`` file.
        labels: the label set; its order defines class indices.
        sample_rate: waveforms are resampled to this rate.
        train: whether this is the training split; only then is ``augment`` applied.
        augment: waveform augmentation for training.
        on_error: ``"raise"`` stops at the first bad line or file with a message
            naming the manifest line and the problem; ``"skip"`` leaves it out and
            records it: bad lines in :attr:`problems`, files that fail to decode as
            a :class:`SkippedSample` item, counted by the collate.
        max_duration: entries longer than this (seconds) are always skipped and
            recorded in :attr:`problems`, so one long recording cannot exhaust memory.
    """

    def __init__(
        self,
        manifest: str | Path,
        labels: Sequence[str],
        sample_rate: int,
        train: bool = False,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        on_error: str = "raise",
        max_duration: float | None = None,
    ) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.labels = list(labels)
        self.label_to_index = {label: i for i, label in enumerate(self.labels)}
        scan = scan_manifest(
            manifest, "audio_filepath", "label", self.labels, max_duration=max_duration
        )
        self.problems: list[Problem] = scan.problems
        errors = [p for p in scan.problems if on_error == "raise" and p.reason != TOO_LONG]
        if errors:
            raise ManifestError(str(errors[0]), errors[0].reason)
        if not scan.entries:
            raise ManifestError(f"{manifest}: no usable entries ({len(scan.problems)} skipped)")
        self.entries: list[ManifestEntry] = scan.entries
        self.sample_rate = sample_rate
        self.transform = augment if train else None
        self.on_error = on_error

    collate_fn = staticmethod(collate_audio)

    @property
    def durations(self) -> list[float]:
        return [entry.duration for entry in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> AudioSample | SkippedSample:
        entry = self.entries[index]
        try:
            waveform = load_audio(entry.path, self.sample_rate, entry.offset, entry.duration)
        except AudioError as e:
            if self.on_error == "skip":
                return SkippedSample(Problem(entry.source, e.reason, str(e)))
            raise AudioError(f"{entry.source}: {e}", e.reason) from None
        if self.transform is not None:
            waveform = self.transform(waveform)
        return AudioSample(waveform, self.label_to_index[entry.label], entry.id)
