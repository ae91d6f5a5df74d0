"""Checkpoints that survive a kill: atomic writes and a frequent ``last.ckpt``."""

import os
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins import TorchCheckpointIO
from pytorch_lightning.callbacks import Checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file in the same folder, flush it to disk,
    then rename it over the target. A kill at any moment leaves either the old file
    or the new one, never a truncated one."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
        try:
            with tmp.open("wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def load_checkpoint(
        self, path: str | Path, map_location: Any = None, weights_only: bool | None = True
    ) -> dict:
        # tensors and plain containers only: a checkpoint never runs code when loaded
        return super().load_checkpoint(path, map_location=map_location, weights_only=True)


class LastCheckpoint(Checkpoint):
    """Keep ``<dirpath>/last.ckpt`` current: every ``every_n_train_steps`` optimizer
    steps and after every validation, with the full training state (optimizer,
    schedulers, loops and the data loader's place in the epoch) for resuming."""

    def __init__(self, dirpath: str | Path, every_n_train_steps: int = 200) -> None:
        self.path = Path(dirpath) / "last.ckpt"
        self.every_n_train_steps = every_n_train_steps
        self._saved_step = -1

    def _save(self, trainer: pl.Trainer) -> None:
        if (
            trainer.fast_dev_run
            or trainer.sanity_checking
            or trainer.global_step == self._saved_step
        ):
            return
        trainer.save_checkpoint(self.path, weights_only=False)  # full state, to resume
        self._saved_step = trainer.global_step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.every_n_train_steps > 0 and trainer.global_step % self.every_n_train_steps == 0:
            self._save(trainer)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._save(trainer)
