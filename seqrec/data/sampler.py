"""A batch sampler that buckets by duration, caps batches by padded seconds, and
shards the batches of each epoch across distributed ranks."""

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import torch
from torch.utils.data import Sampler

# offset of the speed-plan generator's seed from the order's, so that the two streams
# of random numbers are independent
_SPEED_SEED_OFFSET = 7919


class AugmentKey(NamedTuple):
    """A training dataset key: item ``item``, speed-perturbed by ``speed``, with its
    other augmentations drawn from ``seed``. Each depends only on the sampler's seed,
    the epoch and the item, so a resumed run (and any worker) draws the same."""

    item: int
    speed: float
    seed: int


@dataclass(eq=False)  # eq=False: compared by identity, like any sampler
class DurationBucketSampler(Sampler[list[int]]):
    """Batches of utterances of similar duration, each holding at most
    ``max_batch_seconds`` of padded audio (batch size x longest duration) and at most
    ``max_batch_size`` items; at least one of the two caps must be given.

    Each epoch the utterances are shuffled, sorted by duration within buckets of
    ``bucket_width`` seconds, cut into batches, and the batch order is shuffled.
    With ``num_replicas`` > 1 every rank gets the same number of batches (a
    collective waits for every rank): the list is evened out and rank r takes batches
    r, r + R, r + 2R, ... ``even_out`` says how:

    - ``"repeat"`` (training): repeat the first batches, or with ``drop_last`` cut
      the last ones;
    - ``"empty"`` (evaluation): add empty batches, so over all ranks every utterance
      is scored exactly once and the metrics equal those of one process. The
      collate makes a zero-row batch of an empty one; the evaluation steps still log.

    An utterance longer than ``max_batch_seconds`` gets a batch of its own.

    ``speed_plan`` (training with speed perturbation) draws each epoch's speed
    factors, ``(n, generator) -> (n,) factors``, as
    :meth:`~seqrec.data.augment.WaveformAugment.draw_speeds` does. The sampler then
    batches on the lengths the model receives (a duration over its factor) and yields
    :class:`AugmentKey` keys, so the caps hold after augmentation. The plan and each
    item's augmentation seed depend on the seed and the epoch only, so every rank, any
    number of workers and a resumed run draw the same.

    :meth:`resume` restarts in the middle of an epoch: the next iteration skips the
    batches already trained on, while ``len()`` stays the length of the whole epoch.

    >>> sampler = DurationBucketSampler([1.0] * 10, max_batch_seconds=4.0, shuffle=False)
    >>> [len(b) for b in sampler]
    [4, 4, 2]
    >>> shard = DurationBucketSampler([1.0] * 10, 4.0, shuffle=False, num_replicas=2, rank=1,
    ...                               even_out="empty")
    >>> [len(b) for b in shard]  # batches 1 and 3 of [4, 4, 2] and one empty
    [4, 0]
    """

    durations: Sequence[float] = field(repr=False)
    max_batch_seconds: float | None
    max_batch_size: int | None = None
    bucket_width: float = 0.5
    shuffle: bool = True
    seed: int = 0
    num_replicas: int = 1
    rank: int = 0
    drop_last: bool = False
    even_out: Literal["repeat", "empty"] = "repeat"
    speed_plan: Callable[[int, torch.Generator], torch.Tensor] | None = None
    epoch: int = field(default=0, init=False)
    _skip: int = field(default=0, init=False, repr=False)
    _seconds: torch.Tensor = field(init=False, repr=False)  # (N,) float64 durations

    def __post_init__(self) -> None:
        if self.max_batch_seconds is None and self.max_batch_size is None:
            raise ValueError("give max_batch_seconds, max_batch_size, or both")
        if self.max_batch_seconds is not None and self.max_batch_seconds <= 0:
            raise ValueError(f"max_batch_seconds must be positive, got {self.max_batch_seconds}")
        if not 0 <= self.rank < self.num_replicas:
            raise ValueError(f"rank {self.rank} is outside [0, {self.num_replicas})")
        if self.even_out not in ("repeat", "empty"):
            raise ValueError(f"even_out must be 'repeat' or 'empty', got {self.even_out!r}")
        if len(self.durations) == 0:
            raise ValueError("DurationBucketSampler needs at least one utterance")
        self._seconds = torch.as_tensor(self.durations, dtype=torch.float64)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def resume(self, epoch: int, batches_done: int) -> None:
        """Continue ``epoch`` after its first ``batches_done`` batches (on this rank)."""
        self.epoch = epoch
        if batches_done >= len(self):  # the epoch was finished: start the next one
            self.epoch, batches_done = epoch + 1, 0
        self._skip = batches_done

    def speeds(self) -> torch.Tensor | None:
        """This epoch's speed factors (None without a ``speed_plan``)."""
        plan = self._augment_plan()
        return None if plan is None else plan[0]

    def _augment_plan(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """This epoch's speed factor and augmentation seed of every item."""
        if self.speed_plan is None:
            return None
        n = len(self._seconds)
        generator = torch.Generator().manual_seed(self.seed + self.epoch + _SPEED_SEED_OFFSET)
        speeds = self.speed_plan(n, generator)
        return speeds, torch.randint(0, 2**62, (n,), generator=generator)

    def _all_batches(self) -> list[list[int]]:
        """Every batch of this epoch, before sharding; identical on every rank."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        n = len(self._seconds)
        speeds = self.speeds()
        durations = self._seconds if speeds is None else self._seconds / speeds
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        buckets = torch.floor(durations[order] / self.bucket_width)
        # stable sort keeps the random order within a bucket
        order = order[torch.sort(buckets, stable=True).indices].tolist()

        batches: list[list[int]] = []
        batch: list[int] = []
        longest = 0.0
        for index in order:
            duration = float(durations[index])
            longest_if_added = max(longest, duration)
            too_long = (
                self.max_batch_seconds is not None
                and (len(batch) + 1) * longest_if_added > self.max_batch_seconds
            )
            too_many = self.max_batch_size is not None and len(batch) >= self.max_batch_size
            if batch and (too_long or too_many):
                batches.append(batch)
                batch, longest_if_added = [], duration
            batch.append(index)
            longest = longest_if_added
        if batch:
            batches.append(batch)

        if self.shuffle:
            permutation = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[i] for i in permutation]
        return batches

    def _shard(self, batches: list[list[int]]) -> list[list[int]]:
        if self.num_replicas == 1:
            return batches
        total = math.ceil(len(batches) / self.num_replicas) * self.num_replicas
        if self.even_out == "empty":
            batches = batches + [[] for _ in range(total - len(batches))]
        elif self.drop_last:
            batches = batches[: len(batches) - len(batches) % self.num_replicas]
        else:
            repeats = math.ceil(total / len(batches))
            batches = (batches * repeats)[:total]
        return batches[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[list[int] | list[AugmentKey]]:
        batches = self._shard(self._all_batches())
        skip, self._skip = self._skip, 0
        plan = self._augment_plan()
        for batch in batches[skip:]:
            if plan is None:
                yield batch
            else:
                speeds, seeds = plan
                yield [AugmentKey(i, float(speeds[i]), int(seeds[i])) for i in batch]

    def __len__(self) -> int:
        return len(self._shard(self._all_batches()))
