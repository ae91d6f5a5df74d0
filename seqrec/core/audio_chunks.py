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

from seqrec.core.waveform import MISSING_FILE, AudioError, check_finite

log = logging.getLogger(__name__)

BLOCK_SECONDS = 1.0  # how much of a file (or of stdin) is read at a time
# raw PCM that a binary stream (stdin) may carry: mono, little-endian, at the model's rate
PCM_FORMATS = {"s16le": ("<i2", 1 / 32768.0), "f32le": ("<f4", 1.0)}
WAV_MAGIC = b"RIFF"  # how a WAV file starts: piped to stdin, it is no raw PCM

Source = str | Path | BinaryIO | Iterable[np.ndarray]


def chunks_of_source(source: Source, rate: int, pcm: str = "s16le") -> Iterator[np.ndarray]:
    """The audio of ``source`` in chunks at ``rate``: a file (read a block at a time;
    it must be at ``rate``), ``"-"`` for raw mono PCM at ``rate`` on stdin, a binary
    stream of the same, or an iterable of 1-D arrays. ``pcm`` is the raw format:
    ``s16le`` (16-bit integers) or ``f32le`` (32-bit floats), little-endian.

    A NaN or infinite sample in a file or a raw stream is an :class:`AudioError`
    naming the file or stream and where it lies (:func:`seqrec.core.waveform.check_finite`);
    a raw stream that starts like a WAV file (``RIFF``) is read as raw PCM, with a
    warning."""
    if pcm not in PCM_FORMATS:
        raise ValueError(
            f"raw PCM format {pcm!r} is not one the detector reads; use one of "
            f"{sorted(PCM_FORMATS)} (mono, little-endian, at {rate} Hz)"
        )
    if isinstance(source, str | Path) and str(source) == "-":
        yield from _raw_chunks(sys.stdin.buffer, "stdin", rate, pcm)
        return
    if isinstance(source, str | Path):
        yield from _file_chunks(Path(source), rate)
        return
    if hasattr(source, "read"):
        name = str(getattr(source, "name", "") or "the raw stream")
        yield from _raw_chunks(source, name, rate, pcm)
        return
    yield from source


def _file_chunks(path: Path, rate: int) -> Iterator[np.ndarray]:
    if not path.is_file():
        raise AudioError(f"{path}: file not found", MISSING_FILE)
    info = sf.info(str(path))
    if info.samplerate != rate:
        raise AudioError(
            f"{path}: {info.samplerate} Hz, and this model listens at {rate} Hz; "
            f"resample the stream to {rate} Hz first"
        )
    position = 0
    for block in sf.blocks(str(path), blocksize=round(BLOCK_SECONDS * rate), dtype="float32"):
        check_finite(block, str(path), first=position)
        position += block.shape[0]
        yield block if block.ndim == 1 else block.mean(axis=1)


def _raw_chunks(stream: BinaryIO, name: str, rate: int, pcm: str) -> Iterator[np.ndarray]:
    dtype, scale = PCM_FORMATS[pcm]
    width = np.dtype(dtype).itemsize
    rest, start, head = b"", 0, b""
    while data := stream.read(width * round(BLOCK_SECONDS * rate)):
        if len(head) < len(WAV_MAGIC):
            head += data[: len(WAV_MAGIC) - len(head)]
            if head == WAV_MAGIC:
                log.warning(
                    "%s starts with a RIFF header: it looks like a WAV file, and it is read as "
                    "raw %s PCM (the header's bytes as samples, its rate and format unchecked); "
                    "pass the file's path instead (input=<file>), or send raw PCM and give its "
                    "format (pcm=s16le or pcm=f32le)",
                    name,
                    pcm,
                )
        data = rest + data
        whole = len(data) // width * width
        rest = data[whole:]
        samples = np.frombuffer(data[:whole], dtype=dtype).astype(np.float32) * scale
        check_finite(samples, name, first=start, sample_bytes=width)
        start += samples.size
        yield samples
    if rest:
        log.warning(
            "%s ended %d byte(s) into a %s sample; they were left out",
            name,
            len(rest),
            pcm,
        )
