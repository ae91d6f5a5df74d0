"""The manifest-backed video dataset."""

from collections.abc import Sequence
from pathlib import Path

from seqrec.data.batch import SkippedSample, VideoSample, collate_video
from seqrec.data.dataset import LabelledManifestDataset
from seqrec.data.video import ClipReader, VideoError


class VideoClassificationDataset(LabelledManifestDataset):
    """Clips of frames sampled by time from the videos of a manifest; batches with
    :func:`~seqrec.data.batch.collate_video`.

    Args:
        manifest, labels, on_error, max_duration: see :class:`LabelledManifestDataset`.
        reader: the :class:`~seqrec.data.video.ClipReader` that reads every video
            (frames, clips, crop size). With ``train`` its
            :meth:`~seqrec.data.video.ClipReader.for_training` variant is used: one
            clip per video, random segments (temporal jitter) and the training
            transform.
        train: whether this is the training split.
    """

    path_key = ClipReader.path_key
    collate_fn = staticmethod(collate_video)

    def __init__(
        self,
        manifest: str | Path,
        labels: Sequence[str],
        reader: ClipReader,
        train: bool = False,
        on_error: str = "raise",
        max_duration: float | None = None,
    ) -> None:
        super().__init__(manifest, labels, on_error, max_duration)
        self.reader = reader.for_training() if train else reader

    def __getitem__(self, index: int) -> VideoSample | SkippedSample:
        entry = self.entries[index]
        clips = self.read(entry, lambda e: self.reader(e.path, e.offset, e.duration), VideoError)
        if isinstance(clips, SkippedSample):
            return clips
        return VideoSample(clips, self.label_to_index[entry.label], entry.id)
