"""Time series through the same manifest path as speech: the reader, the dataset and
its collate, and the preparer of UCR/UEA classification problems.

A series manifest line names one ``.npy`` file, a (T, C) float array with time first
(``NaN`` where a value is missing), its length in steps and its label::

    {"series_filepath": "series/train/000000.npy", "duration": 150, "label": "1", "missing": 0}

``duration`` is the length in time steps: the sampler batches similar lengths together
as it does seconds of audio. The reader fills missing values by linear interpolation
(:func:`seqrec.core.series.fill_missing`); the preparer counts them per series.
"""

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqrec.core.series import MAX_SERIES_LENGTH, SeriesError, check_series, read_series
from seqrec.data.batch import PaddedBatch, SkippedSample, pad_sequences
from seqrec.data.dataset import LabelledManifestDataset
from seqrec.data.manifest import Problem, write_manifest
from seqrec.data.prepared import is_prepared, mark_prepared


@dataclass(frozen=True)
class SeriesReader:
    """How a series file or array becomes model input: a (T, C) float tensor, checked
    (``channels`` channels, at most ``max_length`` steps, nothing infinite) with its
    missing values filled. Stored in the checkpoint like the audio and video readers.

    >>> SeriesReader(channels=2).prepare(np.zeros((5, 2)))[0].shape
    torch.Size([5, 2])
    """

    modality = "series"
    path_key = "series_filepath"
    error = SeriesError

    channels: int = 1
    max_length: int = 100_000

    def __post_init__(self) -> None:
        if not isinstance(self.channels, int) or self.channels < 1:
            raise ValueError(f"channels must be a positive integer, got {self.channels!r}")
        if not isinstance(self.max_length, int) or not 1 <= self.max_length <= MAX_SERIES_LENGTH:
            raise ValueError(
                f"max_length must be in 1-{MAX_SERIES_LENGTH}, got {self.max_length!r}"
            )

    def __call__(
        self, path: str | Path, start: float = 0.0, duration: float | None = None
    ) -> list[torch.Tensor]:
        """The series of ``path`` as a one-item list (``start`` and ``duration`` are
        the manifest's segment fields, which a series file does not use)."""
        return [torch.from_numpy(read_series(path, self.channels, self.max_length))]

    def prepare(self, item: Any, index: int | None = None) -> list[torch.Tensor]:
        """A file path, or a (T, C) array (a 1-D array for one channel), checked; an
        error names the file, or ``series <index>``."""
        if isinstance(item, str | Path):
            return self(item)
        name = "series" if index is None else f"series {index}"
        values = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else item
        return [torch.from_numpy(check_series(values, self.channels, name, self.max_length))]

    def for_training(self) -> "SeriesReader":
        return self


@dataclass
class SeriesSample:
    values: torch.Tensor  # (T, C)
    target: int
    id: str


@dataclass
class SeriesBatch(PaddedBatch):
    values: torch.Tensor  # (B, T, C), zero-padded in time
    lengths: torch.Tensor  # (B,) int64 step counts
    targets: torch.Tensor  # (B,) int64 class indices
    ids: list[str]
    skipped: list[Problem] = field(default_factory=list)

    @property
    def inputs(self) -> torch.Tensor:
        return self.values

    def __len__(self) -> int:
        return self.targets.shape[0]


def collate_series(samples: Sequence[SeriesSample | SkippedSample]) -> SeriesBatch:
    """Pad series in time and keep their lengths; skipped samples are counted.

    >>> batch = collate_series([SeriesSample(torch.ones(3, 2), 1, "a"), SeriesSample(torch.ones(5, 2), 0, "b")])
    >>> tuple(batch.values.shape), batch.lengths.tolist(), batch.targets.tolist()
    ((2, 5, 2), [3, 5], [1, 0])
    """
    skipped = [s.problem for s in samples if isinstance(s, SkippedSample)]
    samples = [s for s in samples if not isinstance(s, SkippedSample)]
    if not samples:
        empty = torch.zeros(0, dtype=torch.int64)
        return SeriesBatch(torch.zeros(0, 0, 1), empty, empty, [], skipped)
    values, lengths = pad_sequences([s.values for s in samples])
    targets = torch.tensor([s.target for s in samples], dtype=torch.int64)
    return SeriesBatch(values, lengths, targets, [s.id for s in samples], skipped)


class SeriesClassificationDataset(LabelledManifestDataset):
    """Series and label indices from a manifest; batches with :func:`collate_series`.

    Args:
        manifest, labels, on_error, max_duration: see :class:`LabelledManifestDataset`
            (``max_duration`` counts steps here).
        reader: the :class:`SeriesReader`.
        train: whether this is the training split (the reader is the same).
    """

    path_key = SeriesReader.path_key
    collate_fn = staticmethod(collate_series)

    def __init__(
        self,
        manifest: str | Path,
        labels: Sequence[str],
        reader: SeriesReader,
        train: bool = False,
        on_error: str = "raise",
        max_duration: float | None = None,
    ) -> None:
        super().__init__(manifest, labels, on_error, max_duration)
        self.reader = reader

    def __getitem__(self, index: int) -> SeriesSample | SkippedSample:
        entry = self.entries[index]
        values = self.read(entry, lambda e: self.reader(e.path)[0], SeriesError)
        if isinstance(values, SkippedSample):
            return values
        return SeriesSample(values, self.label_to_index[entry.label], entry.id)


# The eight problems the aeon wheel bundles, with their official splits.
UEA_PROBLEMS = (
    "GunPoint",
    "ItalyPowerDemand",
    "ArrowHead",
    "OSULeaf",
    "ACSF1",
    "PickupGestureWiimoteZ",
    "JapaneseVowels",
    "BasicMotions",
)


def load_problem(problem: str, split: str) -> tuple[list[np.ndarray], list[str]]:
    """The official ``split`` (``train`` or ``test``) of ``problem``: one of
    :data:`UEA_PROBLEMS`, read from the aeon wheel, or a path to a ``.ts`` file (any
    UCR/UEA problem, its ``_TRAIN.ts`` or ``_TEST.ts``). Each series comes back as a
    (T, C) float array, time first, ``NaN`` where the file has ``?``."""
    try:
        from aeon.datasets import load_classification, load_from_ts_file
    except ImportError as e:
        raise ImportError(
            f"time-series problems are read with aeon ({e}): pip install -e '.[timeseries]'"
        ) from None
    if problem.endswith(".ts"):
        path = Path(problem)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: .ts file not found")
        try:
            X, y = load_from_ts_file(str(path))
        except Exception as e:  # aeon raises IOError, ValueError and its own types
            raise ValueError(f"{path}: not a readable .ts file ({e})") from None
    else:
        if problem not in UEA_PROBLEMS:
            raise ValueError(
                f"unknown problem {problem!r}: one of {UEA_PROBLEMS} (bundled with aeon), "
                f"or a path to a .ts file"
            )
        X, y = load_classification(problem, split=split)
    series = [np.asarray(x, dtype=np.float64).T for x in X]  # aeon gives (C, T)
    return series, [str(label) for label in y]


def stratified_split(
    labels: Sequence[str], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Indices of a training set cut into (train, validation): ``fraction`` of each
    class, at least one item of every class with two or more, drawn with ``seed``.

    >>> train, val = stratified_split(["a", "a", "a", "a", "b", "b"], 0.25, 0)
    >>> len(train), len(val), sorted(set(val) & {4, 5}) != []
    (4, 2, True)
    """
    rng = random.Random(seed)
    train, val = [], []
    for label in sorted(set(labels)):
        members = [i for i, y in enumerate(labels) if y == label]
        rng.shuffle(members)
        n_val = max(1, round(fraction * len(members))) if len(members) > 1 else 0
        val += members[:n_val]
        train += members[n_val:]
    return sorted(train), sorted(val)


@dataclass
class UEAProblem:
    """Write a UCR/UEA classification problem as series manifests under ``root``:
    ``train.jsonl`` and ``val.jsonl`` (``val_fraction`` of each class of the official
    training split, drawn with ``seed``: the split for model selection and tuning) and
    ``test.jsonl`` (the official test split, scored once), with one ``.npy`` file per
    series under ``series/``. Reused while the settings are unchanged.

    Args:
        problem: one of :data:`UEA_PROBLEMS`, or a ``.ts`` training file whose test
            file is ``test_file``.
        root: output folder.
        val_fraction: share of each class held out of training for validation.
        seed: the draw of the validation split.
        test_file: the ``.ts`` test file when ``problem`` is a ``.ts`` file.
    """

    problem: str
    root: str
    val_fraction: float = 0.2
    seed: int = 0
    test_file: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")

    def settings(self) -> dict[str, Any]:
        return {"problem": self.problem, "val_fraction": self.val_fraction, "seed": self.seed,
                "test_file": self.test_file, "layout": 1}  # fmt: skip

    def __call__(self) -> Path:
        root = Path(self.root)
        marker = root / "problem.json"
        if is_prepared(marker, self.settings()):
            return root
        marker.unlink(missing_ok=True)
        train_x, train_y = load_problem(self.problem, "train")
        if self.problem.endswith(".ts"):
            if self.test_file is None:
                raise ValueError(f"{self.problem}: give test_file, the problem's test .ts file")
            test_x, test_y = load_problem(self.test_file, "test")
        else:
            test_x, test_y = load_problem(self.problem, "test")
        fit, val = stratified_split(train_y, self.val_fraction, self.seed)
        splits = {
            "train": [(train_x[i], train_y[i]) for i in fit],
            "val": [(train_x[i], train_y[i]) for i in val],
            "test": list(zip(test_x, test_y, strict=True)),
        }
        summary: dict[str, Any] = {"problem": self.problem, "splits": {}}
        for split, items in splits.items():
            if not items:
                continue
            rows = []
            for i, (values, label) in enumerate(items):
                path = root / "series" / split / f"{i:06d}.npy"
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, values.astype(np.float32))
                rows.append({"series_filepath": str(path.relative_to(root)),
                             "duration": int(values.shape[0]), "label": label,
                             "missing": int(np.isnan(values).sum())})  # fmt: skip
            write_manifest(root / f"{split}.jsonl", rows)
            lengths = [row["duration"] for row in rows]
            summary["splits"][split] = {
                "series": len(rows),
                "channels": int(items[0][0].shape[1]),
                "length": [min(lengths), max(lengths)],
                "with_missing_values": sum(row["missing"] > 0 for row in rows),
            }
        (root / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        mark_prepared(marker, self.settings())
        return root
