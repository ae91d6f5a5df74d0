"""SequenceClassificationTask: one LightningModule for voice commands and video actions.

The model comes from its config (``model_config``, a plain dict with ``_target_``
entries) so a checkpoint holds everything needed to rebuild it; see
:func:`seqrec.inference.load`.
"""

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch import nn
from torchmetrics import MeanMetric, Metric
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from seqrec.tasks import metrics as names
from seqrec.tasks.plots import save_confusion_matrix


class SequenceClassificationTask(pl.LightningModule):
    """Cross-entropy training of a :class:`~seqrec.modules.SequenceModel`.

    Args:
        model_config: config of the model, with ``_target_`` entries, as plain
            containers.
        labels: class names in index order.
        reader: config of the input reader (``data.reader``: an
            :class:`~seqrec.data.audio.AudioReader` or
            :class:`~seqrec.data.video.ClipReader`, with ``_target_``), stored in the
            checkpoint so that inference reads files as training did.
        optimizer: partial optimizer, called with parameter groups.
        scheduler: partial scheduler, called with the optimizer and ``total_steps``;
            stepped every optimizer step.
        label_smoothing: cross-entropy label smoothing.
        weight_decay: applied to weight matrices only, not to biases and norms.
        monitor: the validation metric that picks ``best.ckpt``: ``val/acc`` (the
            default), or ``val/loss`` where the validation split is too small for
            accuracy to tell checkpoints apart (a few dozen series).
    """

    monitor = names.VAL_ACC
    monitor_mode = "max"
    MONITORS: ClassVar[dict[str, str]] = {names.VAL_ACC: "max", names.VAL_LOSS: "min"}
    fit_summary_keys: tuple[str, ...] = ()  # training metrics that train() puts in metrics.json

    def __init__(
        self,
        model_config: dict[str, Any],
        labels: Sequence[str],
        reader: dict[str, Any],
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        label_smoothing: float = 0.0,
        weight_decay: float = 0.0,
        monitor: str = names.VAL_ACC,
    ) -> None:
        super().__init__()
        if monitor not in self.MONITORS:
            raise ValueError(f"monitor must be one of {tuple(self.MONITORS)}, got {monitor!r}")
        self.monitor, self.monitor_mode = monitor, self.MONITORS[monitor]
        self.save_hyperparameters(ignore=["optimizer", "scheduler"])
        self.model: nn.Module = instantiate(model_config)
        self.labels = list(labels)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.weight_decay = weight_decay
        self.criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
        n = len(self.labels)
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.train_acc = MulticlassAccuracy(n, average="micro")
        self.val_acc = MulticlassAccuracy(n, average="micro")
        self.val_acc_macro = MulticlassAccuracy(n, average="macro")
        self.test_acc = MulticlassAccuracy(n, average="micro")
        self.test_acc_macro = MulticlassAccuracy(n, average="macro")
        self.test_acc_class = MulticlassAccuracy(n, average=None)
        self.test_confusion = MulticlassConfusionMatrix(n)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.model(x, lengths)[0]

    def _step(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        if getattr(batch, "after_frontend", False):  # cached front-end features
            logits = self.model.forward_features(batch.inputs, batch.lengths)[0]
        else:
            logits = self(batch.inputs, batch.lengths)  # (B * clips, C)
        clips = getattr(batch, "clips", 1)
        if clips > 1:  # several clips per video: average their scores
            logits = logits.view(-1, clips, logits.shape[-1]).mean(dim=1)  # (B, C)
        return self.criterion(logits, batch.targets), logits

    def training_step(self, batch, batch_idx: int) -> torch.Tensor | None:
        if len(batch) == 0:  # every sample in the batch was skipped (data.on_error=skip)
            return nothing_to_learn(self)
        loss, logits = self._step(batch)
        self.train_acc(logits, batch.targets)
        self.log(names.TRAIN_LOSS, loss, prog_bar=True, batch_size=len(batch))
        self.log(names.TRAIN_ACC, self.train_acc, prog_bar=True, batch_size=len(batch))
        return loss

    def validation_step(self, batch, batch_idx: int) -> None:
        self._score(batch, self.val_loss, [self.val_acc, self.val_acc_macro])
        metrics = {
            names.VAL_LOSS: self.val_loss,
            names.VAL_ACC: self.val_acc,
            names.VAL_ACC_MACRO: self.val_acc_macro,
        }
        log_evaluation(self, metrics, len(batch), prog_bar=[names.VAL_ACC])

    def test_step(self, batch, batch_idx: int) -> None:
        scores = [self.test_acc, self.test_acc_macro, self.test_acc_class, self.test_confusion]
        self._score(batch, self.test_loss, scores)
        metrics = {
            names.TEST_LOSS: self.test_loss,
            names.TEST_ACC: self.test_acc,
            names.TEST_ACC_MACRO: self.test_acc_macro,
        }
        log_evaluation(self, metrics, len(batch))

    def _score(self, batch, loss: MeanMetric, metrics: Iterable[Metric]) -> None:
        """Update the ``loss`` mean and the ``metrics`` with ``batch``."""
        if len(batch) == 0:  # an empty padding batch under DDP, or every sample skipped
            return
        mean_loss, logits = self._step(batch)
        loss.update(mean_loss.detach(), weight=len(batch))
        for metric in metrics:
            metric.update(logits, batch.targets)

    def on_test_epoch_end(self) -> None:
        per_class = self.test_acc_class.compute()
        for label, accuracy in zip(self.labels, per_class.tolist(), strict=True):
            self.log(names.TEST_CLASS_ACC_PREFIX + label, accuracy, sync_dist=False)
        confusion = self.test_confusion.compute()
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            save_confusion_matrix(
                confusion.cpu(),
                self.labels,
                Path(self.trainer.default_root_dir) / "confusion_matrix.png",
            )
        self.test_acc_class.reset()
        self.test_confusion.reset()

    def configure_optimizers(self) -> dict[str, Any]:
        return optimizers_and_schedule(self)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on weight matrices and kernels only, not on biases and norms."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.dim() >= 2 else no_decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def log_evaluation(
    task: pl.LightningModule,
    metrics: dict[str, Metric],
    count: int,
    prog_bar: Sequence[str] = (),
) -> None:
    """Log the torchmetrics ``metrics`` of a validation or test step over ``count``
    items (they are already updated).

    Every rank logs every key on every step, even for a batch with nothing to score
    (an empty padding batch from the sampler, or every sample skipped): at the end of
    the epoch each metric gathers its state from all the ranks, and a rank that never
    logged a key would leave the others waiting. Losses are ``MeanMetric``s weighted
    by item counts too, not Lightning's ``sync_dist`` mean, which divides the summed
    counts by the world size in integers and so skews a mean whose ranks hold uneven
    shares.
    """
    for key, metric in metrics.items():
        task.log(key, metric, prog_bar=key in prog_bar, batch_size=count)


def nothing_to_learn(task: pl.LightningModule) -> torch.Tensor | None:
    """What a training step returns when its batch has nothing to learn from.

    On one process: None, and Lightning skips the step. Under DDP every rank must
    run backward on every step, or the gradient all-reduce waits forever: a zero
    loss that touches every trainable parameter keeps the ranks in step (the
    gradients it adds are zero).
    """
    if task.trainer.world_size <= 1:
        return None
    return sum(p.sum() for p in task.parameters() if p.requires_grad) * 0.0


def optimizers_and_schedule(task: pl.LightningModule) -> dict[str, Any]:
    """``configure_optimizers`` of a task with ``model``, ``optimizer_factory``,
    ``scheduler_factory`` (stepped every optimizer step) and ``weight_decay``."""
    optimizer = task.optimizer_factory(parameter_groups(task.model, task.weight_decay))
    if task.scheduler_factory is None:
        return {"optimizer": optimizer}
    scheduler = task.scheduler_factory(
        optimizer, total_steps=int(task.trainer.estimated_stepping_batches)
    )
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
