"""LibriSpeech from its folder layout to manifests.

The layout: ``<root>/<subset>/<speaker>/<chapter>/`` holding ``<speaker>-<chapter>.trans.txt``
(one ``<utterance id> <TRANSCRIPT>`` per line) and ``<utterance id>.flac``. ``root`` may
also be the folder above ``LibriSpeech/``. Each subset (``train-clean-100``,
``dev-clean``, ``test-other``, ...) becomes ``<out_dir>/<subset>.jsonl`` with
``audio_filepath``, ``duration``, ``text`` (normalised, lower case), ``speaker`` and
``id``; ``train.jsonl`` joins the training subsets.
"""

from dataclasses import asdict, dataclass, field
from pathlib import Path

import soundfile as sf
from tqdm import tqdm

from seqrec.data.manifest import write_manifest
from seqrec.data.prepared import DatasetLayoutError, is_prepared, mark_prepared
from seqrec.text import TextError, normalize_text


@dataclass
class LibriSpeechPreparer:
    """Write one manifest per subset (and ``train.jsonl``) into ``out_dir``.

    Args:
        root: the extracted corpus (``LibriSpeech/`` or the folder holding it).
        out_dir: where the manifests go (audio stays where it is).
        train_subsets: joined into ``train.jsonl``.
        eval_subsets: written as they are (``dev-clean.jsonl``, ...). Each must be
            in ``root``; score them all, test-other as well as test-clean, as the
            published tables do.
    """

    root: str
    out_dir: str
    train_subsets: list[str] = field(default_factory=lambda: ["train-clean-100"])
    eval_subsets: list[str] = field(
        default_factory=lambda: ["dev-clean", "dev-other", "test-clean", "test-other"]
    )

    def settings(self) -> dict:
        return {**asdict(self), "root": str(Path(self.root).resolve())}

    def corpus_root(self) -> Path:
        root = Path(self.root)
        for candidate in (root, root / "LibriSpeech"):
            if any((candidate / s).is_dir() for s in self.train_subsets + self.eval_subsets):
                return candidate
        raise DatasetLayoutError(
            f"{root}: none of the subsets {self.train_subsets + self.eval_subsets} is here "
            "or under LibriSpeech/"
        )

    def check_subsets(self, corpus: Path) -> None:
        """Every subset named must be in ``corpus``; the error for a missing evaluation
        subset says how to prepare only the ones that are there."""
        missing = [s for s in self.train_subsets if not (corpus / s).is_dir()]
        if missing:
            raise DatasetLayoutError(
                f"{corpus}: training subset folder(s) {', '.join(missing)} not found "
                "(data.prepare.train_subsets)"
            )
        missing = [s for s in self.eval_subsets if not (corpus / s).is_dir()]
        if missing:
            here = [s for s in self.eval_subsets if s not in missing]
            raise DatasetLayoutError(
                f"{corpus}: evaluation subset folder(s) {', '.join(missing)} not found. "
                "Download and extract them (openslr.org/12), or prepare only those here: "
                f"data.prepare.eval_subsets=[{','.join(here)}] (data.val_manifest and "
                "data.test_manifest must name prepared subsets; they are dev-clean.jsonl "
                "and test-clean.jsonl by default)"
            )

    def __call__(self) -> Path:
        out = Path(self.out_dir)
        marker = out / "prepared.json"
        if is_prepared(marker, self.settings()):
            return out
        corpus = self.corpus_root()
        self.check_subsets(corpus)
        rows = {
            subset: read_subset(corpus / subset)
            for subset in self.train_subsets + self.eval_subsets
        }
        for subset, subset_rows in rows.items():
            write_manifest(out / f"{subset}.jsonl", subset_rows)
        write_manifest(out / "train.jsonl", [r for s in self.train_subsets for r in rows[s]])
        mark_prepared(marker, self.settings())
        return out


def read_subset(folder: Path) -> list[dict]:
    """Manifest rows for every transcribed utterance of one subset folder.

    A transcript line whose flac file is missing, or whose text cannot be normalised,
    is an error naming the transcript file and line.
    """
    transcripts = sorted(folder.glob("*/*/*.trans.txt"))
    if not transcripts:
        raise DatasetLayoutError(f"{folder}: no <speaker>/<chapter>/*.trans.txt files")
    rows = []
    for transcript in tqdm(transcripts, desc=f"reading {folder.name}", unit="chapter"):
        speaker = transcript.parent.parent.name
        for lineno, line in enumerate(transcript.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            source = f"{transcript}:{lineno}"
            utterance, _, text = line.strip().partition(" ")
            audio = transcript.parent / f"{utterance}.flac"
            if not audio.is_file():
                raise DatasetLayoutError(f"{source}: audio {audio.name} not found")
            try:
                text = normalize_text(text)
            except TextError as e:
                raise TextError(f"{source}: {e}") from None
            try:
                duration = sf.info(str(audio)).duration
            except (sf.LibsndfileError, RuntimeError) as e:
                raise DatasetLayoutError(f"{audio}: cannot read audio ({e})") from None
            rows.append(
                {
                    "audio_filepath": str(audio.resolve()),
                    "duration": round(duration, 4),
                    "text": text,
                    "speaker": speaker,
                    "id": utterance,
                }
            )
    return rows
