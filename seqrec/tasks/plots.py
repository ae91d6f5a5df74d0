"""Figures written at test time."""

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch


def save_confusion_matrix(confusion: torch.Tensor, labels: Sequence[str], path: Path) -> Path:
    """Row-normalised confusion matrix (rows: true class, columns: prediction) as a PNG."""
    rows = confusion.float() / confusion.sum(dim=1, keepdim=True).clamp(min=1)
    size = max(4.0, 0.3 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(rows.numpy(), cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels, rotation=90, fontsize=7)
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = confusion.diag().sum().item() / max(1, confusion.sum().item())
    ax.set_title(f"accuracy {accuracy:.4f} on {int(confusion.sum())} examples")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
