"""Synthetic actions: short clips whose label depends only on the order of frames.

Each clip shows a narrow triangle on a textured background, with moving distractor
discs and sensor noise. Five attributes of the triangle (x, y, size, angle,
brightness) each run through an evenly spaced set of values over the clip. The
class says which attribute changes monotonically and in which direction
(``move_right`` ... ``darken``, 10 classes); the other four go out and back (up
then down, or down then up) through the same kind of values. Each attribute on its
own therefore has the same distribution of values in every class, and reversing
time turns each class into its opposite (``move_right`` into ``move_left``).

A limit of this design: how the attributes vary *together* survives shuffling (in a
``move_right`` clip, sorting the frames by x puts every other attribute on an
out-and-back path), so with shuffled frames a model can still tell which attribute
is swept, though not its direction. Shuffled-frame accuracy therefore falls to about
1/2 (the direction, by chance), not to 1/10. Sweeping the other attributes in
independent random orders removes that cue, but makes the task much harder to learn;
that variant is not shipped.

Clips are written as H.264 mp4 files with PyAV, with manifests; train, validation
and test clips come from disjoint generator seeds.
"""

import hashlib
import multiprocessing as mp
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from seqrec.data.manifest import write_manifest
from seqrec.data.prepared import is_prepared, mark_prepared

# (attribute, direction) for each class, direction +1 = increasing
ACTIONS = {
    "move_right": ("x", 1), "move_left": ("x", -1),
    "move_down": ("y", 1), "move_up": ("y", -1),
    "grow": ("size", 1), "shrink": ("size", -1),
    "rotate_clockwise": ("angle", 1), "rotate_anticlockwise": ("angle", -1),
    "brighten": ("brightness", 1), "darken": ("brightness", -1),
}  # fmt: skip
# each attribute sweeps a sub-range of this span, at least `min_sweep` of it wide
SPANS = {
    "x": (0.25, 0.75),
    "y": (0.25, 0.75),
    "size": (0.12, 0.40),
    "angle": (0.0, 2 * np.pi),
    "brightness": (0.3, 1.0),
}
SPLITS = ("train", "val", "test")
# Part of the corpus settings: bump it whenever rendering changes, so a corpus drawn
# by older code is not reused.
RENDER_VERSION = 4


def render_clip(
    action: str, num_frames: int, size: int, rng: np.random.Generator, min_sweep: float = 0.8
) -> np.ndarray:
    """(T, size, size, 3) uint8 frames of one clip of ``action``."""
    attribute, direction = ACTIONS[action]
    values = {}
    for name, (lo, hi) in SPANS.items():
        width = (hi - lo) * rng.uniform(min_sweep, 1.0)
        start = rng.uniform(lo, hi - width)
        sweep = np.linspace(start, start + width, num_frames)
        if name == attribute:
            values[name] = sweep if direction > 0 else sweep[::-1]
        else:  # the same values, out and back: up then down, or down then up
            there_and_back = np.concatenate([sweep[0::2], sweep[1::2][::-1]])
            values[name] = there_and_back if rng.random() < 0.5 else there_and_back[::-1]
    background = _texture(size, rng)
    color = rng.uniform(0.4, 1.0, 3)
    discs = [(rng.uniform(0, 1, 2), rng.uniform(-0.02, 0.02, 2), rng.uniform(0.03, 0.07), rng.uniform(0, 1, 3))
             for _ in range(rng.integers(1, 4))]  # fmt: skip
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    for t in range(num_frames):
        image = background.copy()
        for position, velocity, radius, disc_color in discs:
            cx, cy = (position + t * velocity) % 1.0
            image[(xx - cx) ** 2 + (yy - cy) ** 2 < radius**2] = disc_color
        mask = _triangle(
            xx, yy, values["x"][t], values["y"][t], values["size"][t], values["angle"][t]
        )
        image[mask] = color * values["brightness"][t]
        image += rng.normal(0, 0.03, image.shape)
        frames[t] = np.clip(image * 255, 0, 255).astype(np.uint8)
    return frames


def _texture(size: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth coloured noise: random low-resolution noise, upsampled."""
    base = rng.uniform(0.1, 0.45, 3)
    low = base + rng.uniform(-0.1, 0.1, (rng.integers(3, 9),) * 2 + (3,))
    reps = -(-size // low.shape[0])
    image = np.kron(low, np.ones((reps, reps, 1)))[:size, :size]
    for axis in (0, 1):  # soften the block edges
        image = (image + np.roll(image, 1, axis) + np.roll(image, -1, axis)) / 3
    return image


def _triangle(xx, yy, cx, cy, radius, angle) -> np.ndarray:
    """An isosceles triangle (pointing along ``angle``; y grows downwards, so a
    growing angle turns it clockwise on screen)."""
    corners = [(angle, 1.0), (angle + 2.6, 0.65), (angle - 2.6, 0.65)]  # an arrow head
    points = [(cx + radius * r * np.cos(a), cy + radius * r * np.sin(a)) for a, r in corners]
    inside = np.ones_like(xx, dtype=bool)
    for (x1, y1), (x2, y2) in zip(points, points[1:] + points[:1], strict=True):
        inside &= (x2 - x1) * (yy - y1) - (y2 - y1) * (xx - x1) >= 0
    return inside


def write_mp4(path: Path, frames: np.ndarray, fps: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx264", rate=fps, options={"crf": "18", "preset": "veryfast"}
        )
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


@dataclass
class SyntheticActions:
    """Generate (or reuse) a synthetic action corpus under ``root``.

    Args:
        root: output folder.
        actions: the classes to render (default: all of :data:`ACTIONS`).
        clips_per_class: clips of each class per split.
        num_frames: frames per clip.
        fps: frame rate of the written video.
        size: frame width and height in pixels.
        min_sweep: each attribute runs through at least this share of its span.
        seed: every clip's generator seed derives from (seed, split, index), so the
            splits never share a seed.
        num_workers: rendering processes.
    """

    root: str
    actions: Sequence[str] = tuple(ACTIONS)
    clips_per_class: dict[str, int] | None = None
    num_frames: int = 24
    fps: int = 12
    size: int = 64
    min_sweep: float = 0.8
    seed: int = 0
    num_workers: int = 2

    def __post_init__(self) -> None:
        self.actions = tuple(self.actions)
        unknown = sorted(set(self.actions) - set(ACTIONS))
        if unknown:
            raise ValueError(f"unknown synthetic actions {unknown}; choose from {list(ACTIONS)}")
        counts = self.clips_per_class or {"train": 250, "val": 40, "test": 60}
        self.clips_per_class = {split: int(counts[split]) for split in SPLITS}

    def settings(self) -> dict:
        settings = asdict(self)
        for key in ("root", "num_workers"):
            settings.pop(key)
        settings["render_version"] = RENDER_VERSION
        return settings

    def __call__(self) -> Path:
        root = Path(self.root)
        marker = root / "corpus.json"
        if is_prepared(marker, self.settings()):
            return root
        root.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        jobs = [
            (split, action, k)
            for split in SPLITS
            for action in self.actions
            for k in range(self.clips_per_class[split])
        ]
        rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
        context = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
        with context.Pool(self.num_workers) as pool:
            chunks = pool.imap_unordered(self._render, jobs, chunksize=16)
            for split, row in tqdm(chunks, total=len(jobs), desc="rendering clips", unit="clip"):
                rows[split].append(row)
        for split in SPLITS:
            write_manifest(
                root / f"{split}.jsonl", sorted(rows[split], key=lambda r: r["video_filepath"])
            )
        mark_prepared(marker, self.settings())
        return root

    def _render(self, job: tuple[str, str, int]) -> tuple[str, dict]:
        split, action, k = job
        seed = int.from_bytes(
            hashlib.sha256(f"{self.seed}/{split}/{action}/{k}".encode()).digest()[:8], "little"
        )
        frames = render_clip(
            action, self.num_frames, self.size, np.random.default_rng(seed), self.min_sweep
        )
        relative = f"{split}/{action}/{k:05d}.mp4"
        write_mp4(Path(self.root) / relative, frames, self.fps)
        row = {"video_filepath": relative, "duration": self.num_frames / self.fps, "label": action,
               "id": f"{split}_{action}_{k:05d}", "seed": seed}  # fmt: skip
        return split, row
