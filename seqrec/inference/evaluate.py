"""Score a trained model on a manifest: the logic behind ``seqrec-eval``.

A manifest is read the way training reads its test split: the Dataset built from the
checkpoint's reader (and its labels or tokenizer), the duration-bucketing sampler in
manifest order, the dataset's collate, and the same error policy. The batches then
go through the model's own batched inference (:func:`seqrec.api.run_batches`), as
:meth:`~seqrec.api.Classifier.classify` and :meth:`~seqrec.api.Transcriber.transcribe`
run them.

An exported model (:mod:`seqrec.runtime`, an ``.onnx`` file) is scored the same way:
its reader is built from the reader config in its metadata, and its batches go
through onnxruntime.
"""

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.text import CharErrorRate, WordErrorRate
from tqdm import tqdm

from seqrec.api import Classifies, Transcribes
from seqrec.data.audio import AudioClassificationDataset, TranscribedAudioDataset
from seqrec.data.dataset import ON_ERROR, LabelledManifestDataset
from seqrec.data.manifest import ManifestError, Problem, read_manifest
from seqrec.data.sampler import DurationBucketSampler
from seqrec.data.time_series import SeriesClassificationDataset
from seqrec.data.video_dataset import VideoClassificationDataset
from seqrec.inference.checkpoint import build_reader
from seqrec.runtime import ExportReader
from seqrec.text import TextError, align_words, normalize_text

# a model from seqrec.load (seqrec.api.Classifier or Transcriber), of a checkpoint or an export
Model = Any


def model_reader(model: Model) -> Any:
    """The PyTorch input reader of a loaded model: a checkpoint's, or the one an
    exported model's metadata describes (checked as a checkpoint's is)."""
    if isinstance(model.reader, ExportReader):
        return build_reader({"reader": model.reader.config}, model.source)
    return model.reader


def manifest_dataset(
    model: Model, manifest: str | Path, on_error: str = "raise"
) -> LabelledManifestDataset:
    """``manifest`` as the test split of the model's training reads it: its reader,
    its labels (every label must be one the model knows) or its tokenizer, and
    ``on_error``."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    reader = model_reader(model)
    if isinstance(model, Transcribes):
        return TranscribedAudioDataset(manifest, model.tokenizer, reader, on_error=on_error)
    if model.modality == "video":
        return VideoClassificationDataset(manifest, model.labels, reader, on_error=on_error)
    if model.modality == "series":
        return SeriesClassificationDataset(manifest, model.labels, reader, on_error=on_error)
    return AudioClassificationDataset(manifest, model.labels, reader, on_error=on_error)


class ManifestBatches:
    """The dataset's batches (``batch_size`` items, similar lengths together, in a
    fixed order), with a progress bar, counting what is scored and what is skipped:
    the manifest's bad lines and, under ``on_error="skip"``, the items that failed
    to read. Empty batches are left out."""

    def __init__(
        self, dataset: LabelledManifestDataset, manifest: str | Path, batch_size: int, desc: str
    ) -> None:
        sampler = DurationBucketSampler(
            dataset.durations, max_batch_seconds=None, max_batch_size=batch_size, shuffle=False
        )
        self.loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=dataset.collate_fn)
        self.manifest = manifest
        self.desc = desc
        self.skipped: list[Problem] = list(dataset.problems)
        self.scored = 0

    def __iter__(self) -> Iterator:
        for batch in tqdm(self.loader, desc=self.desc, unit="batch"):
            self.skipped.extend(batch.skipped)
            if len(batch):
                self.scored += len(batch)
                yield batch

    def counts(self) -> dict[str, int | dict[str, int]]:
        """The items scored and the skips by reason; an error if nothing was scored."""
        if self.scored == 0:
            raise ManifestError(
                f"{self.manifest}: nothing to evaluate ({len(self.skipped)} entries skipped)"
            )
        return {
            "num_examples": self.scored,
            "skipped": dict(Counter(p.reason for p in self.skipped)),
        }


def shuffle_time(
    items: list[list[torch.Tensor]], generator: torch.Generator
) -> list[list[torch.Tensor]]:
    """Each clip with its frames in a random order: the same frames, no temporal order."""
    return [
        [clip[torch.randperm(clip.shape[0], generator=generator)] for clip in clips]
        for clips in items
    ]


def evaluate_classifier(
    model: Classifies,
    manifest: str | Path,
    batch_size: int = 64,
    on_error: str = "raise",
    shuffle_frames: bool = False,
    seed: int = 0,
) -> dict[str, float]:
    """Accuracy (micro and macro) and per-class accuracy of ``model`` on a labelled manifest.

    Every label must be one the model knows. The per-class accuracies (``acc_class/``)
    and their mean (``acc_macro``) cover the labels the manifest holds
    (``labels_present``): a manifest of ten digits scored by a 35-word model is
    averaged over the ten, and a wrong answer of another label counts only against
    the true one. With ``on_error="skip"`` bad lines and
    unreadable media are left out and counted under ``skipped``. ``shuffle_frames``
    (video) puts each clip's frames in a random order first: a model that uses
    temporal order should then fall towards chance.
    """
    if shuffle_frames and model.modality != "video":
        raise ValueError("shuffle_frames applies to video models only")
    generator = torch.Generator().manual_seed(seed)
    dataset = manifest_dataset(model, manifest, on_error)
    n = len(model.labels)
    micro, per_class = MulticlassAccuracy(n, average="micro"), MulticlassAccuracy(n, average=None)
    support = torch.zeros(n, dtype=torch.long)
    batches = ManifestBatches(dataset, manifest, batch_size, "evaluating")
    for batch in batches:
        items = batch.sequences()
        if shuffle_frames:
            items = shuffle_time(items, generator)
        predictions = model.classify_clips(items, batch.ids, top_k=1, batch_size=batch_size)
        predicted = torch.tensor([dataset.label_to_index[p.label] for p in predictions])
        for metric in (micro, per_class):
            metric.update(predicted, batch.targets)
        support += torch.bincount(batch.targets, minlength=n)
    counts = batches.counts()
    present = support > 0
    per_class_acc = per_class.compute()
    results = {
        "acc": micro.compute().item(),
        "acc_macro": per_class_acc[present].mean().item(),
        "labels_present": int(present.sum()),
        **counts,
        "shuffle_frames": shuffle_frames,
    }
    results.update(
        {
            f"acc_class/{label}": float(acc)
            for label, acc, held in zip(model.labels, per_class_acc.tolist(), present, strict=True)
            if held
        }
    )
    return results


def errors_by_known_words(
    hypotheses: list[str], references: list[str], known: set[str]
) -> dict[str, dict[str, float]]:
    """Errors on the reference words in ``known`` (e.g. the training text's words) and on
    the others, the out-of-vocabulary words of an open-vocabulary test.

    Each reference word is paired with the hypothesis word aligned to it
    (:func:`align_words`). For each group: ``words``, the number of reference words;
    ``wer``, the share of them not recognised exactly (substituted or deleted;
    inserted words belong to no group); ``cer``, the character edit distance from each
    word to its aligned hypothesis word (its whole length when deleted) over the
    group's characters.
    """
    from torchaudio.functional import edit_distance

    counts = {group: [0, 0, 0, 0] for group in ("known_words", "unknown_words")}
    for hypothesis, reference in zip(hypotheses, references, strict=True):
        for ref_word, hyp_word in align_words(reference.split(), hypothesis.split()):
            if ref_word is None:
                continue
            count = counts["known_words" if ref_word in known else "unknown_words"]
            count[0] += 1
            count[1] += ref_word != hyp_word
            count[2] += len(ref_word)
            count[3] += edit_distance(ref_word, hyp_word or "")
    return {
        group: {"words": words, "wer": errors / max(words, 1), "cer": char_errors / max(chars, 1)}
        for group, (words, errors, chars, char_errors) in counts.items()
    }


def read_known_words(path: str | Path) -> set[str]:
    """The words of a manifest's ``text`` (``.jsonl``) or of a plain text file, normalised."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: known-words file not found")
    if path.suffix == ".jsonl":
        entries = read_manifest(path, target_key="text", check_files=False)
        lines = [(entry.source, entry.text) for entry in entries]
    else:
        text = path.read_text(encoding="utf-8").splitlines()
        lines = [(f"{path}:{number}", line) for number, line in enumerate(text, 1)]
    words: set[str] = set()
    for source, line in lines:
        try:
            words.update(normalize_text(line).split())
        except TextError as e:
            raise TextError(f"{source}: {e}") from None
    return words


def evaluate_transcriber(
    model: Transcribes,
    manifest: str | Path,
    batch_size: int = 16,
    on_error: str = "raise",
    known_words: set[str] | None = None,
) -> dict[str, float]:
    """WER and CER of a speech recogniser on a manifest with ``text``, decoded as
    ``model.decoding`` says.

    References are the transcripts as training scores them: normalised and encoded
    with the model's tokenizer (:class:`~seqrec.data.audio.TranscribedAudioDataset`),
    then decoded. A transcript the tokenizer cannot encode is an error naming its
    line, or (``on_error="skip"``) skipped and counted as ``bad_text``. Also reports
    the real-time factor of transcription, and, given ``known_words``, the errors on
    known and unknown words (:func:`errors_by_known_words`).
    """
    dataset = manifest_dataset(model, manifest, on_error)
    wer, cer = WordErrorRate(), CharErrorRate()
    audio_seconds = compute_seconds = 0.0
    all_hypotheses, all_references = [], []
    batches = ManifestBatches(dataset, manifest, batch_size, "transcribing")
    for batch in batches:
        references = batch.references(model.tokenizer)
        waveforms = [item[0] for item in batch.sequences()]
        began = time.perf_counter()
        hypotheses = model.transcribe_waveforms(waveforms, batch_size)
        compute_seconds += time.perf_counter() - began
        audio_seconds += float(batch.lengths.sum()) / model.sample_rate
        wer.update(hypotheses, references)
        cer.update(hypotheses, references)
        all_hypotheses += hypotheses
        all_references += references
    counts = batches.counts()
    results = {
        "wer": wer.compute().item(),
        "cer": cer.compute().item(),
        **counts,
        "decoding": model.search.method,
        "rtf": compute_seconds / audio_seconds,
    }
    if known_words is not None:
        results.update(errors_by_known_words(all_hypotheses, all_references, known_words))
    return results


def write_json(path: str | Path, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")
