"""Synthetic actions: short clips whose label depends only on the order of frames.

Each clip shows a narrow triangle travelling along a straight path across a textured
background, from its left end to its right end, with drifting distractor discs and
sensor noise. The scene is first rendered at ``num_frames`` evenly spaced points of
that path (the triangle, the discs and the noise are all functions of the point). A
class is an *order* in which those points are shown (``ORDERS``): straight to the
right, right and back, twice to the right, from the middle with a wrap, a zigzag, and
the left-to-right mirror of each, 10 classes in all.

Every class of a clip therefore shows exactly the same frames, only in another order:
with its frames shuffled, a clip carries no information about its class, and a model
that sees frames as an unordered set is at chance (1/10). Nothing in a frame counts
time on its own (the distractors move with the path point, not with the clock), so
the order of frames is the only cue.

Clips are written as H.264 mp4 files with PyAV, with manifests; train, validation
and test clips come from disjoint generator seeds. The dataset should read as many
frames as were rendered (``num_frames`` in both places), so that sampling by time
picks every rendered frame once.

The rendered frames are a function of the seed; the encoded files are not: the x264
in PyAV's FFmpeg does not give the same bytes twice for the same frames (not even
with one thread), so two generations of a corpus decode to pixels that differ by
codec noise (a mean absolute difference of up to 2.5 levels in 100 clips compared).
"""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from seqrec.data.manifest import write_manifest
from seqrec.data.prepared import is_prepared, mark_prepared
from seqrec.synth.workers import job_seed, run_jobs


def _right(n: int) -> np.ndarray:
    return np.arange(n)


def _right_and_back(n: int) -> np.ndarray:
    return np.concatenate([np.arange(0, n, 2), np.arange(1, n, 2)[::-1]])


def _right_twice(n: int) -> np.ndarray:
    return np.concatenate([np.arange(0, n, 2), np.arange(1, n, 2)])


def _right_from_middle(n: int) -> np.ndarray:
    return np.roll(np.arange(n), -(n // 2))


def _zigzag_right(n: int) -> np.ndarray:
    return np.concatenate([np.arange(0, n, 3), np.arange(1, n, 3)[::-1], np.arange(2, n, 3)])


def _mirror(order: Callable[[int], np.ndarray]) -> Callable[[int], np.ndarray]:
    return lambda n: n - 1 - order(n)


# class -> the order (a permutation of the n path points) in which its frames are shown
ORDERS: dict[str, Callable[[int], np.ndarray]] = {
    "right": _right,
    "left": _mirror(_right),
    "right_and_back": _right_and_back,
    "left_and_back": _mirror(_right_and_back),
    "right_twice": _right_twice,
    "left_twice": _mirror(_right_twice),
    "right_from_middle": _right_from_middle,
    "left_from_middle": _mirror(_right_from_middle),
    "zigzag_right": _zigzag_right,
    "zigzag_left": _mirror(_zigzag_right),
}
SPLITS = ("train", "val", "test")
# Part of the corpus settings: bump it whenever rendering changes, so a corpus drawn
# by older code is not reused.
RENDER_VERSION = 5


def frame_order(action: str, num_frames: int) -> np.ndarray:
    """The path point shown in each frame of a clip of ``action``.

    >>> frame_order("right_and_back", 6).tolist()
    [0, 2, 4, 5, 3, 1]
    >>> frame_order("zigzag_left", 6).tolist()
    [5, 2, 1, 4, 3, 0]
    """
    if num_frames % 6:
        raise ValueError(f"num_frames must be a multiple of 6 (got {num_frames})")
    return ORDERS[action](num_frames)


def render_clip(
    action: str, num_frames: int, size: int, rng: np.random.Generator, min_travel: float = 0.45
) -> np.ndarray:
    """(T, size, size, 3) uint8 frames of one clip of ``action``; for one ``rng``
    state every action shows the same frames, in its own order."""
    order = frame_order(action, num_frames)
    return render_path(num_frames, size, rng, min_travel)[order]


def render_path(
    num_points: int, size: int, rng: np.random.Generator, min_travel: float = 0.45
) -> np.ndarray:
    """The scene at ``num_points`` evenly spaced points of a left-to-right path."""
    travel = rng.uniform(min_travel, 0.7)
    x0 = rng.uniform(0.15, 0.85 - travel)
    y0, y1 = rng.uniform(0.25, 0.75, 2)
    xs = np.linspace(x0, x0 + travel, num_points)
    ys = np.linspace(y0, y1, num_points)
    radius = rng.uniform(0.12, 0.2)
    angle = rng.uniform(0, 2 * np.pi)
    color = rng.uniform(0.5, 1.0, 3)
    background = _texture(size, rng)
    discs = [
        (
            rng.uniform(0, 1, 2),
            rng.uniform(-0.02, 0.02, 2),
            rng.uniform(0.03, 0.07),
            rng.uniform(0, 1, 3),
        )
        for _ in range(rng.integers(1, 4))
    ]
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size
    frames = np.empty((num_points, size, size, 3), dtype=np.uint8)
    for k in range(num_points):
        image = background.copy()
        for position, velocity, disc_radius, disc_color in discs:
            cx, cy = (position + k * velocity) % 1.0
            image[(xx - cx) ** 2 + (yy - cy) ** 2 < disc_radius**2] = disc_color
        image[_triangle(xx, yy, xs[k], ys[k], radius, angle)] = color
        image += rng.normal(0, 0.03, image.shape)
        frames[k] = np.clip(image * 255, 0, 255).astype(np.uint8)
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
        actions: the classes to render (default: all of :data:`ORDERS`).
        clips_per_class: clips of each class per split.
        num_frames: frames per clip (a multiple of 6).
        fps: frame rate of the written video.
        size: frame width and height in pixels.
        min_travel: the shortest path, as a share of the frame width.
        seed: every clip's generator seed derives from (seed, split, index), so the
            splits never share a seed.
        num_workers: rendering processes.
    """

    root: str
    actions: Sequence[str] = tuple(ORDERS)
    clips_per_class: dict[str, int] | None = None
    num_frames: int = 12
    fps: int = 6
    size: int = 64
    min_travel: float = 0.45
    seed: int = 0
    num_workers: int = 2

    def __post_init__(self) -> None:
        self.actions = tuple(self.actions)
        unknown = sorted(set(self.actions) - set(ORDERS))
        if unknown:
            raise ValueError(f"unknown synthetic actions {unknown}; choose from {list(ORDERS)}")
        if self.num_frames <= 0 or self.num_frames % 6:
            raise ValueError(f"num_frames must be a positive multiple of 6 (got {self.num_frames})")
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
        results, crashed = run_jobs(
            self._render, jobs, self.num_workers, chunksize=16, desc="rendering clips", unit="clip"
        )
        if crashed:  # unlike eSpeak NG, rendering should never crash: stop, do not leave clips out
            raise RuntimeError(f"rendering killed its process on clips {crashed}")
        rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
        for split, row in results:
            rows[split].append(row)
        for split in SPLITS:
            write_manifest(
                root / f"{split}.jsonl", sorted(rows[split], key=lambda r: r["video_filepath"])
            )
        mark_prepared(marker, self.settings())
        return root

    def _render(self, job: tuple[str, str, int]) -> tuple[str, dict]:
        split, action, k = job
        seed = job_seed(self.seed, split, action, k)
        frames = render_clip(
            action, self.num_frames, self.size, np.random.default_rng(seed), self.min_travel
        )
        relative = f"{split}/{action}/{k:05d}.mp4"
        write_mp4(Path(self.root) / relative, frames, self.fps)
        row = {
            "video_filepath": relative,
            "duration": self.num_frames / self.fps,
            "label": action,
            "id": f"{split}_{action}_{k:05d}",
            "seed": seed,
        }
        return split, row
