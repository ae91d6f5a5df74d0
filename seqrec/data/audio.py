"""Reading audio with soundfile, and the manifest-backed audio dataset."""

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from seqrec.data.batch import AudioSample, SkippedSample, collate_audio
from seqrec.data.dataset import LabelledManifestDataset
from seqrec.data.manifest import BAD_TEXT, MISSING_FILE, ManifestEntry, ManifestError, Problem
from seqrec.text import TextError, Tokenizer

UNREADABLE_AUDIO = "unreadable_audio"
EMPTY_AUDIO = "empty_audio"
DURATION_MISMATCH = "duration_mismatch"
DURATION_TOLERANCE = 0.05  # seconds a manifest duration may run past the end of its file


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
            if f.frames == 0:
                raise AudioError(f"{path}: no audio samples (empty file)", EMPTY_AUDIO)
            start = round(offset * file_rate)
            if start > f.frames:
                raise AudioError(
                    f"{path}: offset {offset:.3f}s is past the end ({f.frames / file_rate:.3f}s)",
                    EMPTY_AUDIO,
                )
            f.seek(start)
            frames = -1 if duration is None else round(duration * file_rate)
            if frames > 0 and start + frames > f.frames + DURATION_TOLERANCE * file_rate:
                raise AudioError(
                    f"{path}: offset + duration = {(start + frames) / file_rate:.3f}s runs past the end of the "
                    f"file ({f.frames / file_rate:.3f}s)",
                    DURATION_MISMATCH,
                )
            data = f.read(frames, dtype="float32", always_2d=True)  # (S, channels)
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise AudioError(f"{path}: cannot decode audio ({e})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no audio samples (empty file or segment)", EMPTY_AUDIO)
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: audio contains NaN or infinite samples")
    # mono files need no averaging (and no copy)
    waveform = torch.from_numpy(data[:, 0] if data.shape[1] == 1 else data.mean(axis=1))
    if file_rate != sample_rate:
        waveform = torchaudio.functional.resample(waveform, file_rate, sample_rate)
    return waveform


class AudioClassificationDataset(LabelledManifestDataset):
    """Waveforms and label indices from a manifest; batches with :func:`collate_audio`.

    Args:
        manifest, labels, on_error, max_duration: see :class:`LabelledManifestDataset`.
        sample_rate: waveforms are resampled to this rate.
        train: whether this is the training split; only then is ``augment`` applied.
        augment: waveform augmentation for training.
    """

    path_key = "audio_filepath"
    collate_fn = staticmethod(collate_audio)

    def __init__(
        self,
        manifest: str | Path,
        labels: Sequence[str] | None,
        sample_rate: int,
        train: bool = False,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        on_error: str = "raise",
        max_duration: float | None = None,
    ) -> None:
        super().__init__(manifest, labels, on_error, max_duration)
        self.sample_rate = sample_rate
        self.transform = augment if train else None

    def _waveform(self, entry: ManifestEntry) -> torch.Tensor:
        return load_audio(entry.path, self.sample_rate, entry.offset, entry.duration)

    @property
    def speed_plan(self) -> Callable[[int, torch.Generator], torch.Tensor] | None:
        """The augmentation's speed-factor draw, for the sampler to batch on
        (:class:`~seqrec.data.sampler.DurationBucketSampler`); None without one."""
        return getattr(self.transform, "draw_speeds", None)

    def __getitem__(self, key: int | tuple[int, float, int]) -> AudioSample | SkippedSample:
        """Item ``key``, or ``(item, speed, seed)`` (an
        :class:`~seqrec.data.sampler.AugmentKey`): augmented with the speed factor and
        the seed the sampler drew for it."""
        index, speed, seed = key if isinstance(key, tuple) else (key, None, None)
        entry = self.entries[index]
        waveform = self.read(entry, self._waveform, AudioError)
        if isinstance(waveform, SkippedSample):
            return waveform
        if self.transform is not None:
            waveform = (
                self.transform(waveform)
                if speed is None
                else self.transform(waveform, speed=speed, seed=seed)
            )
        return AudioSample(waveform, self._target(index), entry.id)

    def _target(self, index: int) -> int | torch.Tensor:
        return self.label_to_index[self.entries[index].label]


class TranscribedAudioDataset(AudioClassificationDataset):
    """Waveforms and token ids of their ``text`` (speech recognition).

    Every transcript is normalised and encoded when the dataset is built, so bad text
    is found before training starts: with ``on_error="raise"`` the first line whose
    text cannot be encoded stops it with a message naming the line and the character;
    with ``"skip"`` such lines are left out and counted as ``bad_text``.

    Args:
        manifest, on_error, max_duration: see :class:`LabelledManifestDataset`.
        tokenizer: a :class:`~seqrec.text.Tokenizer`.
        sample_rate, train, augment: see :class:`AudioClassificationDataset`.
    """

    target_key = "text"

    def __init__(
        self,
        manifest: str | Path,
        tokenizer: Tokenizer,
        sample_rate: int,
        train: bool = False,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        on_error: str = "raise",
        max_duration: float | None = None,
    ) -> None:
        super().__init__(manifest, None, sample_rate, train, augment, on_error, max_duration)
        self.tokenizer = tokenizer
        entries, self.targets = [], []
        for entry in self.entries:
            try:
                self.targets.append(torch.tensor(tokenizer.encode(entry.text), dtype=torch.int64))
            except TextError as e:
                problem = Problem(entry.source, BAD_TEXT, f"text: {e}")
                if on_error == "raise":
                    raise ManifestError(str(problem), BAD_TEXT) from None
                self.problems.append(problem)
                continue
            entries.append(entry)
        if not entries:
            raise ManifestError(f"{manifest}: no usable entries ({len(self.problems)} skipped)")
        self.entries = entries

    def _target(self, index: int) -> torch.Tensor:
        return self.targets[index]
