"""Score a trained model on a manifest: the logic behind ``seqrec-eval``."""

import json
from pathlib import Path

import torch
from torchmetrics.classification import MulticlassAccuracy
from tqdm import tqdm

from seqrec.data.manifest import read_manifest
from seqrec.inference import Classifier


def evaluate_classifier(
    model: Classifier, manifest: str | Path, batch_size: int = 64
) -> dict[str, float]:
    """Accuracy (micro and macro) and per-class accuracy of ``model`` on a labelled manifest.

    Every label in the manifest must be one the model knows.
    """
    entries = read_manifest(manifest, "audio_filepath", "label", model.labels)
    index = {label: i for i, label in enumerate(model.labels)}
    n = len(model.labels)
    micro, macro = MulticlassAccuracy(n, average="micro"), MulticlassAccuracy(n, average="macro")
    per_class = MulticlassAccuracy(n, average=None)
    for start in tqdm(range(0, len(entries), batch_size), desc="evaluating", unit="batch"):
        chunk = entries[start : start + batch_size]
        predictions = model.classify([e.path for e in chunk], top_k=1, batch_size=batch_size)
        predicted = torch.tensor([index[p.label] for p in predictions])
        target = torch.tensor([index[e.label] for e in chunk])
        for metric in (micro, macro, per_class):
            metric.update(predicted, target)
    results = {
        "acc": micro.compute().item(),
        "acc_macro": macro.compute().item(),
        "num_examples": len(entries),
    }
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
