"""Audio for a detector, a chunk at a time: a file read a block at a time, raw mono PCM
on stdin or any binary stream, or an iterable of chunks (a microphone callback's).
Torch-free.
"""

import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from seqrec.waveform import MISSING_FILE, AudioError

log = logging.getLogger(__name__)

BLOCK_SECONDS = 1.0  # how much of a file (or of stdin) is read at a time
# raw PCM that a binary stream (stdin) may carry: mono, little-endian, at the model's rate
PCM_FORMATS = {"s16le": ("<i2", 1 / 32768.0), "f32le": ("<f4", 1.0)}

Source = str | Path | BinaryIO | Iterable[np.ndarray]


def chunks_of_source(source: Source, rate: int, pcm: str = "s16le") -> Iterator[np.ndarray]:
    """The audio of ``source`` in chunks at ``rate``: a file (read a block at a time;
    it must be at ``rate``), ``"-"`` for raw mono PCM at ``rate`` on stdin, a binary
    stream of the same, or an iterable of 1-D arrays. ``pcm`` is the raw format:
    ``s16le`` (16-bit integers) or ``f32le`` (32-bit floats), little-endian."""
    if pcm not in PCM_FORMATS:
        raise ValueError(
            f"raw PCM format {pcm!r} is not one the detector reads; use one of "
            f"{sorted(PCM_FORMATS)} (mono, little-endian, at {rate} Hz)"
        )
    if isinstance(source, str | Path) and str(source) == "-":
        source = sys.stdin.buffer
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise AudioError(f"{path}: file not found", MISSING_FILE)
        info = sf.info(str(path))
        if info.samplerate != rate:
            raise AudioError(
                f"{path}: {info.samplerate} Hz, and this model listens at {rate} Hz; "
                f"resample the stream to {rate} Hz first"
            )
        blocks = sf.blocks(str(path), blocksize=round(BLOCK_SECONDS * rate), dtype="float32")
        for block in blocks:
            yield block if block.ndim == 1 else block.mean(axis=1)
        return
    if hasattr(source, "read"):
        dtype, scale = PCM_FORMATS[pcm]
        width = np.dtype(dtype).itemsize
        rest = b""
        while data := source.read(width * round(BLOCK_SECONDS * rate)):
            data = rest + data
            whole = len(data) // width * width
            rest = data[whole:]
            yield np.frombuffer(data[:whole], dtype=dtype).astype(np.float32) * scale
        if rest:
            log.warning(
                "the raw stream ended %d byte(s) into a %s sample; they were left out",
                len(rest),
                pcm,
            )
        return
    yield from source
