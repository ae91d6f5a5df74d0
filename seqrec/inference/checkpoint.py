"""Reading checkpoints as data: nothing a checkpoint says can run code.

A seqrec checkpoint's ``hyper_parameters`` hold the model config (``model_config``)
and the input reader's config (``reader``), both with ``_target_`` entries, and the
label set or the tokenizer's state: enough to rebuild the model and read files the
way training did (:func:`build_model`, :func:`build_reader`).

Three guards, applied in this order to every checkpoint seqrec opens (``seqrec.load``,
``seqrec-eval``, ``seqrec-predict``, resuming, checkpoint averaging):

1. :func:`read_checkpoint` unpickles with ``weights_only=True``: tensors and plain
   containers only.
2. :func:`check_hyper_parameters` walks every hyper-parameter before anything is built,
   by the one loading policy of :mod:`seqrec.core.safe_config`: every ``_target_`` anywhere
   in a field (nested nodes, ``_args_`` lists, ``_partial_`` nodes) is on that field's
   allowlist, no string holds an OmegaConf interpolation or resolver, no field names a
   file seqrec would read or write, and the reader's settings are bounded.
3. :func:`build_model` builds the network on the ``meta`` device first and checks every
   declared size against the weights' shapes before it allocates anything.

The second guard is needed because ``weights_only`` stops pickled objects, not
``hydra.utils.instantiate``, which imports and calls whatever a config names.
Hydra's own blocklist covers only a few callables, so seqrec keeps allowlists.

>>> check_config({"_target_": "seqrec.modules.SmallCNN", "channels": [8]}, "ok.ckpt")
>>> check_config({"a": [{"_target_": "builtins.open", "_args_": ["x", "w"]}]}, "bad.ckpt")
Traceback (most recent call last):
...
seqrec.inference.checkpoint.CheckpointError: bad.ckpt: refused to load: a[0]._target_ names 'builtins.open', which is not one of seqrec's building blocks allowed in a config (seqrec.core.safe_config.ALLOWED_TARGETS)
"""

import pickle
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from seqrec.core.safe_config import (
    ALLOWED_TARGETS,
    MODEL_TARGETS,
    READER_TARGETS,
    check_decoding,
    check_reader,
    check_tree,
    renamed,
)

__all__ = [
    "ALLOWED_TARGETS",
    "CheckpointError",
    "build_model",
    "build_reader",
    "check_config",
    "check_hyper_parameters",
    "read_checkpoint",
]

MAX_LABELS = 100_000
# Buffers a model config may size that the state dict does not hold (non-persistent:
# windows, filterbanks), in elements.
MAX_UNSAVED_ELEMENTS = 1 << 26


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded safely; the message names the file."""


def read_checkpoint(path: str | Path, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """``torch.load`` with ``weights_only=True``, then :func:`check_hyper_parameters`.

    A checkpoint that carries any other pickled object, names a callable outside its
    field's allowlist, names a file, holds an interpolation or declares a reader
    beyond seqrec's bounds is refused with a :class:`CheckpointError`, and nothing in
    it runs. ``ignore`` names hyper-parameters the caller will not use (a decoding the
    user replaces), which are then not checked.
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
    hparams = checkpoint.get("hyper_parameters", {})
    if not isinstance(hparams, dict):
        raise CheckpointError(f"{path}: refused to load: hyper_parameters is not a mapping")
    if isinstance(hparams.get("model_config"), dict):  # older names under the new ones
        hparams["model_config"] = renamed(hparams["model_config"])
    check_hyper_parameters({k: v for k, v in hparams.items() if k not in ignore}, path)
    return checkpoint


def check_hyper_parameters(hparams: dict[str, Any], source: str | Path) -> None:
    """The loading policy (:mod:`seqrec.core.safe_config`) for each field of a checkpoint's
    hyper-parameters: the model and the reader name only their own building blocks,
    the reader's settings are bounded, the decoding names no file, the labels are a
    bounded list of strings, and everything else is plain data."""
    for key, value in hparams.items():
        if key == "model_config":
            check_config(value, source, key, MODEL_TARGETS)
        elif key == "reader":
            check_config(value, source, key, READER_TARGETS)
            if isinstance(value, dict):
                try:
                    check_reader(value)
                except ValueError as e:
                    raise CheckpointError(f"{source}: refused to load: reader: {e}") from None
        elif key == "decoding":
            if value is not None:
                check_decoding(value, source, CheckpointError)
        elif key == "labels":
            if not (isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)):
                raise CheckpointError(f"{source}: refused to load: labels is not a list of strings")
            if not 0 < len(value) <= MAX_LABELS:
                raise CheckpointError(
                    f"{source}: refused to load: {len(value)} labels (1-{MAX_LABELS} allowed)"
                )
        else:
            check_config(value, source, key)


def check_config(
    tree: Any,
    source: str | Path,
    where: str = "",
    allowed: frozenset[str] = ALLOWED_TARGETS,
) -> None:
    """Refuse ``tree`` unless every ``_target_`` in it is in ``allowed`` and no string
    or key holds ``${`` (:func:`seqrec.core.safe_config.check_tree`, with tensors as leaves).
    ``source`` names the file in the error."""
    check_tree(tree, source, where, allowed, CheckpointError, (torch.Tensor,))


def build_model(
    model_config: dict[str, Any],
    source: str | Path,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> nn.Module:
    """The network a checkpoint's ``model_config`` describes, built only after
    :func:`check_config` passes. Its weights come from the checkpoint's state dict,
    so a backbone's ``weights_path`` (a file on the training machine) is not read, nor
    the openwakeword wheel (``pretrained``).

    With ``state_dict`` (the network's own keys), the sizes the config declares are
    checked against the weights' shapes first, on PyTorch's ``meta`` device, which
    allocates nothing: a config that declares a layer larger than its weights is
    refused before any memory is taken for it.
    """
    from hydra.utils import instantiate

    model_config = renamed(model_config)
    check_config(model_config, source, "model_config", MODEL_TARGETS)
    config = _without_weight_files(model_config)
    if state_dict is not None:
        with torch.device("meta"), _MetaScalars():
            skeleton = _instantiate(instantiate, config, source)
        check_sizes(skeleton, state_dict, source)
    model = _instantiate(instantiate, config, source)
    if not isinstance(model, nn.Module):
        raise CheckpointError(
            f"{source}: model_config built a {type(model).__name__}, not a torch.nn.Module"
        )
    return model


class _MetaScalars(TorchFunctionMode):
    """Inside ``torch.device("meta")``: a meta tensor read as a Python value gives 0,
    False or [] instead of an error. A constructor's own checks on what it computed
    (torchaudio's filterbank warns if a mel band is empty) then pass; only shapes are
    compared, and a shape that depended on such a value fails that comparison."""

    _READS: ClassVar = {torch.Tensor.item: 0, torch.Tensor.__bool__: False, torch.Tensor.tolist: []}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self._READS and args and getattr(args[0], "is_meta", False):
            return self._READS[func]
        return func(*args, **(kwargs or {}))


def _instantiate(instantiate: Any, config: dict[str, Any], source: str | Path) -> Any:
    try:
        return instantiate(config)
    except CheckpointError:
        raise
    except Exception as e:  # a config that names allowed parts with wrong arguments
        raise CheckpointError(f"{source}: cannot rebuild the model from its config: {e}") from None


def check_sizes(
    skeleton: nn.Module, state_dict: dict[str, torch.Tensor], source: str | Path
) -> None:
    """Refuse a model (built on the meta device) whose parameters and buffers are not
    the state dict's, name for name and shape for shape, or whose unsaved buffers
    exceed :data:`MAX_UNSAVED_ELEMENTS`."""
    expected = skeleton.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: weights do not fit model_config: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    for name, tensor in expected.items():
        if tuple(tensor.shape) != tuple(state_dict[name].shape):
            raise CheckpointError(
                f"{source}: refused to load: model_config declares {name} of shape "
                f"{tuple(tensor.shape)}, but the checkpoint's weights are "
                f"{tuple(state_dict[name].shape)}"
            )
    saved = {id(t) for t in expected.values()}
    unsaved = sum(b.numel() for b in skeleton.buffers() if id(b) not in saved)
    if unsaved > MAX_UNSAVED_ELEMENTS:
        raise CheckpointError(
            f"{source}: refused to load: model_config declares {unsaved} elements of buffers "
            f"that are not in the weights (at most {MAX_UNSAVED_ELEMENTS})"
        )


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

    A checkpoint of the pre-release that stored an ``input_spec`` instead is refused,
    with what to do in the message.
    """
    from hydra.utils import instantiate

    if "reader" in hyper_parameters:
        config = hyper_parameters["reader"]
    elif "input_spec" in hyper_parameters:
        raise CheckpointError(
            f"{source}: written by a pre-release seqrec that stored an input_spec, not a "
            f"reader config; retrain it, or add hyper_parameters['reader'] (the data "
            f"config's reader, e.g. {{'_target_': 'seqrec.data.audio.AudioReader', "
            f"'sample_rate': 16000}})"
        )
    else:
        raise CheckpointError(
            f"{source}: not a seqrec checkpoint (no input reader in its hyper-parameters)"
        )
    if not isinstance(config, dict) or "_target_" not in config:
        raise CheckpointError(f"{source}: reader is not a config with a _target_: {config!r}")
    check_config(config, source, "reader", READER_TARGETS)
    try:
        check_reader(config)
    except ValueError as e:
        raise CheckpointError(f"{source}: refused to load: reader: {e}") from None
    try:
        return instantiate(config, _convert_="all")
    except Exception as e:  # an allowed reader with wrong arguments
        raise CheckpointError(
            f"{source}: cannot build the input reader from its config: {e}"
        ) from None
