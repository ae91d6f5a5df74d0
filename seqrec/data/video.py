"""Video clips for the models: :class:`ClipReader` reads a video (or a segment) as
clips of frames sampled by time (:mod:`seqrec.core.video_frames` decodes them, torch-free),
and :class:`ClipTransform` makes normalised tensors of them."""

import math
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.v2.functional as TF

from seqrec.core.video_frames import (
    EMPTY_VIDEO,
    END_TOLERANCE,
    TRUNCATED_VIDEO,
    UNREADABLE_VIDEO,
    VideoError,
    VideoInfo,
    clip_times,
    clip_windows,
    decode_video,
    probe_video,
    read_frames,
)

__all__ = [
    "EMPTY_VIDEO",
    "END_TOLERANCE",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TRUNCATED_VIDEO",
    "UNREADABLE_VIDEO",
    "ClipReader",
    "ClipTransform",
    "VideoError",
    "VideoInfo",
    "clip_times",
    "clip_windows",
    "decode_video",
    "probe_video",
    "read_frames",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ClipTransform:
    """uint8 frames (T, H, W, 3) -> normalised float (T, 3, size, size).

    In training: one random resized crop, one colour jitter and (only when
    ``flip``) one horizontal flip, shared by all frames of the clip. In evaluation:
    a centre crop.
    """

    size: int = 112
    train: bool = False
    crop_scale: tuple[float, float] = (0.5, 1.0)
    color_jitter: float = 0.3
    flip: bool = False
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def __call__(self, frames: np.ndarray) -> torch.Tensor:
        clip = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, 3, H, W) uint8
        if self.train:
            height, width = clip.shape[-2:]
            area = height * width * random.uniform(*self.crop_scale)
            ratio = math.exp(random.uniform(math.log(3 / 4), math.log(4 / 3)))
            h = min(height, round(math.sqrt(area / ratio)))
            w = min(width, round(math.sqrt(area * ratio)))
            top, left = random.randint(0, height - h), random.randint(0, width - w)
            clip = TF.resized_crop(clip, top, left, h, w, [self.size, self.size], antialias=True)
            if self.color_jitter > 0:
                j = self.color_jitter
                clip = TF.adjust_brightness(clip, random.uniform(1 - j, 1 + j))
                clip = TF.adjust_contrast(clip, random.uniform(1 - j, 1 + j))
                clip = TF.adjust_saturation(clip, random.uniform(1 - j, 1 + j))
            if self.flip and random.random() < 0.5:
                clip = TF.horizontal_flip(clip)
        else:
            clip = TF.center_crop(
                TF.resize(clip, self.size, antialias=True), [self.size, self.size]
            )
        clip = clip.float().div_(255)
        return TF.normalize(clip, list(self.mean), list(self.std))


@dataclass
class ClipReader:
    """Read a video (or a segment of one) as ``num_clips`` clips of frames sampled by
    time, transformed: a list of (T, 3, size, size) float tensors.

    Args:
        num_frames: frames per clip; with ``frames_per_second`` the most frames.
        frames_per_second: when set, a clip gets ``round(seconds x fps)`` frames (at
            least 1, at most ``num_frames``), so clip lengths differ.
        num_clips: clips spread over the video (evaluation); training uses 1.
        clip_seconds: length of each clip window (None: the whole video).
        short_side: frames are decoded at this shorter side.
        transform: crop, jitter and normalisation; its ``train`` flag also switches
            frame sampling to random segments (temporal jitter).

    The one reader of video for training, evaluation and inference: a checkpoint
    stores it as a ``_target_`` config, so :func:`seqrec.load` reads videos the way
    evaluation did. :meth:`for_training` gives the training split's variant.
    """

    modality = "video"
    path_key = "video_filepath"  # the manifest field that names the file
    error = VideoError

    num_frames: int = 8
    frames_per_second: float | None = None
    num_clips: int = 1
    clip_seconds: float | None = None
    short_side: int = 128
    transform: ClipTransform = field(default_factory=ClipTransform)

    def frame_count(self, seconds: float) -> int:
        if self.frames_per_second is None:
            return self.num_frames
        return max(1, min(self.num_frames, round(seconds * self.frames_per_second)))

    def __call__(
        self, path: str | Path, start: float = 0.0, duration: float | None = None
    ) -> list[torch.Tensor]:
        if duration is None:
            duration = probe_video(path).duration - start
        if duration <= 0:
            raise VideoError(f"{path}: no video after {start:.3f}s", EMPTY_VIDEO)
        return [
            self.transform(read_frames(path, times, self.short_side))
            for times in self.frame_times(start, duration, jitter=self.transform.train)
        ]

    def frame_times(self, start: float, duration: float, jitter: bool = False) -> list[list[float]]:
        """The times (seconds into the file) of each clip's frames, for the segment of
        ``duration`` seconds at ``start``: :attr:`num_clips` windows of
        :attr:`clip_seconds`, each with :meth:`frame_count` frames.

        >>> ClipReader(num_frames=2, num_clips=2, clip_seconds=2.0).frame_times(1.0, 10.0)
        [[1.5, 2.5], [9.5, 10.5]]
        """
        clips = []
        for window_start, window_end in clip_windows(duration, self.num_clips, self.clip_seconds):
            n = self.frame_count(window_end - window_start)
            times = clip_times(duration, n, window_start, window_end, jitter=jitter)
            clips.append([start + t for t in times])
        return clips

    def prepare(
        self, item: "str | Path | np.ndarray | torch.Tensor", index: int | None = None
    ) -> list[torch.Tensor]:
        """A file path (read as in evaluation: :attr:`num_clips` clips), or one
        normalised (T, 3, H, W) clip, checked (``index``: the item's place among the
        inputs, as :meth:`seqrec.data.audio.AudioReader.prepare` takes it)."""
        if isinstance(item, str | Path):
            return self(item)
        clip = torch.as_tensor(item, dtype=torch.float32)
        if clip.dim() != 4 or clip.shape[1] != 3:
            raise ValueError(
                f"a video clip must be a (T, 3, H, W) tensor, got shape {tuple(clip.shape)}"
            )
        return [clip]

    def for_training(self) -> "ClipReader":
        """The reader for the training split: one clip per video, random segments
        and the training transform."""
        return replace(self, num_clips=1, transform=replace(self.transform, train=True))
