"""Held-out-synthesizer evaluation sets: a synthetic corpus's words or test sentences
spoken by a synthesizer that the corpus does not train on: the Piper neural voice
``en_US-joe-medium`` (``synthesizer="piper"``, the default) or GnuSpeech, an
articulatory synthesizer (``synthesizer="gnuspeech"``, :mod:`seqrec.synth.gnuspeech`:
its 5 voices at 3 tempos). Piper can also train the voice-commands corpus
(``piper_clips_per_word``), GnuSpeech only when ``gnuspeech_clips_per_word`` asks for it.

- **Voice commands** (:class:`HeldOutCommands`): every word in every speaking style.
- **Speech-to-text** (:class:`HeldOutSpeech`): the corpus's own test sentences, held-out
  words included, sentence ``k`` in style ``k mod len(styles)``. Only the voice differs
  from the in-domain test set; ``heldout_piper_00012`` speaks the text of ``test_00012``.

A style is a Piper ``length_scale`` (> 1 is slower) with a ``(noise_scale, noise_w)``
pair, the variation of the sound and of the phoneme durations; the default grid is
3 rates x 2 noise settings. Clips are what Piper gives, resampled from the voice's
22.05 kHz to 16 kHz: not padded, not level-normalised, no noise added. Piper's words
are short (about 0.2-0.7 s) and clean, while ``kws_synthetic`` trains on 1 s noisy
clips; that gap is part of what the set measures.

The set lives beside the corpus: wav files under ``<root>/heldout_<synthesizer>/``,
the manifest ``<root>/heldout_<synthesizer>.jsonl`` (the corpus's manifest format, so
``seqrec-eval manifest=...`` scores it) and ``heldout_<synthesizer>/heldout.json`` with
its settings; a finished set is reused when they match. The corpus builders write only
their split folders and ``train``/``val``/``test`` manifests, so training never sees it.

Piper's model draws its noise from onnxruntime's random generator, one per session,
which carries state from one call to the next (the same word spoken twice in a row
comes out different). The generator is seeded (``onnxruntime.set_seed``) before the
session is made, and a set is synthesised in one fixed order by one session, so it
is a function of its settings and seed. Piper needs the ``voices`` extra:
``pip install -e '.[voices]'``.
"""

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import soundfile as sf
import torch
import torchaudio
from tqdm import tqdm

from seqrec.data.manifest import write_manifest
from seqrec.data.prepared import is_prepared, mark_prepared
from seqrec.synth import gnuspeech, piper
from seqrec.synth.asr import SyntheticSpeech
from seqrec.synth.kws import SyntheticCommands
from seqrec.synth.spoken import SpokenCorpus

log = logging.getLogger(__name__)

SYNTHESIZERS = ("piper", "gnuspeech")
FOLDER = "heldout_piper"  # Piper's set, under the corpus root; every file of it lies in it
MANIFEST = f"{FOLDER}.jsonl"
Style = piper.Style | gnuspeech.Style
CORPORA = (SyntheticCommands, SyntheticSpeech)  # the corpora a held-out set is made for


@dataclass(kw_only=True)
class HeldOutSet:
    """Synthesise (or reuse) a held-out set beside the corpus at ``root``.

    Calling it builds the set unless ``heldout.json`` records the same settings and
    the manifest exists, and returns the manifest's path. Subclasses say what is
    spoken (:meth:`items`).

    Args:
        root: the corpus folder (``data/kws_synthetic``, ``data/asr_synthetic``).
        synthesizer: ``piper`` or ``gnuspeech``.
        length_scales: Piper speaking rates (> 1 slower).
        noise: ``(noise_scale, noise_w)`` pairs; each rate is spoken with each.
        gnuspeech_voices: GnuSpeech voices (:data:`seqrec.synth.gnuspeech.VOICES`).
        gnuspeech_tempos: GnuSpeech tempos (> 1 faster); each voice speaks at each.
        gnuspeech_dir: the folder of GnuSpeech's npm package.
        sample_rate: of the written audio.
        seed: seeds Piper's noise.
        threads: onnxruntime CPU threads.
    """

    # Part of the settings: bump it whenever the synthesis changes.
    synth_version: ClassVar[int] = 1

    root: str
    synthesizer: str = "piper"
    length_scales: Sequence[float] = (0.85, 1.0, 1.2)
    noise: Sequence[Sequence[float]] = ((0.667, 0.8), (0.333, 0.333))
    gnuspeech_voices: Sequence[str] = gnuspeech.VOICES
    gnuspeech_tempos: Sequence[float] = (0.8, 1.0, 1.25)
    gnuspeech_dir: str = gnuspeech.DEFAULT_DIR
    sample_rate: int = 16000
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        # accept OmegaConf containers as well as plain Python ones
        self.length_scales = tuple(float(s) for s in self.length_scales)
        self.noise = tuple(tuple(float(v) for v in pair) for pair in self.noise)
        self.gnuspeech_voices = tuple(self.gnuspeech_voices)
        self.gnuspeech_tempos = tuple(float(t) for t in self.gnuspeech_tempos)
        if self.synthesizer not in SYNTHESIZERS:
            raise ValueError(f"synthesizer must be one of {SYNTHESIZERS}, not {self.synthesizer!r}")
        if not self.length_scales or any(s <= 0 for s in self.length_scales):
            raise ValueError(f"length_scales must be positive numbers, not {self.length_scales}")
        if not self.noise or any(len(p) != 2 or min(p) < 0 for p in self.noise):
            raise ValueError(
                f"noise must be (noise_scale, noise_w) pairs of numbers >= 0, not {self.noise}"
            )
        self.styles()  # GnuSpeech's styles check their voice and tempo

    @property
    def folder(self) -> str:
        """The set's folder under ``root``, and its manifest's stem."""
        return f"heldout_{self.synthesizer}"

    def styles(self) -> list[Style]:
        """Piper: every rate with every noise setting, rates outermost. GnuSpeech: every
        voice at every tempo, voices outermost.

        >>> [s.name for s in HeldOutCommands(root=".", words=["yes"], length_scales=[1.0]).styles()]
        ['ls1_ns0.667_nw0.8', 'ls1_ns0.333_nw0.333']
        """
        if self.synthesizer == "gnuspeech":
            return [
                gnuspeech.Style(voice, tempo)
                for voice in self.gnuspeech_voices
                for tempo in self.gnuspeech_tempos
            ]
        return [piper.Style(rate, *pair) for rate in self.length_scales for pair in self.noise]

    def items(self) -> list[tuple[str, Style, dict[str, Any]]]:
        """What to speak, in synthesis order: (text, style, manifest fields), the fields
        holding ``audio_filepath`` (relative to ``root``, under :attr:`folder`),
        the target (``label`` or ``text``) and ``id``."""
        raise NotImplementedError

    def settings(self) -> dict[str, Any]:
        """Everything that decides the set's content (not where or how fast)."""
        settings = asdict(self)
        for key in ("root", "threads", "synthesizer", "gnuspeech_dir"):
            settings.pop(key)
        settings["synth_version"] = self.synth_version
        if self.synthesizer == "gnuspeech":  # Piper's sets keep the settings they had
            for key in ("length_scales", "noise", "seed"):
                settings.pop(key)
            settings["voice"] = "gnuspeech"
            settings["versions"] = gnuspeech.versions(self.gnuspeech_dir)
        else:
            for key in [k for k in settings if k.startswith("gnuspeech_")]:
                settings.pop(key)
            settings["voice"] = piper.VOICE
            settings["versions"] = piper.versions()
        return settings

    @property
    def manifest(self) -> Path:
        return Path(self.root) / f"{self.folder}.jsonl"

    @property
    def voice_name(self) -> str:
        """Who speaks the set, in words."""
        if self.synthesizer == "gnuspeech":
            return f"GnuSpeech ({len(self.gnuspeech_voices)} voices)"
        return f"the Piper voice {piper.VOICE}"

    @contextmanager
    def _speaker(self) -> Iterator[Callable[[str, Style], tuple]]:
        """``speak(text, style) -> (float32 audio, its rate)`` with the set's synthesizer."""
        if self.synthesizer == "gnuspeech":
            with gnuspeech.GnuSpeech(self.gnuspeech_dir) as tts:
                yield tts.speak
            return
        voice = piper.load_voice(self.threads, self.seed)
        yield lambda text, style: (piper.speak(voice, text, style), voice.config.sample_rate)

    def __call__(self) -> Path:
        root = Path(self.root)
        marker = root / self.folder / "heldout.json"
        settings = self.settings()
        if self.manifest.is_file() and is_prepared(marker, settings):
            log.info("%s is built with these settings: reused", self.manifest)
            return self.manifest
        items = self.items()
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        rows = []
        with self._speaker() as speak:
            for text, style, fields in tqdm(items, desc=self.voice_name, unit="clip"):
                raw, rate = speak(text, style)
                audio = torchaudio.functional.resample(
                    torch.from_numpy(raw), rate, self.sample_rate
                )
                rows.append(self._write(fields, audio.numpy(), style))
        write_manifest(self.manifest, rows)
        mark_prepared(marker, settings)
        return self.manifest

    def _write(self, fields: dict[str, Any], audio: np.ndarray, style: Style) -> dict[str, Any]:
        """Write one clip where ``fields`` says; its manifest row."""
        path = Path(self.root) / fields["audio_filepath"]
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, audio, self.sample_rate, subtype="PCM_16")
        speaker = f"gnuspeech_{style.voice}" if self.synthesizer == "gnuspeech" else piper.VOICE
        return {
            "audio_filepath": fields["audio_filepath"],
            "duration": round(audio.size / self.sample_rate, 4),
            **{k: v for k, v in fields.items() if k != "audio_filepath"},
            "speaker": speaker,
            **asdict(style),
        }


@dataclass(kw_only=True)
class HeldOutCommands(HeldOutSet):
    """Every word in every style: ``heldout_<synthesizer>/<word>/<style>.wav`` with ``label``.

    Args:
        words: the vocabulary (the corpus's labels).

    The rest are :class:`HeldOutSet`'s.
    """

    words: Sequence[str]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.words = tuple(self.words)
        if not self.words or not all(isinstance(w, str) and w.strip() for w in self.words):
            raise ValueError(f"words must be non-empty strings, not {self.words}")
        bad = [w for w in self.words if "/" in w or "\\" in w or w in (".", "..")]
        if bad:  # each word is a folder under the set's folder
            raise ValueError(f"words must be usable as folder names, not {bad}")

    def items(self) -> list[tuple[str, Style, dict[str, Any]]]:
        folder = self.folder
        return [
            (
                word,
                style,
                {
                    "audio_filepath": f"{folder}/{word}/{style.name}.wav",
                    "label": word,
                    "id": f"{folder}_{word}_{style.name}",
                },
            )
            for word in self.words
            for style in self.styles()
        ]


@dataclass(kw_only=True)
class HeldOutSpeech(HeldOutSet):
    """One utterance per sentence, sentence ``k`` in style ``k mod len(styles)``:
    ``heldout_<synthesizer>/heldout_<synthesizer>_<k>.wav`` with ``text``.

    Args:
        texts: the sentences (the corpus's test sentences: see :func:`for_corpus`).

    The rest are :class:`HeldOutSet`'s.
    """

    texts: Sequence[str]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.texts = tuple(self.texts)
        if not self.texts or not all(isinstance(t, str) and t.strip() for t in self.texts):
            raise ValueError("texts must be non-empty strings")

    def items(self) -> list[tuple[str, Style, dict[str, Any]]]:
        styles = self.styles()
        items = []
        for k, text in enumerate(self.texts):
            name = f"{self.folder}_{k:05d}"
            fields = {"audio_filepath": f"{self.folder}/{name}.wav", "text": text, "id": name}
            items.append((text, styles[k % len(styles)], fields))
        return items


def for_corpus(corpus: SpokenCorpus, sentences: int = 300, **settings: Any) -> HeldOutSet:
    """The held-out set of a synthetic corpus (its ``prepare`` node), beside it: the
    corpus's words, or the first ``sentences`` of its test sentences (all of them when
    it has fewer). ``settings`` are :class:`HeldOutSet`'s (not ``root``)."""
    if isinstance(corpus, SyntheticCommands):
        return HeldOutCommands(root=corpus.root, words=corpus.words, **settings)
    if isinstance(corpus, SyntheticSpeech):
        texts = corpus.texts()["test"][:sentences]
        return HeldOutSpeech(root=corpus.root, texts=texts, **settings)
    raise TypeError(
        f"a held-out set exists for kws_synthetic and asr_synthetic corpora "
        f"(SyntheticCommands, SyntheticSpeech), not {type(corpus).__name__}"
    )
