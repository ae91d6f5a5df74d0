"""Reading audio with soundfile, and the manifest-backed audio dataset."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
from torch.utils.data import Dataset

from seqrec.data.manifest import ManifestEntry, read_manifest


class AudioError(RuntimeError):
    """An audio file that cannot be used; the message names the file and the problem."""


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
        raise AudioError(f"{path}: file not found")
    try:
        with sf.SoundFile(str(path)) as f:
            file_rate = f.samplerate
            start = round(offset * file_rate)
            if start > f.frames:
                raise AudioError(f"{path}: offset {offset:.3f}s is past the end ({f.frames / file_rate:.3f}s)")
            f.seek(start)
            frames = -1 if duration is None else round(duration * file_rate)
            data = f.read(frames, dtype="float32", always_2d=True)  # (S, channels)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise AudioError(f"{path}: cannot decode audio ({e})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no audio samples (empty file or segment)")
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    waveform = torch.from_numpy(data.mean(axis=1))
    if file_rate != sample_rate:
        waveform = torchaudio.functional.resample(waveform, file_rate, sample_rate)
    return waveform


@dataclass
class AudioSample:
    waveform: torch.Tensor  # (S,)
    target: int
    id: str


class AudioClassificationDataset(Dataset):
    """Waveforms and label indices from a manifest.

    Every line is checked when the dataset is built (JSON, fields, file exists, label
    in the label set); a file that fails to decode raises :class:`AudioError` naming
    the manifest line and the file.
    """

    def __init__(
        self,
        manifest: str | Path,
        labels: Sequence[str],
        sample_rate: int,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.labels = list(labels)
        self.label_to_index = {label: i for i, label in enumerate(self.labels)}
        self.entries: list[ManifestEntry] = read_manifest(manifest, "audio_filepath", "label", self.labels)
        self.sample_rate = sample_rate
        self.transform = transform

    @property
    def durations(self) -> list[float]:
        return [entry.duration for entry in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> AudioSample:
        entry = self.entries[index]
        try:
            waveform = load_audio(entry.path, self.sample_rate, entry.offset, entry.duration)
        except AudioError as e:
            raise AudioError(f"{entry.source}: {e}") from None
        if self.transform is not None:
            waveform = self.transform(waveform)
        return AudioSample(waveform, self.label_to_index[entry.label], entry.id)
