"""A cache of a frozen front end's features for training: ``renditions`` augmented
renditions of every training clip, each read, augmented and passed through the front
end once, and kept in one ``.npz`` file.

A frozen front end (``frontend=speech_embedding``) computes the same features for
the same augmented waveform in every epoch, and on two cores it is most of a
training step's time. With the cache, training reads each rendition's features
instead: one pass over the cached set is ``renditions`` augmented passes over the
corpus, and the trainable part (decoder and head) sees only features
(:class:`FeatureBatch`, which the classification task sends past the front end).
Validation and test read audio as always, so their figures are the whole model's.

The cache is reused while its inputs are unchanged: the manifest's bytes, the labels,
the reader, the augmentation's settings, the front end's weights, ``renditions`` and
the seed name its file (``<cache_dir>/<fingerprint>.npz``).
"""

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from seqrec.data.audio import AudioClassificationDataset, AudioReader
from seqrec.data.batch import AudioSample, PaddedBatch, SkippedSample, collate_audio, pad_sequences
from seqrec.data.manifest import Problem
from seqrec.data.sampler import AugmentKey

log = logging.getLogger(__name__)


@dataclass
class FeatureSample:
    features: torch.Tensor  # (T, F) front-end frames
    target: int
    id: str


@dataclass
class FeatureBatch(PaddedBatch):
    """Front-end features (B, T, F) with their frame counts: what the front end would
    have given for the batch's waveforms. The task runs the model from the front end's
    output on (:meth:`~seqrec.modules.SequenceModel.forward_features`)."""

    features: torch.Tensor  # (B, T, F) zero-padded
    lengths: torch.Tensor  # (B,) int64 frame counts
    targets: torch.Tensor  # (B,) int64 class indices
    ids: list[str]
    skipped: list[Problem] = field(default_factory=list)
    after_frontend = True

    @property
    def inputs(self) -> torch.Tensor:
        return self.features

    def __len__(self) -> int:
        return self.features.shape[0]


def collate_features(samples: Sequence[FeatureSample]) -> FeatureBatch:
    """Pad the feature sequences to the longest in the batch.

    >>> batch = collate_features([FeatureSample(torch.ones(2, 4), 1, "a"), FeatureSample(torch.ones(3, 4), 0, "b")])
    >>> tuple(batch.features.shape), batch.lengths.tolist(), batch.targets.tolist()
    ((2, 3, 4), [2, 3], [1, 0])
    """
    features, lengths = pad_sequences([s.features for s in samples])
    targets = torch.tensor([s.target for s in samples], dtype=torch.int64)
    return FeatureBatch(features, lengths, targets, [s.id for s in samples])


class CachedFeatures(Dataset):
    """The cached renditions as a dataset: item ``r * N + i`` is rendition ``r`` of
    clip ``i`` (``N`` clips), batched by :func:`collate_features`.

    Args:
        source: the training split as audio, with its augmentation.
        manifest: its manifest (its bytes are part of the fingerprint).
        frontend: the frozen front end; its parameters must not require gradients.
        renditions: augmented renditions per clip.
        cache_dir: where the ``.npz`` lives.
        seed: seeds each rendition's speed factor and augmentation.
        batch_size: clips per front-end pass while the cache is built.
    """

    collate_fn = staticmethod(collate_features)

    def __init__(
        self,
        source: AudioClassificationDataset,
        manifest: str | Path,
        frontend: nn.Module,
        renditions: int,
        cache_dir: str | Path,
        seed: int = 0,
        batch_size: int = 64,
    ) -> None:
        if renditions < 1:
            raise ValueError(f"renditions must be at least 1, got {renditions}")
        if any(p.requires_grad for p in frontend.parameters()):
            raise ValueError(
                "a feature cache needs a frozen front end (its features must not change "
                "while the model trains); set frontend.trainable=false or drop the cache"
            )
        self.source = source
        self.problems = source.problems
        self.renditions = renditions
        self.path = (
            Path(cache_dir) / f"{_fingerprint(manifest, source, frontend, renditions, seed)}.npz"
        )
        if not self.path.is_file():
            _build(self.path, source, frontend, renditions, seed, batch_size)
        with np.load(self.path) as cache:
            self.features = torch.from_numpy(cache["features"])  # (frames, F) float16
            self.offsets = cache["offsets"].tolist()  # (items + 1,)
            self.clips = cache["clips"].tolist()  # (items,) the source index of each
            self.targets = cache["targets"].tolist()
            skipped = int(cache["skipped"])
        if skipped:
            log.warning("%s: %d renditions were skipped while it was built", self.path, skipped)
        self._durations = [source.durations[i] for i in self.clips]

    def __len__(self) -> int:
        return len(self.clips)

    @property
    def durations(self) -> list[float]:
        """Seconds of each rendition's clip as read (for the sampler's caps)."""
        return self._durations

    def __getitem__(self, key: int | AugmentKey) -> FeatureSample:
        index = key[0] if isinstance(key, tuple) else key
        start, end = self.offsets[index], self.offsets[index + 1]
        entry = self.source.entries[self.clips[index]]
        return FeatureSample(self.features[start:end].float(), self.targets[index], entry.id)


def _describe(obj: Any, depth: int = 0) -> Any:
    """A plain-data description of an augmentation object's settings, for the
    fingerprint (its public attributes, recursively)."""
    if isinstance(obj, str | int | float | bool | type(None) | Path):
        return str(obj) if isinstance(obj, Path) else obj
    if isinstance(obj, list | tuple):
        return [_describe(x, depth + 1) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _describe(v, depth + 1) for k, v in sorted(obj.items())}
    if depth > 4:
        return type(obj).__name__
    settings = (
        {k: v for k, v in vars(obj).items() if not k.startswith("_")}
        if hasattr(obj, "__dict__")
        else {}
    )
    return {
        "type": type(obj).__qualname__,
        **{k: _describe(v, depth + 1) for k, v in sorted(settings.items())},
    }


def _fingerprint(
    manifest: str | Path,
    source: AudioClassificationDataset,
    frontend: nn.Module,
    renditions: int,
    seed: int,
) -> str:
    digest = hashlib.sha256()
    digest.update(Path(manifest).read_bytes())
    settings = {
        "labels": list(source.labels),
        "reader": _describe(source.reader),
        "augment": _describe(source.transform),
        "renditions": renditions,
        "seed": seed,
        "frontend": {k: v for k, v in _describe(frontend).items() if k != "training"},
    }
    digest.update(json.dumps(settings, sort_keys=True).encode())
    for name, tensor in sorted(frontend.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _rendition_keys(source: AudioClassificationDataset, rendition: int, seed: int) -> list[Any]:
    """Each clip's key for one rendition: its speed factor and augmentation seed,
    drawn from the seed and the rendition only."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + rendition)
    n = len(source)
    speeds = source.speed_plan(n, generator) if source.speed_plan is not None else None
    seeds = torch.randint(0, 2**62, (n,), generator=generator).tolist()
    if speeds is None:
        return [AugmentKey(i, 1.0, s) for i, s in enumerate(seeds)]
    return [
        AugmentKey(i, float(v), s)
        for i, (v, s) in enumerate(zip(speeds.tolist(), seeds, strict=True))
    ]


class _Renditions(Dataset):
    def __init__(self, source: Dataset, keys: list[Any]) -> None:
        self.source, self.keys = source, keys

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> AudioSample | SkippedSample:
        return self.source[self.keys[index]]


@torch.inference_mode()
def _build(
    path: Path,
    source: AudioClassificationDataset,
    frontend: nn.Module,
    renditions: int,
    seed: int,
    batch_size: int,
) -> None:
    frontend = frontend.eval()
    keys = [key for r in range(renditions) for key in _rendition_keys(source, r, seed)]
    loader = DataLoader(
        _Renditions(source, keys),
        batch_size=batch_size,
        collate_fn=collate_audio,
        num_workers=1,
    )
    chunks: list[np.ndarray] = []
    lengths: list[int] = []
    clips: list[int] = []
    targets: list[int] = []
    skipped = 0
    index_of = {entry.id: i for i, entry in enumerate(source.entries)}
    for batch in tqdm(loader, desc=f"feature cache ({renditions} renditions)", unit="batch"):
        skipped += len(batch.skipped)
        if len(batch):
            features, frames = frontend(batch.audio, batch.lengths)  # (B, T, F)
            for row, n in zip(features, frames.tolist(), strict=True):
                chunks.append(row[:n].to(torch.float16).numpy())
                lengths.append(n)
            targets.extend(batch.targets.tolist())
            clips.extend(index_of[i] for i in batch.ids)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(
        tmp,
        features=np.concatenate(chunks) if chunks else np.zeros((0, 1), np.float16),
        offsets=offsets,
        clips=np.asarray(clips, np.int64),
        targets=np.asarray(targets, np.int64),
        skipped=np.asarray(skipped),
    )
    os.replace(tmp, path)
    log.info("%s: %d renditions of %d clips cached", path, len(clips), len(source))


def audio_or_cached_features(
    manifest: str | Path,
    labels: Sequence[str],
    reader: AudioReader,
    train: bool = False,
    on_error: str = "raise",
    max_duration: float | None = None,
    augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    frontend: nn.Module | None = None,
    renditions: int = 4,
    cache_dir: str | Path = "feature_cache",
    seed: int = 0,
) -> Dataset:
    """The dataset of a split: audio (:class:`AudioClassificationDataset`) for
    validation and test, and for training the :class:`CachedFeatures` of the frozen
    ``frontend`` (``data.dataset`` in config, beside the model's front end)."""
    audio = AudioClassificationDataset(
        manifest, labels, reader, train, augment, on_error, max_duration
    )
    if not train:
        return audio
    if frontend is None:
        raise ValueError("audio_or_cached_features needs the frozen frontend to cache")
    return CachedFeatures(audio, manifest, frontend, renditions, cache_dir, seed)
