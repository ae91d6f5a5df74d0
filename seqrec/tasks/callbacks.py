"""Callbacks that every seqrec training run uses."""

import pytorch_lightning as pl


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
