"""Room effects for :class:`~seqrec.data.augment.WaveformAugment`: reverberation from
simulated shoebox rooms, and babble from other speech recordings. Both follow the
:class:`~seqrec.data.channel.Effect` contract (float32 (S,) in, the same length out,
randomness from the ``random.Random`` handed in) and build what they draw from lazily,
once per data-worker process.
"""

import importlib
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from seqrec.data.audio import load_audio
from seqrec.data.channel import PEAK_BOUND, Effect, fft_size, keep_level, value_range


class RoomReverb(Effect):
    """Convolve with a room impulse response drawn from a bank of ``rooms`` shoebox rooms
    simulated with pyroomacoustics' image method.

    Each room has dimensions drawn uniformly between ``room_min_m`` and ``room_max_m``
    (metres), walls whose absorption gives an RT60 drawn from ``rt60`` (Sabine), and a
    source and a microphone at least 0.5 m from the walls and from each other. The
    image order is capped at ``max_order`` so that the bank builds in seconds (a
    shorter late tail than the RT60 asks for), and each response is cut to
    ``max_seconds``. Responses start at their direct path, so the word does not move;
    the output keeps the input's RMS. The bank is built from ``seed`` alone: every
    worker builds the same one.
    """

    def __init__(
        self,
        prob: float = 0.5,
        rooms: int = 50,
        rt60: Sequence[float] = (0.2, 0.8),
        room_min_m: Sequence[float] = (3.0, 3.0, 2.4),
        room_max_m: Sequence[float] = (10.0, 8.0, 4.0),
        max_order: int = 17,
        max_seconds: float = 0.5,
        seed: int = 0,
    ) -> None:
        super().__init__(prob)
        try:  # imported again where used: a module would not pickle into worker processes
            importlib.import_module("pyroomacoustics")
        except ImportError as e:
            raise ImportError(
                "RoomReverb simulates rooms with pyroomacoustics, which is not installed: "
                "pip install pyroomacoustics"
            ) from e
        if rooms < 1 or max_order < 0 or max_seconds <= 0:
            raise ValueError(
                f"RoomReverb: rooms must be >= 1, max_order >= 0 and max_seconds > 0, got "
                f"rooms={rooms}, max_order={max_order}, max_seconds={max_seconds}"
            )
        self.rooms = rooms
        self.rt60 = value_range("RoomReverb.rt60", rt60, low=0.05)
        if len(room_min_m) != 3 or len(room_max_m) != 3:
            raise ValueError("RoomReverb: room_min_m and room_max_m must be 3 lengths (metres)")
        for name, lo, hi in zip("xyz", room_min_m, room_max_m, strict=True):
            value_range(f"RoomReverb.room_{name} (room_min_m, room_max_m)", (lo, hi), low=1.5)
        self.room_min_m = tuple(float(v) for v in room_min_m)
        self.room_max_m = tuple(float(v) for v in room_max_m)
        self.max_order = max_order
        self.max_seconds = max_seconds
        self.seed = seed
        self._banks: dict[int, list[torch.Tensor]] = {}  # by sample rate, built on first use

    def bank(self, sample_rate: int) -> list[torch.Tensor]:
        """The impulse responses at ``sample_rate`` (built on first call), each (L,)
        float32 with its direct path, of amplitude 1, at index 0."""
        if sample_rate not in self._banks:
            rng = np.random.default_rng(self.seed)
            self._banks[sample_rate] = [self._simulate(sample_rate, rng) for _ in range(self.rooms)]
        return self._banks[sample_rate]

    def _simulate(self, sample_rate: int, rng: np.random.Generator) -> torch.Tensor:
        pra = importlib.import_module("pyroomacoustics")
        for _ in range(100):
            size = rng.uniform(self.room_min_m, self.room_max_m)
            rt60 = rng.uniform(*self.rt60)
            try:
                absorption, order = pra.inverse_sabine(rt60, size)
            except ValueError:  # a big room cannot decay that fast: draw again
                continue
            source, mic = rng.uniform(0.5, size - 0.5, (2, 3))
            if np.linalg.norm(source - mic) < 0.5:
                continue
            room = pra.ShoeBox(
                size,
                fs=sample_rate,
                materials=pra.Material(absorption),
                max_order=min(order, self.max_order),
            )
            room.add_source(source)
            room.add_microphone(mic)
            room.compute_rir()
            rir = np.asarray(room.rir[0][0], dtype=np.float64)
            direct = int(np.argmax(np.abs(rir)))  # the direct path is the loudest arrival
            rir = rir[direct : direct + round(self.max_seconds * sample_rate)] / rir[direct]
            return torch.from_numpy(rir.astype(np.float32))
        raise ValueError(
            f"RoomReverb: no room in 100 draws fits rt60={self.rt60} with sizes "
            f"{self.room_min_m}..{self.room_max_m} m; widen rt60 or shrink the rooms"
        )

    def __call__(
        self, waveform: torch.Tensor, sample_rate: int, rng: random.Random
    ) -> torch.Tensor:
        rir = rng.choice(self.bank(sample_rate))
        length = waveform.numel()
        size = fft_size(length + rir.numel() - 1)  # no wrap-around onto the kept part
        wet = torch.fft.irfft(torch.fft.rfft(waveform, size) * torch.fft.rfft(rir, size), size)
        return keep_level(wet[:length], waveform)  # the tail past the end is dropped


class Babble(Effect):
    """Add babble: the sum of ``talkers`` (an int range) other speech recordings, each
    at the same level, at an SNR drawn from ``snr_db``.

    The recordings are the ``*.wav`` files under ``folder`` (searched recursively,
    leaving out folders named in ``exclude``), at most ``max_files`` of them picked
    with ``seed``, read on first use and kept in memory (16 kHz mono: 64 kB per
    second). A recording shorter than the waveform is looped. If the mixture's peak
    would exceed :data:`~seqrec.data.channel.PEAK_BOUND` times the input's, the
    whole mixture is scaled down, which keeps the SNR.
    """

    def __init__(
        self,
        folder: str,
        prob: float = 0.5,
        talkers: Sequence[int] = (3, 7),
        snr_db: Sequence[float] = (5.0, 20.0),
        max_files: int = 300,
        exclude: Sequence[str] = ("_silence_", "_background_noise_"),
        seed: int = 0,
    ) -> None:
        super().__init__(prob)
        self.folder = Path(folder)
        low, high = value_range("Babble.talkers", talkers, low=1)
        self.talkers = (int(low), int(high))
        self.snr_db = value_range("Babble.snr_db", snr_db)
        if max_files < 1:
            raise ValueError(f"Babble.max_files must be at least 1, got {max_files}")
        self.max_files = max_files
        self.exclude = tuple(exclude)
        self.seed = seed
        self._speech: dict[int, list[torch.Tensor]] = {}  # by sample rate, read on first use

    def recordings(self, sample_rate: int) -> list[torch.Tensor]:
        """The babble recordings at ``sample_rate``, each (S_i,) at unit RMS."""
        if sample_rate not in self._speech:
            files = [
                path
                for path in sorted(self.folder.rglob("*.wav"))
                if not set(path.relative_to(self.folder).parts[:-1]) & set(self.exclude)
            ]
            if not files:
                raise FileNotFoundError(
                    f"Babble: no .wav files under {self.folder} (outside {list(self.exclude)})"
                )
            files = random.Random(self.seed).sample(files, min(self.max_files, len(files)))
            speech = [load_audio(path, sample_rate) for path in files]
            self._speech[sample_rate] = [
                s / s.pow(2).mean().sqrt().clamp(min=1e-10) for s in speech if s.numel()
            ]
        return self._speech[sample_rate]

    def __call__(
        self, waveform: torch.Tensor, sample_rate: int, rng: random.Random
    ) -> torch.Tensor:
        speech = self.recordings(sample_rate)
        length = waveform.numel()
        babble = torch.zeros(length)
        for index in rng.sample(range(len(speech)), min(rng.randint(*self.talkers), len(speech))):
            talker = speech[index]
            if talker.numel() < length:
                talker = talker.repeat(length // talker.numel() + 1)
            start = rng.randint(0, talker.numel() - length)
            babble += talker[start : start + length]
        snr = rng.uniform(*self.snr_db)
        signal_power = waveform.pow(2).mean().clamp(min=1e-10)
        babble_power = babble.pow(2).mean().clamp(min=1e-10)
        mixed = waveform + babble * torch.sqrt(signal_power / (babble_power * 10 ** (snr / 10)))
        bound = PEAK_BOUND * waveform.abs().max()
        peak = mixed.abs().max()
        return (mixed * (bound / peak) if peak > bound else mixed).to(torch.float32)
