"""Named batch structures and the collate functions that pad them."""

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from seqrec.data.manifest import Problem


@dataclass
class AudioSample:
    waveform: torch.Tensor  # (S,)
    target: int | torch.Tensor  # a class index, or a transcript's token ids (U,)
    id: str


@dataclass
class VideoSample:
    clips: list[torch.Tensor]  # num_clips x (T, 3, H, W)
    target: int
    id: str


@dataclass
class SkippedSample:
    """Stands in for a sample that failed to load when ``on_error="skip"``."""

    problem: Problem


class PaddedBatch:
    """What the batches share: padded ``inputs`` (B * clips, T, ...) with their
    ``lengths``, each item's ``clips`` sequences in consecutive rows."""

    clips: int = 1  # an audio batch has one sequence per item

    def sequences(self) -> list[list[torch.Tensor]]:
        """Each item's sequences (its waveform, or a video's clips) without padding:
        the shape :meth:`~seqrec.inference.Classifier.classify_clips` takes."""
        rows = [x[:n] for x, n in zip(self.inputs, self.lengths.tolist(), strict=True)]
        return [rows[i : i + self.clips] for i in range(0, len(rows), self.clips)]


@dataclass
class AudioBatch(PaddedBatch):
    audio: torch.Tensor  # (B, S) zero-padded waveforms
    lengths: torch.Tensor  # (B,) int64 sample counts
    targets: torch.Tensor  # (B,) int64 class indices, or (B, U) zero-padded token ids
    ids: list[str]
    skipped: list[Problem] = field(default_factory=list)  # samples left out of this batch
    target_lengths: torch.Tensor | None = None  # (B,) token counts, for transcripts

    @property
    def inputs(self) -> torch.Tensor:
        return self.audio

    def __len__(self) -> int:
        return self.audio.shape[0]

    def references(self, tokenizer) -> list[str]:
        """The transcripts, decoded from the token ids (transcribed speech only)."""
        if self.target_lengths is None:
            raise ValueError("references(): this batch holds class indices, not transcripts")
        return [
            tokenizer.decode(t[:n].tolist())
            for t, n in zip(self.targets, self.target_lengths.tolist(), strict=True)
        ]


def pad_sequences(sequences: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (T_i, ...) tensors into (B, max T, ...) with zeros after each end."""
    lengths = torch.tensor([s.shape[0] for s in sequences], dtype=torch.int64)
    padded = sequences[0].new_zeros((len(sequences), int(lengths.max()), *sequences[0].shape[1:]))
    for i, s in enumerate(sequences):
        padded[i, : s.shape[0]] = s
    return padded, lengths


def collate_audio(samples: Sequence[AudioSample | SkippedSample]) -> AudioBatch:
    """Pad waveforms to the longest in the batch and keep their lengths.

    Skipped samples are left out and listed in ``batch.skipped``; a batch may end up
    empty (zero rows). Transcript targets (token id tensors) are zero-padded too, with
    their lengths in ``batch.target_lengths``.

    >>> batch = collate_audio([AudioSample(torch.ones(3), 0, "a"), AudioSample(torch.ones(5), 2, "b")])
    >>> tuple(batch.audio.shape), batch.lengths.tolist(), batch.targets.tolist()
    ((2, 5), [3, 5], [0, 2])
    """
    skipped = [s.problem for s in samples if isinstance(s, SkippedSample)]
    samples = [s for s in samples if not isinstance(s, SkippedSample)]
    if not samples:
        empty = torch.zeros(0, dtype=torch.int64)
        return AudioBatch(torch.zeros(0, 0), empty, empty, [], skipped)
    audio, lengths = pad_sequences([s.waveform for s in samples])
    ids = [s.id for s in samples]
    if isinstance(samples[0].target, torch.Tensor):
        targets, target_lengths = pad_sequences([s.target for s in samples])
        return AudioBatch(audio, lengths, targets, ids, skipped, target_lengths)
    targets = torch.tensor([s.target for s in samples], dtype=torch.int64)
    return AudioBatch(audio, lengths, targets, ids, skipped)


@dataclass
class VideoBatch(PaddedBatch):
    frames: torch.Tensor  # (B * clips, T, 3, H, W), zero-padded in time
    lengths: torch.Tensor  # (B * clips,) int64 frame counts
    targets: torch.Tensor  # (B,) int64 class indices
    ids: list[str]
    clips: int = 1  # clips per video, consecutive rows; their scores are averaged
    skipped: list[Problem] = field(default_factory=list)

    @property
    def inputs(self) -> torch.Tensor:
        return self.frames

    def __len__(self) -> int:
        return self.targets.shape[0]


def collate_video(samples: Sequence[VideoSample | SkippedSample]) -> VideoBatch:
    """Stack the clips of each video (video-major) and pad them in time.

    >>> sample = VideoSample([torch.zeros(4, 3, 8, 8), torch.zeros(2, 3, 8, 8)], 1, "v")
    >>> batch = collate_video([sample])
    >>> tuple(batch.frames.shape), batch.lengths.tolist(), batch.clips
    ((2, 4, 3, 8, 8), [4, 2], 2)
    """
    skipped = [s.problem for s in samples if isinstance(s, SkippedSample)]
    samples = [s for s in samples if not isinstance(s, SkippedSample)]
    if not samples:
        empty = torch.zeros(0, dtype=torch.int64)
        return VideoBatch(torch.zeros(0, 0, 3, 1, 1), empty, empty, [], 1, skipped)
    frames, lengths = pad_sequences([clip for s in samples for clip in s.clips])
    targets = torch.tensor([s.target for s in samples], dtype=torch.int64)
    return VideoBatch(
        frames, lengths, targets, [s.id for s in samples], len(samples[0].clips), skipped
    )
