"""LightningDataModule for manifest-based classification (audio or video): it wires
a dataset class, the bucketing sampler and the dataset's collate into DataLoaders."""

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from torch.utils.data import DataLoader, Dataset

from seqrec.data.manifest import MISSING_FILE, ManifestError, manifest_texts
from seqrec.data.sampler import DurationBucketSampler
from seqrec.text import CharTokenizer, Tokenizer

log = logging.getLogger(__name__)


class ClassificationDataModule(pl.LightningDataModule):
    """Train/val/test manifests of labelled audio or video.

    Args:
        train_manifest, val_manifest, test_manifest: JSONL manifests. With
            ``val_manifest`` None there is no validation: :func:`seqrec.train.train`
            then tests the last checkpoint.
        labels: the label set; its order defines class indices.
        reader: how a file becomes what the model takes: an
            :class:`~seqrec.data.audio.AudioReader` or a
            :class:`~seqrec.data.video.ClipReader`. Its config (``data.reader``) is
            stored in the checkpoint, so evaluation and inference read files the same
            way.
        dataset: a partial dataset class (``_partial_: true`` in config), called with
            ``manifest``, ``labels``, ``reader``, ``train``, ``on_error`` and
            ``max_duration``;
            e.g. :class:`~seqrec.data.audio.AudioClassificationDataset` or
            :class:`~seqrec.data.video_dataset.VideoClassificationDataset`. Its
            ``collate_fn`` makes the batches.
        max_batch_seconds: cap on padded seconds per batch (None: no cap).
        max_batch_size: optional cap on items per batch.
        num_workers: DataLoader worker processes.
        prepare: called once (on rank 0) before anything is read, to generate or
            convert the data into the manifests above; it skips work already done.
        seed: seed of the sampler's shuffling.
        on_error: ``"raise"`` (default) stops at a bad manifest line or media file;
            ``"skip"`` leaves it out, counts it per reason and reports it.
        max_duration: training items longer than this (seconds) are skipped and
            counted. No limit applies to validation and test: they score every item,
            so their metrics cover the whole manifest. A long one is batched alone
            (one over ``max_batch_seconds`` gets a batch of its own), not chunked:
            evaluation keeps no activations for a backward pass, and the longest
            evaluation utterances of the presets (LibriSpeech, ~35 s) fit easily.

    Under DDP the evaluation loaders even out the ranks' batch counts with empty
    batches (:class:`~seqrec.data.sampler.DurationBucketSampler` ``even_out``), so
    each utterance is scored once and the logged metrics equal those of one process.

    The training sampler's place in the epoch is part of the checkpoint
    (:meth:`state_dict`), so a run resumed mid-epoch trains on exactly the batches it
    had not seen. Lightning restores a datamodule's state before it builds the
    training loader, whatever else (an LR schedule sizing itself) asks for the
    loader first.
    """

    def __init__(
        self,
        train_manifest: str,
        val_manifest: str | None,
        test_manifest: str,
        labels: Sequence[str],
        reader: Callable[..., list],
        dataset: Callable[..., Dataset],
        max_batch_seconds: float | None = 64.0,
        max_batch_size: int | None = None,
        num_workers: int = 2,
        prepare: Callable[[], object] | None = None,
        seed: int = 0,
        on_error: str = "raise",
        max_duration: float | None = None,
    ) -> None:
        super().__init__()
        bad = [label for label in labels if not isinstance(label, str)]
        if bad:
            raise TypeError(
                f"labels must be strings, got {bad!r}; quote them in YAML (a bare no/yes/on/off is a boolean)"
            )
        self.manifests = {"train": train_manifest, "val": val_manifest, "test": test_manifest}
        self.labels = list(labels)
        self.reader = reader
        self.dataset_factory = dataset
        self.max_batch_seconds = max_batch_seconds
        self.max_batch_size = max_batch_size
        self.num_workers = num_workers
        self.prepare = prepare
        self.seed = seed
        self.on_error = on_error
        self.max_duration = max_duration
        self.datasets: dict[str, Dataset] = {}
        self._resume: dict[str, int] | None = None

    def prepare_data(self) -> None:
        if self.prepare is not None:
            self.prepare()

    def setup(self, stage: str | None = None) -> None:
        splits = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"]}.get(
            stage, ["train", "val", "test"]
        )
        for split in splits:
            if split in self.datasets or self.manifests[split] is None:
                continue
            if split == "val" and not Path(self.manifests[split]).is_file():
                raise ManifestError(
                    f"{self.manifests[split]}: validation manifest not found; to train "
                    "with no validation split, set data.val_manifest=null (the last "
                    "checkpoint is then tested)",
                    MISSING_FILE,
                )
            dataset = self.dataset_factory(
                manifest=Path(self.manifests[split]),
                **self._dataset_args(),
                reader=self.reader,
                train=split == "train",
                on_error=self.on_error,
                max_duration=self.max_duration if split == "train" else None,
            )
            self.datasets[split] = dataset
            if dataset.problems:
                counts = Counter(p.reason for p in dataset.problems)
                log.warning(
                    "%s: skipped %d of %d lines (%s); first: %s",
                    self.manifests[split],
                    len(dataset.problems),
                    len(dataset.problems) + len(dataset),
                    ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items())),
                    dataset.problems[0],
                )

    @property
    def has_validation(self) -> bool:
        return self.manifests["val"] is not None

    def _dataset_args(self) -> dict[str, Any]:
        """What the dataset needs besides its manifest and the error policy."""
        return {"labels": self.labels}

    def task_targets(self) -> dict[str, Any]:
        """What the task needs to know about the targets: here the label set."""
        return {"labels": self.labels}

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
            even_out="repeat" if split == "train" else "empty",
            # training batches on the lengths after speed perturbation
            speed_plan=getattr(dataset, "speed_plan", None) if split == "train" else None,
        )
        if split == "train" and self._resume:
            sampler.resume(self._resume["epoch"], self._resume["batches_done"])
            self._resume = None
        return DataLoader(
            dataset,
            batch_sampler=sampler,
            collate_fn=dataset.collate_fn,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0 and split == "train",
            pin_memory=bool(trainer and trainer.strategy.root_device.type == "cuda"),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val") if self.has_validation else []

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")


class TranscriptionDataModule(ClassificationDataModule):
    """Train/val/test manifests of transcribed speech (``text`` field).

    Args:
        tokenizer: a :class:`~seqrec.text.Tokenizer` (``conf/tokenizer/char.yaml``), or
            a callable that learns one from the training manifest's texts, such as the
            partial :meth:`~seqrec.text.SentencePieceTokenizer.train` of
            ``conf/tokenizer/bpe.yaml``. None: characters.
        lm_text: text for the n-gram LM of ``decoding=beam_lm`` (recorded here with
            the data it belongs to; the datamodule does not read it).
        dataset: a partial :class:`~seqrec.data.audio.TranscribedAudioDataset`.
        The rest: see :class:`ClassificationDataModule`.

    A tokenizer that learns is learnt once, by :meth:`task_targets` (preparing the
    data first). The tokenizer is handed to the task, which stores its state in the
    checkpoint.
    """

    def __init__(
        self,
        *args,
        tokenizer: Tokenizer | Callable[[list[str]], Tokenizer] | None = None,
        lm_text: str | None = None,
        **kwargs,
    ) -> None:
        kwargs.setdefault("labels", [])
        super().__init__(*args, **kwargs)
        self.lm_text = lm_text
        tokenizer = CharTokenizer() if tokenizer is None else tokenizer
        self.tokenizer: Tokenizer | None = tokenizer if isinstance(tokenizer, Tokenizer) else None
        self._learn_tokenizer = tokenizer if self.tokenizer is None else None

    def build_tokenizer(self) -> Tokenizer:
        """The tokenizer, learnt from the training manifest on the first call if it learns."""
        if self.tokenizer is None:
            self.tokenizer = self._learn_tokenizer(manifest_texts(self.manifests["train"]))
            log.info(
                "tokenizer: %s, %d tokens learnt from %s",
                type(self.tokenizer).__name__,
                len(self.tokenizer.tokens),
                self.manifests["train"],
            )
        return self.tokenizer

    def task_targets(self) -> dict[str, Any]:
        if self.tokenizer is None:
            self.prepare_data()  # the tokenizer learns from the training text
        return {"tokenizer": self.build_tokenizer()}

    def _dataset_args(self) -> dict[str, Any]:
        return {"tokenizer": self.build_tokenizer()}
