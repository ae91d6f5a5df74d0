"""seqrec.data.feature_cache: a frozen front end's features of K augmented renditions
per training clip, computed once, equal to what the front end gives in training."""

import pytest
import torch

from seqrec.data.audio import AudioClassificationDataset, AudioReader
from seqrec.data.augment import WaveformAugment
from seqrec.data.feature_cache import (
    CachedFeatures,
    FeatureBatch,
    _rendition_keys,
    audio_or_cached_features,
)
from seqrec.modules import (
    AudioFrontend,
    ClassifierHead,
    LogMelSpectrogram,
    RecurrentDecoder,
    SequenceModel,
)
from tests.conftest import write_manifest_lines, write_wav


def frozen_frontend() -> AudioFrontend:
    frontend = AudioFrontend(LogMelSpectrogram(n_mels=8), out_dim=8, dither=0.0)
    for p in frontend.parameters():
        p.requires_grad_(False)
    return frontend.eval()


@pytest.fixture
def clips(tmp_path):
    rows = [
        {
            "audio_filepath": str(write_wav(tmp_path / f"{i}.wav", 0.3 + 0.1 * i, seed=i)),
            "duration": 0.3 + 0.1 * i,
            "label": "ab"[i % 2],
            "id": f"c{i}",
        }
        for i in range(5)
    ]
    manifest = write_manifest_lines(tmp_path / "train.jsonl", rows)
    augment = WaveformAugment(16000, speeds=[0.9, 1.0, 1.1], speed_prob=0.5, noise_prob=1.0)
    return manifest, AudioClassificationDataset(
        manifest, ["a", "b"], AudioReader(16000), train=True, augment=augment
    )


def test_each_rendition_holds_the_front_ends_features_of_its_augmented_clip(tmp_path, clips):
    manifest, source = clips
    frontend = frozen_frontend()
    cache = CachedFeatures(source, manifest, frontend, renditions=2, cache_dir=tmp_path / "c")
    assert len(cache) == 10
    for rendition in range(2):
        keys = _rendition_keys(source, rendition, seed=0)
        for i in range(5):
            sample = source[keys[i]]
            expected, n = frontend(sample.waveform[None], torch.tensor([sample.waveform.numel()]))
            got = cache[rendition * 5 + i]
            assert got.id == f"c{i}" and got.target == i % 2
            assert got.features.shape == (n.item(), 8)
            assert torch.allclose(got.features, expected[0, : n.item()], atol=2e-2, rtol=1e-2)
    # the two renditions of a clip are two different augmentations
    assert not torch.equal(cache[0].features[:5], cache[5].features[:5])


def test_the_cache_is_built_once_and_rebuilt_when_an_input_changes(tmp_path, clips):
    manifest, source = clips
    first = CachedFeatures(source, manifest, frozen_frontend(), 2, tmp_path / "c")
    stamp = first.path.stat().st_mtime_ns
    again = CachedFeatures(source, manifest, frozen_frontend(), 2, tmp_path / "c")
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp
    other = CachedFeatures(source, manifest, frozen_frontend(), 3, tmp_path / "c")
    assert other.path != first.path and len(other) == 15
    reseeded = CachedFeatures(source, manifest, frozen_frontend(), 2, tmp_path / "c", seed=1)
    assert reseeded.path != first.path


def test_a_trainable_front_end_is_refused(tmp_path, clips):
    manifest, source = clips
    trainable = AudioFrontend(LogMelSpectrogram(n_mels=8), out_dim=8)
    trainable.register_parameter("gain", torch.nn.Parameter(torch.ones(1)))
    with pytest.raises(ValueError, match="a feature cache needs a frozen front end"):
        CachedFeatures(source, manifest, trainable, 2, tmp_path / "c")


def test_training_reads_features_and_evaluation_reads_audio(tmp_path, clips):
    manifest, _ = clips
    kwargs = {"frontend": frozen_frontend(), "renditions": 2, "cache_dir": tmp_path / "c"}
    train = audio_or_cached_features(manifest, ["a", "b"], AudioReader(16000), train=True, **kwargs)
    test = audio_or_cached_features(manifest, ["a", "b"], AudioReader(16000), **kwargs)
    assert isinstance(train, CachedFeatures) and isinstance(test, AudioClassificationDataset)
    batch = train.collate_fn([train[i] for i in range(4)])
    assert isinstance(batch, FeatureBatch) and batch.after_frontend
    assert batch.inputs.shape[0] == 4 and batch.lengths.max() == batch.inputs.shape[1]


def test_the_model_from_the_front_ends_output_on_is_the_whole_model():
    frontend = frozen_frontend()
    model = SequenceModel(frontend, RecurrentDecoder(8, hidden=4), ClassifierHead(8, 2)).eval()
    audio, lengths = torch.randn(2, 4000), torch.tensor([4000, 2500])
    features, frames = frontend(audio, lengths)
    whole, _ = model(audio, lengths)
    after, _ = model.forward_features(features, frames)
    assert torch.allclose(whole, after, atol=1e-6)


def test_a_front_end_setting_outside_its_weights_names_another_cache(tmp_path, clips):
    manifest, source = clips
    plain = CachedFeatures(source, manifest, frozen_frontend(), 2, tmp_path / "c")
    dithered = frozen_frontend()
    dithered.dither = 1e-3
    assert CachedFeatures(source, manifest, dithered, 2, tmp_path / "c").path != plain.path
