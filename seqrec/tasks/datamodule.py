"""LightningDataModule for manifest-based audio classification: it wires the
datasets, the bucketing sampler and the collate of ``seqrec.data`` into DataLoaders."""

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytorch_lightning as pl
from torch.utils.data import DataLoader

from seqrec.data.audio import AudioClassificationDataset
from seqrec.data.augment import WaveformAugment
from seqrec.data.batch import collate_audio
from seqrec.data.sampler import DurationBucketSampler

log = logging.getLogger(__name__)


class AudioClassificationDataModule(pl.LightningDataModule):
    """Train/val/test manifests of labelled audio.

    Args:
        train_manifest, val_manifest, test_manifest: JSONL manifests.
        labels: the label set; its order defines class indices.
        sample_rate: every waveform is resampled to this rate.
        max_batch_seconds: cap on padded audio seconds per batch.
        max_batch_size: optional cap on utterances per batch.
        num_workers: DataLoader worker processes.
        augment: training-only waveform augmentation.
        prepare: called once (on rank 0) before anything is read, to generate or
            convert the data into the manifests above; it skips work already done.
        seed: seed of the sampler's shuffling.
        on_error: ``"raise"`` (default) stops at a bad manifest line or audio file;
            ``"skip"`` leaves it out, counts it per reason and reports it.
        max_duration: utterances longer than this (seconds) are skipped and counted.

    The training sampler's place in the epoch is part of the checkpoint
    (:meth:`state_dict`), so a run resumed mid-epoch trains on exactly the batches it
    had not seen. Lightning restores a datamodule's state before it builds the
    training loader, whatever else (an LR schedule sizing itself) asks for the
    loader first.
    """

    def __init__(
        self,
        train_manifest: str,
        val_manifest: str,
        test_manifest: str,
        labels: Sequence[str],
        sample_rate: int = 16000,
        max_batch_seconds: float = 64.0,
        max_batch_size: int | None = None,
        num_workers: int = 2,
        augment: WaveformAugment | None = None,
        prepare: Callable[[], object] | None = None,
        seed: int = 0,
        on_error: str = "raise",
        max_duration: float | None = None,
    ) -> None:
        super().__init__()
        self.manifests = {"train": train_manifest, "val": val_manifest, "test": test_manifest}
        bad = [label for label in labels if not isinstance(label, str)]
        if bad:
            raise TypeError(
                f"labels must be strings, got {bad!r}; quote them in YAML (a bare no/yes/on/off is a boolean)"
            )
        self.labels = list(labels)
        self.sample_rate = sample_rate
        self.max_batch_seconds = max_batch_seconds
        self.max_batch_size = max_batch_size
        self.num_workers = num_workers
        self.augment = augment
        self.prepare = prepare
        self.seed = seed
        self.on_error = on_error
        self.max_duration = max_duration
        self.datasets: dict[str, AudioClassificationDataset] = {}
        self._resume: dict[str, int] | None = None

    def prepare_data(self) -> None:
        if self.prepare is not None:
            self.prepare()

    def setup(self, stage: str | None = None) -> None:
        splits = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"]}.get(
            stage, ["train", "val", "test"]
        )
        for split in splits:
            if split not in self.datasets:
                self.datasets[split] = AudioClassificationDataset(
                    Path(self.manifests[split]),
                    self.labels,
                    self.sample_rate,
                    transform=self.augment if split == "train" else None,
                    on_error=self.on_error,
                    max_duration=self.max_duration,
                )
                problems = self.datasets[split].problems
                if problems:
                    counts = Counter(p.reason for p in problems)
                    log.warning(
                        "%s: skipped %d of %d lines (%s); first: %s",
                        self.manifests[split], len(problems), len(problems) + len(self.datasets[split]),
                        ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items())), problems[0],
                    )  # fmt: skip

    def state_dict(self) -> dict[str, int]:
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return {}
        # Lightning's count of batches this epoch, not the loader's: the loader prefetches
        processed = trainer.fit_loop.epoch_loop.batch_progress.current.processed
        return {"epoch": trainer.current_epoch, "batches_done": processed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._resume = dict(state) or None

    def manifest_skips(self) -> dict[str, dict[str, int]]:
        """Lines left out of each split's manifest, counted by reason."""
        return {
            split: dict(Counter(p.reason for p in ds.problems))
            for split, ds in self.datasets.items()
        }

    def _loader(self, split: str) -> DataLoader:
        dataset = self.datasets[split]
        trainer = self.trainer
        sampler = DurationBucketSampler(
            dataset.durations,
            max_batch_seconds=self.max_batch_seconds,
            max_batch_size=self.max_batch_size,
            shuffle=split == "train",
            seed=self.seed,
            num_replicas=trainer.world_size if trainer else 1,
            rank=trainer.global_rank if trainer else 0,
        )
        if split == "train" and self._resume:
            sampler.resume(self._resume["epoch"], self._resume["batches_done"])
            self._resume = None
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=collate_audio,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0 and split == "train",
            pin_memory=bool(trainer and trainer.strategy.root_device.type == "cuda"),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")
