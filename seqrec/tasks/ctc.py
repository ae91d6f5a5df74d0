"""CTCTask: speech-to-text with CTC on a frontend -> subsampling -> BiRNN -> CTC head model."""

import logging
from collections.abc import Callable
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.text import CharErrorRate, WordErrorRate

from seqrec.core.ctc_search import CTCSearch, GreedySearch, build_search, decoding_config
from seqrec.core.results import greedy_hypotheses
from seqrec.tasks import metrics as names
from seqrec.tasks.classification import (
    log_evaluation,
    nothing_to_learn,
    optimizers_and_schedule,
)
from seqrec.text import Tokenizer, tokenizer_from_state

log = logging.getLogger(__name__)


def ctc_min_frames(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """Frames CTC needs for each target: one per token, plus a blank between each
    pair of equal neighbours.

    >>> ctc_min_frames(torch.tensor([[3, 3, 4, 0], [5, 6, 6, 6]]), torch.tensor([3, 4]))
    tensor([4, 6])
    """
    positions = torch.arange(targets.shape[1], device=targets.device)
    inside = positions[1:].unsqueeze(0) < target_lengths.unsqueeze(1)  # pair (t-1, t) is real
    repeats = ((targets[:, 1:] == targets[:, :-1]) & inside).sum(dim=1)
    return target_lengths + repeats


def check_head_size(num_classes: int, tokenizer: Tokenizer) -> None:
    """Refuse a CTC head whose ``num_classes`` is not the tokenizer's (tokens + blank)."""
    if num_classes != tokenizer.num_classes:
        raise ValueError(
            f"CTCTask: the CTC head has num_classes={num_classes} (head.num_classes in the "
            f"config), but the tokenizer gives {tokenizer.num_classes} ({len(tokenizer.tokens)} "
            f"tokens + the blank); the head takes ${{tokenizer.num_classes}} by default: drop "
            f"the head.num_classes override or set head.num_classes={tokenizer.num_classes}"
        )


class CTCTask(pl.LightningModule):
    """CTC training of a :class:`~seqrec.modules.SequenceModel` with a
    :class:`~seqrec.modules.CTCHead`.

    Args:
        model_config: config of the model (``_target_`` entries, plain containers);
            its head's ``num_classes`` must be the tokenizer's (config interpolates
            ``${tokenizer.num_classes}``).
        tokenizer: the :class:`~seqrec.text.Tokenizer` the datamodule built, or its
            :meth:`~seqrec.text.Tokenizer.state`; the state is what the checkpoint
            stores.
        reader: config of the :class:`~seqrec.data.audio.AudioReader` (``data.reader``,
            with ``_target_``), stored in the checkpoint.
        optimizer, scheduler, weight_decay: as for
            :class:`~seqrec.tasks.classification.SequenceClassificationTask`.
        decoding: config of the search for testing and inference, plain data naming
            its class (``conf/decoding/``; see :func:`~seqrec.core.ctc_search.build_search`);
            greedy when None. Validation always decodes greedily.
        log_examples: hypothesis/reference pairs logged per validation epoch.

    Utterances with fewer frames after subsampling than their transcript needs
    (:func:`ctc_min_frames`) cannot be aligned; they are left out of the loss and
    counted (``train/ctc_too_short``), and still scored in validation and test.
    """

    monitor = names.VAL_WER
    monitor_mode = "min"
    # training metrics that train() copies into metrics.json (the last epoch's value)
    fit_summary_keys = (names.TRAIN_TOO_SHORT,)

    def __init__(
        self,
        model_config: dict[str, Any],
        tokenizer: Tokenizer | dict[str, str],
        reader: dict[str, Any],
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
        weight_decay: float = 0.0,
        decoding: dict[str, Any] | None = None,
        log_examples: int = 3,
    ) -> None:
        super().__init__()
        if not isinstance(tokenizer, Tokenizer):
            tokenizer = tokenizer_from_state(tokenizer)
        self.tokenizer = tokenizer
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "tokenizer"])
        self.save_hyperparameters({"tokenizer": tokenizer.state()})  # plain data for seqrec.load
        self.model: nn.Module = instantiate(model_config)
        check_head_size(self.model.head.num_classes, tokenizer)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.weight_decay = weight_decay
        self.decoding = decoding_config(decoding)
        self.log_examples = log_examples
        self.ctc = nn.CTCLoss(blank=0, reduction="none", zero_infinity=True)
        self.val_loss, self.test_loss = MeanMetric(), MeanMetric()
        self.val_wer, self.val_cer = WordErrorRate(), CharErrorRate()
        self.test_wer, self.test_cer = WordErrorRate(), CharErrorRate()
        self.test_wer_greedy, self.test_cer_greedy = WordErrorRate(), CharErrorRate()
        self._examples: list[tuple[str, str]] = []
        self._test_search: CTCSearch | None = None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Waveforms -> (log-probabilities (B, T, V), frame counts (B,))."""
        return self.model(x, lengths)

    def _loss(self, batch) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, int]:
        """(mean loss over the alignable utterances, or None if there are none;
        log-probabilities (B, T, V); frame counts (B,); number of unalignable ones)."""
        log_probs, lengths = self(batch.inputs, batch.lengths)
        alignable = lengths >= ctc_min_frames(batch.targets, batch.target_lengths)
        too_short = int((~alignable).sum())
        if not alignable.any():
            return None, log_probs, lengths, too_short
        losses = self.ctc(
            log_probs[alignable].transpose(0, 1).float(),  # (T, B, V), fp32 even under bf16
            batch.targets[alignable],
            lengths[alignable],
            batch.target_lengths[alignable],
        )
        loss = (losses / batch.target_lengths[alignable].clamp(min=1)).mean()
        return loss, log_probs, lengths, too_short

    def training_step(self, batch, batch_idx: int) -> torch.Tensor | None:
        if len(batch) == 0:  # every sample in the batch was skipped (data.on_error=skip)
            return nothing_to_learn(self)
        loss, _, _, too_short = self._loss(batch)
        self.log(
            names.TRAIN_TOO_SHORT,
            float(too_short),
            on_step=False,
            on_epoch=True,
            reduce_fx="sum",
            sync_dist=True,
            batch_size=len(batch),
        )
        if loss is None:
            return nothing_to_learn(self)
        self.log(names.TRAIN_LOSS, loss, prog_bar=True, batch_size=len(batch))
        return loss

    def _greedy(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        """Best-path transcripts; the argmax is taken where the scores are."""
        best = log_probs.argmax(dim=-1).cpu().numpy()
        return [h.text for h in greedy_hypotheses(best, lengths.tolist(), self.tokenizer)]

    def _references(self, batch) -> list[str]:
        return [
            self.tokenizer.decode(t[:n].tolist())
            for t, n in zip(batch.targets, batch.target_lengths.tolist(), strict=True)
        ]

    def validation_step(self, batch, batch_idx: int) -> None:
        if len(batch) > 0:  # else an empty padding batch under DDP, or every sample skipped
            log_probs, lengths = self._score_loss(batch, self.val_loss)
            hypotheses, references = self._greedy(log_probs, lengths), self._references(batch)
            self.val_wer.update(hypotheses, references)
            self.val_cer.update(hypotheses, references)
            room = self.log_examples - len(self._examples)
            if room > 0:
                self._examples.extend(zip(hypotheses[:room], references[:room], strict=True))
        metrics = {
            names.VAL_LOSS: self.val_loss,
            names.VAL_WER: self.val_wer,
            names.VAL_CER: self.val_cer,
        }
        log_evaluation(self, metrics, len(batch), prog_bar=[names.VAL_WER, names.VAL_CER])

    def _score_loss(self, batch, loss: MeanMetric) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the batch's alignable utterances to the ``loss`` mean; return the
        log-probabilities (B, T, V) and frame counts (B,)."""
        mean_loss, log_probs, lengths, too_short = self._loss(batch)
        if mean_loss is not None:
            loss.update(mean_loss.detach(), weight=len(batch) - too_short)
        return log_probs, lengths

    def on_validation_epoch_end(self) -> None:
        if self.trainer.is_global_zero and not self.trainer.sanity_checking:
            lines = [f"  ref: {ref}\n  hyp: {hyp}" for hyp, ref in self._examples]
            if lines:
                log.info("epoch %d validation examples:\n%s", self.current_epoch, "\n".join(lines))
                for logger in self.loggers:
                    if hasattr(logger.experiment, "add_text"):
                        logger.experiment.add_text(
                            "val/examples", "\n\n".join(lines), self.global_step
                        )
        self._examples = []

    def test_search(self) -> CTCSearch:
        if self._test_search is None:
            self._test_search = build_search(self.decoding, self.tokenizer)
        return self._test_search

    def test_step(self, batch, batch_idx: int) -> None:
        if len(batch) > 0:  # else an empty padding batch under DDP, or every sample skipped
            log_probs, lengths = self._score_loss(batch, self.test_loss)
            references = self._references(batch)
            greedy = self._greedy(log_probs, lengths)
            search = self.test_search()
            hypotheses = greedy
            if not isinstance(search, GreedySearch):
                hypotheses = search(log_probs.detach().float().cpu().numpy(), lengths.cpu().numpy())
            self.test_wer.update(hypotheses, references)
            self.test_cer.update(hypotheses, references)
            self.test_wer_greedy.update(greedy, references)
            self.test_cer_greedy.update(greedy, references)
        metrics = {
            names.TEST_LOSS: self.test_loss,
            names.TEST_WER: self.test_wer,
            names.TEST_CER: self.test_cer,
            names.TEST_WER_GREEDY: self.test_wer_greedy,
            names.TEST_CER_GREEDY: self.test_cer_greedy,
        }
        log_evaluation(self, metrics, len(batch))

    def configure_optimizers(self) -> dict[str, Any]:
        return optimizers_and_schedule(self)
