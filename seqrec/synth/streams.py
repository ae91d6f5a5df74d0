"""Synthetic keyword-spotting streams: long recordings with keywords at known times,
spoken by the keyword corpus's test voices (or, with ``split="val"``, its validation
voices: streams to tune on, such as the per-keyword calibration of
``seqrec-eval-stream``).

Only the eSpeak variants that :class:`~seqrec.synth.kws.SyntheticCommands` holds out
for that split speak here (:func:`~seqrec.synth.espeak.split_variants` with the
same seed, ``val_voices``, ``test_voices`` and ``max_voices``), so no stream voice is
heard in training. Each voice speaks every keyword a few times, and non-keyword
speech: grammar sentences (:mod:`seqrec.synth.sentences`) with none of the keywords
as a word, and isolated distractor words (by default the other 25 Speech Commands
words). Every segment draws an accent, rate, pitch and pitch range, and a share of
them a simulated room. The background is fresh noise from
:func:`~seqrec.synth.acoustics.background_noise`, drawn from this corpus's own seed
(not the training noise files), its kind changing every 20-60 s.
:class:`~seqrec.data.streams.StreamLayout` places the segments and mixes each stream;
the corpus format is :mod:`seqrec.data.streams`'s.

Synthesis runs in a pool that survives eSpeak NG crashes (:mod:`seqrec.synth.workers`),
one job per voice; a voice that crashes is left out and named in
``streams_stats.json``. The voices' segments are then shuffled together and drawn in
order by the streams, so every stream hears many voices. The default, 12 streams of
300 s (1 hour), takes under 50 s of CPU time (under two minutes on 2 busy cores).
"""

import hashlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from tqdm import tqdm

from seqrec.core.resampling import check_sample_rate, resample
from seqrec.core.waveform import read_soundfile
from seqrec.data.manifest import MISSING_FILE, ManifestError, read_manifest
from seqrec.data.speech_commands import WORDS_10, WORDS_35
from seqrec.data.streams import (
    Segment,
    SegmentQueue,
    StreamLayout,
    crossfade,
    prepare_streams,
    recorded_word,
    word_bounds,
    word_list,
    write_stream,
)
from seqrec.synth import acoustics
from seqrec.synth.espeak import split_variants
from seqrec.synth.sentences import SentenceGenerator, grammar_fingerprint, vocabulary
from seqrec.synth.spoken import SpokenCorpus, worker
from seqrec.synth.workers import job_seed

# mean spoken length of a grammar sentence and of an isolated word at the default
# rates (measured: 2.3 s and 0.4 s), for how much speech to synthesise
SENTENCE_SECONDS, WORD_SECONDS = 2.3, 0.4


@dataclass(kw_only=True)
class SyntheticStreams(SpokenCorpus):
    """Streams of eSpeak NG speech under ``root``: calling it synthesises them unless
    ``root/streams.json`` records the same settings, and returns ``root``.

    Args:
        keywords: the words labelled as keywords.
        distractors: isolated non-keyword words (None: the 35 Speech Commands words
            less the keywords).
        distractor_share: share of the non-keyword speech segments that are
            distractor words; the rest are sentences.
        streams, stream_seconds: how many streams, and the length of each.
        layout: where keywords and speech go, and the noise level.
        split: whose voices speak: the keyword corpus's ``"test"`` voices, or its
            ``"val"`` ones.
        voice_seed, max_voices: with ``val_voices`` and ``test_voices``, the keyword
            corpus's voice split (its ``seed`` and ``max_voices``).
        pad_seconds: silence either side of each spoken segment (and its room's
            reverberation tail after it); for a ``keyword_manifest`` recording, its
            own audio kept either side of its word.
        keyword_manifest: a classification manifest (JSON lines with
            ``audio_filepath`` and ``label``) whose recordings are the keywords, such
            as real people saying them (``seqrec-fsdd``'s digits): every line labelled
            with one of ``keywords`` becomes a keyword segment, resampled to
            ``sample_rate`` and cut to its word (:func:`word_bounds`) with
            ``pad_seconds`` of its own audio either side; lines of other labels are
            counted and left out. The eSpeak NG voices then speak only the non-keyword
            speech. Each recording is used at most once, in a seeded random order; the
            statistics count the recordings the streams had no room for
            (``keyword_recordings_unused``), and the recordings with no word found in
            them (``skipped_recordings``). None (default): eSpeak NG speaks the
            keywords too.

    ``seed`` fixes the texts, speaking styles, rooms, noise and layout; ``snr_db`` is
    each segment's SNR against the noise. The other voice settings are
    :class:`~seqrec.synth.spoken.SpokenCorpus`'s.
    """

    synth_version: ClassVar[int] = 1

    keywords: Sequence[str] = WORDS_10
    distractors: Sequence[str] | None = None
    distractor_share: float = 0.3
    streams: int = 12
    stream_seconds: float = 300.0
    layout: StreamLayout = field(default_factory=StreamLayout)
    rate: Sequence[int] = (120, 230)
    snr_db: Sequence[float] = (5.0, 30.0)
    split: str = "test"
    voice_seed: int = 0
    max_voices: int | None = None
    pad_seconds: float = 0.05
    keyword_manifest: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.split not in ("val", "test"):
            raise ValueError(f"split must be 'val' or 'test', got {self.split!r}")
        self.keywords = word_list("keywords", self.keywords)
        if self.distractors is None:
            self.distractors = tuple(w for w in WORDS_35 if w not in self.keywords)
        self.distractors = word_list("distractors", self.distractors) if self.distractors else ()
        if isinstance(self.layout, Mapping):
            self.layout = StreamLayout(**self.layout)
        both = sorted(set(self.distractors) & set(self.keywords))
        if both:
            raise ValueError(f"distractors must not be keywords: {', '.join(both)}")
        if not 0 <= self.distractor_share <= 1 or (self.distractor_share and not self.distractors):
            raise ValueError("distractor_share must lie in [0, 1], and needs distractors when > 0")

    def settings(self) -> dict[str, Any]:
        settings = {**super().settings(), "grammar": grammar_fingerprint()}
        if self.keyword_manifest is not None:  # the recordings, by content
            manifest = Path(self.keyword_manifest).resolve()
            if not manifest.is_file():
                raise ManifestError(f"{manifest}: keyword manifest not found", MISSING_FILE)
            settings["keyword_manifest"] = {
                "path": str(manifest),
                "sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
            }
        return settings

    def voices(self) -> list[str]:
        """The keyword corpus's voices of ``split``: the only ones that speak here."""
        return split_variants(self.voice_seed, self.val_voices, self.test_voices, self.max_voices)[
            self.split
        ]

    def jobs(self) -> list[tuple[str, list[str], list[str], int]]:
        """(voice, keyword texts, non-keyword texts, seed) of each voice: enough
        keywords for the most the streams can hold, and speech for about their capacity
        (:meth:`~seqrec.data.streams.StreamLayout.speech_capacity`)."""
        voices = self.voices()
        most = self.streams * self.layout.most_keywords(self.stream_seconds)
        renditions = math.ceil(most / (len(voices) * len(self.keywords)))
        share = self.distractor_share
        segment_seconds = share * WORD_SECONDS + (1 - share) * SENTENCE_SECONDS
        capacity = self.streams * self.layout.speech_capacity(self.stream_seconds)
        per_voice = math.ceil(capacity / segment_seconds / len(voices))
        rng = np.random.default_rng(job_seed(self.seed, "texts"))
        is_word = rng.random((len(voices), per_voice)) < self.distractor_share
        sentences = iter(
            keyword_free_sentences(int(is_word.size - is_word.sum()), self.keywords, self.seed)
        )
        jobs = []
        for v, voice in enumerate(voices):
            speech = [
                self.distractors[rng.integers(len(self.distractors))] if word else next(sentences)
                for word in is_word[v]
            ]
            keywords = (
                []
                if self.keyword_manifest
                else [word for word in self.keywords for _ in range(renditions)]
            )
            jobs.append((voice, keywords, speech, job_seed(self.seed, "voice", voice)))
        return jobs

    def __call__(self) -> Path:
        return prepare_streams(Path(self.root), self.settings(), self.keywords, self.build)

    def build(self, root: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Synthesise every voice's segments, then mix and write the streams; their
        manifest rows, and the voices' statistics."""
        jobs = self.jobs()
        results, crashed = self.run_in_workers(_speak_voice, jobs, "voices", "voice")
        if not results:
            raise RuntimeError("eSpeak NG crashed on every voice: no streams to mix")
        results.sort(key=lambda result: result[0])
        order = np.random.default_rng(job_seed(self.seed, "order"))
        keyword_pool = [segment for _, segments, _ in results for segment in segments]
        recordings: dict[str, Any] = {}
        if self.keyword_manifest is not None:
            keyword_pool, recordings = self.recorded_keywords()
        speech_pool = [segment for _, _, segments in results for segment in segments]
        keywords = SegmentQueue(keyword_pool[i] for i in order.permutation(len(keyword_pool)))
        speech = SegmentQueue(_again_and_again(speech_pool, order))
        samples = round(self.stream_seconds * self.sample_rate)
        rows, used, too_long = [], 0, 0
        for i in tqdm(range(self.streams), desc="mixing streams", unit="stream"):
            rng = np.random.default_rng(job_seed(self.seed, "stream", i))
            noise = self.background(samples, rng)
            stream = self.layout.mix(noise, self.sample_rate, keywords, speech, self.snr_db, rng)
            rows.append(write_stream(root, i, stream, self.sample_rate))
            used += len(stream.speech) + stream.too_long
            too_long += stream.too_long
        if recordings:
            placed = sum(len(row["keywords"]) for row in rows)
            recordings["keyword_recordings_unused"] = len(keyword_pool) - placed
        return rows, {
            **recordings,
            "voices": sorted(voice for voice, _, _ in results),
            "left_out_voices": sorted(voice for voice, *_ in crashed),
            "speech_segments": len(speech_pool),
            "speech_reused": max(used - len(speech_pool), 0),
            "speech_too_long": too_long,
        }

    def recorded_keywords(self) -> tuple[list[Segment], dict[str, Any]]:
        """The keyword segments of ``keyword_manifest`` (in manifest order), and their
        statistics: lines of other labels, and recordings with no word in them."""
        manifest = Path(str(self.keyword_manifest))
        listed = read_manifest(manifest)
        entries = [entry for entry in listed if entry.label in self.keywords]
        if not entries:
            raise ManifestError(
                f"{manifest}: no recording labelled with a keyword ({', '.join(self.keywords)})"
            )
        pad = round(self.pad_seconds * self.sample_rate)
        segments, skipped = [], []
        for entry in tqdm(entries, desc="reading keyword recordings", unit="file"):
            audio, rate = read_soundfile(entry.path, entry.offset, entry.duration)
            check_sample_rate(rate, entry.path)
            audio = resample(audio, rate, self.sample_rate)
            segment = recorded_word(audio, self.sample_rate, pad, str(entry.label))
            if segment is None:
                skipped.append(entry.source)
            else:
                segments.append(segment)
        return segments, {
            "keyword_recordings": len(segments),
            "other_labels_left_out": len(listed) - len(entries),
            "skipped_recordings": skipped,
        }

    def background(self, samples: int, rng: np.random.Generator) -> np.ndarray:
        """Fresh noise, its kind changing every 20-60 s (0.5 s crossfades)."""
        fade = self.sample_rate // 2
        pieces, total = [], 0
        while total < samples + fade:
            length = round(rng.uniform(20.0, 60.0) * self.sample_rate)
            pieces.append(acoustics.background_noise(length, self.sample_rate, rng))
            total += length - fade
        return crossfade(pieces, fade)[:samples]


def keyword_free_sentences(count: int, keywords: Sequence[str], seed: int) -> list[str]:
    """``count`` different grammar sentences (over its whole vocabulary), none with a
    keyword as one of its words.

    >>> sentences = keyword_free_sentences(50, ["on", "left", "stop"], seed=0)
    >>> len(set(sentences)), any({"on", "left", "stop"} & set(s.split()) for s in sentences)
    (50, False)
    """
    generate, banned = SentenceGenerator(vocabulary(), seed), set(keywords)
    sentences: dict[str, None] = {}
    for _ in range(50 * count + 1000):
        if len(sentences) == count:
            return list(sentences)
        sentence = generate()
        if not banned & set(sentence.split()):
            sentences[sentence] = None
    raise ValueError(f"the grammar cannot give {count} distinct sentences without {keywords}")


def _again_and_again(pool: list[Segment], rng: np.random.Generator) -> Iterator[Segment]:
    """The pool, then the pool reshuffled, again and again (the statistics count the
    segments used twice)."""
    yield from pool
    while pool:
        yield from (pool[i] for i in rng.permutation(len(pool)))


def _speak_voice(
    job: tuple[str, list[str], list[str], int],
) -> tuple[str, list[Segment], list[Segment]]:
    voice, keywords, speech, seed = job
    rng = np.random.default_rng(seed)
    keyword_segments = [_speak(text, voice, rng) for text in keywords]
    return voice, keyword_segments, [_speak(text, voice, rng) for text in speech]


def _speak(text: str, variant: str, rng: np.random.Generator) -> Segment:
    """``text`` spoken in a drawn style, trimmed to its speech, padded with silence,
    in a simulated room for a share of segments."""
    corpus: SyntheticStreams = worker["corpus"]
    rate = corpus.sample_rate
    accent, *style = corpus.speaking_style(rng)
    raw = worker["tts"].synthesize(text, f"{accent}+{variant}", *style)
    audio = worker["resample"](torch.from_numpy(raw)).numpy()
    # eSpeak's output is clean: speech from the first frame within 40 dB of the peak
    start, end = word_bounds(audio, rate, range_db=40.0, floor_db=None, max_pause_seconds=None)
    if start == end:
        raise RuntimeError(f"eSpeak voice {accent}+{variant} produced silence for {text!r}")
    pad = round(corpus.pad_seconds * rate)
    rir = None
    if rng.random() < corpus.reverb_prob:
        rir = acoustics.room_impulse_response(rate, rng.uniform(0.15, 0.5), rng)
    tail = pad if rir is None else max(pad, rir.shape[0])
    segment = np.concatenate([np.zeros(pad), audio[start:end], np.zeros(tail)]).astype(np.float32)
    if rir is not None:
        segment = acoustics.reverberate(segment, rir)
    return Segment(segment, pad, pad + end - start, text)
