"""What a file may tell seqrec to build, torch-free: the one loading policy for every
field a checkpoint or an export carries (the model, the input reader, the CTC search,
the detector's settings), shared by :mod:`seqrec.inference.checkpoint` and :mod:`seqrec.runtime`.

A file is data. Three rules hold for everything read from one:

1. **Only seqrec's building blocks.** Every ``_target_`` anywhere in a field is on that
   field's allowlist (:data:`MODEL_TARGETS`, :data:`READER_TARGETS`,
   :data:`DECODING_TARGETS`): a reader may not name a backbone, nor a model a search.
   No string holds an OmegaConf interpolation (``${oc.env:HOME}`` reads the
   environment).
2. **No paths.** No field names a file that seqrec would read or write: a decoding
   config from a file carries its language model and its words as data
   (``lm_arpa``, ``words``), not ``lm_path``, ``lm_text`` or ``lexicon``. A path may
   come from the user: the command line, or an API call.
3. **Bounded sizes.** Every reader setting that sizes an allocation is bounded
   (:func:`check_reader`); the model's sizes are checked against its weights
   (:func:`seqrec.inference.checkpoint.build_model`).

Every check raises ``error(message)``, with the file and the field in the message.

>>> check_tree({"_target_": "seqrec.modules.SmallCNN", "channels": [8]}, "ok.ckpt", "model_config", MODEL_TARGETS)
>>> check_tree({"a": [{"_target_": "builtins.open"}]}, "bad.ckpt", "reader", READER_TARGETS)
Traceback (most recent call last):
...
ValueError: bad.ckpt: refused to load: reader.a[0]._target_ names 'builtins.open', which is not one of seqrec's building blocks allowed in reader (seqrec.core.safe_config.READER_TARGETS)
"""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from seqrec.core.resampling import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE
from seqrec.core.series import MAX_CHANNELS, MAX_SERIES_LENGTH

MODEL_TARGETS = frozenset(
    {
        "seqrec.modules.AudioFrontend",
        "seqrec.modules.CTCHead",
        "seqrec.modules.ClassifierHead",
        "seqrec.modules.ConvBlocks",
        "seqrec.modules.ConvSubsampling",
        "seqrec.modules.FrameEncoder",
        "seqrec.modules.FramePooling",
        "seqrec.modules.LogMelSpectrogram",
        "seqrec.modules.MFCC",
        "seqrec.modules.PCEN",
        "seqrec.modules.MaskedPooling",
        "seqrec.modules.RecurrentDecoder",
        "seqrec.modules.SequenceModel",
        "seqrec.modules.SeriesFrontend",
        "seqrec.modules.SmallCNN",
        "seqrec.modules.SpecAugment",
        "seqrec.modules.SpeechEmbedding",
        "seqrec.modules.torchvision_backbone",
        "seqrec.modules.headless",
        "torchvision.models.efficientnet_b0",
        "torchvision.models.mobilenet_v3_small",
        "torchvision.models.resnet18",
    }
)
# Targets that an earlier seqrec wrote under another name, read under the new one: the
# one map through which older checkpoints keep loading.
RENAMED_TARGETS = {
    "seqrec.modules.SequenceClassifier": "seqrec.modules.SequenceModel",
    "seqrec.decoding.GreedySearch": "seqrec.core.ctc_search.GreedySearch",
    "seqrec.decoding.BeamSearch": "seqrec.core.ctc_search.BeamSearch",
    "seqrec.decoding.LexiconBeamSearch": "seqrec.core.ctc_search.LexiconBeamSearch",
}
READER_TARGETS = frozenset(
    {
        "seqrec.data.audio.AudioReader",
        "seqrec.data.video.ClipReader",
        "seqrec.data.video.ClipTransform",
        "seqrec.data.time_series.SeriesReader",
    }
)
GREEDY = "seqrec.core.ctc_search.GreedySearch"
BEAM = "seqrec.core.ctc_search.BeamSearch"
LEXICON_BEAM = "seqrec.core.ctc_search.LexiconBeamSearch"
DECODING_TARGETS = frozenset({GREEDY, BEAM, LEXICON_BEAM})
ALLOWED_TARGETS = MODEL_TARGETS | READER_TARGETS | DECODING_TARGETS

# Decoding settings that name files: the user's to give, never a file's.
DECODING_PATHS = ("lm_path", "lm_text", "lexicon")
MAX_LM_ORDER = 6
MAX_BEAM_SIZE = 4096
MAX_WORDS = 1_000_000

# Reader bounds. Audio rates are seqrec.core.resampling's; these bound what a reader
# allocates per input.
MAX_CLIP_SECONDS = 600.0
MAX_VIDEO_FRAMES = 1024  # frames per clip
MAX_VIDEO_CLIPS = 64
MAX_VIDEO_SIDE = 1024  # pixels: the decoded short side and the crop
MAX_VIDEO_ELEMENTS = 1 << 28  # clips x frames x 3 x size x size floats per input (1 GiB)

_PLAIN = (str, int, float, bool, type(None))


def renamed(tree: Any) -> Any:
    """``tree`` with every ``_target_`` that :data:`RENAMED_TARGETS` lists under its new
    name (a copy; the rest as it is).

    >>> renamed({"_target_": "seqrec.modules.SequenceClassifier", "x": [1]})
    {'_target_': 'seqrec.modules.SequenceModel', 'x': [1]}
    """
    if isinstance(tree, Mapping):
        return {
            key: RENAMED_TARGETS.get(value, value)
            if key == "_target_" and isinstance(value, str)
            else renamed(value)
            for key, value in tree.items()
        }
    if isinstance(tree, list):
        return [renamed(value) for value in tree]
    return tree


def check_tree(
    tree: Any,
    source: str | Path,
    where: str,
    allowed: frozenset[str],
    error: type[Exception] = ValueError,
    leaves: tuple[type, ...] = (),
    field: str = "",
) -> None:
    """Refuse ``tree`` unless every ``_target_`` in it is in ``allowed``, every key is a
    string, no string holds ``${`` and every leaf is plain data (or one of ``leaves``,
    such as tensors). ``where`` names the field."""
    field = field or where or "a config"
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise error(f"{source}: refused to load: {where} has a non-string key {key!r}")
            path = f"{where}.{key}" if where else key
            if "${" in key:
                raise error(_interpolation(source, path, key))
            if key == "_target_" and not (
                isinstance(value, str) and RENAMED_TARGETS.get(value, value) in allowed
            ):
                raise error(
                    f"{source}: refused to load: {path} names {value!r}, which is not one of "
                    f"seqrec's building blocks allowed in {field} "
                    f"(seqrec.core.safe_config.{_allowlist_name(allowed)})"
                )
            check_tree(value, source, path, allowed, error, leaves, field)
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            check_tree(value, source, f"{where}[{i}]", allowed, error, leaves, field)
    elif isinstance(tree, str):
        if "${" in tree:
            raise error(_interpolation(source, where, tree))
    elif isinstance(tree, float) and not math.isfinite(tree):
        raise error(f"{source}: refused to load: {where} is {tree}, not a finite number")
    elif not isinstance(tree, (*_PLAIN, *leaves)):
        raise error(
            f"{source}: refused to load: {where} holds a {type(tree).__name__}, not plain data"
        )


def _allowlist_name(allowed: frozenset[str]) -> str:
    names = {
        MODEL_TARGETS: "MODEL_TARGETS",
        READER_TARGETS: "READER_TARGETS",
        DECODING_TARGETS: "DECODING_TARGETS",
    }
    return names.get(allowed, "ALLOWED_TARGETS")


def _interpolation(source: str | Path, where: str, text: str) -> str:
    return (
        f"{source}: refused to load: {where} holds the interpolation {text!r}; a saved "
        f"config must be fully resolved (interpolations and resolvers such as oc.env "
        f"would run when it is built)"
    )


def check_decoding(
    config: Mapping[str, Any], source: str | Path, error: type[Exception] = ValueError
) -> None:
    """Refuse a decoding config read from a file unless it names one of seqrec's
    searches, names no file (:data:`DECODING_PATHS`) and keeps its sizes in bounds."""
    if not isinstance(config, Mapping):
        raise error(f"{source}: refused to load: decoding is not a mapping: {config!r}")
    check_tree(config, source, "decoding", DECODING_TARGETS, error)
    for key in DECODING_PATHS:
        if config.get(key) is not None:
            raise error(
                f"{source}: refused to load: decoding.{key} names a file ({config[key]!r}); "
                f"a decoding config read from a file carries its LM and words as data "
                f"(lm_arpa, words), and a path may come only from the command line or an "
                f"API call (e.g. seqrec-eval ... decoding=beam_lm decoding.{key}=...)"
            )
    try:
        check_search_settings(config)
    except ValueError as e:
        raise error(f"{source}: refused to load: decoding: {e}") from None


def check_search_settings(config: Mapping[str, Any]) -> None:
    """ValueError unless the sizes of a search config are in bounds: beam size, LM
    order, the number of words and the words' type."""
    beam = config.get("beam_size")
    if beam is not None and not (_is_int(beam) and 1 <= beam <= MAX_BEAM_SIZE):
        raise ValueError(f"beam_size must be a whole number in 1-{MAX_BEAM_SIZE}, got {beam!r}")
    order = config.get("lm_order")
    if order is not None and not (_is_int(order) and 1 <= order <= MAX_LM_ORDER):
        raise ValueError(f"lm_order must be a whole number in 1-{MAX_LM_ORDER}, got {order!r}")
    words = config.get("words")
    if words is not None:
        if isinstance(words, str | bytes) or not isinstance(words, Sequence):
            raise ValueError("words must be a list of strings")
        if not all(isinstance(w, str) for w in words):
            raise ValueError("words must be a list of strings")
        if len(words) > MAX_WORDS:
            raise ValueError(f"{len(words)} words is more than the {MAX_WORDS} allowed")
    arpa = config.get("lm_arpa")
    if arpa is not None and not isinstance(arpa, str):
        raise ValueError(f"lm_arpa must be the text of an ARPA model, got a {type(arpa).__name__}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(settings: Mapping[str, Any], key: str, low: float, high: float, whole: bool) -> None:
    value = settings.get(key)
    if value is None:
        return
    kind = "a whole number" if whole else "a number"
    ok = _is_int(value) if whole else isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        raise ValueError(f"{key} must be {kind} in {low:g}-{high:g}, got {value!r}")


def check_reader(settings: Mapping[str, Any]) -> None:
    """ValueError unless a reader's settings (an ``AudioReader`` or ``ClipReader``
    config, as a mapping) are in the bounds that keep what it allocates per input
    bounded.

    >>> check_reader({"_target_": "seqrec.data.audio.AudioReader", "clip_seconds": 1e6})
    Traceback (most recent call last):
    ...
    ValueError: clip_seconds must be a number in 0-600, got 1000000.0
    """
    target = settings.get("_target_", "")
    if target.endswith("SeriesReader"):
        _number(settings, "channels", 1, MAX_CHANNELS, whole=True)
        _number(settings, "max_length", 1, MAX_SERIES_LENGTH, whole=True)
        return
    if target.endswith("AudioReader") or "sample_rate" in settings:
        _number(settings, "sample_rate", MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, whole=True)
        _number(settings, "clip_seconds", 0, MAX_CLIP_SECONDS, whole=False)
        _number(settings, "trim_db", 0, 200, whole=False)
        _number(settings, "level_db", -200, 40, whole=False)
        if settings.get("clip_seconds") == 0:
            raise ValueError("clip_seconds must be positive or None, got 0")
        return
    _number(settings, "num_frames", 1, MAX_VIDEO_FRAMES, whole=True)
    _number(settings, "num_clips", 1, MAX_VIDEO_CLIPS, whole=True)
    _number(settings, "frames_per_second", 0, 1000, whole=False)
    _number(settings, "clip_seconds", 0, 24 * 3600, whole=False)
    _number(settings, "short_side", 1, MAX_VIDEO_SIDE, whole=True)
    transform = settings.get("transform") or {}
    size = transform.get("size", 112) if isinstance(transform, Mapping) else transform.size
    _number({"size": size}, "size", 1, MAX_VIDEO_SIDE, whole=True)
    elements = settings.get("num_clips", 1) * settings.get("num_frames", 8) * 3 * size * size
    if elements > MAX_VIDEO_ELEMENTS:
        raise ValueError(
            f"num_clips x num_frames x 3 x size^2 = {elements} floats per video is more "
            f"than the {MAX_VIDEO_ELEMENTS} allowed"
        )
