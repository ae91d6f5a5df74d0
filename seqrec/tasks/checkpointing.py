"""Checkpoints that survive a kill (atomic writes, a frequent ``last.ckpt``), and the
average of the best checkpoints."""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins import TorchCheckpointIO
from pytorch_lightning.callbacks import Checkpoint, ModelCheckpoint

from seqrec.inference.checkpoint import CheckpointError, check_hyper_parameters, read_checkpoint


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
        # tensors and plain containers only, and a config naming only seqrec's building
        # blocks: a checkpoint never runs code when loaded (resume, validate, test)
        checkpoint = super().load_checkpoint(path, map_location=map_location, weights_only=True)
        hparams = checkpoint.get("hyper_parameters", {})
        if not isinstance(hparams, dict):
            raise CheckpointError(f"{path}: refused to load: hyper_parameters is not a mapping")
        check_hyper_parameters(hparams, path)
        return checkpoint


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


class TopCheckpoints(ModelCheckpoint):
    """The ``k`` best checkpoints by the monitored validation metric, weights only,
    as ``<dirpath>/epochNNN.ckpt``: the members of a checkpoint average. With ``k`` 1
    (``average_checkpoints=1``, no averaging) it keeps none."""

    def __init__(self, dirpath: str | Path, monitor: str, mode: str, k: int) -> None:
        if k < 1:
            raise ValueError(f"average_checkpoints must be at least 1, got {k}")
        super().__init__(
            dirpath=dirpath,
            filename="epoch{epoch:03d}",
            monitor=monitor,
            mode=mode,
            save_top_k=k if k > 1 else 0,
            save_weights_only=True,
            auto_insert_metric_name=False,
        )


def average_checkpoints(paths: Sequence[str | Path], out: str | Path) -> Path:
    """Average the model weights of the checkpoints ``paths`` into ``out``.

    Floating-point tensors of ``state_dict`` become their mean (accumulated in
    float64); any other tensor (a counter such as BatchNorm's ``num_batches_tracked``)
    is taken from the first checkpoint, as is everything outside ``state_dict``
    (the hyper-parameters that rebuild the model). ``averaged_from`` lists the
    members. The file is written atomically.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("no checkpoints to average")
    first = read_checkpoint(paths[0])
    sums = {
        key: value.double() if value.is_floating_point() else value
        for key, value in first["state_dict"].items()
    }
    for path in paths[1:]:
        state = read_checkpoint(path)["state_dict"]
        if state.keys() != sums.keys():
            raise CheckpointError(
                f"{path}: cannot average with {paths[0]}: the weights differ "
                f"({sorted(state.keys() ^ sums.keys())[:5]})"
            )
        for key, value in state.items():
            if value.shape != sums[key].shape:
                raise CheckpointError(
                    f"{path}: cannot average with {paths[0]}: {key} has shape "
                    f"{tuple(value.shape)}, not {tuple(sums[key].shape)}"
                )
            if value.is_floating_point():
                sums[key] += value.double()
    averaged = {
        key: (value / len(paths)).to(first["state_dict"][key].dtype)
        if value.is_floating_point()
        else value
        for key, value in sums.items()
    }
    checkpoint = {**first, "state_dict": averaged, "averaged_from": [p.name for p in paths]}
    AtomicCheckpointIO().save_checkpoint(checkpoint, out)
    return Path(out)
