"""Video for the ONNX runtime, in numpy: a file read as the checkpoint's
:class:`seqrec.data.video.ClipReader` reads it in evaluation. The frames are decoded and
sampled by :mod:`seqrec.core.video_frames`, as the PyTorch side does; the resize is
PyTorch's antialiased bilinear resize of uint8 images computed the same way (the
same fixed-point weights and rounding, so the same pixels); then the centre crop and
the normalisation."""

from pathlib import Path
from typing import Any

import numpy as np

from seqrec.core.video_frames import VideoError, clip_times, clip_windows, probe_video, read_frames

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def read_clips(path: str | Path, reader: dict[str, Any]) -> list[np.ndarray]:
    """``path`` as the list of normalised (T, 3, size, size) float32 clips that the
    reader config ``reader`` (a checkpoint's ``ClipReader``) gives in evaluation."""
    duration = probe_video(path).duration
    if duration <= 0:
        raise VideoError(f"{path}: no video")
    transform = reader.get("transform", {})
    size = int(transform.get("size", 112))
    mean = np.array(transform.get("mean", IMAGENET_MEAN), np.float32)[:, None, None]
    std = np.array(transform.get("std", IMAGENET_STD), np.float32)[:, None, None]
    windows = clip_windows(duration, int(reader.get("num_clips", 1)), reader.get("clip_seconds"))
    clips = []
    for start, end in windows:
        times = clip_times(duration, frame_count(reader, end - start), start, end)
        frames = read_frames(path, times, reader.get("short_side", 128))  # (T, H, W, 3) uint8
        clip = center_crop(resize_short_side(frames.transpose(0, 3, 1, 2), size), size)
        clips.append(((clip.astype(np.float32) / 255 - mean) / std).astype(np.float32))
    return clips


def frame_count(reader: dict[str, Any], seconds: float) -> int:
    """:meth:`seqrec.data.video.ClipReader.frame_count` of a reader config."""
    num_frames = int(reader.get("num_frames", 8))
    fps = reader.get("frames_per_second")
    return num_frames if fps is None else max(1, min(num_frames, round(seconds * fps)))


def resize_short_side(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 images (..., H, W) with the shorter side brought to ``size``, the aspect
    kept (the longer side truncated to an integer), as
    ``torchvision.transforms.v2.functional.resize(images, size, antialias=True)``."""
    height, width = images.shape[-2:]
    if height <= width:
        out_h, out_w = size, int(size * width / height)
    else:
        out_h, out_w = int(size * height / width), size
    return _resize_axis(_resize_axis(images, out_w, -1), out_h, -2)


def center_crop(images: np.ndarray, size: int) -> np.ndarray:
    """The centre ``size`` x ``size`` of images (..., H, W), as torchvision crops it."""
    height, width = images.shape[-2:]
    top, left = round((height - size) / 2.0), round((width - size) / 2.0)
    return images[..., top : top + size, left : left + size]


def _resize_axis(images: np.ndarray, out_size: int, axis: int) -> np.ndarray:
    """One pass of the separable resize along ``axis``: every output pixel a weighted
    sum of the input pixels under the stretched triangle filter, in 64-bit integers with
    the weights in fixed point, rounded and clipped to uint8 (PyTorch's uint8 kernel)."""
    in_size = images.shape[axis]
    if in_size == out_size:
        return images
    start, weights, precision = _weights(in_size, out_size)
    pixels = np.moveaxis(images, axis, -1).astype(np.int64)
    index = np.minimum(start[:, None] + np.arange(weights.shape[1])[None, :], in_size - 1)
    total = (pixels[..., index] * weights).sum(axis=-1) + (1 << (precision - 1))
    return np.moveaxis(np.clip(total >> precision, 0, 255).astype(np.uint8), -1, axis)


def _weights(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The first input pixel of each output pixel, the (out, K) integer weights and their
    fixed-point precision: antialiased bilinear, ``align_corners=False``, as PyTorch
    computes them for uint8 images (the largest precision, up to 22 bits, at which the
    largest weight still fits an int16)."""
    scale = in_size / out_size
    support, invscale = (scale, 1.0 / scale) if scale >= 1.0 else (1.0, 1.0)
    centers = scale * (np.arange(out_size) + 0.5)
    start = np.maximum((centers - support + 0.5).astype(np.int64), 0)
    stop = np.minimum((centers + support + 0.5).astype(np.int64), in_size)
    offsets = np.arange(int((stop - start).max()))[None, :]
    x = (offsets + start[:, None] - centers[:, None] + 0.5) * invscale
    weights = np.where((np.abs(x) < 1.0) & (offsets < (stop - start)[:, None]), 1.0 - np.abs(x), 0)
    weights = weights / weights.sum(axis=1, keepdims=True)
    precision = 0
    while precision < 22 and int(0.5 + weights.max() * (1 << (precision + 1))) < (1 << 15):
        precision += 1
    scaled = weights * (1 << precision)
    return start, np.where(scaled < 0, scaled - 0.5, scaled + 0.5).astype(np.int64), precision
