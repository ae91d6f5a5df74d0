"""Test-only Lightning callbacks, loaded by training subprocesses through config."""

import json
import os
import signal

import pytorch_lightning as pl


class KillAtStep(pl.Callback):
    """SIGKILL this process once ``step`` optimizer steps are done: an abrupt stop
    with no chance to clean up, like a pre-empted cluster job."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class RecordBatches(pl.Callback):
    """Write the sample ids each rank trains and validates on, one JSON file per rank,
    epoch and stage, into ``folder``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.ids: dict[str, list[list[str]]] = {}

    def _record(self, trainer: pl.Trainer, stage: str, batch) -> None:
        self.ids.setdefault(f"{stage}_epoch{trainer.current_epoch}", []).append(list(batch.ids))

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        self._record(trainer, "train", batch)

    def on_validation_batch_end(self, trainer, module, outputs, batch, batch_idx, *args) -> None:
        if not trainer.sanity_checking:
            self._record(trainer, "val", batch)

    def on_fit_end(self, trainer, module) -> None:
        os.makedirs(self.folder, exist_ok=True)
        path = os.path.join(self.folder, f"rank{trainer.global_rank}.json")
        with open(path, "w") as f:
            json.dump(self.ids, f)
