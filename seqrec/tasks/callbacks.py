"""Callbacks that every seqrec training run uses."""

import logging
import random
from collections import Counter
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from seqrec.data.manifest import Problem

log = logging.getLogger(__name__)

NONFINITE_STEPS = "train/nonfinite_steps"


class SamplerEpochCallback(pl.Callback):
    """Tell a custom batch sampler which epoch starts, so its shuffle changes per epoch.

    Lightning calls ``set_epoch`` only on ``dataloader.sampler`` and
    ``batch_sampler.sampler``; our bucketing sampler *is* the batch sampler. This
    hook runs before the epoch's iterator is created.
    """

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loader = trainer.train_dataloader
        batch_sampler = getattr(loader, "batch_sampler", None)
        if hasattr(batch_sampler, "set_epoch"):
            batch_sampler.set_epoch(trainer.current_epoch)


class NonFiniteGuard(pl.Callback):
    """Skip optimizer steps whose loss or gradients are not finite.

    After backward, if any gradient holds a NaN or an infinity, all gradients are
    dropped, so the optimizer leaves every weight (and its own state) untouched. Each
    skipped step is counted (``train/nonfinite_steps``); after ``max_consecutive``
    skipped steps in a row the run stops with an error.
    """

    def __init__(self, max_consecutive: int = 20) -> None:
        self.max_consecutive = max_consecutive
        self.skipped = 0
        self.consecutive = 0

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        params = [
            p for group in optimizer.param_groups for p in group["params"] if p.grad is not None
        ]
        finite = (
            torch.stack([torch.isfinite(p.grad).all() for p in params]).all()
            if params
            else torch.tensor(True)
        )
        if bool(finite):
            self.consecutive = 0
            return
        for p in params:
            p.grad = None
        self.skipped += 1
        self.consecutive += 1
        log.warning(
            "step %d: non-finite loss or gradients; the update was skipped", trainer.global_step
        )
        pl_module.log(NONFINITE_STEPS, float(self.skipped), reduce_fx="max")
        if self.consecutive >= self.max_consecutive:
            raise FloatingPointError(
                f"stopping: {self.consecutive} optimizer steps in a row had a non-finite loss or gradients "
                f"(last at step {trainer.global_step}). Lower the learning rate, check the data "
                f"(seqrec-validate), or raise the limit with nonfinite_max_consecutive=..."
            )

    def state_dict(self) -> dict[str, int]:
        return {"skipped": self.skipped}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.skipped = int(state.get("skipped", 0))


class SkippedSampleReport(pl.Callback):
    """Count samples the data pipeline skipped (``data.on_error=skip``), per split and
    reason, and report them at the end of each epoch. Nothing is left out silently.

    :attr:`totals` holds every distinct sample skipped in the run, per split.
    """

    def __init__(self) -> None:
        self.epoch: dict[str, Counter] = {}
        self.seen: dict[str, dict[str, Problem]] = {}

    def _record(self, split: str, batch: Any) -> None:
        for problem in getattr(batch, "skipped", ()):
            self.epoch.setdefault(split, Counter())[problem.reason] += 1
            if problem.source not in self.seen.setdefault(split, {}):
                self.seen[split][problem.source] = problem
                log.warning("%s: skipped sample: %s", split, problem)

    def _report(self, split: str, trainer: pl.Trainer) -> None:
        counts = self.epoch.pop(split, None)
        if counts:
            details = ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))
            log.warning(
                "epoch %d, %s: skipped %d samples (%s)",
                trainer.current_epoch,
                split,
                sum(counts.values()),
                details,
            )

    @property
    def totals(self) -> dict[str, dict[str, int]]:
        """This process's skips: per split, the count of each reason."""
        return _count_reasons(
            {split: {s: p.reason for s, p in seen.items()} for split, seen in self.seen.items()}
        )

    def gathered_totals(self) -> dict[str, dict[str, int]]:
        """:attr:`totals` over every process of a distributed run: each rank reads its
        own shard, so each sees only its own skips. A collective call: every rank
        must make it. One process: :attr:`totals`."""
        local = {split: {s: p.reason for s, p in seen.items()} for split, seen in self.seen.items()}
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return _count_reasons(local)
        parts: list[Any] = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, local)
        merged: dict[str, dict[str, str]] = {}
        for part in parts:
            for split, seen in part.items():
                merged.setdefault(split, {}).update(seen)  # a sample seen twice counts once
        return _count_reasons(merged)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._record("train", batch)

    def on_validation_batch_start(
        self, trainer, pl_module, batch, batch_idx, dataloader_idx=0
    ) -> None:
        self._record("val", batch)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0) -> None:
        self._record("test", batch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._report("train", trainer)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        self._report("val", trainer)

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        self._report("test", trainer)


def _count_reasons(seen: dict[str, dict[str, str]]) -> dict[str, dict[str, int]]:
    return {split: dict(Counter(reasons.values())) for split, reasons in seen.items()}


class StepSeed(pl.Callback):
    """Seed torch's, Python's and NumPy's random generators before every training
    batch from ``seed``, the count of batches trained so far and the rank.

    The model's own random draws (dither, SpecAugment, dropout) then depend only on
    where a batch falls in the run, not on what the process drew before. The count
    is part of the checkpoint, so a run resumed mid-epoch draws what the
    uninterrupted run drew, batch for batch. The data's augmentation is seeded per
    item by the sampler (:class:`~seqrec.data.sampler.AugmentKey`).
    """

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self.batches = 0

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        step_seed = (self.seed * 1_000_003 + self.batches) * 1_009 + trainer.global_rank
        step_seed %= 2**63
        torch.manual_seed(step_seed)
        random.seed(step_seed)
        np.random.seed(step_seed % 2**32)
        self.batches += 1

    def state_dict(self) -> dict[str, int]:
        return {"batches": self.batches}

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.batches = int(state_dict["batches"])
