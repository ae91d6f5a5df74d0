"""``padding_efficiency``: real over padded audio in the batches the model receives.

The training loader is run for one epoch, as training runs it: the bucketing sampler
draws the epoch's speed factors and groups utterances by the lengths they give, then
each one is read and augmented with its factor (factor f: ``ceil(S / f)`` samples,
see :func:`speed_perturbed_length`). ``padding_efficiency_manifest`` scores the same
batches on their manifest durations: the lengths the sampler would see if it ignored
speed perturbation.
"""

import math
from collections.abc import Iterable, Sequence

import pytorch_lightning as pl

from seqrec.data.sampler import AugmentKey


def padding_efficiency(batches: Iterable[Sequence[float]]) -> float:
    """Real over padded length, pooled over batches of lengths (any unit).

    >>> padding_efficiency([[1, 2], [3, 4]])  # (1 + 2 + 3 + 4) / (2 * 2 + 2 * 4)
    0.8333333333333334
    """
    real = padded = 0.0
    for lengths in batches:
        real += sum(lengths)
        padded += len(lengths) * max(lengths, default=0)
    return real / padded


def speed_perturbed_length(samples: int, factor: float, sample_rate: int) -> int:
    """Samples of an utterance after :class:`~seqrec.data.augment.WaveformAugment`'s
    speed perturbation by ``factor``: it is resampled from ``round(rate * factor)`` Hz
    to ``rate``.

    >>> speed_perturbed_length(16000, 0.9, 16000), speed_perturbed_length(16000, 1.1, 16000)
    (17778, 14546)
    """
    return math.ceil(samples * sample_rate / round(sample_rate * factor))


def received_batches(
    datamodule: pl.LightningDataModule,
) -> tuple[list[list[int]], list[list[float]]]:
    """One epoch of the training loader: for each batch, the sample counts the model
    receives (after augmentation) and the manifest durations (seconds) of the same
    utterances."""
    datamodule.setup("fit")
    entries = datamodule.datasets["train"].entries
    loader = datamodule.train_dataloader()
    received, listed = [], []
    # the sampler yields the same batches of an epoch each time it is iterated
    for indices, batch in zip(loader.batch_sampler, loader, strict=True):
        if len(batch) == 0:  # every utterance skipped (data.on_error=skip), and reported
            continue
        kept = set(batch.ids)  # a skipped utterance is missing from the batch
        full = len(batch) == len(indices)
        received.append(batch.lengths.tolist())
        items = [key.item if isinstance(key, AugmentKey) else key for key in indices]
        listed.append([entries[i].duration for i in items if full or entries[i].id in kept])
    return received, listed


def measure_padding(
    datamodule: pl.LightningDataModule, sample_rate: int, max_batch_seconds: float | None
) -> dict[str, float]:
    """``padding_efficiency`` on the lengths the model receives,
    ``padding_efficiency_manifest`` on the manifest durations of the same batches, and
    how the batches keep to ``max_batch_seconds`` after augmentation:
    ``batches_over_cap`` (their share above it) and ``batch_seconds_over_cap_max``
    (the largest padded seconds over the cap). Batches of one utterance are left out
    of both: an utterance longer than the cap gets a batch of its own."""
    received, listed = received_batches(datamodule)
    figures = {
        "padding_efficiency": padding_efficiency(received),
        "padding_efficiency_manifest": padding_efficiency(listed),
    }
    if max_batch_seconds is not None:
        shared = [lengths for lengths in received if len(lengths) > 1]
        over = [len(b) * max(b) / sample_rate / max_batch_seconds for b in shared]
        figures["batches_over_cap"] = sum(r > 1 for r in over) / max(len(over), 1)
        figures["batch_seconds_over_cap_max"] = max(over, default=0.0)
    return figures
