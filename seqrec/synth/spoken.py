"""What the eSpeak NG corpora (voice commands, speech-to-text) share: the speaker and
acoustics settings, how a speaking style is drawn, reuse of a finished corpus, and the
per-process state of their synthesis pools."""

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from seqrec.data.prepared import is_prepared, mark_prepared
from seqrec.synth.espeak import ENGLISH_ACCENTS, ESpeak
from seqrec.synth.workers import run_jobs

SPLITS = ("train", "val", "test")


@dataclass(kw_only=True)
class SpokenCorpus:
    """Generate (or reuse) a corpus of eSpeak NG speech under ``root``.

    Calling the corpus synthesises it unless ``root/corpus.json`` records the same
    settings, and returns ``root``. Subclasses implement :meth:`synthesise`.

    The seed fixes the texts, the voice split, every speaking style and all the
    acoustics. It does not fix the waveforms to the bit: eSpeak NG carries state
    from one call to the next within a process (the same sentence spoken twice in
    a row comes out slightly different), and jobs reach the pool's processes in no
    fixed order. Two runs with the same settings therefore give the same
    manifests, except that a sentence's duration can differ by some milliseconds
    (at most 14 ms in 90 sentences of three such runs compared).

    Args:
        root: output folder.
        val_voices, test_voices: eSpeak variants held out for validation and test.
        accents: eSpeak English accents to draw from.
        rate, pitch, pitch_range: ranges (low, high) drawn per clip or utterance.
        reverb_prob: share of clips or utterances convolved with a simulated room.
        snr_db: range of background-noise SNRs.
        sample_rate: of the written audio.
        seed: everything random that seqrec draws derives from it.
        num_workers: synthesis processes.
    """

    # Part of the settings: a subclass bumps it whenever its synthesis changes, so a
    # corpus made by older code is not reused.
    synth_version: ClassVar[int] = 1

    root: str
    val_voices: int = 10
    test_voices: int = 12
    accents: Sequence[str] = ENGLISH_ACCENTS
    rate: Sequence[int] = (130, 210)
    pitch: Sequence[int] = (20, 80)
    pitch_range: Sequence[int] = (20, 90)
    reverb_prob: float = 0.3
    snr_db: Sequence[float] = (10.0, 40.0)
    sample_rate: int = 16000
    seed: int = 0
    num_workers: int = 2

    def __post_init__(self) -> None:
        # accept OmegaConf containers as well as plain Python ones
        self.accents = tuple(self.accents)
        self.rate, self.pitch = tuple(self.rate), tuple(self.pitch)
        self.pitch_range, self.snr_db = tuple(self.pitch_range), tuple(self.snr_db)

    def settings(self) -> dict[str, Any]:
        """Everything that decides the corpus's content (not where or how fast)."""
        settings = asdict(self)
        for key in ("root", "num_workers"):
            settings.pop(key)
        settings["synth_version"] = self.synth_version
        return settings

    def speaking_style(self, rng: np.random.Generator) -> tuple[str, int, int, int]:
        """An accent, a speaking rate, a pitch and a pitch range, drawn in that order."""
        accent = self.accents[rng.integers(len(self.accents))]
        rate = int(rng.integers(self.rate[0], self.rate[1] + 1))
        pitch = int(rng.integers(self.pitch[0], self.pitch[1] + 1))
        pitch_range = int(rng.integers(self.pitch_range[0], self.pitch_range[1] + 1))
        return accent, rate, pitch, pitch_range

    def __call__(self) -> Path:
        root = Path(self.root)
        marker = root / "corpus.json"
        settings = self.settings()
        if is_prepared(marker, settings):
            return root
        root.mkdir(parents=True, exist_ok=True)
        marker.unlink(missing_ok=True)
        self.synthesise(root)
        mark_prepared(marker, settings)
        return root

    def run_in_workers(
        self, speak: Callable[[Any], Any], jobs: Sequence[Any], what: str, unit: str, **options: Any
    ) -> tuple[list[Any], list[Any]]:
        """``speak`` on every job in :attr:`num_workers` processes, each holding this
        corpus and an eSpeak NG instance (:func:`init_worker`), with a progress bar
        ("synthesising <what>"): the results and the jobs whose worker crashed
        (:func:`~seqrec.synth.workers.run_jobs`)."""
        return run_jobs(
            speak,
            jobs,
            self.num_workers,
            init_worker,
            (self,),
            desc=f"synthesising {what}",
            unit=unit,
            **options,
        )

    def synthesise(self, root: Path) -> None:
        """Write the audio, the manifests and any statistics under ``root``."""
        raise NotImplementedError


# per-process synthesis state for the corpus generators' worker pools
worker: dict = {}


def init_worker(corpus: SpokenCorpus) -> None:
    """Pool initializer: one eSpeak per process, and a resampler to the corpus rate."""
    import torch
    import torchaudio

    torch.set_num_threads(1)
    tts = ESpeak()
    worker.update(
        corpus=corpus,
        tts=tts,
        resample=torchaudio.transforms.Resample(tts.sample_rate, corpus.sample_rate),
    )
