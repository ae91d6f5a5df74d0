"""Reading checkpoints as data: nothing a checkpoint says can run code.

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
        "seqrec.modules.AudioFrontend",
        "seqrec.modules.CTCHead",
        "seqrec.modules.ClassifierHead",
        "seqrec.modules.ConvSubsampling",
        "seqrec.modules.FrameEncoder",
        "seqrec.modules.FramePooling",
        "seqrec.modules.LogMelSpectrogram",
        "seqrec.modules.MFCC",
        "seqrec.modules.MaskedPooling",
        "seqrec.modules.RecurrentDecoder",
        "seqrec.modules.SequenceClassifier",
        "seqrec.modules.SequenceModel",
        "seqrec.modules.SmallCNN",
        "seqrec.modules.SpecAugment",
        "seqrec.modules.torchvision_backbone",
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
    so a backbone's ``weights_path`` (a file on the training machine) is not read."""
    from hydra.utils import instantiate

    check_config(model_config, source, "model_config")
    model = instantiate(_without_weight_files(model_config))
    if not isinstance(model, nn.Module):
        raise CheckpointError(
            f"{source}: model_config built a {type(model).__name__}, not a torch.nn.Module"
        )
    return model


def _without_weight_files(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {
            key: None if key == "weights_path" else _without_weight_files(value)
            for key, value in tree.items()
        }
    if isinstance(tree, list | tuple):
        return [_without_weight_files(value) for value in tree]
    return tree
