"""eSpeak NG speech synthesis through the C library shipped by the espeakng-loader wheel.

The library keeps global state, so use one :class:`ESpeak` per process.
"""

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# constants from espeak-ng's speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH, _RANGE = 1, 3, 4
_EVENT_END_OF_LIST, _EVENT_WORD = 0, 1


class _Event(ctypes.Structure):
    """``espeak_EVENT``; ``id`` is a union of int, pointer and char[8]."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters
        ("length", ctypes.c_int),  # of the word, in characters
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # samples from the start of the output
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)

ENGLISH_ACCENTS = (
    "en",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-gb-x-rp",
    "en-029",
    "en-us-nyc",
)


class ESpeakError(RuntimeError):
    pass


@dataclass(frozen=True)
class SpokenWord:
    """Where eSpeak NG began speaking a word: ``text[start:start + length]`` starts
    ``sample`` samples into the output (at :attr:`ESpeak.sample_rate`)."""

    start: int
    length: int
    sample: int


def _library():
    try:
        import espeakng_loader
    except ImportError as e:  # pragma: no cover - a dependency of seqrec
        raise ESpeakError(
            "speech synthesis needs the espeakng-loader wheel: pip install espeakng-loader"
        ) from e
    return ctypes.CDLL(espeakng_loader.get_library_path()), espeakng_loader.get_data_path()


def list_variants() -> list[str]:
    """Voice variants shipped with espeak-ng (``m1``, ``f3``, ``klatt``, ...), sorted."""
    _, data_path = _library()
    return sorted(
        p.name for p in (Path(data_path) / "voices" / "!v").iterdir() if " " not in p.name
    )


def split_variants(
    seed: int, val: int, test: int, max_voices: int | None = None
) -> dict[str, list[str]]:
    """Variants for train, val and test, disjoint: ``val`` and ``test`` of them are held
    out (a seeded shuffle), the rest train."""
    variants = list_variants()
    order = np.random.default_rng(seed).permutation(len(variants))
    variants = [variants[i] for i in order][:max_voices]
    if len(variants) < val + test + 1:
        raise ValueError(f"{len(variants)} voices cannot hold out {val} + {test} and still train")
    return {
        "test": variants[:test],
        "val": variants[test : test + val],
        "train": variants[test + val :],
    }


class ESpeak:
    """Speak text to a float32 waveform at :attr:`sample_rate` (22050 Hz).

    >>> tts = ESpeak()
    >>> audio = tts.synthesize("yes", voice="en-us+f3", rate=170, pitch=50)
    >>> tts.sample_rate, audio.dtype.name, audio.size > 0
    (22050, 'float32', True)
    """

    def __init__(self) -> None:
        self._lib, data_path = _library()
        self.sample_rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), 0
        )
        if self.sample_rate <= 0:
            raise ESpeakError(f"espeak_Initialize failed with data at {data_path}")
        self._chunks: list[np.ndarray] = []
        self._words: list[SpokenWord] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds the pointer
        self._lib.espeak_SetSynthCallback(self._callback)
        self._lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        self._lib.espeak_TextToPhonemes.argtypes = [
            ctypes.POINTER(ctypes.c_char_p),
            ctypes.c_int,
            ctypes.c_int,
        ]

    def phonemes(self, text: str, voice: str = "en") -> str:
        """``text`` as eSpeak phoneme mnemonics (how ``voice`` would say it).

        >>> ESpeak().phonemes("two", "en-us") == ESpeak().phonemes("too", "en-us")
        True
        """
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ESpeakError(f"unknown eSpeak voice {voice!r}")
        buffer = ctypes.c_char_p(text.encode("utf-8"))
        pointer = ctypes.pointer(buffer)
        parts = []
        while pointer.contents.value:  # one clause per call; NULL at the end
            parts.append(self._lib.espeak_TextToPhonemes(pointer, _CHARS_UTF8, 0).decode())
        return " ".join(p.strip() for p in parts)

    def _collect(self, samples, count, events) -> int:
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(samples, shape=(count,)).copy())
        i = 0
        while events[i].type != _EVENT_END_OF_LIST:
            event = events[i]
            if event.type == _EVENT_WORD:
                self._words.append(SpokenWord(event.text_position - 1, event.length, event.sample))
            i += 1
        return 0

    def synthesize(
        self, text: str, voice: str = "en", rate: int = 175, pitch: int = 50, pitch_range: int = 50
    ) -> np.ndarray:
        """Speak ``text`` with ``voice`` ("accent+variant"), ``rate`` in words per minute,
        ``pitch`` and ``pitch_range`` in 0-100."""
        return self.synthesize_words(text, voice, rate, pitch, pitch_range)[0]

    def synthesize_words(
        self, text: str, voice: str = "en", rate: int = 175, pitch: int = 50, pitch_range: int = 50
    ) -> tuple[np.ndarray, list[SpokenWord]]:
        """:meth:`synthesize`, and where in the output each word of ``text`` starts.

        >>> audio, words = ESpeak().synthesize_words("one two", voice="en-us")
        >>> [w.start for w in words], 0 < words[1].sample < audio.size
        ([0, 4], True)
        """
        if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ESpeakError(f"unknown eSpeak voice {voice!r}")
        for parameter, value in ((_RATE, rate), (_PITCH, pitch), (_RANGE, pitch_range)):
            self._lib.espeak_SetParameter(parameter, int(value), 0)
        self._chunks, self._words = [], []
        encoded = text.encode("utf-8")
        status = self._lib.espeak_Synth(
            encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
        )
        if status != 0:
            raise ESpeakError(f"espeak_Synth failed ({status}) for {text!r} with voice {voice!r}")
        if not self._chunks:
            return np.zeros(0, dtype=np.float32), []
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0, list(self._words)
