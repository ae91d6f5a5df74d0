"""Test-only Lightning callbacks, loaded by training subprocesses through config."""

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
