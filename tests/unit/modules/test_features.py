"""seqrec.modules.features: frontend batch invariance, eval dither, SpecAugment, VTLP
and PCEN (with its ONNX export)."""

import copy
import math

import numpy as np
import pytest
import torch
import torchaudio
from hydra.utils import instantiate

from seqrec.data.batch import pad_sequences
from seqrec.modules import MFCC, AudioFrontend, LogMelSpectrogram, SpecAugment
from seqrec.modules.features import PCEN, pcen_smooth, vtlp_warp
from tests.conftest import make_config
from tests.helpers import assert_batch_invariant, waveforms


@pytest.mark.parametrize("featurizer", [LogMelSpectrogram(n_mels=40), MFCC(n_mfcc=13, n_mels=40)])
def test_frontend_batch_invariance(featurizer):
    frontend = AudioFrontend(featurizer, spec_augment=SpecAugment())
    out, lengths = assert_batch_invariant(frontend, waveforms(16000, 9000, 2500, 401))
    assert out.shape == (4, 97, featurizer.out_dim)
    assert lengths.tolist() == [97, 54, 13, 1]
    assert lengths.dtype == torch.int64


@pytest.mark.parametrize("n_mels, win_ms", [(40, 25.0), (80, 32.0)])
def test_mel_energies_are_torchaudios(n_mels, win_ms):
    """The power spectrum taken as re^2 + im^2 gives torchaudio's MelSpectrogram."""
    featurizer = LogMelSpectrogram(n_mels=n_mels, win_ms=win_ms)
    audio = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 12000))).float()
    energies, _ = featurizer.energies(audio, torch.tensor([12000, 12000]))
    reference = torchaudio.transforms.MelSpectrogram.forward  # its own abs().pow(2)
    expected = reference(featurizer.mel, audio).transpose(1, 2)
    assert energies.shape == expected.shape
    torch.testing.assert_close(energies, expected, rtol=1e-5, atol=1e-6 * float(expected.max()))


def test_eval_dither_is_deterministic_and_keeps_silence_finite():
    frontend = AudioFrontend(LogMelSpectrogram(n_mels=40), normalize=False).eval()
    silence = torch.zeros(1, 16000)
    a, _ = frontend(silence, torch.tensor([16000]))
    b, _ = frontend(silence, torch.tensor([16000]))
    assert torch.equal(a, b)
    assert torch.isfinite(a).all() and a.min() > -20  # log floor, not log(0)


def test_spec_augment_masks_only_in_training_and_inside_lengths():
    torch.manual_seed(0)
    aug = SpecAugment(freq_masks=2, freq_width=5, time_masks=2, time_width=0.2)
    x, lengths = torch.ones(8, 50, 20), torch.tensor([50, 40, 30, 20, 10, 5, 2, 1])
    aug.eval()
    assert torch.equal(aug(x, lengths)[0], x)
    aug.train()
    y, _ = aug(x, lengths)
    assert (y == 0).any()
    for i, n in enumerate(lengths.tolist()):  # each utterance keeps >= 60 % of its frames
        assert (y[i, :n].sum(-1) > 0).float().mean() >= 0.6 - 1e-6


# --- VTLP ------------------------------------------------------------------------------


def sine(hz: float, seconds: float = 1.0, rate: int = 16000) -> torch.Tensor:
    t = torch.arange(round(seconds * rate)) / rate
    return 0.5 * torch.sin(2 * math.pi * hz * t).unsqueeze(0)  # (1, S)


def mel_peak(featurizer: LogMelSpectrogram, wave: torch.Tensor) -> int:
    feats, _ = featurizer(wave, torch.tensor([wave.shape[1]]))
    return int(feats[0].mean(0).argmax())


@pytest.mark.parametrize("featurizer", [LogMelSpectrogram, MFCC])
def test_vtlp_in_eval_mode_is_bit_identical_to_no_vtlp(featurizer):
    plain = AudioFrontend(featurizer(n_mels=40)).eval()
    warped = AudioFrontend(featurizer(n_mels=40, vtlp=[0.9, 1.1])).eval()
    audio, lengths = torch.randn(3, 16000), torch.tensor([16000, 9000, 300])
    assert torch.equal(plain(audio, lengths)[0], warped(audio, lengths)[0])
    assert warped.state_dict().keys() == plain.state_dict().keys()  # old checkpoints load


def test_vtlp_of_one_is_the_plain_filterbank():
    """The per-utterance filterbank at alpha = 1 reproduces torchaudio's."""
    audio, lengths = torch.randn(2, 16000), torch.tensor([16000, 8000])
    fbank = LogMelSpectrogram(n_mels=40, vtlp=[1.0, 1.0])
    expected, _ = fbank.eval()(audio, lengths)
    got, _ = fbank.train()(audio, lengths)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)
    assert not torch.allclose(
        got, LogMelSpectrogram(n_mels=40, vtlp=[1.1, 1.1]).train()(audio, lengths)[0]
    )


@pytest.mark.parametrize("alpha", [0.9, 1.1])
@pytest.mark.parametrize("hz", [1000.0, 6000.0])  # below and above the boundary frequency
def test_vtlp_moves_a_sine_to_the_warped_frequency(alpha, hz):
    """Content at f moves to the paper's f'(f): up for alpha > 1, down for alpha < 1,
    into the mel band whose centre is nearest f'."""
    fbank = LogMelSpectrogram(n_mels=80, vtlp=[alpha, alpha])
    before = mel_peak(fbank.eval(), sine(hz))
    after = mel_peak(fbank.train(), sine(hz))
    assert (after > before) if alpha > 1 else (after < before)
    target = float(vtlp_warp(torch.tensor([hz]), torch.tensor([alpha]), 4800.0, 8000.0))
    centres = fbank.mel_points_hz[1:-1]
    assert after == int((centres - target).abs().argmin())
    if hz < 4000:  # below the boundary: f' = alpha f
        assert target == pytest.approx(alpha * hz)
    else:  # above it: on the line to the Nyquist frequency, so moved less than alpha f
        assert min(hz, alpha * hz) < target < max(hz, alpha * hz)


def test_vtlp_warp_is_the_papers_piecewise_linear_map():
    freqs = torch.linspace(0, 8000, 801)
    alpha = torch.tensor([0.9, 1.0, 1.1])
    warped = vtlp_warp(freqs, alpha, 4800.0, 8000.0)  # (3, 801)
    assert warped.shape == (3, 801)
    torch.testing.assert_close(warped[:, [0, -1]], torch.tensor([[0.0, 8000.0]] * 3))
    torch.testing.assert_close(warped[1], freqs)
    assert (warped.diff(dim=1) > 0).all()  # monotonic: no two bins swap
    # below the boundary 4800 min(a, 1) / a it scales by a: 4800 for 0.9, 4363.6 for 1.1
    torch.testing.assert_close(warped[0, freqs <= 4800], 0.9 * freqs[freqs <= 4800])
    torch.testing.assert_close(warped[2, freqs <= 4363], 1.1 * freqs[freqs <= 4363])
    # and continues as a straight line to the Nyquist frequency: 4800 -> 5700 at 6000 Hz
    assert float(vtlp_warp(torch.tensor([6000.0]), alpha[2:], 4800.0, 8000.0)) == pytest.approx(
        8000 - (8000 - 4800) / (8000 - 4800 / 1.1) * 2000
    )


def test_vtlp_is_seeded_per_utterance_and_keeps_shapes():
    frontend = AudioFrontend(LogMelSpectrogram(n_mels=40, vtlp=[0.9, 1.1]), dither=0).train()
    wave = 0.1 * torch.randn(1, 16000, generator=torch.Generator().manual_seed(1))
    audio, lengths = wave.repeat(3, 1), torch.tensor([16000, 16000, 7000])
    runs = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        runs.append(frontend(audio, lengths))
    assert torch.equal(runs[0][0], runs[1][0])
    assert not torch.equal(runs[0][0], runs[2][0])
    feats, out_lengths = runs[0]
    assert feats.shape == (3, 97, 40) and out_lengths.tolist() == [97, 97, 41]
    assert not torch.allclose(feats[0], feats[1])  # a factor of its own per utterance
    assert (feats[2, 41:] == 0).all()


def test_vtlp_settings_are_checked():
    with pytest.raises(ValueError, match="vtlp must be"):
        LogMelSpectrogram(vtlp=[1.1, 0.9])
    with pytest.raises(ValueError, match=r"vtlp_boundary_hz=4800\.0"):
        LogMelSpectrogram(sample_rate=8000, vtlp=[0.9, 1.1])
    assert LogMelSpectrogram(sample_rate=8000, vtlp=[0.9, 1.1], vtlp_boundary_hz=2400).vtlp


# --- PCEN ------------------------------------------------------------------------------


def pcen_by_loop(energies, s=0.025, alpha=0.98, delta=2.0, r=0.5, eps=1e-6):
    """The recursion frame by frame in float64: the reference for the closed form."""
    energies = energies.double()
    smooth = torch.empty_like(energies)
    smooth[:, 0] = energies[:, 0]
    for t in range(1, energies.shape[1]):
        smooth[:, t] = (1 - s) * smooth[:, t - 1] + s * energies[:, t]
    return smooth, (energies / (eps + smooth) ** alpha + delta) ** r - delta**r


def test_pcen_closed_form_equals_the_recursion_up_to_3000_frames():
    generator = torch.Generator().manual_seed(0)
    # energies over nine decades, loud and near-silent stretches, as speech gives
    level = torch.logspace(-6, 3, 3000)[torch.randperm(3000, generator=generator)]
    energies = torch.rand(2, 3000, 8, generator=generator) * level[None, :, None]
    smooth, expected = pcen_by_loop(energies)
    for frames in (3000, 1, 63, 64, 65):  # whole blocks of 64, and not
        got = pcen_smooth(energies[:, :frames], 0.025)
        assert ((got.double() - smooth[:, :frames]).abs() / smooth[:, :frames]).max() < 1e-5
    y, lengths = PCEN()(energies, torch.tensor([3000, 3000]))
    assert (y.double() - expected).abs().max() < 1e-5
    assert lengths.tolist() == [3000, 3000]


def test_pcen_frontend_is_batch_invariant_and_finite():
    frontend = AudioFrontend(
        LogMelSpectrogram(n_mels=40), normalize="pcen", spec_augment=SpecAugment()
    )
    out, lengths = assert_batch_invariant(frontend, waveforms(16000, 9000, 2500, 401))
    assert out.shape == (4, 97, 40) and lengths.tolist() == [97, 54, 13, 1]
    assert torch.isfinite(out).all() and out[0].std() > 0.01
    silence, _ = frontend(torch.zeros(1, 16000), torch.tensor([16000]))
    # dither's noise floor sits below eps: digital silence comes out near PCEN's zero
    assert torch.isfinite(silence).all() and silence.min() >= 0
    assert silence.mean() < 0.15 * out[0].mean()


def test_pcen_is_almost_level_invariant_unlike_log_mel():
    """What PCEN is for: 20 dB louder moves it by under 10 %, log-mel by 245 % here."""
    wave = waveforms(16000)[0].unsqueeze(0)
    pcen = AudioFrontend(LogMelSpectrogram(n_mels=40), normalize="pcen").eval()
    raw = AudioFrontend(LogMelSpectrogram(n_mels=40), normalize="none").eval()
    n = torch.tensor([16000])
    pcen_change = (pcen(10 * wave, n)[0] - pcen(wave, n)[0]).abs().mean()
    raw_change = (raw(10 * wave, n)[0] - raw(wave, n)[0]).abs().mean()
    assert raw_change == pytest.approx(math.log(100), rel=1e-3)
    assert raw_change > 1.0 * raw(wave, n)[0].abs().mean()
    assert pcen_change < 0.1 * pcen(wave, n)[0].abs().mean()


def test_normalize_choices():
    audio, lengths = torch.randn(2, 16000), torch.tensor([16000, 9000])

    def features(normalize):
        return AudioFrontend(LogMelSpectrogram(n_mels=40), normalize=normalize).eval()(
            audio, lengths
        )[0]

    assert torch.equal(features(True), features("cmvn"))
    assert torch.equal(features(False), features("none"))
    assert not torch.allclose(features("cmvn"), features("none"))
    torch.testing.assert_close(features("pcen"), features(PCEN(40)))
    for bad, message in [("log", "normalize='log'"), (3, "not a PCEN")]:
        with pytest.raises(ValueError, match=message):
            AudioFrontend(LogMelSpectrogram(n_mels=40), normalize=bad)
    with pytest.raises(ValueError, match="not MFCC"):
        AudioFrontend(MFCC(n_mfcc=13, n_mels=40), normalize="pcen")
    with pytest.raises(ValueError, match="PCEN has 20 channels"):
        AudioFrontend(LogMelSpectrogram(n_mels=40), normalize=PCEN(20))


def test_trainable_pcen_learns_per_channel_parameters():
    fixed, learnt = PCEN(40), PCEN(40, trainable=True)
    assert list(fixed.parameters()) == []
    assert sorted(name for name, _ in learnt.named_parameters()) == [
        "log_alpha",
        "log_delta",
        "log_r",
    ]
    frontend = AudioFrontend(LogMelSpectrogram(n_mels=40), normalize=learnt).train()
    feats, _ = frontend(torch.randn(2, 16000), torch.tensor([16000, 9000]))
    feats.square().mean().backward()
    for parameter in learnt.parameters():
        assert parameter.shape == (40,)
        assert torch.isfinite(parameter.grad).all() and parameter.grad.abs().sum() > 0
    assert fixed.log_alpha.exp().tolist() == pytest.approx([0.98] * 40)


def test_pcen_exports_to_onnx_and_agrees_with_torch(tmp_path):
    """The frontend as seqrec-export builds it (MelByMatmul), through the dynamo
    exporter at opset 18 with dynamic batch and time, against PyTorch within 1e-4 on
    lengths from one frame to 20 s, alone and batched (the trace sees 2 blocks of 64
    frames, the file must work for any number)."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from seqrec.export import OPSET, MelByMatmul

    frontend = AudioFrontend(LogMelSpectrogram(n_mels=40), normalize="pcen").eval()
    graph = copy.deepcopy(frontend)
    graph.featurizer.mel = MelByMatmul(graph.featurizer.mel)
    audio, lengths = 0.1 * torch.randn(2, 16000), torch.tensor([16000, 9600])
    batch, samples = torch.export.Dim("batch"), torch.export.Dim("samples", min=512)
    with torch.no_grad():
        program = torch.onnx.export(
            FeaturesOnly(graph).eval(),
            (audio, lengths),
            dynamo=True,
            dynamic_shapes={"audio": {0: batch, 1: samples}, "lengths": {0: batch}},
            opset_version=OPSET,
            external_data=False,
            verbose=False,
        )
    program.save(str(tmp_path / "pcen.onnx"))
    session = ort.InferenceSession(str(tmp_path / "pcen.onnx"), providers=["CPUExecutionProvider"])
    # 1, 7, 64 (one whole smoother block), 97, 128 (two) and 1997 frames
    items = waveforms(512, 1600, 10592, 16000, 20832, 320000)
    for batch_items in [[item] for item in items] + [items]:
        padded, n = pad_sequences(batch_items)
        with torch.no_grad():
            expected, expected_lengths = frontend(padded, n)
        got, got_lengths = session.run(None, {"audio": padded.numpy(), "lengths": n.numpy()})
        assert got.shape == expected.shape and (got_lengths == expected_lengths.numpy()).all()
        assert np.abs(got - expected.numpy()).max() < 1e-4


class FeaturesOnly(torch.nn.Module):
    """A frontend as an export graph: its lengths output a tensor of its own."""

    def __init__(self, frontend: AudioFrontend) -> None:
        super().__init__()
        self.frontend = frontend

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor):
        feats, out_lengths = self.frontend(audio, lengths)
        return feats, out_lengths + 0


# --- SpecAugment -----------------------------------------------------------------------


def test_strong_spec_augment_on_a_one_second_clip():
    """2 x 15 bins and 4 x 0.1 of the frames on 97 frames of 40 mels (issue 16)."""
    torch.manual_seed(0)
    aug = SpecAugment(freq_masks=2, freq_width=15, time_masks=4, time_width=0.1).train()
    x, lengths = torch.ones(64, 97, 40), torch.full((64,), 97)
    y, out_lengths = aug(x, lengths)
    assert y.shape == x.shape and torch.equal(out_lengths, lengths)
    masked_bins = (y.sum(1) == 0).sum(1)  # (B,) bins masked in every frame
    masked_frames = (y.sum(2) == 0).sum(1)  # (B,) frames masked in every bin
    assert masked_bins.max() <= 30 and masked_bins.float().mean() > 8
    assert masked_frames.max() <= 4 * 9 and masked_frames.float().mean() > 4


def test_logmel_pcen_preset_builds_a_pcen_frontend(tmp_path):
    """conf/frontend/logmel_pcen.yaml: logmel.yaml with normalize: pcen, VTLP on top."""
    overrides = ["experiment=kws_synthetic", "frontend=logmel_pcen"]
    cfg = make_config(tmp_path, [*overrides, "+frontend.featurizer.vtlp=[0.9,1.1]"])
    frontend = instantiate(cfg.frontend)
    assert frontend.normalize == "pcen" and isinstance(frontend.pcen, PCEN)
    assert frontend.featurizer.vtlp == (0.9, 1.1) and frontend.spec_augment is not None
    feats, lengths = frontend.eval()(torch.randn(1, 16000), torch.tensor([16000]))
    assert feats.shape == (1, 97, 40) and lengths.tolist() == [97]
