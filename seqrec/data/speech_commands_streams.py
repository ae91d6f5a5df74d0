"""Keyword-spotting evaluation streams from Speech Commands v2's own test clips and
background recordings (``seqrec-streams source=speech_commands root=...``), laid out
and mixed by :class:`seqrec.data.streams.StreamLayout`; the corpus format is
:mod:`seqrec.data.streams`'s.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from tqdm import tqdm

from seqrec.core.waveform import read_soundfile
from seqrec.data import streams as mixer
from seqrec.data.prepared import DatasetLayoutError
from seqrec.data.speech_commands import NOISE_SHARES, WORDS_10

LISTS = {"test": "testing_list.txt", "val": "validation_list.txt"}  # the split's clips


@dataclass(kw_only=True)
class SpeechCommandsStreams:
    """Streams from Speech Commands v2's test clips (or, with ``split="val"``, its
    validation clips), under ``out``.

    Keywords are the ``testing_list.txt`` (``validation_list.txt``) clips of the
    keyword folders; non-keyword speech the listed clips of the other word folders; the
    background the ``_background_noise_`` recordings, only that split's share
    (:data:`~seqrec.data.speech_commands.NOISE_SHARES`: the last 10 % for test, the
    10 % before it for validation), each scaled to
    one level, pieces of them from random offsets end to end. Each clip is trimmed to
    its word (:func:`word_bounds`) with ``pad_seconds`` of its own background either
    side; a clip with no word in it is left out and named in the statistics
    (``skipped_clips``).

    Args:
        root: the extracted ``speech_commands_v0.02`` folder.
        out: where the corpus goes.
        keywords: the keyword folders (the 12-class task's 10 words).
        streams, stream_seconds: how many streams, and the length of each.
        layout: where keywords and speech go (:class:`seqrec.data.streams.StreamLayout`).
        snr_db: (low, high) SNR of each clip against the noise.
        pad_seconds: of each clip's own audio kept either side of its word.
        seed: the clips' order, and everything each stream draws.
        split: ``"test"`` or ``"val"``: which listed clips and noise share.
    """

    sample_rate: ClassVar[int] = 16000  # Speech Commands' own

    root: str
    out: str
    keywords: Sequence[str] = WORDS_10
    streams: int = 12
    stream_seconds: float = 300.0
    layout: mixer.StreamLayout = field(default_factory=mixer.StreamLayout)
    snr_db: Sequence[float] = (5.0, 30.0)
    pad_seconds: float = 0.05
    seed: int = 0
    split: str = "test"

    def __post_init__(self) -> None:
        if self.split not in LISTS:
            raise ValueError(f"split must be one of {', '.join(LISTS)}, got {self.split!r}")
        self.keywords, self.snr_db = mixer.word_list("keywords", self.keywords), tuple(self.snr_db)
        if isinstance(self.layout, Mapping):
            self.layout = mixer.StreamLayout(**self.layout)

    def __call__(self) -> Path:
        settings = {**asdict(self), "root": str(Path(self.root).resolve()), "out": None}
        return mixer.prepare_streams(Path(self.out), settings, self.keywords, self._build)

    def _build(self, out: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        root = Path(self.root)
        keyword_clips, other_clips = self.listed_clips(root)
        noise = self.noise_shares(root)
        order = np.random.default_rng(self.seed)
        skipped: list[str] = []
        keywords, speech = (
            mixer.SegmentQueue(
                self._segments(root, [clips[i] for i in order.permutation(len(clips))], skipped)
            )
            for clips in (keyword_clips, other_clips)
        )
        samples = round(self.stream_seconds * self.sample_rate)
        rows, too_long = [], 0
        for i in tqdm(range(self.streams), desc="mixing streams", unit="stream"):
            rng = np.random.default_rng([self.seed, i])
            background = self._background(noise, samples, rng)
            stream = self.layout.mix(
                background, self.sample_rate, keywords, speech, self.snr_db, rng
            )
            rows.append(mixer.write_stream(out, i, stream, self.sample_rate))
            too_long += stream.too_long
        return rows, {"skipped_clips": sorted(skipped), "speech_too_long": too_long}

    def listed_clips(self, root: Path) -> tuple[list[str], list[str]]:
        """The clips of the split's list (paths relative to ``root``) in the keyword
        folders, and in the other folders."""
        listing = root / LISTS[self.split]
        if not listing.is_file():
            raise DatasetLayoutError(
                f"{root}: no {listing.name}; is this the Speech Commands v2 folder?"
            )
        missing = [word for word in self.keywords if not (root / word).is_dir()]
        if missing:
            raise DatasetLayoutError(f"{root}: keyword folder(s) missing: {', '.join(missing)}")
        keyword_clips, other_clips = [], []
        for number, line in enumerate(listing.read_text().splitlines(), start=1):
            relative = line.strip()
            if not relative:
                continue
            if not (root / relative).is_file():
                raise DatasetLayoutError(f"{listing}:{number}: {root / relative} does not exist")
            (keyword_clips if relative.split("/")[0] in self.keywords else other_clips).append(
                relative
            )
        listed = {clip.split("/")[0] for clip in keyword_clips}
        unlisted = [word for word in self.keywords if word not in listed]
        if unlisted:
            raise DatasetLayoutError(f"{listing}: no clips of keyword(s) {', '.join(unlisted)}")
        if not other_clips:
            raise DatasetLayoutError(
                f"{listing}: no clips outside the keyword folders (the non-keyword speech)"
            )
        return keyword_clips, other_clips

    def noise_shares(self, root: Path) -> list[np.ndarray]:
        """The split's share of every background-noise recording, each at unit RMS."""
        folder = root / "_background_noise_"
        files = sorted(folder.glob("*.wav"))
        if not files:
            raise DatasetLayoutError(f"{folder}: no .wav noise recordings for the background")
        low, high = NOISE_SHARES[self.split]
        shares = []
        for path in files:
            audio, rate = read_soundfile(path)
            if rate != self.sample_rate:
                raise DatasetLayoutError(
                    f"{path}: {rate} Hz, not Speech Commands' {self.sample_rate}"
                )
            share = audio[round(low * audio.shape[0]) : round(high * audio.shape[0])]
            rms = float(np.sqrt(np.mean(np.square(share, dtype=np.float64)))) if share.size else 0.0
            if share.size < rate or rms == 0:
                raise DatasetLayoutError(
                    f"{path}: its {self.split} share ({low:.0%}-{high:.0%}) is shorter than 1 s "
                    "or silent"
                )
            shares.append(share / rms)
        return shares

    def _background(
        self, shares: list[np.ndarray], samples: int, rng: np.random.Generator
    ) -> np.ndarray:
        """Pieces of the noise shares end to end: a random recording from a random
        offset (at least 0.5 s before its end) to its end, then another."""
        fade, shortest = round(0.05 * self.sample_rate), self.sample_rate // 2
        pieces, total = [], 0
        while total < samples + fade:
            share = shares[rng.integers(len(shares))]
            piece = share[rng.integers(0, share.shape[0] - shortest + 1) :]
            pieces.append(piece)
            total += piece.shape[0] - fade
        return mixer.crossfade(pieces, fade)[:samples]

    def _segments(
        self, root: Path, clips: list[str], skipped: list[str]
    ) -> Iterable[mixer.Segment]:
        pad = round(self.pad_seconds * self.sample_rate)
        for relative in clips:
            audio, rate = read_soundfile(root / relative)
            if rate != self.sample_rate:
                raise DatasetLayoutError(f"{root / relative}: {rate} Hz, not {self.sample_rate}")
            segment = mixer.recorded_word(audio, rate, pad, relative.split("/")[0])
            if segment is None:
                skipped.append(relative)
                continue
            yield segment
