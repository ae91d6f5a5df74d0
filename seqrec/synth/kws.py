"""Synthetic voice commands: the 35 Speech Commands words spoken by eSpeak NG.

A *voice* is an eSpeak variant (``m3``, ``f2``, ``klatt4``, ...). Variants are split
three ways, so validation and test clips come from voices never heard in training;
each clip also draws an English accent, a speaking rate, a pitch and a pitch range.
Clips are 1 s at 16 kHz like Speech Commands, with the word at a random position,
room reverberation on a share of them, and background noise at a random SNR.

The corpus is written as wav files plus ``train.jsonl``, ``val.jsonl`` and
``test.jsonl``; a ``_background_noise_`` folder holds long noise recordings for
training-time augmentation. ``corpus_stats.json`` counts the voices and clips of
each split, and names any voice left out because eSpeak NG crashed on it. A
finished corpus is reused when its settings match.
"""

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from seqrec.data.manifest import write_manifest
from seqrec.data.prepared import is_prepared, mark_prepared
from seqrec.data.speech_commands import WORDS_35
from seqrec.synth import acoustics
from seqrec.synth.espeak import (
    ENGLISH_ACCENTS,
    ESpeak,
    init_worker,
    job_seed,
    split_variants,
    worker,
)
from seqrec.synth.workers import run_jobs

SPLITS = ("train", "val", "test")
# Part of the corpus settings: bump it whenever synthesis changes, so a corpus made by
# older code is not reused.
SYNTH_VERSION = 1

log = logging.getLogger(__name__)


@dataclass
class SyntheticCommands:
    """Generate (or reuse) a synthetic keyword-spotting corpus under ``root``.

    Args:
        root: output folder.
        words: the vocabulary.
        clips_per_voice: renditions of each word by each voice, per split.
        val_voices, test_voices: number of held-out variants for each split
            (the remaining variants train).
        max_voices: use at most this many variants in all (None: all of them).
        accents: eSpeak English accents to draw from.
        rate, pitch, pitch_range: ranges (low, high) to draw from.
        reverb_prob: share of clips convolved with a simulated room.
        snr_db: range of background-noise SNRs.
        silence_clips: clips per split of a ``_silence_`` class (0: no such class).
        seed: everything random derives from it.
        num_workers: synthesis processes.
    """

    root: str
    words: Sequence[str] = WORDS_35
    clips_per_voice: dict[str, int] = field(
        default_factory=lambda: {"train": 4, "val": 2, "test": 4}
    )
    val_voices: int = 10
    test_voices: int = 12
    max_voices: int | None = None
    accents: Sequence[str] = ENGLISH_ACCENTS
    rate: Sequence[int] = (120, 230)
    pitch: Sequence[int] = (20, 80)
    pitch_range: Sequence[int] = (20, 90)
    reverb_prob: float = 0.3
    snr_db: Sequence[float] = (10.0, 40.0)
    silence_clips: int = 0
    sample_rate: int = 16000
    clip_seconds: float = 1.0
    seed: int = 0
    num_workers: int = 2

    def __post_init__(self) -> None:
        # accept OmegaConf containers as well as plain Python ones
        self.words = tuple(self.words)
        self.clips_per_voice = {split: int(self.clips_per_voice[split]) for split in SPLITS}
        self.accents = tuple(self.accents)
        self.rate, self.pitch = tuple(self.rate), tuple(self.pitch)
        self.pitch_range, self.snr_db = tuple(self.pitch_range), tuple(self.snr_db)

    def settings(self) -> dict:
        settings = asdict(self)
        for key in ("root", "num_workers"):
            settings.pop(key)
        settings["synth_version"] = SYNTH_VERSION
        return settings

    def voice_split(self) -> dict[str, list[str]]:
        """Variants of each split; disjoint by construction."""
        return split_variants(self.seed, self.val_voices, self.test_voices, self.max_voices)

    def __call__(self) -> Path:
        root = Path(self.root)
        marker = root / "corpus.json"
        settings = self.settings()
        if is_prepared(marker, settings):
            return root
        root.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)

        jobs = []
        for split, voices in self.voice_split().items():
            for voice in voices:
                jobs.append((split, voice, job_seed(self.seed, split, voice)))
        results, crashed = run_jobs(
            _speak_voice, jobs, self.num_workers, init_worker, (self,),
            desc="synthesising voices", unit="voice",
        )  # fmt: skip
        rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
        for split, voice_rows in results:
            rows[split].extend(voice_rows)
        for split, voice, _ in crashed:
            log.warning("eSpeak NG crashed on %s voice variant %s: voice left out", split, voice)
        self._write_extras(root, rows)
        stats = {}
        for split in SPLITS:
            write_manifest(
                root / f"{split}.jsonl", sorted(rows[split], key=lambda r: r["audio_filepath"])
            )
            left_out = sorted(voice for s, voice, _ in crashed if s == split)
            stats[split] = {
                "voices": len({row["speaker"] for row in rows[split] if "speaker" in row}),
                "clips": len(rows[split]),
                "left_out_voices": left_out,
            }
        (root / "corpus_stats.json").write_text(json.dumps(stats, indent=2) + "\n")
        mark_prepared(marker, settings)
        return root

    def _write_extras(self, root: Path, rows: dict[str, list[dict]]) -> None:
        """Background-noise recordings, and ``_silence_`` clips if asked for."""
        rng = np.random.default_rng(self.seed + 1)
        noise_dir = root / "_background_noise_"
        noise_dir.mkdir(exist_ok=True)
        for i in range(6):
            noise = acoustics.background_noise(60 * self.sample_rate, self.sample_rate, rng)
            sf.write(noise_dir / f"noise_{i}.wav", 0.1 * noise, self.sample_rate, subtype="PCM_16")
        length = round(self.clip_seconds * self.sample_rate)
        for split in SPLITS if self.silence_clips else ():
            folder = root / split / "_silence_"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(self.silence_clips):
                noise = acoustics.background_noise(length, self.sample_rate, rng) * rng.uniform(
                    0.001, 0.1
                )
                path = folder / f"silence_{i:04d}.wav"
                sf.write(path, noise, self.sample_rate, subtype="PCM_16")
                rows[split].append(
                    {"audio_filepath": str(path.relative_to(root)), "duration": self.clip_seconds,
                     "label": "_silence_", "id": f"{split}_silence_{i:04d}"}
                )  # fmt: skip


def _speak_voice(job: tuple[str, str, int]) -> tuple[str, list[dict]]:
    split, voice, seed = job
    corpus: SyntheticCommands = worker["corpus"]
    rng = np.random.default_rng(seed)
    root = Path(corpus.root)
    rows = []
    for word in corpus.words:
        folder = root / split / word
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(corpus.clips_per_voice[split]):
            accent = corpus.accents[rng.integers(len(corpus.accents))]
            clip = _render_clip(word, f"{accent}+{voice}", rng)
            name = f"{voice}_{k}.wav"
            sf.write(folder / name, clip, corpus.sample_rate, subtype="PCM_16")
            rows.append(
                {"audio_filepath": f"{split}/{word}/{name}", "duration": corpus.clip_seconds,
                 "label": word, "speaker": voice, "accent": accent, "id": f"{split}_{word}_{voice}_{k}"}
            )  # fmt: skip
    return split, rows


def _render_clip(word: str, voice: str, rng: np.random.Generator) -> np.ndarray:
    corpus: SyntheticCommands = worker["corpus"]
    tts: ESpeak = worker["tts"]
    length = round(corpus.clip_seconds * corpus.sample_rate)
    rate = int(rng.integers(corpus.rate[0], corpus.rate[1] + 1))
    pitch = int(rng.integers(corpus.pitch[0], corpus.pitch[1] + 1))
    pitch_range = int(rng.integers(corpus.pitch_range[0], corpus.pitch_range[1] + 1))
    while True:  # speak faster until the word fits in the clip
        raw = tts.synthesize(word, voice, rate, pitch, pitch_range)
        speech = acoustics.trim_silence(worker["resample"](torch.from_numpy(raw)).numpy())
        if speech.size == 0:
            raise RuntimeError(f"eSpeak voice {voice!r} produced silence for {word!r}")
        if speech.size <= 0.95 * length or rate >= 450:
            break
        rate += 40
    speech = speech[:length]
    start = int(rng.integers(0, length - speech.size + 1))
    clip = np.zeros(length, dtype=np.float32)
    clip[start : start + speech.size] = speech
    if rng.random() < corpus.reverb_prob:
        rir = acoustics.room_impulse_response(corpus.sample_rate, rng.uniform(0.15, 0.6), rng)
        clip = acoustics.reverberate(clip, rir)
    noise = acoustics.background_noise(length, corpus.sample_rate, rng)
    clip = acoustics.mix_at_snr(clip, noise, rng.uniform(*corpus.snr_db))
    return (clip / (np.abs(clip).max() + 1e-9) * rng.uniform(0.1, 0.9)).astype(np.float32)
