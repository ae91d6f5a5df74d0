"""Score a trained model on a manifest: the logic behind ``seqrec-eval``."""

import json
from collections import Counter
from pathlib import Path

import torch
from torchmetrics.classification import MulticlassAccuracy
from tqdm import tqdm

from seqrec.data.audio import ON_ERROR, AudioError, load_audio
from seqrec.data.manifest import ManifestEntry, ManifestError, Problem, scan_manifest
from seqrec.inference import Classifier


def load_segments(
    entries: list[ManifestEntry], sample_rate: int, on_error: str, skipped: list[Problem]
) -> tuple[list[torch.Tensor], list[ManifestEntry]]:
    """Waveforms of the entries' segments; with ``on_error="skip"`` failures go to ``skipped``."""
    waveforms, loaded = [], []
    for entry in entries:
        try:
            waveforms.append(load_audio(entry.path, sample_rate, entry.offset, entry.duration))
        except AudioError as e:
            if on_error != "skip":
                raise AudioError(f"{entry.source}: {e}", e.reason) from None
            skipped.append(Problem(entry.source, e.reason, str(e)))
            continue
        loaded.append(entry)
    return waveforms, loaded


def evaluate_classifier(
    model: Classifier, manifest: str | Path, batch_size: int = 64, on_error: str = "raise"
) -> dict[str, float]:
    """Accuracy (micro and macro) and per-class accuracy of ``model`` on a labelled manifest.

    Every label must be one the model knows. With ``on_error="skip"`` bad lines and
    unreadable audio are left out and counted under ``skipped``.
    """
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
    scan = scan_manifest(manifest, "audio_filepath", "label", model.labels)
    if scan.problems and on_error == "raise":
        raise ManifestError(str(scan.problems[0]), scan.problems[0].reason)
    skipped = list(scan.problems)
    index = {label: i for i, label in enumerate(model.labels)}
    n = len(model.labels)
    micro, macro = MulticlassAccuracy(n, average="micro"), MulticlassAccuracy(n, average="macro")
    per_class = MulticlassAccuracy(n, average=None)
    scored = 0
    for start in tqdm(range(0, len(scan.entries), batch_size), desc="evaluating", unit="batch"):
        waveforms, entries = load_segments(
            scan.entries[start : start + batch_size], model.sample_rate, on_error, skipped
        )
        if not entries:
            continue
        predictions = model.classify(waveforms, top_k=1, batch_size=batch_size)
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
    }
    results["skipped"] = dict(Counter(p.reason for p in skipped))
    results.update(
        {
            f"acc_class/{label}": v
            for label, v in zip(model.labels, per_class.compute().tolist(), strict=True)
        }
    )
    return results


def write_json(path: str | Path, payload: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")
