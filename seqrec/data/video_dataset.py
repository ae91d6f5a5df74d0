"""The manifest-backed video dataset."""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from seqrec.data.batch import SkippedSample, VideoSample, collate_video
from seqrec.data.dataset import LabelledManifestDataset
from seqrec.data.video import ClipReader, ClipTransform, VideoError


class VideoClassificationDataset(LabelledManifestDataset):
    """Clips of frames sampled by time from the videos of a manifest; batches with
    :func:`~seqrec.data.batch.collate_video`.

    Args:
        manifest, labels, on_error, max_duration: see :class:`LabelledManifestDataset`.
        train: random segment sampling (temporal jitter) and the training transform.
        num_frames, frames_per_second, num_clips, clip_seconds, short_side: how clips
            are read; see :class:`~seqrec.data.video.ClipReader`. Training always
            reads one clip per video.
        transform: clip transform settings (crop size, jitter, flip); its ``train``
            flag is set from ``train``.
    """

    path_key = "video_filepath"
    collate_fn = staticmethod(collate_video)

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
        super().__init__(manifest, labels, on_error, max_duration)
        self.reader = ClipReader(
            num_frames=num_frames,
            frames_per_second=frames_per_second,
            num_clips=1 if train else num_clips,
            clip_seconds=clip_seconds,
            short_side=short_side,
            transform=replace(transform or ClipTransform(), train=train),
        )

    def __getitem__(self, index: int) -> VideoSample | SkippedSample:
        entry = self.entries[index]
        clips = self.read(entry, lambda e: self.reader(e.path, e.offset, e.duration), VideoError)
        if isinstance(clips, SkippedSample):
            return clips
        return VideoSample(clips, self.label_to_index[entry.label], entry.id)
