"""The Free Spoken Digit Dataset (FSDD) as a manifest: real people saying the ten digits.

FSDD's recordings are named ``{digit}_{speaker}_{index}.wav`` (``7_jackson_32.wav``),
mono 8 kHz. Each becomes one line with ``audio_filepath`` (absolute), ``duration``,
``label`` (the digit's word, ``zero`` ... ``nine``: Speech Commands words, so a
voice-commands model scores them as they are), ``speaker`` and ``id`` (the file's
stem). Only ``*.wav`` files in the folder itself are recordings; a README beside them
is not one.

It measures; it is never training data.

>>> DIGIT_WORDS[int(FILE_NAME.fullmatch("7_jackson_32.wav")["digit"])]
'seven'
"""

import re
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from seqrec.data.manifest import write_manifest

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FILE_NAME = re.compile(r"(?P<digit>[0-9])_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>[0-9]+)\.wav")
ON_ERROR_CHOICES = ("raise", "skip")


@dataclass(frozen=True)
class FsddSummary:
    """What :func:`fsdd_manifest` wrote: its lines, speakers and labels, and the files
    it left out (with ``on_error="skip"``) because their names do not match."""

    manifest: Path
    lines: int
    speakers: tuple[str, ...]
    labels: tuple[str, ...]
    skipped: tuple[str, ...]

    def __str__(self) -> str:
        text = (
            f"{self.manifest}: {self.lines} recordings, {len(self.speakers)} speakers "
            f"({', '.join(self.speakers)}), {len(self.labels)} labels"
        )
        if self.skipped:
            text += f"; skipped {len(self.skipped)} files not named as FSDD's: "
            text += ", ".join(self.skipped)
        return text


def fsdd_manifest(root: str | Path, out: str | Path, on_error: str = "raise") -> FsddSummary:
    """Write the manifest ``out`` of the FSDD recordings in the folder ``root``.

    A ``.wav`` file whose name is not ``{digit}_{speaker}_{index}.wav`` is an error
    naming it (``on_error="raise"``), or is left out, counted and named in the summary
    (``on_error="skip"``). Lines go in the order digit, speaker, index.
    """
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (FSDD's recordings)")
    keyed, skipped = [], []
    for path in sorted(root.glob("*.wav")):
        match = FILE_NAME.fullmatch(path.name)
        if match is None:
            if on_error == "raise":
                raise ValueError(
                    f"{path}: not named as an FSDD recording, {{digit}}_{{speaker}}_{{index}}.wav "
                    f"(e.g. 7_jackson_32.wav)"
                )
            skipped.append(path.name)
            continue
        order = (int(match["digit"]), match["speaker"], int(match["index"]))
        keyed.append((order, _row(path, match)))
    if not keyed:
        raise ValueError(f"{root}: no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav)")
    rows = [row for _, row in sorted(keyed, key=lambda pair: pair[0])]
    out = Path(out)
    write_manifest(out, rows)
    return FsddSummary(
        manifest=out,
        lines=len(rows),
        speakers=tuple(sorted({r["speaker"] for r in rows})),
        labels=tuple(w for w in DIGIT_WORDS if any(r["label"] == w for r in rows)),
        skipped=tuple(skipped),
    )


def _row(path: Path, match: re.Match) -> dict:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise ValueError(f"{path}: not a readable audio file ({e})") from None
    return {
        "audio_filepath": str(path.resolve()),
        "duration": info.frames / info.samplerate,
        "label": DIGIT_WORDS[int(match["digit"])],
        "speaker": match["speaker"],
        "id": path.stem,
    }
