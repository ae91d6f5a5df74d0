"""Score a trained model on a manifest: the logic behind ``seqrec-eval``."""

import json
import time
from collections import Counter
from pathlib import Path

import torch
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.text import CharErrorRate, WordErrorRate
from tqdm import tqdm

from seqrec.data.audio import AudioError, load_audio
from seqrec.data.dataset import ON_ERROR
from seqrec.data.manifest import (
    BAD_TEXT,
    ManifestEntry,
    ManifestError,
    Problem,
    read_manifest,
    scan_manifest,
)
from seqrec.data.video import VideoError
from seqrec.inference import Classifier, Transcriber
from seqrec.text import TextError, align_words, normalize_text


def load_inputs(
    model: Classifier, entries: list[ManifestEntry], on_error: str, skipped: list[Problem]
) -> tuple[list[list[torch.Tensor]], list[ManifestEntry]]:
    """What the model scores for each entry: its waveform segment, or its video clips
    read as at evaluation. Failures raise naming the manifest line, or (with
    ``on_error="skip"``) go to ``skipped``."""
    if model.modality == "video":
        read, errors = (lambda e: model.clip_reader(e.path, e.offset, e.duration)), VideoError
    else:
        read, errors = (
            (lambda e: [load_audio(e.path, model.sample_rate, e.offset, e.duration)]),
            AudioError,
        )
    items, loaded = [], []
    for entry in entries:
        try:
            items.append(read(entry))
        except errors as e:
            if on_error != "skip":
                raise type(e)(f"{entry.source}: {e}", e.reason) from None
            skipped.append(Problem(entry.source, e.reason, str(e)))
            continue
        loaded.append(entry)
    return items, loaded


def shuffle_time(
    items: list[list[torch.Tensor]], generator: torch.Generator
) -> list[list[torch.Tensor]]:
    """Each clip with its frames in a random order: the same frames, no temporal order."""
    return [
        [clip[torch.randperm(clip.shape[0], generator=generator)] for clip in clips]
        for clips in items
    ]


def evaluate_classifier(
    model: Classifier,
    manifest: str | Path,
    batch_size: int = 64,
    on_error: str = "raise",
    shuffle_frames: bool = False,
    seed: int = 0,
) -> dict[str, float]:
    """Accuracy (micro and macro) and per-class accuracy of ``model`` on a labelled manifest.

    Every label must be one the model knows. With ``on_error="skip"`` bad lines and
    unreadable media are left out and counted under ``skipped``. ``shuffle_frames``
    (video) puts each clip's frames in a random order first: a model that uses
    temporal order should then fall towards chance.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    if shuffle_frames and model.modality != "video":
        raise ValueError("shuffle_frames applies to video models only")
    generator = torch.Generator().manual_seed(seed)
    path_key = "video_filepath" if model.modality == "video" else "audio_filepath"
    scan = scan_manifest(manifest, path_key, "label", model.labels)
    if scan.problems and on_error == "raise":
        raise ManifestError(str(scan.problems[0]), scan.problems[0].reason)
    skipped = list(scan.problems)
    index = {label: i for i, label in enumerate(model.labels)}
    n = len(model.labels)
    micro, macro = MulticlassAccuracy(n, average="micro"), MulticlassAccuracy(n, average="macro")
    per_class = MulticlassAccuracy(n, average=None)
    scored = 0
    for start in tqdm(range(0, len(scan.entries), batch_size), desc="evaluating", unit="batch"):
        items, entries = load_inputs(
            model, scan.entries[start : start + batch_size], on_error, skipped
        )
        if not entries:
            continue
        if shuffle_frames:
            items = shuffle_time(items, generator)
        predictions = model.classify_clips(
            items, [e.id for e in entries], top_k=1, batch_size=batch_size
        )
        predicted = torch.tensor([index[p.label] for p in predictions])
        target = torch.tensor([index[e.label] for e in entries])
        for metric in (micro, macro, per_class):
            metric.update(predicted, target)
        scored += len(entries)
    if scored == 0:
        raise ManifestError(f"{manifest}: nothing to evaluate ({len(skipped)} entries skipped)")
    results = {
        "acc": micro.compute().item(),
        "acc_macro": macro.compute().item(),
        "num_examples": scored,
        "shuffle_frames": shuffle_frames,
        "skipped": dict(Counter(p.reason for p in skipped)),
    }
    per_class_acc = per_class.compute().tolist()
    results.update(
        {f"acc_class/{label}": v for label, v in zip(model.labels, per_class_acc, strict=True)}
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
    model: Transcriber,
    manifest: str | Path,
    batch_size: int = 16,
    on_error: str = "raise",
    known_words: set[str] | None = None,
) -> dict[str, float]:
    """WER and CER of a speech recogniser on a manifest with ``text``, decoded as
    ``model.decoding`` says. References are normalised like training text
    (:func:`~seqrec.text.normalize_text`); a reference that cannot be normalised is an
    error naming its line, or (``on_error="skip"``) skipped and counted as
    ``bad_text``. Also reports the real-time factor of the decoding loop, and, given
    ``known_words``, the errors on known and unknown words
    (:func:`errors_by_known_words`).
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    scan = scan_manifest(manifest, "audio_filepath", "text")
    skipped = list(scan.problems)
    entries, references = [], {}
    for entry in scan.entries:
        try:
            references[entry.source] = normalize_text(entry.text)
        except TextError as e:
            skipped.append(Problem(entry.source, BAD_TEXT, f"text: {e}"))
            continue
        entries.append(entry)
    if skipped and on_error == "raise":
        raise ManifestError(str(skipped[0]), skipped[0].reason)
    wer, cer = WordErrorRate(), CharErrorRate()
    audio_seconds = compute_seconds = 0.0
    scored = 0
    all_hypotheses, all_references = [], []
    for start in tqdm(range(0, len(entries), batch_size), desc="transcribing", unit="batch"):
        items, loaded = load_inputs(model, entries[start : start + batch_size], on_error, skipped)
        if not loaded:
            continue
        refs = [references[e.source] for e in loaded]
        waveforms = [item[0] for item in items]
        began = time.perf_counter()
        hypotheses = model.transcribe_waveforms(waveforms, batch_size)
        compute_seconds += time.perf_counter() - began
        audio_seconds += sum(w.shape[0] for w in waveforms) / model.sample_rate
        wer.update(hypotheses, refs)
        cer.update(hypotheses, refs)
        all_hypotheses += hypotheses
        all_references += refs
        scored += len(loaded)
    if scored == 0:
        raise ManifestError(f"{manifest}: nothing to evaluate ({len(skipped)} entries skipped)")
    results = {
        "wer": wer.compute().item(),
        "cer": cer.compute().item(),
        "num_examples": scored,
        "decoding": model.decoding["method"],
        "rtf": compute_seconds / audio_seconds,
        "skipped": dict(Counter(p.reason for p in skipped)),
    }
    if known_words is not None:
        results.update(errors_by_known_words(all_hypotheses, all_references, known_words))
    return results


def write_json(path: str | Path, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")
