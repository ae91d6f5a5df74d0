"""seqrec.data.room: simulated-room reverberation that keeps the direct path in place, and
babble mixed at the SNR drawn from the right recordings."""

import copy
import math
import random
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from seqrec.data.channel import PEAK_BOUND
from seqrec.data.room import Babble, RoomReverb

RATE = 16000


def burst() -> torch.Tensor:
    """White noise from 0.3 s to 0.5 s of a 1 s clip, zeros elsewhere."""
    wave = torch.zeros(RATE)
    wave[4800:8000] = 0.2 * torch.randn(3200, generator=torch.Generator().manual_seed(0))
    return wave


@pytest.fixture(scope="module")
def reverb() -> RoomReverb:
    pytest.importorskip("pyroomacoustics")
    return RoomReverb(prob=1.0, rooms=4, seed=0)


def test_room_reverb_contract(reverb):
    wave = burst()
    out = reverb(wave, RATE, random.Random(0))
    assert out.shape == wave.shape and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert out.abs().max() <= PEAK_BOUND * wave.abs().max() + 1e-6
    assert out.pow(2).mean().item() == pytest.approx(wave.pow(2).mean().item(), rel=1e-4)
    assert torch.equal(out, reverb(wave, RATE, random.Random(0)))
    assert any(not torch.equal(out, reverb(wave, RATE, random.Random(s))) for s in range(1, 5))
    odd = reverb(burst()[:7001], RATE, random.Random(0))
    assert odd.shape == (7001,) and torch.isfinite(odd).all()
    copied = copy.deepcopy(reverb)  # as a spawned data worker gets it, by the pickle protocol
    assert torch.equal(copied(wave, RATE, random.Random(0)), out)


def test_room_reverb_smears_after_the_direct_path_and_moves_nothing(reverb):
    wave = burst()
    for seed in range(4):
        out = reverb(wave, RATE, random.Random(seed))
        energy = out.pow(2).sum()
        assert out[:4790].pow(2).sum() < 1e-6 * energy  # nothing before the sound starts
        assert out[8000:].pow(2).sum() > 0.01 * energy  # a tail after it ends
        size = 1 << 15
        xcorr = torch.fft.irfft(torch.fft.rfft(out, size) * torch.fft.rfft(wave, size).conj(), size)
        lag = int(xcorr.argmax())
        assert min(lag, size - lag) <= 1, lag  # the direct path stays aligned


def test_room_reverb_bank_depends_on_its_seed_only(reverb):
    bank = reverb.bank(RATE)
    assert len(bank) == 4 and all(rir[0] == 1.0 and rir.abs().max() == 1.0 for rir in bank)
    assert all(rir.numel() <= round(0.5 * RATE) for rir in bank)
    again = RoomReverb(rooms=4, seed=0).bank(RATE)
    assert all(torch.equal(a, b) for a, b in zip(bank, again, strict=True))
    other = RoomReverb(rooms=4, seed=1).bank(RATE)
    assert not any(
        a.shape == b.shape and torch.equal(a, b) for a, b in zip(bank, other, strict=True)
    )


def test_room_reverb_without_pyroomacoustics_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyroomacoustics", None)  # import now raises
    with pytest.raises(ImportError, match="pip install pyroomacoustics"):
        RoomReverb()


TONES = (300, 500, 700, 1100, 1300, 1700, 1900, 2300)


def write_talkers(root):
    """One tone per 'talker' under root/<word>/, and a 4 kHz tone in _silence_, which
    babble must leave out. Half the files are shorter than a second (looped)."""
    for i, hz in enumerate(TONES):
        seconds = 0.5 if i % 2 else 1.5
        t = np.arange(round(seconds * RATE)) / RATE
        path = root / f"word{i % 3}" / f"t{hz}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.3 * np.sin(2 * math.pi * hz * t)).astype(np.float32), RATE)
    path = root / "_silence_" / "s.wav"
    path.parent.mkdir(parents=True)
    sf.write(path, (0.3 * np.sin(2 * math.pi * 4000 * np.arange(RATE) / RATE)), RATE)


def tones_in(wave: torch.Tensor) -> set[int]:
    spectrum = torch.fft.rfft(wave).abs()
    return {hz for hz in (*TONES, 4000) if spectrum[hz - 2 : hz + 3].max() > 0.05 * spectrum.max()}


def snr_db(clean: torch.Tensor, noisy: torch.Tensor) -> float:
    return 10 * math.log10(clean.pow(2).mean() / (noisy - clean).pow(2).mean())


def test_babble_mixes_the_drawn_talkers_at_the_drawn_snr(tmp_path):
    write_talkers(tmp_path)
    clean = 0.3 * torch.sin(2 * math.pi * 6000 * torch.arange(RATE) / RATE)
    babble = Babble(str(tmp_path), prob=1.0, talkers=(3, 3), snr_db=(10, 10))
    for seed in range(5):
        out = babble(clean, RATE, random.Random(seed))
        assert out.shape == clean.shape and out.dtype == torch.float32
        assert snr_db(clean, out) == pytest.approx(10.0, abs=0.01)
        assert len(tones_in(out - clean)) == 3 and 4000 not in tones_in(out - clean)
    assert len(babble.recordings(RATE)) == len(TONES)
    ranged = Babble(str(tmp_path), talkers=(3, 7), snr_db=(5, 20))
    snrs = {round(snr_db(clean, ranged(clean, RATE, random.Random(s))), 3) for s in range(6)}
    assert len(snrs) == 6 and all(5 - 0.01 <= s <= 20 + 0.01 for s in snrs)
    counts = {len(tones_in(ranged(clean, RATE, random.Random(s)) - clean)) for s in range(20)}
    assert counts <= set(range(3, 8)) and len(counts) > 1
    out = ranged(clean, RATE, random.Random(0))
    assert torch.equal(out, ranged(clean, RATE, random.Random(0)))
    assert not torch.equal(out, ranged(clean, RATE, random.Random(1)))


def test_babble_subset_bound_and_errors(tmp_path):
    write_talkers(tmp_path)
    few = Babble(str(tmp_path), max_files=2, talkers=(3, 7), snr_db=(-10, -10))
    assert len(few.recordings(RATE)) == 2
    quiet = 0.01 * torch.sin(2 * math.pi * 6000 * torch.arange(RATE) / RATE)
    out = few(quiet, RATE, random.Random(0))
    assert out.abs().max() <= PEAK_BOUND * quiet.abs().max() + 1e-6  # scaled down, SNR kept
    scale = (out @ quiet) / (quiet @ quiet)  # the babble tones are orthogonal to the 6 kHz one
    assert scale < 1 and snr_db(scale * quiet, out) == pytest.approx(-10.0, abs=0.05)
    with pytest.raises(FileNotFoundError, match=r"no .wav files under"):
        Babble(str(tmp_path / "missing"))(quiet, RATE, random.Random(0))
    with pytest.raises(ValueError, match=r"Babble.talkers"):
        Babble(str(tmp_path), talkers=(0, 3))
