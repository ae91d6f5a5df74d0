"""Reading checkpoints as data: nothing a checkpoint says can run code.

A seqrec checkpoint's ``hyper_parameters`` hold the model config (``model_config``)
and the input reader's config (``reader``), both with ``_target_`` entries, and the
label set or the tokenizer's state: enough to rebuild the model and read files the
way training did (:func:`build_model`, :func:`build_reader`).

Two guards, applied in this order to every checkpoint seqrec opens (``seqrec.load``,
``seqrec-eval``, ``seqrec-predict``, resuming, checkpoint averaging):

1. :func:`read_checkpoint` unpickles with ``weights_only=True``: tensors and plain
   containers only.
2. :func:`check_config` walks the hyper-parameters before anything is built. Every
   ``_target_`` anywhere in the tree (nested nodes, ``_args_`` lists, ``_partial_``
   nodes) must be a name on :data:`ALLOWED_TARGETS`, and no string may hold an
   OmegaConf interpolation or resolver (``${oc.env:HOME}`` reads the environment).

The second guard is needed because ``weights_only`` stops pickled objects, not
``hydra.utils.instantiate``, which imports and calls whatever a config names.
Hydra's own blocklist covers only a few callables, so seqrec keeps an allowlist.

>>> check_config({"_target_": "seqrec.modules.SmallCNN", "channels": [8]}, "ok.ckpt")
>>> check_config({"a": [{"_target_": "builtins.open", "_args_": ["x", "w"]}]}, "bad.ckpt")
Traceback (most recent call last):
...
seqrec.checkpoint.CheckpointError: bad.ckpt: refused to load: a[0]._target_ names 'builtins.open', which is not one of seqrec's building blocks (seqrec.checkpoint.ALLOWED_TARGETS)
"""

import pickle
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Everything a model config may name. Names must match exactly: Hydra resolves a
# dotted path attribute by attribute, so a prefix rule would also admit names such
# as ``seqrec.modules.features.torch.load``.
ALLOWED_TARGETS = frozenset(
    {
        "seqrec.data.audio.AudioReader",
        "seqrec.data.video.ClipReader",
        "seqrec.data.video.ClipTransform",
        "seqrec.decoding.BeamSearch",
        "seqrec.decoding.GreedySearch",
        "seqrec.decoding.LexiconBeamSearch",
        "seqrec.modules.AudioFrontend",
        "seqrec.modules.CTCHead",
        "seqrec.modules.ClassifierHead",
        "seqrec.modules.ConvSubsampling",
        "seqrec.modules.FrameEncoder",
        "seqrec.modules.FramePooling",
        "seqrec.modules.LogMelSpectrogram",
        "seqrec.modules.MFCC",
        "seqrec.modules.PCEN",
        "seqrec.modules.MaskedPooling",
        "seqrec.modules.RecurrentDecoder",
        "seqrec.modules.SequenceClassifier",
        "seqrec.modules.SequenceModel",
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

_PLAIN = (str, int, float, bool, type(None))


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded safely; the message names the file."""


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True``, then :func:`check_config` on its
    ``hyper_parameters``.

    A checkpoint that carries any other pickled object, names a callable outside
    :data:`ALLOWED_TARGETS` or holds an interpolation is refused with a
    :class:`CheckpointError`, and nothing in it runs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused to load: the checkpoint holds objects other than tensors and plain "
            f"containers, which could run code when unpickled ({str(e).splitlines()[0]})"
        ) from None
    except (RuntimeError, EOFError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({e})") from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"{path}: not a seqrec checkpoint (a {type(checkpoint).__name__}, not a dict)"
        )
    check_config(checkpoint.get("hyper_parameters", {}), path)
    return checkpoint


def check_config(tree: Any, source: str | Path, where: str = "") -> None:
    """Refuse ``tree`` unless every ``_target_`` in it is on :data:`ALLOWED_TARGETS`
    and no string or key holds ``${``. ``source`` names the file in the error."""
    if isinstance(tree, dict):
        for key, value in tree.items():
            if not isinstance(key, str):
                raise CheckpointError(
                    f"{source}: refused to load: {where or 'the config'} has a non-string key "
                    f"{key!r}"
                )
            path = f"{where}.{key}" if where else key
            if "${" in key:
                raise _interpolation(source, path, key)
            if key == "_target_" and not (isinstance(value, str) and value in ALLOWED_TARGETS):
                raise CheckpointError(
                    f"{source}: refused to load: {path} names {value!r}, which is not one of "
                    f"seqrec's building blocks (seqrec.checkpoint.ALLOWED_TARGETS)"
                )
            check_config(value, source, path)
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            check_config(value, source, f"{where}[{i}]")
    elif isinstance(tree, str):
        if "${" in tree:
            raise _interpolation(source, where, tree)
    elif not isinstance(tree, (*_PLAIN, torch.Tensor)):
        raise CheckpointError(
            f"{source}: refused to load: {where} holds a {type(tree).__name__}, not plain data"
        )


def _interpolation(source: str | Path, where: str, text: str) -> CheckpointError:
    return CheckpointError(
        f"{source}: refused to load: {where} holds the interpolation {text!r}; a saved "
        f"config must be fully resolved (interpolations and resolvers such as oc.env "
        f"would run when it is built)"
    )


def build_model(model_config: dict[str, Any], source: str | Path) -> nn.Module:
    """The network a checkpoint's ``model_config`` describes, built only after
    :func:`check_config` passes. Its weights come from the checkpoint's state dict,
    so a backbone's ``weights_path`` (a file on the training machine) is not read, nor
    the openwakeword wheel (``pretrained``)."""
    from hydra.utils import instantiate

    check_config(model_config, source, "model_config")
    model = instantiate(_without_weight_files(model_config))
    if not isinstance(model, nn.Module):
        raise CheckpointError(
            f"{source}: model_config built a {type(model).__name__}, not a torch.nn.Module"
        )
    return model


# Keys naming pretrained weights, and what they become: a file on the training machine
# (``weights_path``), torchvision's ``weights``, which would download them, and
# SpeechEmbedding's ``pretrained``, which would read them from the openwakeword wheel.
_WEIGHT_FILES = {"weights_path": None, "weights": None, "pretrained": False}


def _without_weight_files(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {
            key: _WEIGHT_FILES[key] if key in _WEIGHT_FILES else _without_weight_files(value)
            for key, value in tree.items()
        }
    if isinstance(tree, list | tuple):
        return [_without_weight_files(value) for value in tree]
    return tree


def build_reader(hyper_parameters: dict[str, Any], source: str | Path) -> Any:
    """The input reader a checkpoint's ``reader`` config describes (an
    :class:`~seqrec.data.audio.AudioReader` or :class:`~seqrec.data.video.ClipReader`),
    built only after :func:`check_config` passes.

    A checkpoint written before readers were stored holds ``input_spec`` instead
    (``{"modality": "audio", "sample_rate": ...}``, or the video sampling settings);
    it is converted here (:func:`reader_from_input_spec`), so it still loads.
    """
    from hydra.utils import instantiate

    if "reader" in hyper_parameters:
        config = hyper_parameters["reader"]
    elif "input_spec" in hyper_parameters:
        config = reader_from_input_spec(hyper_parameters["input_spec"], source)
    else:
        raise CheckpointError(
            f"{source}: not a seqrec checkpoint (no input reader in its hyper-parameters)"
        )
    if not isinstance(config, dict) or "_target_" not in config:
        raise CheckpointError(f"{source}: reader is not a config with a _target_: {config!r}")
    check_config(config, source, "reader")
    try:
        return instantiate(config, _convert_="all")
    except Exception as e:  # an allowed reader with wrong arguments
        raise CheckpointError(
            f"{source}: cannot build the input reader from its config: {e}"
        ) from None


def reader_from_input_spec(spec: Any, source: str | Path) -> dict[str, Any]:
    """The ``reader`` config equivalent to an ``input_spec`` of a checkpoint written
    before readers were stored.

    >>> reader_from_input_spec({"modality": "audio", "sample_rate": 8000}, "old.ckpt")
    {'_target_': 'seqrec.data.audio.AudioReader', 'sample_rate': 8000}
    """
    if not isinstance(spec, dict):
        raise CheckpointError(f"{source}: input_spec is not a mapping: {spec!r}")
    modality = spec.get("modality", "audio")
    try:
        if modality == "audio":
            return {"_target_": "seqrec.data.audio.AudioReader", "sample_rate": spec["sample_rate"]}
        if modality == "video":
            return {
                "_target_": "seqrec.data.video.ClipReader",
                **{key: spec.get(key) for key in _OLD_VIDEO_KEYS},
                "short_side": spec["short_side"],
                "num_frames": spec["num_frames"],
                "num_clips": spec.get("num_clips", 1),
                "transform": {"_target_": "seqrec.data.video.ClipTransform", "size": spec["size"]},
            }
    except KeyError as e:
        raise CheckpointError(f"{source}: input_spec lacks {e}: {spec!r}") from None
    raise CheckpointError(f"{source}: input_spec has an unknown modality {modality!r}")


_OLD_VIDEO_KEYS = ("frames_per_second", "clip_seconds")
