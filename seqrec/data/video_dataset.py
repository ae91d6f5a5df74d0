"""The manifest-backed video dataset."""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from torch.utils.data import Dataset

from seqrec.data.audio import ON_ERROR
from seqrec.data.batch import SkippedSample, VideoSample, collate_video
from seqrec.data.manifest import TOO_LONG, ManifestEntry, ManifestError, Problem, scan_manifest
from seqrec.data.video import ClipReader, ClipTransform, VideoError


class VideoClassificationDataset(Dataset):
    """Clips of frames sampled by time from the videos of a manifest; batches with
    :func:`~seqrec.data.batch.collate_video`.

    Args:
        manifest, labels, on_error, max_duration: as for the audio dataset.
        train: random segment sampling (temporal jitter) and the training transform.
        num_frames: frames per clip; with ``frames_per_second`` the most frames.
        frames_per_second: when set, a clip gets ``round(seconds x fps)`` frames (at
            least 1, at most ``num_frames``), so clip lengths differ.
        num_clips: clips per video at evaluation (training always takes one).
        clip_seconds: length of each clip window (None: the whole video).
        short_side: frames are decoded at this shorter side, then cropped to
            ``transform.size``.
        transform: clip transform settings (crop size, jitter, flip); ``train`` is
            set from this dataset's ``train``.
    """

    def __init__(
        self,
        manifest: str | Path,
        labels: Sequence[str],
        train: bool = False,
        num_frames: int = 8,
        frames_per_second: float | None = None,
        num_clips: int = 1,
        clip_seconds: float | None = None,
        short_side: int = 128,
        transform: ClipTransform | None = None,
        on_error: str = "raise",
        max_duration: float | None = None,
    ) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.labels = list(labels)
        self.label_to_index = {label: i for i, label in enumerate(self.labels)}
        scan = scan_manifest(
            manifest, "video_filepath", "label", self.labels, max_duration=max_duration
        )
        errors = [p for p in scan.problems if on_error == "raise" and p.reason != TOO_LONG]
        if errors:
            raise ManifestError(str(errors[0]), errors[0].reason)
        if not scan.entries:
            raise ManifestError(f"{manifest}: no usable entries ({len(scan.problems)} skipped)")
        self.problems = scan.problems
        self.entries: list[ManifestEntry] = scan.entries
        base = transform or ClipTransform()
        self.reader = ClipReader(
            num_frames=num_frames,
            frames_per_second=frames_per_second,
            num_clips=1 if train else num_clips,
            clip_seconds=clip_seconds,
            short_side=short_side,
            transform=replace(base, train=train),
        )
        self.on_error = on_error

    collate_fn = staticmethod(collate_video)

    @property
    def durations(self) -> list[float]:
        return [entry.duration for entry in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> VideoSample | SkippedSample:
        entry = self.entries[index]
        try:
            clips = self.reader(entry.path, entry.offset, entry.duration)
        except VideoError as e:
            if self.on_error == "skip":
                return SkippedSample(Problem(entry.source, e.reason, str(e)))
            raise VideoError(f"{entry.source}: {e}", e.reason) from None
        return VideoSample(clips, self.label_to_index[entry.label], entry.id)
