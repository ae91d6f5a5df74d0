"""Synthetic speech-to-text corpus: grammar sentences spoken by eSpeak NG.

Sentences come from :mod:`seqrec.synth.sentences`. Training sentences use only the
training share of the vocabulary; validation and test sentences draw from all of it
and never repeat a training sentence, and their voices (eSpeak variants) are never
heard in training. Every utterance also draws an English accent, a speaking rate, a
pitch and a pitch range, a little leading and trailing silence, room reverberation
on a share of utterances, and background noise at a random SNR. Speed perturbation
happens at training time (the dataset's ``augment``).

Besides ``train.jsonl``, ``val.jsonl`` and ``test.jsonl`` (with ``text``), the
corpus holds ``lm_text.txt``: more grammar sentences over the whole vocabulary (none
of them a validation or test sentence) for the n-gram LM and the lexicon of
``decoding=beam_lm`` - the role LibriSpeech's separate LM corpus plays -,
``corpus.json`` with the settings, and ``text_stats.json``: word types per split,
the shares of validation and test word types and words never seen in the training
text, and per split the sentences left out because eSpeak NG crashed on them
(:mod:`seqrec.synth.workers`).
"""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch

from seqrec.data.manifest import write_manifest
from seqrec.synth import acoustics
from seqrec.synth.espeak import ESpeak, split_variants
from seqrec.synth.sentences import (
    SentenceGenerator,
    grammar_fingerprint,
    split_vocabulary,
    zipf_weights,
)
from seqrec.synth.spoken import SPLITS, SpokenCorpus, worker
from seqrec.synth.workers import job_seed

log = logging.getLogger(__name__)


@dataclass(kw_only=True)
class SyntheticSpeech(SpokenCorpus):
    """A synthetic speech-to-text corpus: grammar sentences, each by one voice.

    Args:
        utterances: sentences per split.
        lm_sentences: sentences in ``lm_text.txt``.
        held_out_words: share of each open word class kept out of training text.
        word_frequencies: ``uniform`` (every word of a class equally likely) or
            ``zipf`` (frequency ``1 / rank**zipf_exponent`` within a class, the
            held-out words ranked last: they are the rare words, as in real text).
        zipf_exponent: the exponent of ``zipf``.

    The voice, acoustics and run settings are :class:`SpokenCorpus`'s.
    """

    utterances: dict[str, int] = field(
        default_factory=lambda: {"train": 8000, "val": 200, "test": 300}
    )
    lm_sentences: int = 20000
    held_out_words: float = 0.3
    word_frequencies: str = "uniform"
    zipf_exponent: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.word_frequencies not in ("uniform", "zipf"):
            raise ValueError(
                f"word_frequencies must be 'uniform' or 'zipf', not {self.word_frequencies!r}"
            )
        self.utterances = {split: int(self.utterances[split]) for split in SPLITS}

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "grammar": grammar_fingerprint()}

    def texts(self) -> dict[str, list[str]]:
        """The sentences of each split and of the LM text (deterministic)."""
        train_words, all_words = split_vocabulary(self.held_out_words, self.seed)
        weights = None
        if self.word_frequencies == "zipf":
            weights = zipf_weights(train_words, all_words, self.zipf_exponent, self.seed)
        texts: dict[str, list[str]] = {}
        held_out: set[str] = set()
        for offset, split in enumerate(("test", "val")):
            generate = SentenceGenerator(all_words, self.seed + 1 + offset, weights)
            texts[split] = _distinct(generate, self.utterances[split], held_out)
            held_out.update(texts[split])
        texts["train"] = _distinct(
            SentenceGenerator(train_words, self.seed + 3, weights),
            self.utterances["train"],
            held_out,
        )
        texts["lm"] = _distinct(
            SentenceGenerator(all_words, self.seed + 4, weights), self.lm_sentences, held_out
        )
        return texts

    def jobs(
        self, split: str, texts: list[str], voices: list[str]
    ) -> list[tuple[str, int, str, str, int]]:
        """(split, index, sentence, voice variant, seed) of each utterance of a split:
        the voices take turns, and the seed comes from (corpus seed, split, index)."""
        return [
            (split, k, text, voices[k % len(voices)], job_seed(self.seed, split, k))
            for k, text in enumerate(texts)
        ]

    def synthesise(self, root: Path) -> None:
        texts = self.texts()
        voices = split_variants(self.seed, self.val_voices, self.test_voices)
        jobs = [job for split in SPLITS for job in self.jobs(split, texts[split], voices[split])]
        results, crashed = self.run_in_workers(_speak, jobs, "sentences", "utt", chunksize=8)
        rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
        for split, row in results:
            rows[split].append(row)
        for split, k, text, voice, _ in crashed:
            log.warning(
                "eSpeak NG crashed on %s sentence %d %r (voice variant %s): left out",
                split,
                k,
                text,
                voice,
            )
        for split in SPLITS:
            write_manifest(root / f"{split}.jsonl", sorted(rows[split], key=lambda r: r["id"]))
        (root / "lm_text.txt").write_text("\n".join(texts["lm"]) + "\n", encoding="utf-8")
        for split in SPLITS:  # the statistics of what was written
            texts[split] = [row["text"] for row in rows[split]]
        stats = text_statistics(texts)
        for split in SPLITS:
            stats[f"{split}_left_out"] = self.utterances[split] - len(rows[split])
        (root / "text_stats.json").write_text(json.dumps(stats, indent=2) + "\n")


def text_statistics(texts: dict[str, list[str]]) -> dict[str, float]:
    """Word types per split, and the share of val/test word types and word tokens
    absent from training."""
    types = {split: {w for s in texts[split] for w in s.split()} for split in texts}
    stats: dict[str, float] = {f"{split}_word_types": len(t) for split, t in types.items()}
    for split in ("val", "test"):
        unseen = types[split] - types["train"]
        tokens = [w for s in texts[split] for w in s.split()]
        stats[f"{split}_unseen_type_share"] = round(len(unseen) / len(types[split]), 4)
        stats[f"{split}_unseen_token_share"] = round(
            sum(w in unseen for w in tokens) / len(tokens), 4
        )
    return stats


def _distinct(generate: SentenceGenerator, count: int, exclude: set[str]) -> list[str]:
    """``count`` different sentences, none of them in ``exclude``."""
    sentences: dict[str, None] = {}
    for _ in range(50 * count + 1000):
        if len(sentences) == count:
            return list(sentences)
        sentence = generate()
        if sentence not in exclude:
            sentences[sentence] = None
    raise ValueError(f"the grammar cannot produce {count} distinct sentences")


def _speak(job: tuple[str, int, str, str, int]) -> tuple[str, dict]:
    split, k, text, variant, seed = job
    corpus: SyntheticSpeech = worker["corpus"]
    rng = np.random.default_rng(seed)
    audio, accent, _ = speak(corpus, worker["tts"], worker["resample"], text, variant, rng)
    relative = f"{split}/{variant}/{split}_{k:05d}.wav"
    path = Path(corpus.root) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio, corpus.sample_rate, subtype="PCM_16")
    row = {
        "audio_filepath": relative,
        "duration": round(audio.size / corpus.sample_rate, 4),
        "text": text,
        "speaker": variant,
        "accent": accent,
        "id": f"{split}_{k:05d}",
    }
    return split, row


def speak(
    corpus: SpokenCorpus,
    tts: ESpeak,
    resample: Callable[[torch.Tensor], torch.Tensor],
    text: str,
    variant: str,
    rng: np.random.Generator,
) -> tuple[np.ndarray, str, list[float | None]]:
    """One utterance as the corpus renders it: the waveform at the corpus rate, the
    accent drawn, and for each word of ``text`` (split at spaces) the time in seconds
    at which eSpeak NG began it. eSpeak reports no start for some short words that it
    speaks together with the next one ("on the"); their time is None.
    ``resample`` takes eSpeak's rate to the corpus rate."""
    accent, rate, pitch, pitch_range = corpus.speaking_style(rng)
    raw, words = tts.synthesize_words(text, f"{accent}+{variant}", rate, pitch, pitch_range)
    resampled = resample(torch.from_numpy(raw)).numpy()
    begin, end = acoustics.speech_bounds(resampled)
    speech = resampled[begin:end]
    if speech.size == 0:
        raise RuntimeError(f"eSpeak voice {accent}+{variant} produced silence for {text!r}")
    sr = corpus.sample_rate
    lead, tail = (int(rng.uniform(0.05, 0.3) * sr) for _ in range(2))
    audio = np.concatenate([np.zeros(lead), speech, np.zeros(tail)]).astype(np.float32)
    if rng.random() < corpus.reverb_prob:
        rir = acoustics.room_impulse_response(sr, rng.uniform(0.15, 0.5), rng)
        audio = acoustics.reverberate(audio, rir)
    noise = acoustics.background_noise(audio.size, sr, rng)
    audio = acoustics.mix_at_snr(audio, noise, rng.uniform(*corpus.snr_db))
    audio = (audio / (np.abs(audio).max() + 1e-9) * rng.uniform(0.1, 0.9)).astype(np.float32)
    index, position = {}, 0  # character offset of each word of the text -> its index
    for i, word in enumerate(text.split(" ")):
        index[position] = i
        position += len(word) + 1
    starts: list[float | None] = [None] * len(index)
    for word in words:
        if word.start in index:
            starts[index[word.start]] = (
                lead + max(word.sample * sr / tts.sample_rate - begin, 0)
            ) / sr
    return audio, accent, starts
