"""seqrec.tasks.callbacks: non-finite steps are skipped and counted, too many stop the run."""

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from seqrec.tasks.callbacks import NonFiniteGuard


class NanAtSteps(pl.LightningModule):
    """Linear regression whose loss is NaN on chosen steps."""

    def __init__(self, nan_steps: set[int]) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.nan_steps = nan_steps
        self.weights_seen: list[torch.Tensor] = []

    def training_step(self, batch, batch_idx):
        self.weights_seen.append(self.layer.weight.detach().clone())
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.layer(x), y)
        return loss * float("nan") if self.global_step in self.nan_steps else loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=0.1, weight_decay=0.1)


def nan_trainer(guard: NonFiniteGuard, steps: int) -> pl.Trainer:
    return pl.Trainer(
        max_steps=steps,
        callbacks=[guard],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        gradient_clip_val=1.0,
    )


def regression_data() -> DataLoader:
    x = torch.randn(64, 4)
    return DataLoader(list(zip(x, x.sum(1, keepdim=True), strict=True)), batch_size=8)


def test_nonfinite_steps_are_skipped_and_counted():
    module, guard = NanAtSteps({2, 3, 5}), NonFiniteGuard(max_consecutive=3)
    nan_trainer(guard, 8).fit(module, regression_data())
    w = module.weights_seen
    assert guard.skipped == 3
    assert (
        torch.equal(w[2], w[3]) and torch.equal(w[3], w[4]) and torch.equal(w[5], w[6])
    )  # no update
    assert not torch.equal(w[0], w[1]) and not torch.equal(w[6], w[7])  # real steps still update
    assert torch.isfinite(module.layer.weight).all()


def test_too_many_nonfinite_steps_in_a_row_stop_the_run():
    module, guard = NanAtSteps({1, 2, 3, 4}), NonFiniteGuard(max_consecutive=3)
    with pytest.raises(FloatingPointError, match="3 optimizer steps in a row"):
        nan_trainer(guard, 8).fit(module, regression_data())
    assert torch.isfinite(module.layer.weight).all()
