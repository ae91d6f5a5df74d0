"""Manifests, datasets, batching and data preparation."""

from seqrec.data.audio import (
    AudioClassificationDataset,
    AudioError,
    TranscribedAudioDataset,
    load_audio,
)
from seqrec.data.batch import AudioBatch, collate_audio
from seqrec.data.manifest import ManifestEntry, ManifestError, read_manifest, write_manifest
from seqrec.data.sampler import DurationBucketSampler

__all__ = [
    "AudioBatch",
    "AudioClassificationDataset",
    "AudioError",
    "DurationBucketSampler",
    "ManifestEntry",
    "ManifestError",
    "TranscribedAudioDataset",
    "collate_audio",
    "load_audio",
    "read_manifest",
    "write_manifest",
]
