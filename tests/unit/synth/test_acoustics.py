"""seqrec.synth.acoustics: coloured noise, mixing at an SNR, trimming, reverberation."""

import numpy as np
import pytest

from seqrec.synth import acoustics


def test_acoustics():
    rng = np.random.default_rng(0)
    for exponent in (0.0, 1.0, 2.0):
        noise = acoustics.colored_noise(16000, exponent, rng)
        assert np.sqrt(np.mean(noise**2)) == pytest.approx(1.0, rel=1e-3)
    pink = np.abs(np.fft.rfft(acoustics.colored_noise(1 << 15, 1.0, rng))) ** 2
    assert pink[100:200].mean() > 5 * pink[5000:6000].mean()  # power falls with frequency
    speech = np.sin(np.linspace(0, 300, 8000)).astype(np.float32)
    mixed = acoustics.mix_at_snr(speech, acoustics.colored_noise(8000, 0.0, rng), 20.0)
    snr = 10 * np.log10(np.mean(speech**2) / np.mean((mixed - speech) ** 2))
    assert snr == pytest.approx(20.0, abs=1e-3)
    padded = np.concatenate([np.zeros(1000), speech, np.zeros(1000)]).astype(np.float32)
    assert abs(acoustics.trim_silence(padded, margin=0).size - speech.size) < 50
    rir = acoustics.room_impulse_response(16000, 0.3, rng)
    assert rir.size == 4800 and acoustics.reverberate(speech, rir).shape == speech.shape
