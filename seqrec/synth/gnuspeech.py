"""GnuSpeech, an articulatory synthesizer (the ``@echogarden/gnuspeech-wasm`` npm
package, GPL-3.0), run as an external program: seqrec starts ``node`` once, sends it
one request per line and reads back one WAV per request. Nothing of it is imported or
linked into seqrec. Install it with npm (Node.js 18 or later) in the folder you run
from::

    npm install --no-save @echogarden/gnuspeech-wasm@0.3.0

:class:`~seqrec.synth.kws.SyntheticCommands`'s ``gnuspeech_clips_per_word`` uses it for
training clips; ``seqrec-heldout voice=gnuspeech`` for a held-out test set.

Why our own few lines rather than a library: no Python package drives GnuSpeech, and the
npm package offers a JavaScript function only.
"""

import io
import json
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

PACKAGE = "@echogarden/gnuspeech-wasm"
VERSION = "0.3.0"
VOICES = ("male", "female", "large_child", "small_child", "baby")
DEFAULT_DIR = f"node_modules/{PACKAGE}"
INSTALL_HINT = f"npm install --no-save {PACKAGE}@{VERSION}"
MAX_WAV_BYTES = 64 * 2**20  # one word or sentence is well under 1 MB

# Reads {"text", "voice", "tempo"} per line on stdin; writes a 4-byte big-endian length
# and the WAV bytes per request on stdout. argv[1]: the package's main file.
_SERVER = r"""
import { pathToFileURL } from 'node:url'
import * as readline from 'node:readline'
const { synthesize } = await import(pathToFileURL(process.argv[1]).href)
const lines = readline.createInterface({ input: process.stdin })
for await (const line of lines) {
  const request = JSON.parse(line)
  const { audioData } = await synthesize(request.text, { voice: request.voice, tempo: request.tempo })
  const size = Buffer.alloc(4)
  size.writeUInt32BE(audioData.length)
  process.stdout.write(size)
  process.stdout.write(audioData)
}
"""


@dataclass(frozen=True)
class Style:
    """How GnuSpeech speaks one clip: one of :data:`VOICES`, and ``tempo`` (> 1 faster)."""

    voice: str
    tempo: float

    def __post_init__(self) -> None:
        if self.voice not in VOICES:
            raise ValueError(f"GnuSpeech has no voice {self.voice!r}; it has {list(VOICES)}")
        if not 0.1 <= self.tempo <= 10:
            raise ValueError(f"GnuSpeech tempo must be in [0.1, 10], got {self.tempo}")

    @property
    def name(self) -> str:
        """The style as a file-name stem.

        >>> Style("large_child", 1.25).name
        'large_child_t1.25'
        """
        return f"{self.voice}_t{self.tempo:g}"


def package_main(package_dir: str | Path = DEFAULT_DIR) -> Path:
    """The main file of GnuSpeech's npm package in ``package_dir``, checked to be
    version :data:`VERSION`. Raises FileNotFoundError with the install command when
    ``node`` or the package is missing, ValueError for another version."""
    if shutil.which("node") is None:
        raise FileNotFoundError(f"GnuSpeech needs Node.js (node on PATH), then: {INSTALL_HINT}")
    manifest = Path(package_dir) / "package.json"
    try:
        info = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{manifest}: GnuSpeech is not installed there; run {INSTALL_HINT} "
            "in the folder you run from, or set its folder (gnuspeech_dir)"
        ) from None
    except (OSError, ValueError) as e:
        raise ValueError(f"{manifest}: not a readable package.json ({e!r})") from e
    if info.get("name") != PACKAGE or info.get("version") != VERSION:
        raise ValueError(
            f"{manifest}: expected {PACKAGE} {VERSION}, found "
            f"{info.get('name')} {info.get('version')}: {INSTALL_HINT}"
        )
    return (Path(package_dir) / "dist" / "exports" / "GnuSpeech.js").resolve()


class GnuSpeech:
    """One ``node`` process speaking with GnuSpeech; use it as a context manager.

    >>> with GnuSpeech() as tts:                                  # doctest: +SKIP
    ...     audio, rate = tts.speak("three", Style("female", 1.2))
    """

    def __init__(self, package_dir: str | Path = DEFAULT_DIR) -> None:
        self.main = package_main(package_dir)
        self._process: subprocess.Popen | None = None
        self._stderr = None

    def __enter__(self) -> "GnuSpeech":
        # node's messages go to a file, not a pipe that nobody reads while it speaks
        self._stderr = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            ["node", "--input-type=module", "-e", _SERVER, str(self.main)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        return self

    def __exit__(self, *exc) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            process.stdout.close()
            self._stderr.close()

    def speak(self, text: str, style: Style) -> tuple[np.ndarray, int]:
        """GnuSpeech's waveform for ``text`` (float32, mono) and its sample rate."""
        process = self._process
        if process is None:
            raise RuntimeError("GnuSpeech.speak needs the context manager: with GnuSpeech() as tts")
        request = {"text": text, "voice": style.voice, "tempo": style.tempo}
        try:
            process.stdin.write((json.dumps(request) + "\n").encode())
            process.stdin.flush()
            header = process.stdout.read(4)
        except BrokenPipeError:
            header = b""
        if len(header) != 4:
            process.kill()
            process.wait()
            self._stderr.seek(0)
            error = self._stderr.read()[-4000:].decode(errors="replace").strip()
            raise RuntimeError(f"GnuSpeech (node) stopped while speaking {text!r}: {error}")
        (size,) = struct.unpack(">I", header)
        if size > MAX_WAV_BYTES:
            raise RuntimeError(f"GnuSpeech returned {size} bytes for {text!r}, over the limit")
        audio, rate = sf.read(io.BytesIO(process.stdout.read(size)), dtype="float32")
        if audio.ndim > 1:
            audio = audio.mean(axis=1)
        return audio, int(rate)


def versions(package_dir: str | Path = DEFAULT_DIR) -> dict[str, str]:
    """What a corpus spoken by GnuSpeech depends on, for its settings."""
    package_main(package_dir)
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    return {PACKAGE: VERSION, "node": node.stdout.strip()}
