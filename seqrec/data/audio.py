"""Reading audio with soundfile, and the manifest-backed audio dataset."""

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio

from seqrec.core.resampling import DENSE_KERNEL_TAPS, check_sample_rate, dense_kernel_taps, resample
from seqrec.core.waveform import PLACEMENTS, AudioError, check_finite, fit_clip, read_soundfile
from seqrec.data.batch import AudioSample, SkippedSample, collate_audio
from seqrec.data.dataset import LabelledManifestDataset
from seqrec.data.manifest import BAD_TEXT, ManifestEntry, ManifestError, Problem
from seqrec.text import TextError, Tokenizer


def load_audio(
    path: str | Path,
    sample_rate: int,
    offset: float = 0.0,
    duration: float | None = None,
) -> torch.Tensor:
    """Read ``path`` as a mono float32 waveform (S,) at ``sample_rate``.

    Multi-channel audio is averaged to mono; other rates are resampled. ``offset`` and
    ``duration`` (seconds) select a segment without reading the rest of the file
    (:func:`seqrec.core.waveform.read_soundfile`). A file that cannot be read or resampled
    (a rate outside what :func:`seqrec.core.resampling.check_sample_rate` takes) is an
    :class:`~seqrec.core.waveform.AudioError`, which ``on_error=skip`` counts.
    """
    data, file_rate = read_soundfile(path, offset, duration)
    if file_rate == sample_rate:
        return torch.from_numpy(data)
    try:
        check_sample_rate(file_rate, path)
    except ValueError as e:
        raise AudioError(str(e)) from None
    if dense_kernel_taps(file_rate, sample_rate) > DENSE_KERNEL_TAPS:
        # torchaudio's dense kernel would be huge for rates with a small gcd
        return torch.from_numpy(resample(data, file_rate, sample_rate))
    try:
        return torchaudio.functional.resample(torch.from_numpy(data), file_rate, sample_rate)
    except RuntimeError as e:
        raise AudioError(
            f"{path}: cannot resample {file_rate} Hz to {sample_rate} Hz ({e})"
        ) from None


@dataclass(frozen=True)
class AudioReader:
    """Audio as a model takes it: a mono float32 waveform at ``sample_rate``.

    The one reader of audio for training, evaluation and inference. A checkpoint stores
    it as a ``_target_`` config, so :func:`seqrec.load` reads files the way training
    did. Like :class:`~seqrec.data.video.ClipReader`, calling it gives the list of
    sequences the model scores for one input: here a single waveform (S,).

    With ``clip_seconds`` every waveform is brought to that length: zeros appended,
    or the end cut off, as TensorFlow's Speech Commands pipeline reads every clip
    at 1 s, so that a clip's length tells nothing about its label.

    Three more settings bring a user's recording to the training clips' format
    (:func:`seqrec.core.waveform.fit_clip`): ``trim_db`` cuts the quiet ends (padding,
    leading and trailing silence), ``level_db`` sets the RMS level, and ``placement``
    puts the waveform at the ``start`` of the ``clip_seconds`` window or in its
    ``centre``; the training reader then places it at random (:meth:`for_training`).
    With all three, a word gives the same samples whatever its padding, silence or
    level.

    >>> reader = AudioReader(sample_rate=16000)
    >>> [w.shape[0] for w in reader.prepare(np.zeros(8000, dtype=np.float32))]
    [8000]
    >>> [w.shape[0] for w in AudioReader(16000, clip_seconds=1.0).prepare(np.zeros(8000))]
    [16000]
    """

    modality = "audio"
    path_key = "audio_filepath"  # the manifest field that names the file
    error = AudioError

    sample_rate: int = 16000
    clip_seconds: float | None = None
    trim_db: float | None = None
    level_db: float | None = None
    placement: str = "start"

    def __post_init__(self) -> None:
        if not isinstance(self.sample_rate, int) or self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {self.sample_rate!r}")
        if self.clip_seconds is not None and self.clip_seconds <= 0:
            raise ValueError(f"clip_seconds must be positive or None, got {self.clip_seconds!r}")
        if self.trim_db is not None and self.trim_db <= 0:
            raise ValueError(f"trim_db must be positive (dB below the peak), got {self.trim_db!r}")
        if self.placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {self.placement!r}")

    def _fit(self, waveform: torch.Tensor) -> torch.Tensor:
        if self.clip_seconds is None and self.trim_db is None and self.level_db is None:
            return waveform
        fitted = fit_clip(
            waveform.numpy(),
            self.sample_rate,
            self.clip_seconds,
            self.trim_db,
            self.level_db,
            self.placement,
            random,
        )
        return torch.from_numpy(np.ascontiguousarray(fitted, dtype=np.float32))

    def __call__(
        self, path: str | Path, start: float = 0.0, duration: float | None = None
    ) -> list[torch.Tensor]:
        """The waveform of ``path`` (or of its segment from ``start``, ``duration``
        seconds long), as a one-item list."""
        return [self._fit(load_audio(path, self.sample_rate, start, duration))]

    def prepare(
        self, item: "str | Path | np.ndarray | torch.Tensor", index: int | None = None
    ) -> list[torch.Tensor]:
        """A file path, or a waveform already at :attr:`sample_rate`, checked: 1-D,
        not empty, and finite (:func:`seqrec.core.waveform.check_finite`); an error names
        the file, or ``waveform <index>`` (the item's place among the inputs)."""
        if isinstance(item, str | Path):
            return self(item)
        name = "waveform" if index is None else f"waveform {index}"
        waveform = torch.as_tensor(item, dtype=torch.float32)
        if waveform.dim() != 1 or waveform.numel() == 0:
            raise ValueError(
                f"{name}: a waveform must be a non-empty 1-D array at {self.sample_rate} Hz, "
                f"got shape {tuple(waveform.shape)}"
            )
        check_finite(waveform.detach().cpu().numpy(), name)
        return [self._fit(waveform)]

    def for_training(self) -> "AudioReader":
        """The reader for the training split: the same, except that a centred
        waveform is placed at random in its window (augmentation is the dataset's)."""
        if self.placement == "centre":
            return replace(self, placement="random")
        return self


class AudioClassificationDataset(LabelledManifestDataset):
    """Waveforms and label indices from a manifest; batches with :func:`collate_audio`.

    Args:
        manifest, labels, on_error, max_duration: see :class:`LabelledManifestDataset`.
        reader: the :class:`AudioReader` (its sample rate) that reads every file.
        train: whether this is the training split; only then is ``augment`` applied.
        augment: waveform augmentation for training.
    """

    path_key = AudioReader.path_key
    collate_fn = staticmethod(collate_audio)

    def __init__(
        self,
        manifest: str | Path,
        labels: Sequence[str] | None,
        reader: AudioReader,
        train: bool = False,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
        on_error: str = "raise",
        max_duration: float | None = None,
    ) -> None:
        super().__init__(manifest, labels, on_error, max_duration)
        self.reader = reader.for_training() if train else reader
        self.transform = augment if train else None

    @property
    def sample_rate(self) -> int:
        return self.reader.sample_rate

    @property
    def durations(self) -> list[float]:
        """Seconds of each waveform as read (the reader's ``clip_seconds`` when set)."""
        if self.reader.clip_seconds is None:
            return super().durations
        return [self.reader.clip_seconds] * len(self.entries)

    def _waveform(self, entry: ManifestEntry) -> torch.Tensor:
        return self.reader(entry.path, entry.offset, entry.duration)[0]

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
        reader, train, augment: as for :class:`AudioClassificationDataset`, by keyword.
    """

    target_key = "text"

    def __init__(
        self, manifest: str | Path, tokenizer: Tokenizer, reader: AudioReader, **options: Any
    ) -> None:
        super().__init__(manifest, None, reader, **options)
        on_error = self.on_error
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
