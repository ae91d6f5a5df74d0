"""Acoustic simulation for synthetic corpora: noise colours, room reverberation,
mixing at an SNR and silence trimming. numpy only, seeded by the caller."""

import numpy as np


def colored_noise(length: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise with power spectrum ~ 1 / f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    freqs = np.fft.rfftfreq(length)
    freqs[0] = freqs[1] if length > 1 else 1.0
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n=length)
    return (noise / (np.sqrt(np.mean(noise**2)) + 1e-12)).astype(np.float32)


def hum(length: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Mains-like hum: a 50 or 60 Hz fundamental with decaying harmonics, unit RMS."""
    t = np.arange(length) / sample_rate
    f0 = rng.choice([50.0, 60.0])
    wave = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 8))
    wave = wave + 0.3 * colored_noise(length, 1.0, rng)
    return (wave / np.sqrt(np.mean(wave**2))).astype(np.float32)


def background_noise(length: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """One of: white, pink, brown, a random spectral tilt, or hum; unit RMS."""
    kind = rng.integers(5)
    if kind == 4:
        return hum(length, sample_rate, rng)
    exponent = (0.0, 1.0, 2.0, rng.uniform(-0.5, 2.5))[kind]
    return colored_noise(length, exponent, rng)


def room_impulse_response(sample_rate: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Exponentially decaying noise with a direct path: a simple diffuse-room model."""
    length = int(rt60 * sample_rate)
    t = np.arange(length) / sample_rate
    rir = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    rir[0] = 1.0 / rng.uniform(0.3, 1.0)  # direct-to-reverberant ratio varies
    return (rir / np.sqrt(np.sum(rir**2))).astype(np.float32)


def reverberate(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """Convolve and keep the original length (the tail past it is dropped)."""
    n = len(audio) + len(rir) - 1
    size = 1 << (n - 1).bit_length()
    wet = np.fft.irfft(np.fft.rfft(audio, size) * np.fft.rfft(rir, size), size)[: len(audio)]
    return wet.astype(np.float32)


def mix_at_snr(speech: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    speech_power = np.mean(speech**2) + 1e-12
    noise_power = np.mean(noise**2) + 1e-12
    return speech + noise * np.sqrt(speech_power / (noise_power * 10 ** (snr_db / 10)))


def trim_silence(audio: np.ndarray, threshold_db: float = -40.0, margin: int = 160) -> np.ndarray:
    """Cut leading and trailing samples quieter than ``threshold_db`` below the peak."""
    start, end = speech_bounds(audio, threshold_db, margin)
    return audio[start:end]


def speech_bounds(
    audio: np.ndarray, threshold_db: float = -40.0, margin: int = 160
) -> tuple[int, int]:
    """(start, end) of what :func:`trim_silence` keeps; (0, 0) if nothing.

    >>> speech_bounds(np.array([0.0, 0.0, 0.5, 1.0, 0.0]), margin=0)
    (2, 4)
    """
    if audio.size == 0:
        return 0, 0
    threshold = np.abs(audio).max() * 10 ** (threshold_db / 20)
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if loud.size == 0:
        return 0, 0
    return max(int(loud[0]) - margin, 0), int(loud[-1]) + margin + 1
