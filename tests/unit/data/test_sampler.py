"""seqrec.data.sampler: duration buckets, the padded-seconds cap, sharding over ranks, the speed
plan and its augment keys."""

from collections import Counter

import pytest
import torch

from seqrec.data.augment import WaveformAugment
from seqrec.data.sampler import AugmentKey, DurationBucketSampler
from tests.conftest import write_wav


def test_ten_minute_recording_without_max_duration_gets_its_own_batch(tmp_path):
    from seqrec.data.sampler import DurationBucketSampler

    batches = list(
        DurationBucketSampler([1.0] * 50 + [600.0], max_batch_seconds=16.0, shuffle=False)
    )
    assert [50] in batches and all(len(b) <= 16 for b in batches)


DURATIONS = [0.5 + (i * 37 % 100) / 20 for i in range(203)]  # 0.5 .. 5.45 s


def padded_seconds(batch):
    return len(batch) * max(DURATIONS[i] for i in batch)


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_utterance_once_and_batches_capped_by_padded_seconds(shuffle):
    sampler = DurationBucketSampler(DURATIONS, max_batch_seconds=20.0, shuffle=shuffle, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(DURATIONS)))
    assert all(padded_seconds(b) <= 20.0 for b in batches)


def test_buckets_keep_similar_durations_together():
    sampler = DurationBucketSampler(DURATIONS, max_batch_seconds=30.0, bucket_width=0.5)
    for batch in sampler:
        spread = max(DURATIONS[i] for i in batch) - min(DURATIONS[i] for i in batch)
        assert spread < 1.0  # one bucket, or the seam between two


def test_utterance_longer_than_cap_gets_its_own_batch():
    sampler = DurationBucketSampler([1.0, 1.0, 9.0], max_batch_seconds=4.0, shuffle=False)
    assert sorted(map(sorted, sampler)) == [[0, 1], [2]]


def test_max_batch_size():
    sampler = DurationBucketSampler(
        [1.0] * 10, max_batch_seconds=100.0, max_batch_size=3, shuffle=False
    )
    assert [len(b) for b in sampler] == [3, 3, 3, 1]


def test_epoch_changes_order_and_seed_makes_it_reproducible():
    a = DurationBucketSampler(DURATIONS, 20.0, seed=1)
    b = DurationBucketSampler(DURATIONS, 20.0, seed=1)
    first = list(a)
    assert first == list(b)
    a.set_epoch(1)
    assert list(a) != first


@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("replicas", [2, 3])
def test_ranks_get_equal_counts_of_disjoint_batches(replicas, drop_last):
    samplers = [
        DurationBucketSampler(
            DURATIONS, 20.0, seed=5, num_replicas=replicas, rank=r, drop_last=drop_last
        )
        for r in range(replicas)
    ]
    for epoch in (0, 1):
        for s in samplers:
            s.set_epoch(epoch)
        shards = [list(s) for s in samplers]
        assert len({len(shard) for shard in shards}) == 1
        assert all(len(s) == len(shards[0]) for s in samplers)
        single = DurationBucketSampler(DURATIONS, 20.0, seed=5)
        single.set_epoch(epoch)
        total = len(list(single))
        seen = [i for shard in shards for b in shard for i in b]
        if drop_last:  # nothing repeated, at most replicas-1 batches dropped
            assert len(seen) == len(set(seen))
            assert sum(len(shard) for shard in shards) > total - replicas
        else:  # everything covered; only the padding batches repeat
            assert set(seen) == set(range(len(DURATIONS)))
            assert sum(len(shard) for shard in shards) - total < replicas
        per_rank = [{i for b in shard for i in b} for shard in shards]
        if drop_last:
            assert all(
                per_rank[a].isdisjoint(per_rank[b])
                for a in range(replicas)
                for b in range(a + 1, replicas)
            )


@pytest.mark.parametrize("replicas", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 50, 203])
def test_evaluation_shards_count_every_utterance_exactly_once(size, replicas):
    """``even_out="empty"``: equal batch counts per rank, and over the ranks each index
    appears once, in the batches one process would make."""
    durations = DURATIONS[:size]
    samplers = [
        DurationBucketSampler(
            durations, 8.0, shuffle=False, num_replicas=replicas, rank=r, even_out="empty"
        )
        for r in range(replicas)
    ]
    shards = [list(s) for s in samplers]
    single = list(DurationBucketSampler(durations, 8.0, shuffle=False))
    per_rank = -(-len(single) // replicas)  # ceil
    assert [len(shard) for shard in shards] == [per_rank] * replicas
    assert [len(s) for s in samplers] == [per_rank] * replicas
    assert Counter(i for shard in shards for b in shard for i in b) == Counter(range(size))
    assert sorted(b for shard in shards for b in shard if b) == sorted(single)
    assert sum(not b for shard in shards for b in shard) == per_rank * replicas - len(single)


def test_training_shards_repeat_batches_to_even_out():
    """The default for training: the padding batches are real ones, repeated."""
    shards = [
        list(DurationBucketSampler([1.0] * 10, 4.0, shuffle=False, num_replicas=2, rank=r))
        for r in (0, 1)
    ]
    assert shards == [[[0, 1, 2, 3], [8, 9]], [[4, 5, 6, 7], [0, 1, 2, 3]]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_batch_seconds"):
        DurationBucketSampler([1.0], 0)
    with pytest.raises(ValueError, match="rank 2"):
        DurationBucketSampler([1.0], 1.0, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="at least one"):
        DurationBucketSampler([], 1.0)
    with pytest.raises(ValueError, match="even_out"):
        DurationBucketSampler([1.0], 1.0, even_out="drop")


def _speed_sampler(**kwargs) -> DurationBucketSampler:
    augment = WaveformAugment(16000, speeds=[0.9, 1.0, 1.1], speed_prob=0.8)
    return DurationBucketSampler(
        DURATIONS, max_batch_seconds=20.0, seed=3, speed_plan=augment.draw_speeds, **kwargs
    )


def test_speed_plan_batches_on_the_lengths_after_perturbation():
    sampler = _speed_sampler()
    speeds = sampler.speeds()
    assert set(speeds.tolist()) == {0.9, 1.0, 1.1}
    batches = list(sampler)
    keys = [key for batch in batches for key in batch]
    assert all(isinstance(key, AugmentKey) for key in keys)
    assert sorted(key.item for key in keys) == list(range(len(DURATIONS)))
    assert all(key.speed == speeds[key.item].item() for key in keys)
    for batch in batches:  # the cap holds on what the model receives
        assert len(batch) * max(DURATIONS[k.item] / k.speed for k in batch) <= 20.0 + 1e-9
    # batching on manifest durations and perturbing afterwards breaks the cap
    plain = DurationBucketSampler(DURATIONS, max_batch_seconds=20.0, seed=3)
    over = [b for b in plain if len(b) * max(DURATIONS[i] / speeds[i].item() for i in b) > 20.0]
    assert len(over) > len(batches) // 4


def test_speed_plan_is_fixed_by_seed_and_epoch_on_every_rank_and_after_resume():
    ranks = [_speed_sampler(num_replicas=2, rank=r) for r in (0, 1)]
    assert torch.equal(ranks[0].speeds(), ranks[1].speeds())
    first = ranks[0].speeds()
    ranks[0].set_epoch(1)
    assert not torch.equal(first, ranks[0].speeds())
    whole = list(_speed_sampler())
    resumed = _speed_sampler()
    resumed.resume(0, 5)
    assert list(resumed) == whole[5:]


def test_an_augment_key_fixes_every_draw_of_the_augmentation(tmp_path):
    write_wav(tmp_path / "n.wav", seconds=3.0, seed=9)
    augment = WaveformAugment(16000, noise_prob=1.0, shift_seconds=0.1, noise_dir=str(tmp_path))
    clean = torch.sin(torch.arange(16000) / 10.0)
    first = [augment(clean.clone(), speed=0.9, seed=seed) for seed in range(6)]
    again = [augment(clean.clone(), speed=0.9, seed=seed) for seed in range(6)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert len({round(float(a.sum()), 4) for a in first}) == 6  # seeds differ, draws differ
    assert all(a.shape[0] == augment.speed_length(16000, 0.9) for a in first)
    keys = [key for batch in _speed_sampler() for key in batch]
    assert len({key.seed for key in keys}) == len(keys)
