"""What the audio and video datasets share: a labelled manifest and the error policy."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from torch.utils.data import Dataset

from seqrec.data.batch import SkippedSample
from seqrec.data.manifest import TOO_LONG, ManifestEntry, ManifestError, Problem, scan_manifest

ON_ERROR = ("raise", "skip")
T = TypeVar("T")


class LabelledManifestDataset(Dataset):
    """The entries of a labelled manifest, checked when the dataset is built (JSON,
    fields, file exists, label in the label set).

    ``on_error="raise"`` stops at the first bad line, and later at the first file that
    fails to read, with a message naming the manifest line. ``on_error="skip"``
    leaves them out and records them: bad lines in :attr:`problems`, unreadable files
    as a :class:`SkippedSample` item that the collate counts. Entries longer than
    ``max_duration`` seconds are always skipped and recorded in :attr:`problems`.
    """

    path_key = "audio_filepath"
    target_key = "label"  # "text" for transcribed speech

    def __init__(
        self,
        manifest: str | Path,
        labels: Sequence[str] | None,
        on_error: str = "raise",
        max_duration: float | None = None,
    ) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be one of {ON_ERROR}, got {on_error!r}")
        self.labels = list(labels or [])
        self.label_to_index = {label: i for i, label in enumerate(self.labels)}
        scan = scan_manifest(
            manifest,
            self.path_key,
            self.target_key,
            self.labels if labels is not None else None,
            max_duration=max_duration,
        )
        errors = [p for p in scan.problems if on_error == "raise" and p.reason != TOO_LONG]
        if errors:
            raise ManifestError(str(errors[0]), errors[0].reason)
        if not scan.entries:
            raise ManifestError(f"{manifest}: no usable entries ({len(scan.problems)} skipped)")
        self.entries: list[ManifestEntry] = scan.entries
        self.problems: list[Problem] = scan.problems
        self.on_error = on_error

    @property
    def durations(self) -> list[float]:
        return [entry.duration for entry in self.entries]

    def __len__(self) -> int:
        return len(self.entries)

    def read(
        self, entry: ManifestEntry, reader: Callable[[ManifestEntry], T], errors: type[Exception]
    ) -> T | SkippedSample:
        """``reader(entry)``, with a failure raised naming the manifest line, or skipped."""
        return read_entry(entry, reader, errors, self.on_error)


def read_entry(
    entry: ManifestEntry,
    reader: Callable[[ManifestEntry], T],
    errors: type[Exception],
    on_error: str = "raise",
) -> T | SkippedSample:
    """``reader(entry)``. A failure of type ``errors`` is raised again naming the
    manifest line (``on_error="raise"``), or returned as a :class:`SkippedSample`
    (``"skip"``). The error policy of every manifest reader in seqrec."""
    try:
        return reader(entry)
    except errors as e:
        reason = getattr(e, "reason", "unreadable")
        if on_error == "skip":
            return SkippedSample(Problem(entry.source, reason, str(e)))
        raise type(e)(f"{entry.source}: {e}", reason) from None
